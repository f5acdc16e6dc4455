"""The CNI and scale parts' safety nets on this machine's kernel: plugins really run inside the
node, a plugin that keeps the device is caught, the probes account for every millisecond, peak
RSS is the plugin's own, and namespaces never outlive a run (not even a Ctrl-C)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmarks.cni.breakdown import EXIT, STARTUP, run_importtime, run_phases
from benchmarks.cni.cycle import ADD, DEL, EXEC, CycleImpl, ExecClock, ExecImpl
from benchmarks.cni.launcher import Launcher
from benchmarks.cni.node import GO_HOST_DEVICE, BenchNode, RestoreMismatch
from benchmarks.cni.phase_probe import MOVE
from benchmarks.cni.rss import measure_peak_rss, rss_available
from benchmarks.cni.spawner import PLUGIN_PATH, Job
from benchmarks.harness.hold import HOLD_AT_ENV, HOLD_FIFO_ENV
from benchmarks.harness.interleave import Implementation, ImplementationFailed, run_interleaved
from benchmarks.tests.own_run import OwnRun, netns_names

pytestmark = pytest.mark.kernel  # needs root: tests/suite/tiers.py
REPO = Path(__file__).resolve().parents[2]
CEILING_S = 60.0  # for "it did not hang": far above any healthy step on a loaded 2-core machine
needs_go = pytest.mark.skipif(not GO_HOST_DEVICE.exists(), reason="Go host-device (containernetworking-plugins) not installed")


def _after_run(impl: Implementation) -> None:
    assert isinstance(impl, CycleImpl)
    impl.after_run()


@pytest.fixture(scope="module")
def node() -> Iterator[BenchNode]:
    with BenchNode(devices=2, pods=2) as built:
        yield built


def test_spawned_plugins_see_the_nodes_namespace_and_fabricated_sysfs(node: BenchNode) -> None:
    script = "readlink /proc/self/ns/net; ls /sys/bus/pci/devices; cat"
    done = node.spawner.run_one(Job(("/bin/sh", "-c", script), {"PATH": PLUGIN_PATH}, "config on stdin"))
    lines = done.stdout.splitlines()
    assert lines[0] == f"net:[{os.stat(f'/run/netns/{node.host_name}').st_ino}]"
    assert sorted(lines[1:-1]) == sorted(d.bdf for d in node.devices)
    assert lines[-1] == "config on stdin"
    failed = node.spawner.run_one(Job(("/bin/sh", "-c", "echo oops >&2; exit 3"), {"PATH": PLUGIN_PATH}))
    assert (failed.returncode, failed.stderr) == (3, "oops\n")
    assert failed.start_ns < failed.end_ns


# Each job checks in, then waits (up to a generous ceiling) until all three have checked in.
RENDEZVOUS = """
touch "$1/$$"
n=0
until [ "$(ls "$1" | wc -l)" -ge 3 ]; do
  n=$((n + 1)); [ $n -lt 3000 ] || { echo "alone after 30 s" >&2; exit 1; }
  sleep 0.01
done
"""


def test_parallel_batches_overlap_and_sequential_ones_do_not(node: BenchNode, tmp_path: Path) -> None:
    # Three jobs that can only finish together prove they ran at the same time, however slowly
    # the machine schedules them; no wall-clock window is involved.
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    rendezvous = Job(("/bin/sh", "-c", RENDEZVOUS, "rendezvous", str(meeting)), {"PATH": PLUGIN_PATH})
    together = node.spawner.run([rendezvous] * 3, parallel=3)
    assert [e.returncode for e in together] == [0, 0, 0], [e.stderr for e in together]
    assert max(e.start_ns for e in together) < min(e.end_ns for e in together)
    sleeper = Job(("/bin/sleep", "0.05"), {"PATH": PLUGIN_PATH})
    in_turn = node.spawner.run([sleeper] * 3, parallel=1)
    assert all(later.start_ns >= earlier.end_ns for earlier, later in zip(in_turn, in_turn[1:]))


BROKEN_PLUGIN = """#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
  ip link set dev {device} netns "$(basename "$CNI_NETNS")"
  echo '{{"cniVersion": "1.0.0", "interfaces": [{{"name": "{device}"}}]}}'
