"""DEL after the pod's network namespace is gone, replaced, or still dying.

A real NIC returns to the host by itself when its netns dies (down, bare, under its pod-side
name, or ``dev<N>`` when that name is taken); ``emulate_nic_return`` does that for the veth
stand-in. While a process still holds the netns the device is not back yet: DEL must succeed
keeping its state, and a later DEL or GC must finish the job.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from hostdev.cni.config import MAX_RETURN_TIMEOUT_SECONDS
from tests.e2e.harness import CEILING_S, Node, NetnsHolder, Result, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"
RETURN_TIMEOUT_S = MAX_RETURN_TIMEOUT_SECONDS


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(deviceID=BDF, rdma="auto", returnTimeoutSeconds=0.3, logLevel="info", logFile=str(node.log_file), **extra)


def _ok(r: Result, node: Node) -> None:
    assert r.ok and r.stdout == "", r.stdout + r.stderr + node.plugin_log()


def _other_kind_of_namespace(node: Node) -> str:
    return "/proc/self/ns/uts"  # the plugin's own UTS namespace: a namespace, not a network one


def _fifo(node: Node) -> str:
    path = node.work / "netns-fifo"
    os.mkfifo(path)
    return str(path)


def _regular_file(node: Node) -> str:
    path = node.work / "not-a-netns"
    path.write_text("just a file\n")
    return str(path)


@pytest.mark.parametrize(
    "netns_at_del", ["empty", "stale", "regular-file", "fifo", "char-device", "uts-namespace", "other-pod", "plugin-own"]
)
def test_del_after_the_pod_died_restores_everything(node: Node, netns_at_del: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    node.emulate_nic_return(pod, NIC)
    node.delete_pod(pod)
    netns = {
        "empty": "",
        "stale": node.pod_path(pod),
        "regular-file": _regular_file(node),
        "fifo": _fifo(node),  # opening it for reading would block until a writer came
        "char-device": "/dev/zero",
        "uts-namespace": _other_kind_of_namespace(node),
        "other-pod": node.pod_path(node.add_pod()),
        "plugin-own": f"/run/netns/{node.host}",
    }[netns_at_del]
    _ok(node.run("DEL", conf, netns=netns), node)
    assert netns_view(node) == before
    assert state_view(node) == {}


@pytest.mark.parametrize("returned_as", ["pod-side-name", "devN"])
def test_device_returned_under_another_name_is_renamed_back(node: Node, returned_as: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node, renameToIfname=True)
    assert node.run("ADD", conf, netns=node.pod_path(pod), ifname="net1").ok
    name = "net1"
    if returned_as == "devN":
        name = f"dev{node.ip_json('link show dev net1', pod)[0]['ifindex']}"
        node.ip(f"link set net1 name {name}", pod)
    node.emulate_nic_return(pod, name)
    node.delete_pod(pod)
    assert node.has_link(name)
    _ok(node.run("DEL", conf, netns=node.pod_path(pod), ifname="net1"), node)
    assert netns_view(node) == before
    assert state_view(node) == {}


@pytest.mark.parametrize("finisher", ["DEL", "GC"])
@pytest.mark.parametrize("holder_kind", ["sleep", "fd"])
def test_device_not_back_yet_keeps_state_for_a_later_del_or_gc(node: Node, holder_kind: str, finisher: str) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    state_attached = state_view(node)
    holder = NetnsHolder(node, pod, how=holder_kind)
    try:
        node.delete_pod(pod)  # the name is gone; the netns lives on in the holder, with the NIC
        started = time.monotonic()
        r = node.run("DEL", conf, netns=node.pod_path(pod))
        _ok(r, node)
        # DEL gave up after its returnTimeoutSeconds (0.3 s) while the device was still held: the
        # holder is released only below, so an unbounded wait would never have returned.
        assert time.monotonic() - started < CEILING_S
        assert "waiting up to 0.3s" in node.plugin_log()
        assert "has not returned to the host yet" in r.stderr
        assert state_view(node) == state_attached  # kept, untouched
        assert not node.has_link(NIC)
        # The holder goes away; the kernel hands the NIC back.
        holder.run_inside(f"ip link set {NIC} down && ip link set {NIC} netns {node.host}")
    finally:
        holder.release()
    if finisher == "DEL":
        r = node.run("DEL", conf, netns=node.pod_path(pod))
    else:
        r = node.run("GC", node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []}))
    _ok(r, node)
    assert netns_view(node) == before
    assert state_view(node) == {}


def test_del_waits_for_a_device_on_its_way_back(node: Node) -> None:
    """The netns is being torn down while DEL runs: DEL waits (bounded) and restores at once."""
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node) | {"returnTimeoutSeconds": RETURN_TIMEOUT_S}
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    holder = NetnsHolder(node, pod)
    results: list[Result] = []
    try:
        node.delete_pod(pod)
        worker = threading.Thread(target=lambda: results.append(node.run("DEL", conf, netns="")))
        started = time.monotonic()
        worker.start()
        while "waiting up to" not in node.plugin_log():  # DEL is now watching for the device
            assert worker.is_alive() and time.monotonic() - started < CEILING_S, node.plugin_log()
            time.sleep(0.01)
        holder.run_inside(f"ip link set {NIC} down && ip link set {NIC} netns {node.host}")
        worker.join(2 * RETURN_TIMEOUT_S)
    finally:
        holder.release()
    assert results, "DEL did not finish"
    _ok(results[0], node)
    # It saw the arrival; it did not sit out its timeout (the longest a configuration allows).
    assert time.monotonic() - started < RETURN_TIMEOUT_S
    assert "has not returned" not in results[0].stderr
    assert netns_view(node) == before
    assert state_view(node) == {}


def test_check_and_add_refuse_a_dead_or_foreign_netns(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node) | {"cniVersion": "1.0.0"}
    for netns in (node.pod_path(pod) + "-gone", _regular_file(node), _other_kind_of_namespace(node)):
        r = node.run("ADD", conf, netns=netns)
        assert r.out is not None and r.out["code"] == 4 and "CNI_NETNS" in r.out["msg"], r.stdout
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    node.emulate_nic_return(pod, NIC)
    node.delete_pod(pod)
    r = node.run("CHECK", conf, netns=node.pod_path(pod))
    assert r.out is not None and r.out["code"] == 103, r.stdout
    _ok(node.run("DEL", conf, netns=node.pod_path(pod)), node)
    assert netns_view(node) == before
    assert os.listdir(node.state_dir / "networks" / "amd-host-device-nad-nic") == []
