"""The NIC's name in the pod, by who calls the plugin (the binary driven as each caller does).

- containerd / CRI-O calling it for a pod's own network (``CNI_IFNAME=eth0``, ``K8S_POD_*`` in
  ``CNI_ARGS``), or Multus calling it as the cluster's default network: the NIC becomes
  ``eth0`` — these runtimes take the pod IP only from the result's interface of that name
  (``test_containerd.py`` shows it through containerd itself).
- Multus calling it for an additional network (``net1``, same ``K8S_POD_*``), podman (``eth0``,
  only ``K8S_POD_NAME``): the seed's behaviour, the host's name kept and the IPs indexed to it.
- ``renameToIfname`` set either way decides alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Node

pytestmark = pytest.mark.e2e

BDF = "0000:44:00.0"
ADDRS = ("55.1.1.56/24 brd +", "55.1.1.57/24", "fd00::5/64 nodad")


def _k8s_args(pod: str) -> dict[str, str]:
    # What containerd 1.6 passes (and Multus passes on to its delegates).
    return {"CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod};K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=uid-1"}


def _multus_conf(node: Node, **extra: Any) -> dict[str, Any]:
    """The seed's NAD as Multus hands it to the plugin: the allocated device injected."""
    return node.conf(deviceID=BDF, pciBusID=BDF, runtimeConfig={"deviceID": BDF}, rdma="skip", **extra)


def _attach(node: Node, ifname: str, env: dict[str, str], **extra: Any) -> tuple[dict[str, Any], str, dict[str, Any]]:
    node.add_nic("enp68s0", BDF, addrs=ADDRS, mtu=9000)
    before = node.link_state("enp68s0")
    pod = node.add_pod()
    r = node.run("ADD", _multus_conf(node, **extra), netns=node.pod_path(pod), ifname=ifname, env=env)
    assert r.ok and r.out is not None, r.stdout + r.stderr
    return before, pod, r.out


def _detach(node: Node, pod: str, ifname: str, env: dict[str, str], before: dict[str, Any], **extra: Any) -> None:
    r = node.run("DEL", _multus_conf(node, **extra), netns=node.pod_path(pod), ifname=ifname, env=env)
    assert r.ok, r.stdout + r.stderr
    assert node.link_state("enp68s0") == before
    assert node.state_files() == []


def _indexed_to(result: dict[str, Any], name: str) -> None:
    assert [iface["name"] for iface in result["interfaces"]] == [name]
    assert [(ip["address"], ip["interface"]) for ip in result["ips"]] == [("55.1.1.56/24", 0), ("55.1.1.57/24", 0), ("fd00::5/64", 0)]


def test_kubernetes_primary_interface_is_renamed_to_eth0(node: Node) -> None:
    env = _k8s_args("web-0")
    before, pod, result = _attach(node, "eth0", env)

    _indexed_to(result, "eth0")
    inside = node.link_state("eth0", pod)
    assert inside["link"]["mtu"] == 9000 and inside["link"]["address"] == before["link"]["address"]
    assert [a["local"] for a in inside["addrs"]] == ["55.1.1.56", "55.1.1.57", "fd00::5"]
    assert not node.has_link("enp68s0", pod)
    _detach(node, pod, "eth0", env, before)


def test_multus_additional_network_keeps_the_host_name(node: Node) -> None:
    env = _k8s_args("web-0")
    before, pod, result = _attach(node, "net1", env)

    _indexed_to(result, "enp68s0")
    assert node.link_state("enp68s0", pod) == before
    assert not node.has_link("net1", pod)
    _detach(node, pod, "net1", env, before)


def test_eth0_outside_kubernetes_keeps_the_host_name(node: Node) -> None:
    """podman names its first network's interface eth0 too (and passes the container's name as
    K8S_POD_NAME, for dnsname), and reads IPs by index (test_podman.py runs podman itself)."""
    env = {"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web"}
    before, pod, result = _attach(node, "eth0", env)

    _indexed_to(result, "enp68s0")
    assert node.link_state("enp68s0", pod) == before
    _detach(node, pod, "eth0", env, before)


def test_rename_off_keeps_the_name_even_as_the_primary_interface(node: Node) -> None:
    env = _k8s_args("web-0")
    before, pod, result = _attach(node, "eth0", env, renameToIfname=False)

    _indexed_to(result, "enp68s0")
    assert node.link_state("enp68s0", pod) == before
    _detach(node, pod, "eth0", env, before, renameToIfname=False)


def test_rename_on_renames_an_additional_network_too(node: Node) -> None:
    env = _k8s_args("web-0")
    before, pod, result = _attach(node, "net1", env, renameToIfname=True)

    _indexed_to(result, "net1")
    _detach(node, pod, "net1", env, before, renameToIfname=True)


def test_del_without_a_record_leaves_a_stand_in_where_it_is(node: Node) -> None:
    """The record is corrupt (set aside): without it only a PCI parent proves which interface in
    the pod is the device (issue 16; a name, like the ``eth0`` ADD gave it, a pod can give any
    interface). A veth stand-in has none: DEL succeeds and leaves it in the pod, saying so. A real
    NIC comes home: tests/vm/test_vm_record_loss.py."""
    env = _k8s_args("web-0")
    _before, pod, _ = _attach(node, "eth0", env)
    (record,) = (node.state_dir / "networks").rglob("*.json")
    record.write_text("{truncated")

    r = node.run("DEL", _multus_conf(node), netns=node.pod_path(pod), ifname="eth0", env=env)

    assert r.ok and "PCI or auxiliary parent" in r.stderr, r.stdout + r.stderr
    assert node.has_link("eth0", pod) and not node.has_link("enp68s0")