"""What a NAD says can't make the plugin write files outside its own places (issue 16, H2).

The plugin runs as root and NetworkAttachmentDefinitions may be written by tenants. Where state,
device locks and logs go is the node's decision (its settings file, root-owned), never the NAD's:
a NAD may only pick a log file inside the node's log directory, and even there the plugin opens
nothing but a regular file of its own (no symlink, FIFO, device or hard link). Lock files are
never written to, let alone truncated.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Node, Result, netns_view, seed_rich_nic, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"


def _conf(node: Node, **extra: Any) -> dict[str, Any]:
    return node.conf(**{"deviceID": BDF, "rdma": "skip", "logLevel": "info", **extra})


def _tree(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() and not p.is_symlink() else "other") for p in sorted(path.rglob("*"))}


def _refused(r: Result, code: int, words: str) -> None:
    assert r.code == 1 and r.out is not None and r.out["code"] == code, r.stdout + r.stderr
    assert words in r.out["msg"] + r.out["details"], r.out


@pytest.fixture
def attached_node(node: Node) -> Node:
    seed_rich_nic(node, NIC, BDF)
    return node


# --- state: one node-wide place -----------------------------------------------------------------


def test_a_nad_cannot_move_state_and_locks_elsewhere(attached_node: Node) -> None:
    node = attached_node
    elsewhere = node.work / "tenant-state"
    elsewhere.mkdir(mode=0o700)  # root-owned, private: the old plugin took it as a state dir
    before = netns_view(node)
    pod = node.add_pod()
    r = node.run("ADD", _conf(node, stateDir=str(elsewhere)), netns=node.pod_path(pod))
    _refused(r, 7, "stateDir")
    assert _tree(elsewhere) == {}  # no record, no lock file
    assert netns_view(node) == before and state_view(node) == {}


def test_a_nad_repeating_the_nodes_state_dir_is_accepted(attached_node: Node) -> None:
    """A NAD that repeats the node's own stateDir is fine (older NADs carried the default)."""
    node = attached_node
    pod = node.add_pod()
    conf = _conf(node, stateDir=str(node.state_dir))
    assert node.run("ADD", conf, netns=node.pod_path(pod)).ok
    assert state_view(node) != {}
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok


def test_del_ignores_a_nads_state_dir_and_uses_the_node_wide_store(attached_node: Node) -> None:
    """After an upgrade a NAD may still name another stateDir: DEL must still find the record."""
    node = attached_node
    before = netns_view(node)
    pod = node.add_pod()
    assert node.run("ADD", _conf(node), netns=node.pod_path(pod)).ok
    r = node.run("DEL", _conf(node, stateDir=str(node.work / "old-state")), netns=node.pod_path(pod))
    assert r.ok and "stateDir" in r.stderr, r.stdout + r.stderr
    assert netns_view(node) == before and state_view(node) == {}
    assert not (node.work / "old-state").exists()


def test_two_nads_share_the_devices_locks_and_busy_check(attached_node: Node) -> None:
    node = attached_node
    first, second = node.add_pod(), node.add_pod()
    assert node.run("ADD", _conf(node), netns=node.pod_path(first), container_id="first").ok
    r = node.run("ADD", _conf(node, name="another-nad"), netns=node.pod_path(second), container_id="second")
    _refused(r, 100, "first")


# --- logs: only inside the node's log directory, only a regular file of our own -------------


@pytest.fixture
def log_dir(node: Node) -> Path:
    directory = node.work / "log"
    directory.mkdir(mode=0o700)
    assert node.settings is not None
    node.settings["logDir"] = str(directory)
    return directory


