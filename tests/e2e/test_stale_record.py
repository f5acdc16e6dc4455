"""A device never stays "busy" forever (issue 16, H4).

A DEL whose NIC has not come back yet (its pod netns still held by some process) succeeds and
keeps the record, and no further DEL comes; GC needs CNI 1.1.0 and the shipped NADs are 0.3.1.
Before, the next pod given the device got code 100 forever. Now ADD, under the device lock,
finishes such a stale record once the pod's netns is gone (its recorded path no longer leads to
that namespace) and the NIC is back — restoring the host's settings first — then attaches it
to the new pod; while the NIC is not back it answers code 11 (try again) and says why.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import NetnsHolder, Node, Result, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(**{"deviceID": BDF, "rdma": "skip", "returnTimeoutSeconds": 0.3, "logLevel": "info", **extra})


def _code(r: Result) -> int | None:
    return r.out["code"] if r.out is not None and "code" in r.out else None


def _leave_pending(node: Node, conf: dict[str, Any]) -> tuple[str, NetnsHolder]:
    """ADD into a pod, then the pod's netns outlives its name (held), and DEL leaves it pending."""
    pod = node.add_pod()
    assert node.run("ADD", conf, netns=node.pod_path(pod), container_id="gone").ok
    holder = NetnsHolder(node, pod)
    node.delete_pod(pod)
    r = node.run("DEL", conf, netns=node.pod_path(pod), container_id="gone")
    assert r.ok and "has not returned to the host yet" in r.stderr, r.stdout + r.stderr
    return pod, holder


@pytest.mark.parametrize("returned_as", ["pod-side-name", "devN"])
def test_add_finishes_a_stale_record_once_the_nic_is_back(node: Node, returned_as: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    conf = _conf(node, renameToIfname=True)
    _old_pod, holder = _leave_pending(node, conf)
    pending = state_view(node)
    try:
        # The NIC is still in the dead pod's namespace: the next pod is told to try again.
        new_pod = node.add_pod()
        new_view = netns_view(node, new_pod)
        r = node.run("ADD", conf, netns=node.pod_path(new_pod), container_id="next")
        assert r.code == 1 and _code(r) == 11, r.stdout + r.stderr
        assert r.out is not None and "gone" in r.out["msg"] + r.out["details"] and "not returned" in r.out["details"], r.out
        assert state_view(node) == pending and netns_view(node, new_pod) == new_view
        name = "net1" if returned_as == "pod-side-name" else "dev77"
        holder.run_inside(f"ip link set net1 down && ip link set net1 netns {node.host} name {name}")
    finally:
        holder.release()  # the namespace dies; the NIC is on the host, bare, as a real NIC would be
    assert node.has_link(name) and not node.has_link(NIC)

    r = node.run("ADD", conf, netns=node.pod_path(new_pod), container_id="next")
    assert r.ok, r.stdout + r.stderr
    assert "finished the stale attachment" in r.stderr, r.stderr
    # The new pod got the NIC with everything the host had (restored from the old record first).
    assert r.out is not None
    assert {ip["address"] for ip in r.out["ips"]} == {f"{a['local']}/{a['prefixlen']}" for a in before["addrs"][NIC]}
    assert [f for f in state_view(node)] == ["networks/amd-host-device-nad-nic/next:net1.json"]
    assert node.run("DEL", conf, netns=node.pod_path(new_pod), container_id="next").ok
    assert netns_view(node) == before
    assert state_view(node) == {}


def test_a_live_attachment_still_makes_the_device_busy(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    conf = _conf(node)
    first, second = node.add_pod(), node.add_pod()
    assert node.run("ADD", conf, netns=node.pod_path(first), container_id="first").ok
    attached = state_view(node)
    r = node.run("ADD", conf, netns=node.pod_path(second), container_id="second")
    assert _code(r) == 100 and r.out is not None and "first" in r.out["msg"], r.stdout
    assert state_view(node) == attached


def test_a_live_pod_whose_nic_was_returned_by_hand_is_not_stale(node: Node) -> None:
    """The record's netns still exists: the attachment is the runtime's to end, not ours."""
    seed_rich_nic(node, NIC, BDF)
    conf = _conf(node)
    first, second = node.add_pod(), node.add_pod()
    assert node.run("ADD", conf, netns=node.pod_path(first), container_id="first").ok
    node.emulate_nic_return(first, NIC)  # someone moved it back; the pod lives on
    attached = state_view(node)
    r = node.run("ADD", conf, netns=node.pod_path(second), container_id="second")
    assert _code(r) == 100, r.stdout
    assert state_view(node) == attached


def test_a_dpdk_function_of_a_gone_pod_is_free_for_the_next(node: Node) -> None:
    """DPDK mode records the function too; once its pod's netns is gone, the next ADD drops
    that record (nothing moved, nothing to give back) instead of answering busy forever."""
    node.sysfs.add_pci_function("0000:45:00.4", driver="vfio-pci", netdevs=[])
    conf = node.conf(deviceID="0000:45:00.4", cniVersion="1.0.0")
    first, second = node.add_pod(), node.add_pod()
    assert node.run("ADD", conf, netns=node.pod_path(first), container_id="first").ok
    r = node.run("ADD", conf, netns=node.pod_path(second), container_id="second")
    assert _code(r) == 100, r.stdout  # its pod lives: busy
    node.delete_pod(first)  # no DEL comes
    r = node.run("ADD", conf, netns=node.pod_path(second), container_id="second")
    assert r.ok and "stale DPDK attachment of container first" in r.stderr, r.stdout + r.stderr
    assert list(state_view(node)) == ["networks/amd-host-device-nad-nic/second:net1.json"]
