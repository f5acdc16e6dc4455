"""A NIC that keeps the node alive can't be moved into a pod (issue 16, H3).

Refused, with an error naming the reason and nothing changed: a netdev that carries the node's
default route or its route to the Kubernetes API server (an address from the node settings), a
port of a bond or bridge (IFLA_MASTER), a bond or bridge itself, an SR-IOV PF while one of its
VFs is attached or in use (a pod holding the PF could reprogram the VFs serving others) and a VF
while its PF is in a pod; and whatever the node's allow/deny lists exclude, by PCI address,
driver, vendor:device or netdev name.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.e2e.harness import Node, Result, netns_view, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"
OTHER_BDF = "0000:45:00.0"
OTHER = "enp69s0"
DEVICE_PROTECTED = 105


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(**{"deviceID": BDF, "rdma": "skip", **extra})


def _refused(r: Result, words: str) -> None:
    assert r.code == 1 and r.out is not None, r.stdout + r.stderr
    assert r.out["code"] == DEVICE_PROTECTED, r.out
    assert words in r.out["msg"] + " " + r.out["details"], r.out


def _add_refused(node: Node, conf: dict[str, Any], words: str) -> None:
    before, pod, records = netns_view(node), node.add_pod(), state_view(node)
    pod_before = netns_view(node, pod)
    _refused(node.run("ADD", conf, netns=node.pod_path(pod), container_id="refused"), words)
    assert netns_view(node) == before and netns_view(node, pod) == pod_before
    assert state_view(node) == records


def _add_ok(node: Node, conf: dict[str, Any], container_id: str = "c0ffee") -> str:
    pod = node.add_pod()
    r = node.run("ADD", conf, netns=node.pod_path(pod), container_id=container_id)
    assert r.ok, r.stdout + r.stderr
    return pod


@pytest.fixture
def nics(node: Node) -> Node:
    node.add_nic(NIC, BDF, addrs=("55.1.1.56/24", "fd00::5/64 nodad"))
    node.add_nic(OTHER, OTHER_BDF, addrs=("55.2.1.56/24",), driver="e1000e")
    return node


@pytest.mark.parametrize("family", ["-4", "-6"])
def test_the_nic_with_the_default_route_stays(nics: Node, family: str) -> None:
    gateway = "55.1.1.1" if family == "-4" else "fd00::1"
    nics.ip(f"{family} route add default via {gateway} dev {NIC}")
    _add_refused(nics, _conf(nics), "default route")


def test_a_default_route_through_another_nic_is_no_reason(nics: Node) -> None:
    nics.ip(f"route add default via 55.2.1.1 dev {OTHER}")
    _add_ok(nics, _conf(nics))


def test_the_nic_that_reaches_the_api_server_stays(nics: Node) -> None:
    assert nics.settings is not None
    nics.settings["apiServers"] = ["192.0.2.10"]
    nics.ip(f"route add 192.0.2.0/24 via 55.1.1.1 dev {NIC}")
    _add_refused(nics, _conf(nics), "192.0.2.10")
    # the same API server reached through the other NIC: this one may go
    nics.ip(f"route replace 192.0.2.0/24 via 55.2.1.1 dev {OTHER}")
    _add_ok(nics, _conf(nics))


def test_an_api_server_on_the_nics_own_subnet_keeps_it(nics: Node) -> None:
    assert nics.settings is not None
    nics.settings["apiServers"] = ["55.1.1.200", "fd00::200"]
    _add_refused(nics, _conf(nics), "55.1.1.200")


def test_a_port_of_a_bridge_stays(nics: Node) -> None:
    nics.ip("link add br-node type bridge")
    nics.ip(f"link set {NIC} master br-node")
    _add_refused(nics, _conf(nics), "br-node")


@pytest.mark.parametrize("kind", ["bridge"])
def test_a_bridge_itself_stays(nics: Node, kind: str) -> None:
    nics.ip(f"link add cni0 type {kind}")
    nics.ip(f"link set {OTHER} master cni0")
    _add_refused(nics, nics.conf(device="cni0", rdma="skip"), "cni0")


# --- SR-IOV ------------------------------------------------------------------------------------

PF_BDF, PF = "0000:50:00.0", "enp80s0f0"
VF_BDFS = ("0000:50:10.0", "0000:50:10.2")
VFS = ("enp80s0f0v0", "enp80s0f0v1")


@pytest.fixture
def sriov(node: Node) -> Node:
    """A PF with two VFs enabled, each a veth stand-in with its fabricated PCI function."""
    for name in (PF, *VFS):
        peer = f"p{secrets.token_hex(3)}"
        node.ip(f"link add {name} type veth peer name {peer}")
        node.ip(f"link set {peer} up")
        node.ip(f"link set {name} up")
    node.sysfs.add_pci_function(PF_BDF, driver="ionic", netdevs=[PF], sriov_totalvfs=8)
    for index, (bdf, name) in enumerate(zip(VF_BDFS, VFS)):
        node.sysfs.add_vf(PF_BDF, index, bdf, driver="ionic", netdevs=[name])
    return node


def test_a_pf_whose_vf_is_attached_stays(sriov: Node) -> None:
    _add_ok(sriov, sriov.conf(deviceID=VF_BDFS[0], rdma="skip"), container_id="vf-tenant")
    _add_refused(sriov, sriov.conf(deviceID=PF_BDF, rdma="skip"), VF_BDFS[0])


def test_a_pf_whose_vf_is_in_another_netns_stays(sriov: Node) -> None:
    """Not ours, still in use: the VF's netdev is in some other namespace."""
    elsewhere = sriov.add_pod()
    sriov.ip(f"link set {VFS[1]} netns {elsewhere}")
    _add_refused(sriov, sriov.conf(deviceID=PF_BDF, rdma="skip"), VF_BDFS[1])


