"""Crash points: the plugin fails, or dies by SIGKILL, at every step boundary of ADD and DEL.

"Nothing lost" is judged on full views (every link, address, route and rule of the host and the
pod namespaces; every file of the state directory), never on one field. A failing ADD must
leave everything as it was; after a SIGKILL the runtime's next DEL with the same arguments (or
a GC) must give everything back; a state file is never torn.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from hostdev.cni.fault_injection import ADD_POINTS, DEL_POINTS
from tests.e2e.harness import Node, Result, enable_test_faults, fault_env, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"
SIGKILLED = -9


def _setup(node: Node) -> tuple[str, dict[str, Any]]:
    seed_rich_nic(node, NIC, BDF)
    node.add_nic("enp69s0", "0000:45:00.0", addrs=("55.2.2.2/24",))  # a bystander that must not change
    enable_test_faults(node)
    return node.add_pod(), node.conf(deviceID=BDF, rdma="auto", returnTimeoutSeconds=1, logLevel="debug", logFile=str(node.work / "plugin.log"))


def _gc_conf(node: Node) -> dict[str, Any]:
    return node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})


def _assert_injected_failure(r: Result, point: str) -> None:
    assert r.code == 1, r.stdout + r.stderr
    assert r.out is not None and r.out["code"] == 999 and f"injected failure at {point}" in r.out["details"], r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def _assert_killed(r: Result) -> None:
    assert r.code == SIGKILLED, (r.code, r.stdout, r.stderr)
    assert r.stdout == ""  # died before printing anything: no half result


def _assert_state_never_torn(node: Node) -> None:
    for rel, content in state_view(node).items():
        assert not os.path.basename(rel).startswith(".tmp-"), rel
        document = json.loads(content)  # absent or parseable, never half written
        assert set(document) == {"version", "attachment", "record"}, rel


def _pod_is_empty(node: Node, pod: str) -> bool:
    return list(netns_view(node, pod)["links"]) == ["lo"]


# --- the mechanism is unreachable in normal operation ------------------------------------------


def _every_point_runs_through(node: Node, pod: str, conf: dict[str, Any], env_for: Any) -> None:
    before = netns_view(node)
    for point in ADD_POINTS + DEL_POINTS:
        for command in ("ADD", "DEL"):
            r = node.run(command, conf, netns=node.pod_path(pod), env=env_for(point))
            assert r.ok, f"{command} with {point} armed: {r.stdout}{r.stderr}"
    assert netns_view(node) == before and state_view(node) == {}


def test_env_var_alone_does_nothing(node: Node) -> None:
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    _every_point_runs_through(node, pod, conf, lambda point: fault_env(point, "kill"))


def test_marker_alone_does_nothing(node: Node) -> None:
    pod, conf = _setup(node)
    before = netns_view(node)
    for command in ("ADD", "CHECK", "DEL"):
        r = node.run(command, conf | {"cniVersion": "1.0.0"}, netns=node.pod_path(pod))
        assert r.ok, f"{command}: {r.stdout}{r.stderr}"
    assert netns_view(node) == before and state_view(node) == {}


@pytest.mark.parametrize("marker_kind", ["not-root-owned", "symlink", "directory", "in-the-state-dir", "unknown-action"])
def test_marker_must_be_a_root_owned_file_at_its_fixed_path(node: Node, marker_kind: str) -> None:
    """Issue 16: the marker used to be looked for in the plugin's state directory, which a NAD
    could choose; now only a regular root-owned file at one fixed path of the node's /etc counts."""
    seed_rich_nic(node, NIC, BDF)
    pod = node.add_pod()
    conf = node.conf(deviceID=BDF, rdma="skip")
    marker = node.etc / "cni" / "amd-host-device.test-faults"
    marker.parent.mkdir(parents=True, exist_ok=True)
    action = "kill"
    if marker_kind == "not-root-owned":
        marker.write_text("")
        os.chown(marker, 4242, 4242)
    elif marker_kind == "symlink":
        real = node.work / "real-marker"
        real.write_text("")
        marker.symlink_to(real)
    elif marker_kind == "directory":
        marker.mkdir()
    elif marker_kind == "in-the-state-dir":  # where it used to be
        node.state_dir.mkdir(mode=0o700)
        (node.state_dir / ".test-faults-enabled").write_text("")
        (node.state_dir / "amd-host-device.test-faults").write_text("")
    else:
        marker.write_text("")
        action = "explode"
    before = netns_view(node)
    for point in ("add:after-netdev-move", "add:before-result"):
        r = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env(point, action))
        assert r.ok, r.stdout + r.stderr
        r = node.run("DEL", conf, netns=node.pod_path(pod), env=fault_env("del:after-netdev-move", action))
        assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before