@pytest.mark.parametrize("where", ["outside", "proc-sys", "state-dir"])
def test_a_nad_log_file_outside_the_log_dir_is_refused(attached_node: Node, log_dir: Path, where: str) -> None:
    node = attached_node
    target = {
        "outside": node.work / "etc-nologin",  # stands for /etc/nologin: never created
        "proc-sys": Path("/proc/sys/net/ipv4/ip_forward"),  # never appended to
        "state-dir": node.state_dir / "networks" / "amd-host-device-nad-nic" / "c0ffee:net1.json",
    }[where]
    before_target = target.read_bytes() if target.exists() else None
    before = netns_view(node)
    pod = node.add_pod()
    r = node.run("ADD", _conf(node, logFile=str(target)), netns=node.pod_path(pod))
    _refused(r, 7, "logFile")
    assert (target.read_bytes() if target.exists() else None) == before_target
    assert netns_view(node) == before and state_view(node) == {}


def test_without_a_node_log_dir_a_nad_log_file_is_refused(attached_node: Node) -> None:
    node = attached_node
    assert node.settings is not None
    del node.settings["logDir"]
    pod = node.add_pod()
    r = node.run("ADD", _conf(node, logFile=str(node.work / "plugin.log")), netns=node.pod_path(pod))
    _refused(r, 7, "logFile")
    assert not (node.work / "plugin.log").exists()


def test_del_with_a_log_file_outside_the_log_dir_still_restores(attached_node: Node, log_dir: Path) -> None:
    """A DEL never fails over a log setting: the device must come back."""
    node = attached_node
    before = netns_view(node)
    pod = node.add_pod()
    assert node.run("ADD", _conf(node), netns=node.pod_path(pod)).ok
    r = node.run("DEL", _conf(node, logFile=str(node.work / "elsewhere.log")), netns=node.pod_path(pod))
    assert r.ok and "logFile" in r.stderr, r.stdout + r.stderr
    assert not (node.work / "elsewhere.log").exists()
    assert netns_view(node) == before and state_view(node) == {}


def test_the_log_file_is_created_0600_and_appended(attached_node: Node, log_dir: Path) -> None:
    node = attached_node
    pod = node.add_pod()
    log = log_dir / "nic.log"
    assert node.run("ADD", _conf(node, logFile=str(log)), netns=node.pod_path(pod)).ok
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.stat().st_uid == 0
    lines = log.read_text().count("\n")
    assert lines > 0
    assert node.run("DEL", _conf(node, logFile="nic.log"), netns=node.pod_path(pod)).ok  # a name in the log dir
    assert log.read_text().count("\n") > lines


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo", "directory"])
def test_only_a_regular_file_of_our_own_in_the_log_dir_is_written(attached_node: Node, log_dir: Path, kind: str) -> None:
    node = attached_node
    precious = node.work / "precious"
    precious.write_text("must stay as it is\n")
    log = log_dir / "nic.log"
    if kind == "symlink":
        log.symlink_to(precious)
    elif kind == "hardlink":
        os.link(precious, log)
    elif kind == "fifo":
        os.mkfifo(log)  # with nobody reading: opening it for writing would block forever
    else:
        log.mkdir()
    before = netns_view(node)
    pod = node.add_pod()
    conf = _conf(node, logFile=str(log))
    started = time.monotonic()
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr  # a bad log file never fails the attachment
    assert "log" in r.stderr
    assert node.run("DEL", conf, netns=node.pod_path(pod)).ok
    assert time.monotonic() - started < 60  # generous: it must not hang on the FIFO
    assert precious.read_text() == "must stay as it is\n"
    assert netns_view(node) == before


# --- lock files: never followed, never written ------------------------------------------------


def _private_locks_dir(node: Node) -> Path:
    """The node's lock directory made ahead of the plugin, as private as the plugin makes it."""
    locks = node.state_dir / "locks"
    locks.mkdir(parents=True)
    node.state_dir.chmod(0o700)
    locks.chmod(0o700)
    return locks