def test_a_pf_whose_vf_is_bound_to_vfio_stays(sriov: Node) -> None:
    sriov.sysfs.bind(VF_BDFS[0], "vfio-pci")
    _add_refused(sriov, sriov.conf(deviceID=PF_BDF, rdma="skip"), "vfio-pci")


def test_a_vf_whose_pf_is_in_a_pod_stays(sriov: Node) -> None:
    _add_ok(sriov, sriov.conf(deviceID=PF_BDF, rdma="skip"), container_id="pf-tenant")
    _add_refused(sriov, sriov.conf(deviceID=VF_BDFS[0], rdma="skip"), PF_BDF)


def test_a_pf_with_idle_vfs_may_go(sriov: Node) -> None:
    _add_ok(sriov, sriov.conf(deviceID=PF_BDF, rdma="skip"))


# --- the node's allow and deny lists ----------------------------------------------------------


@pytest.mark.parametrize(
    "rules, words",
    [
        ({"deny": {"pci": [BDF]}}, BDF),
        ({"deny": {"driver": ["ionic"]}}, "ionic"),
        ({"deny": {"vendorDevice": ["8086:10c9"]}}, "8086:10c9"),
        ({"deny": {"netdev": [NIC]}}, NIC),
        ({"allow": {"driver": ["e1000e"]}}, "allow"),
        ({"allow": {"pci": [BDF]}, "deny": {"netdev": [NIC]}}, NIC),  # deny wins
    ],
)
def test_the_nodes_lists_are_honoured(nics: Node, rules: dict[str, Any], words: str) -> None:
    assert nics.settings is not None
    nics.settings.update(rules)
    _add_refused(nics, _conf(nics), words)


@pytest.mark.parametrize(
    "rules",
    [
        {"allow": {"pci": [BDF]}, "deny": {"driver": ["e1000e"]}},
        {"allow": {"vendorDevice": ["8086:10C9"]}},  # hex in either case
        {"allow": {"netdev": [NIC], "driver": ["mlx5_core"]}},  # any allow entry suffices
    ],
)
def test_a_device_on_the_allow_list_may_go(nics: Node, rules: dict[str, Any]) -> None:
    assert nics.settings is not None
    nics.settings.update(rules)
    _add_ok(nics, _conf(nics))


def test_del_is_never_refused_by_the_lists(nics: Node) -> None:
    """A device attached before the admin denied it must still come back."""
    pod = _add_ok(nics, _conf(nics))
    assert nics.settings is not None
    nics.settings["deny"] = {"pci": [BDF]}
    r = nics.run("DEL", _conf(nics), netns=nics.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert nics.has_link(NIC) and state_view(nics) == {}