# --- ADD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ADD_POINTS)
def test_failing_add_leaves_everything_unchanged(node: Node, point: str) -> None:
    pod, conf = _setup(node)
    host_before, pod_before, state_before = netns_view(node), netns_view(node, pod), state_view(node)
    r = node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env(point, "fail"))
    _assert_injected_failure(r, point)
    assert netns_view(node) == host_before
    assert netns_view(node, pod) == pod_before
    assert state_view(node) == state_before == {}
    # Nothing is wedged: the same ADD works now, and its DEL gives everything back.
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert netns_view(node) == host_before and state_view(node) == {}


@pytest.mark.parametrize("cleanup", ["DEL", "GC"])
@pytest.mark.parametrize("point", ADD_POINTS)
def test_killed_add_is_undone_by_the_next_del_or_gc(node: Node, point: str, cleanup: str) -> None:
    pod, conf = _setup(node)
    host_before, pod_before = netns_view(node), netns_view(node, pod)
    _assert_killed(node.run("ADD", conf, netns=node.pod_path(pod), env=fault_env(point, "kill")))
    _assert_state_never_torn(node)
    if cleanup == "DEL":
        r = node.run("DEL", conf, netns=node.pod_path(pod))
    else:
        r = node.run("GC", _gc_conf(node))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == host_before
    assert netns_view(node, pod) == pod_before
    assert state_view(node) == {}


# --- DEL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["fail", "kill"])
@pytest.mark.parametrize("point", DEL_POINTS)
def test_interrupted_del_is_finished_by_the_next_del(node: Node, point: str, action: str) -> None:
    pod, conf = _setup(node)
    host_before, pod_before = netns_view(node), netns_view(node, pod)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    r = node.run("DEL", conf, netns=node.pod_path(pod), env=fault_env(point, action))
    if action == "fail":
        _assert_injected_failure(r, point)
    else:
        _assert_killed(r)
    _assert_state_never_torn(node)
    assert len(state_view(node)) == 1  # the record survives until the device is fully back
    r = node.run("DEL", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == host_before
    assert netns_view(node, pod) == pod_before
    assert state_view(node) == {}


@pytest.mark.parametrize("point", DEL_POINTS)
def test_killed_del_is_finished_by_gc(node: Node, point: str) -> None:
    pod, conf = _setup(node)
    host_before = netns_view(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    _assert_killed(node.run("DEL", conf, netns=node.pod_path(pod), env=fault_env(point, "kill")))
    _assert_state_never_torn(node)
    r = node.run("GC", _gc_conf(node))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == host_before and _pod_is_empty(node, pod)
    assert state_view(node) == {}


def test_gc_keeps_attachments_the_runtime_still_lists(node: Node) -> None:
    pod, conf = _setup(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod), container_id="alive").ok
    pod_attached, state_attached = netns_view(node, pod), state_view(node)
    valid = [{"containerID": "alive", "ifname": "net1"}]
    r = node.run("GC", node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": valid}))
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node, pod) == pod_attached and state_view(node) == state_attached



def test_gc_removes_the_temp_files_of_killed_writers_only_once_they_are_old(node: Node) -> None:
    pod, conf = _setup(node)
    assert node.run("ADD", conf, netns=node.pod_path(pod), container_id="alive").ok
    network_dir = node.state_dir / "networks" / conf["name"]
    stale, fresh = network_dir / ".tmp-killed-writer", network_dir / ".tmp-save-in-flight"
    for temp in (stale, fresh):
        temp.write_text("{")
    os.utime(stale, (0, 0))  # its writer died long ago
    valid = [{"containerID": "alive", "ifname": "net1"}]
    r = node.run("GC", node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": valid}))
    assert r.ok, r.stdout + r.stderr
    assert not stale.exists() and fresh.exists()
    assert node.run("DEL", conf, netns=node.pod_path(pod), container_id="alive").ok


# --- a rollback that cannot give the NIC back keeps the record (issue 16 item 6) ----------------


@pytest.mark.parametrize("failing_at", ["add:after-rdma-move", "add:after-addresses", "add:before-result"])
def test_a_rollback_that_cannot_return_the_nic_keeps_the_record(node: Node, failing_at: str) -> None:
    """The ADD fails after the move, and its rollback cannot bring the NIC home (here the undo of
    the move fails): the record must stay, or no later DEL knows the NIC in the pod is the
    host's. Before, the record step's undo ran anyway and dropped it."""
    pod, conf = _setup(node)
    before = netns_view(node)
    r = node.run("ADD", conf, netns=node.pod_path(pod), env={"HOSTDEV_TEST_FAULT": f"{failing_at}:fail,undo:netdev:fail"})
    _assert_injected_failure(r, failing_at)
    assert not _pod_is_empty(node, pod)  # the NIC is still in the pod...
    (record,) = state_view(node).values()  # ...and its record is kept
    assert json.loads(record)["record"]["phase"] in ("moved", "attached")
    r = node.run("DEL", conf, netns=node.pod_path(pod))  # the runtime's DEL after a failed ADD
    assert r.ok, r.stdout + r.stderr
    assert netns_view(node) == before and state_view(node) == {} and _pod_is_empty(node, pod)