def test_existing_lock_files_are_never_truncated(attached_node: Node) -> None:
    node = attached_node
    locks = _private_locks_dir(node)
    lock = locks / f"{BDF}.lock"
    lock.write_text("content that must survive\n")
    lock.chmod(0o600)
    before = netns_view(node)
    pod = node.add_pod()
    assert node.run("ADD", _conf(node), netns=node.pod_path(pod)).ok
    assert node.run("DEL", _conf(node), netns=node.pod_path(pod)).ok
    assert lock.read_text() == "content that must survive\n"
    assert netns_view(node) == before


def test_a_hard_linked_lock_file_is_refused(attached_node: Node) -> None:
    node = attached_node
    locks = _private_locks_dir(node)
    precious = node.work / "precious"
    precious.write_text("must stay as it is\n")
    precious.chmod(0o600)
    os.link(precious, locks / f"{BDF}.lock")
    before = netns_view(node)
    pod = node.add_pod()
    r = node.run("ADD", _conf(node), netns=node.pod_path(pod))
    _refused(r, 5, "lock")
    assert precious.read_text() == "must stay as it is\n"
    assert netns_view(node) == before


# --- the settings file itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    "problem",
    ["group-writable", "foreign-owner", "symlink", "not-json", "unknown-key", "relative-state-dir", "bad-vendor-device",
     "api-server-not-an-address"],
)  # fmt: skip
def test_an_untrustworthy_settings_file_is_refused(attached_node: Node, problem: str) -> None:
    node = attached_node
    node.write_settings()
    settings = node.settings_file
    node.settings = None  # the file below is written by the test, as it is
    if problem == "group-writable":
        settings.chmod(0o664)
    elif problem == "foreign-owner":
        os.chown(settings, 4242, 4242)
    elif problem == "symlink":
        real = node.work / "real-settings"
        settings.rename(real)
        settings.symlink_to(real)
    elif problem == "not-json":
        settings.write_text("stateDir = /tmp\n")
    elif problem == "unknown-key":
        settings.write_text('{"stateDir": "/var/lib/cni/amd-host-device", "stateDri": "/tmp"}')
    elif problem == "relative-state-dir":
        settings.write_text('{"stateDir": "state"}')
    elif problem == "bad-vendor-device":
        settings.write_text('{"deny": {"vendorDevice": ["intel:10c9"]}}')
    else:
        settings.write_text('{"apiServers": ["api.example.com"]}')
    before = netns_view(node)
    pod = node.add_pod()
    r = node.run("ADD", _conf(node), netns=node.pod_path(pod))
    _refused(r, 7, "node settings")
    assert netns_view(node) == before and state_view(node) == {}


def test_without_a_settings_file_the_defaults_apply(attached_node: Node) -> None:
    """No file: state in /var/lib/cni/amd-host-device, no NAD log file allowed. (Only VERSION
    and a refused ADD run here, so the machine's /var/lib is never written.)"""
    node = attached_node
    node.settings = None
    pod = node.add_pod()
    r = node.run("ADD", _conf(node, logFile=str(node.work / "x.log")), netns=node.pod_path(pod))
    _refused(r, 7, "logFile")
    version = node.run("VERSION", {"cniVersion": "1.0.0"})
    assert version.ok


def test_the_launcher_reads_the_settings_file_it_was_installed_with(tmp_path: Path) -> None:
    """`hostdev install --settings FILE` bakes the path into the launcher (dev installs, tests)."""
    from tests.e2e.harness import PYTHON

    bin_dir = tmp_path / "bin"
    settings = tmp_path / "node.conf"
    settings.write_text('{"stateDir": "relative"}')  # invalid on purpose: proves it is read
    subprocess.run([str(PYTHON), "-m", "hostdev.tools.cli", "install", "--bin-dir", str(bin_dir), "--settings", str(settings)], check=True)
    env = {"CNI_COMMAND": "STATUS", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(bin_dir / "amd-host-device")], input=b'{"cniVersion":"1.1.0","name":"n","type":"amd-host-device"}', env=env, capture_output=True)
    assert proc.returncode == 1 and str(settings).encode() in proc.stdout, proc.stdout + proc.stderr
