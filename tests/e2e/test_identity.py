"""DEL and GC never reconfigure an interface that is not proven to be the device (issue 16, H1).

The case: the pod's netns is held by a process, so the NIC has not come back yet, and the host
has meanwhile got another interface at the ifindex the device had (ifindexes restart after a
reboot, and a netns move keeps the ifindex when it is free) or with its name. Before, DEL took
that interface for the device: set it down, renamed it, replaced its MAC, MTU, addresses and
routes, and dropped the record; the NIC then came back bare with nothing to restore it. Now the
interface stays exactly as it is, the record is kept, and once the device is really back a
later DEL or GC restores it.

Stand-ins here are veths, so the record's identity is the virtual kind and the MAC (no PCI
parent, no permanent MAC); the same scenario on a real NIC, where the PCI parent decides, runs in
the VM tier (tests/vm/test_vm_identity.py), and the rule for every kind of record is pinned in
tests/unit/test_device_identity.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import NetnsHolder, Node, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(deviceID=BDF, rdma="skip", returnTimeoutSeconds=0.3, logLevel="info", **extra)


def _record_of(node: Node) -> dict[str, Any]:
    import json

    (path,) = (node.state_dir / "networks").rglob("*.json")
    record: dict[str, Any] = json.loads(path.read_text())["record"]
    return record


def _impostor(node: Node, kind: str, name: str, index: int) -> None:
    """A host interface at the device's recorded ifindex, with addresses and a route of its own."""
    if kind == "veth":
        node.ip(f"link add {name} index {index} type veth peer name {name}-p")
        node.ip(f"link set {name}-p up")
    else:
        node.ip(f"link add {name} index {index} type bridge")
    node.ip(f"link set {name} mtu 1400")
    node.ip(f"addr add 172.31.7.1/24 dev {name}")
    node.ip(f"link set {name} up")
    node.ip(f"route add 172.30.0.0/16 via 172.31.7.254 dev {name}")


@pytest.mark.parametrize("impostor_name", ["same-name", "cni0"])
@pytest.mark.parametrize("impostor_kind", ["veth", "bridge"])
@pytest.mark.parametrize("finisher", ["DEL", "GC"])
def test_an_interface_at_the_recorded_ifindex_is_never_taken_for_the_device(
    node: Node, impostor_kind: str, impostor_name: str, finisher: str
) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    pod_index = _record_of(node)["podIndex"]
    attached = state_view(node)
    holder = NetnsHolder(node, pod)
    name = NIC if impostor_name == "same-name" else impostor_name
    try:
        node.delete_pod(pod)  # the NIC stays in the held netns: not back yet
        _impostor(node, impostor_kind, name, pod_index)
        assert node.ip_json(f"link show dev {name}")[0]["ifindex"] == pod_index
        bystander = netns_view(node)

        r = node.run("DEL", conf, netns=node.pod_path(pod))
        assert r.ok, r.stdout + r.stderr
        assert "has not returned to the host yet" in r.stderr, r.stderr
        assert netns_view(node) == bystander  # the impostor untouched: name, MAC, MTU, addresses, routes
        assert state_view(node) == attached  # the record kept for the real device

        # Now the device comes back (under dev<N> when its name is taken, as the kernel does).
        back_as = NIC if name != NIC else f"dev{pod_index}x"
        holder.run_inside(f"ip link set {NIC} down && ip link set {NIC} netns {node.host} name {back_as}")
    finally:
        holder.release()
    node.ip(f"link del {name}")  # the admin clears the way; DEL would refuse to take the name
    if finisher == "DEL":
        r = node.run("DEL", conf, netns=node.pod_path(pod))
    else:
        r = node.run("GC", node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []}))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before
    assert state_view(node) == {}


def test_a_host_interface_with_the_pod_side_name_is_not_the_device(node: Node) -> None:
    """Renamed in the pod (``renameToIfname``): a host veth called like the pod-side name, at the
    recorded ifindex, is still not the device."""
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = _conf(node, renameToIfname=True)
    assert node.run("ADD", conf, netns=node.pod_path(pod), ifname="net1").ok
    pod_index = _record_of(node)["podIndex"]
    attached = state_view(node)
    holder = NetnsHolder(node, pod)
    try:
        node.delete_pod(pod)
        _impostor(node, "veth", "net1", pod_index)
        bystander = netns_view(node)
        r = node.run("DEL", conf, netns=node.pod_path(pod), ifname="net1")
        assert r.ok and "has not returned to the host yet" in r.stderr, r.stdout + r.stderr
        assert netns_view(node) == bystander
        assert state_view(node) == attached
    finally:
        holder.release()