fi
"""


def test_a_plugin_that_keeps_the_device_fails_the_measurement() -> None:
    with BenchNode(devices=1, pods=1) as own:
        names = {own.host_name, *own.pod_names}
        device, pod = own.devices[0], own.pod_names[0]
        broken = own.bin_dir / "keeps-device"
        broken.write_text(BROKEN_PLUGIN.format(device=device.name))
        broken.chmod(0o755)
        good = CycleImpl("amd-host-device", own, own.plugin, own.hostdev_conf(device, "pciBusID"), device, pod, strips_config=False)
        bad = CycleImpl("keeps-device", own, broken, {"cniVersion": "1.0.0", "name": "n", "type": "keeps-device"}, device, pod, strips_config=False)
        with pytest.raises(ImplementationFailed) as failed:
            run_interleaved([good, bad], 2, ExecClock(), check=_after_run)
        assert failed.value.name == "keeps-device"
        assert isinstance(failed.value.cause, RestoreMismatch)
        assert "still has links" in str(failed.value.cause)
    assert not names & netns_names()


@needs_go
def test_go_host_device_is_readdressed_outside_the_clock_and_then_equal(node: BenchNode) -> None:
    device, pod = node.devices[1], node.pod_names[1]
    go = CycleImpl("host-device", node, GO_HOST_DEVICE, node.go_conf(device, "device"), device, pod, strips_config=True)
    ours = CycleImpl("amd-host-device", node, node.plugin, node.hostdev_conf(device, "device"), device, pod, strips_config=False)
    runs = run_interleaved([ours, go], 2, ExecClock(), check=_after_run)
    assert runs.ops("host-device") == [ADD, DEL] and runs.ops("amd-host-device") == [ADD, DEL]
    assert go.left_behind is not None
    for lost in ("up: True -> False", "alias: None -> 'enp33s0f0'", "addresses: 3 items -> 0 items", "routes: 2 items -> 0 items"):
        assert lost in go.left_behind
    assert ours.left_behind is None
    node.check_independent()


def test_phase_probe_accounts_for_the_whole_exec(node: BenchNode) -> None:
    state = Launcher.read(node.plugin).settings
    assert state is not None and json.loads(Path(state).read_text())["stateDir"] == str(node.state_dir)
    seen: list[str] = []
    real_run_one = node.spawner.run_one

    def run_one_and_look(job: Job) -> Any:  # after the probed ADD: its record in the node's state dir
        done = real_run_one(job)
        seen.extend(str(p.relative_to(node.state_dir)) for p in node.state_dir.rglob("*.json"))
        return done

    node.spawner.run_one = run_one_and_look  # type: ignore[method-assign]
    try:
        result = run_phases(node, node.devices[0], node.pod_names[0], 1, lambda _m: None)
    finally:
        del node.spawner.run_one
    assert any(name.startswith("networks/hdb-net/") for name in seen), seen  # not the machine's /var/lib
    for command in (ADD, DEL):
        phases = {row["phase"]: row for row in result[command]["phases"]}
        assert phases[MOVE]["calls"] == 1  # exactly one netns move per command
        assert phases[MOVE]["wall_ns"] > phases[MOVE]["cpu_ns"]  # the move waits in the kernel
        assert phases[STARTUP]["wall_ns"] > 0 and phases[EXIT]["wall_ns"] > 0
        total = sum(row["wall_ns"] for row in result[command]["phases"])
        assert abs(total - result[command]["total_wall_ns"]["median"]) < 1e6  # nothing unaccounted


def test_importtime_tells_the_commands_apart(node: BenchNode) -> None:
    result = run_importtime(node, node.devices[0], node.pod_names[0], 1, lambda _m: None)
    modules = {c: {row["module"] for row in data["modules"]} for c, data in result["commands"].items()}
    assert {"cni_main", "hostdev.cni.plugin", "hostdev.cni.add"} <= modules[ADD]
    assert "hostdev.cni.detach" in modules[DEL] and "hostdev.cni.add" not in modules["VERSION"]
    assert result["commands"][ADD]["total_us"]["plugin"] > result["commands"]["VERSION"]["total_us"]["plugin"]
    # hostdev's empty packages are what the import machinery alone costs per module (the report's
    # bound on what merging modules could save); modules with a body are never among them.
    empty = result["commands"][ADD]["statementless_modules"]
    assert {"hostdev.cni", "hostdev._netlink"} <= set(empty) and "hostdev.cni.add" not in empty
    assert all(0 < us < result["commands"][ADD]["total_us"]["hostdev"] for us in empty.values())


@pytest.mark.skipif(rss_available() is not None, reason="GNU time not installed")
def test_peak_rss_is_the_plugins_own_not_the_spawners(node: BenchNode) -> None:
    launcher = Launcher.read(node.plugin)
    bare = ExecImpl("bare", node, Job((launcher.interpreter, "-I", "-S", "-c", "pass"), {"PATH": PLUGIN_PATH}))
    small = ExecImpl("true", node, Job(("/bin/true",), {"PATH": PLUGIN_PATH}))
    rss = measure_peak_rss(node, [bare, small], 1)["peak_rss_kb"]
    with open(f"/proc/{node.spawner.pid}/status") as f:
        spawner_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    assert rss["true"][EXEC]["median"] < rss["bare"][EXEC]["median"] < spawner_kb


def test_quick_cni_and_scale_parts_pass_and_leave_nothing_behind(tmp_path: Path) -> None:
    run = OwnRun(tmp_path)
    # A stand-in for a node bundle (the real one is built by bundle/build.sh, in minutes when cold):
    # a bundle directory whose executable is a launcher, so the bundle's rows and ratios show up.
    bundle = tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "hostdev.tools.cli", "install", "--bin-dir", str(bundle)], cwd=REPO, check=True)
    (bundle / "hostdev-bundle.json").write_text('{"name": "amd-host-device", "build": "00000000", "bundler": "stand-in"}')
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--parts", "cni,scale", "--out", str(out), "--bundle", str(bundle)],
        cwd=REPO, env=run.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cni = json.loads((out / "cni.json").read_text())
    assert cni["failure"] is None and cni["checks"]["passed"] is True and cni["quick"] is True
    assert (out / "cni.md").read_text().startswith("# amd-host-device as a CNI binary")
    assert cni["version"]["bundle_vs_launcher"]["median"] > 0 and cni["cycle"]["bundle_vs_launcher"]["ADD+DEL"]["median"] > 0
    assert "bundle pciBusID" in cni["cycle"]["summary"] and "bundle" in cni["version"]["summary"]
    assert "**Node bundle ÷ launcher**" in (out / "cni.md").read_text()
    scale = json.loads((out / "scale.json").read_text())
    assert scale["failure"] is None and scale["checks"]["passed"] is True
    assert {(r["mode"], r["n"], r["parallel"]) for r in scale["runs"] if r["plugin"] == "amd-host-device"} == {
        ("one pod", 1, 1), ("separate pods", 1, 1), ("one pod", 8, 1), ("separate pods", 8, 1), ("separate pods", 8, 8)}
    assert (out / "scale.md").read_text().startswith("# amd-host-device at scale")
    for png in ("cni-latency.png", "scale-per-device.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "move.json").exists()
    assert run.owns(cni["namespaces"]["host"]) and all(run.owns(pod) for pod in cni["namespaces"]["pods"])
    assert not run.namespaces() and not run.temp_dirs()


PEER_WRAPPER = """#!/bin/sh
# A stand-in for a Go plugin chain: keeps state at a fixed path under /var/lib (as AMD's plugin
# does) and execs the plugin it wraps from its CNI_PATH.
mkdir -p /var/lib/cni/{state} && echo "$CNI_COMMAND $CNI_PATH" >> /var/lib/cni/{state}/calls
exec "${{CNI_PATH%%:*}}/host-device"
"""


@needs_go
def test_a_peer_runs_side_by_side_with_its_cni_path_and_leaves_nothing_in_var_lib(tmp_path: Path) -> None:
    run = OwnRun(tmp_path)
    state = f"hdb-peer-test-{run.tag}"
    peer = tmp_path / "wrapped"
    peer.write_text(PEER_WRAPPER.format(state=state))
    peer.chmod(0o755)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--parts", "cni", "--out", str(out), "--peer", f"chain={peer}",
         "--peer-cni-path", str(GO_HOST_DEVICE.parent)],
        cwd=REPO, env=run.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cni = json.loads((out / "cni.json").read_text())
    assert cni["failure"] is None and cni["checks"]["passed"] is True
    assert cni["peers"]["chain"]["path"] == str(peer) and "host-device" in cni["peers"]["chain"]["cni_path_plugins"]
    assert set(cni["cycle"]["ratios"]) >= {"amd-host-device pciBusID ÷ chain pciBusID", "amd-host-device pciBusID ÷ host-device pciBusID"}
    assert "amd-host-device ÷ chain" in cni["version"]["ratios"]
    assert "routes: 2 items -> 0 items" in cni["left_behind"]["chain pciBusID"]  # re-addressed, then checked
    assert "ADD+DEL ≤ 0.7× `chain`" in (out / "cni.md").read_text()
    assert not Path(f"/var/lib/cni/{state}").exists()  # its writes stayed in the node's overlay
    assert not run.namespaces() and not run.temp_dirs()


def test_peer_arguments_are_checked_before_anything_runs(tmp_path: Path) -> None:
    for bad in ("noequals", f"amd-host-device={sys.executable}", f"x={tmp_path}"):
        done = subprocess.run([sys.executable, "-m", "benchmarks", "--parts", "cni", "--peer", bad, "--out", str(tmp_path)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and "--peer" in done.stderr, bad


def _pump_lines(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Every stderr line of ``proc`` into ``lines``, then ``None`` at its end."""
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.put(line)
    lines.put(None)


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT at its default in the run, as for a command started in a terminal. A test run
    started in the background by a shell without job control (``cmd &`` in a script, ``nohup``)
    has SIGINT ignored, inherited down to the benchmark, which then rightly keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_removes_every_namespace_and_the_node_directory(tmp_path: Path) -> None:
    run = OwnRun(tmp_path)
    hold = tmp_path / "hold"
    os.mkfifo(hold)
    # The run waits on the FIFO after its first batch pair: the signal finds it mid-run whatever
    # the machine's speed (signalling on the log line alone once came after the last batch).
    env = run.env | {HOLD_AT_ENV: "after-batch-pair", HOLD_FIFO_ENV: str(hold)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--quick", "--parts", "scale", "--out", str(tmp_path / "out")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    pump = threading.Thread(target=_pump_lines, args=(proc, lines), daemon=True)
    pump.start()
    seen: list[str] = []
    try:
        while not any(" N=" in line for line in seen):  # logged just before the hold point
            line = lines.get(timeout=CEILING_S)  # queue.Empty: nothing logged for that long
            assert line is not None, "the scale part ended before its first batch:\n" + "".join(seen)
            seen.append(line)
        ours = run.namespaces()
        assert len(ours) >= 9, "the scale part never built its node"  # host + 8 pods
        assert any(name.startswith("hdb-node-") for name in run.temp_dirs())
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=CEILING_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pump.join(CEILING_S)
    while not lines.empty():
        seen.append(lines.get_nowait() or "")
    err = "".join(seen)
    assert proc.returncode == 130, err[-2000:]
    assert not run.namespaces() and not run.temp_dirs()
