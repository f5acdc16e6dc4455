"""Where the plugin's milliseconds go, measured two ways on the real ADD/DEL/VERSION paths:

* ``-X importtime``: a copy of the installed launcher with ``-ISXimporttime`` on its ``#!`` line;
* per-phase timers: :mod:`benchmarks.cni.phase_probe` run in place of the launcher (same
  interpreter, flags and ``sys.path``), its clock aligned with the spawner's, so interpreter
  start-up (spawn → first line of the script) and exit (last line → reaped) are measured too.

Both run through the spawner on the node's stand-in, fixture checked after every cycle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from benchmarks.cni.cycle import ADD, DEL, PluginFailed, require_success
from benchmarks.cni.importtime import parse_importtime, summarize_runs
from benchmarks.cni.launcher import Launcher
from benchmarks.cni.node import BenchNode, StandInDevice
from benchmarks.cni.spawner import PLUGIN_PATH, Exec, Job
from benchmarks.harness.stats import summarize

PROBE = Path(__file__).resolve().with_name("phase_probe.py")
STARTUP = "interpreter start-up (spawn → script's first line)"
EXIT = "interpreter exit (return → reaped)"
VERSION_STDIN = '{"cniVersion":"1.0.0"}'


def version_job(node: BenchNode, plugin: Path) -> Job:
    return Job((str(plugin),), {"PATH": PLUGIN_PATH, "CNI_COMMAND": "VERSION"}, VERSION_STDIN)


def cycle_jobs(node: BenchNode, argv: tuple[str, ...], device: StandInDevice, pod: str) -> tuple[Job, Job]:
    stdin = json.dumps(node.hostdev_conf(device, "pciBusID"))
    env = {c: node.env(c, pod=pod, container_id="hdb-breakdown") for c in (ADD, DEL)}
    return Job(argv, env[ADD], stdin), Job(argv, env[DEL], stdin)


def run_importtime(node: BenchNode, device: StandInDevice, pod: str, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    launcher = Launcher.read(node.plugin)
    variant = launcher.variant(node.bin_dir / "amd-host-device-importtime", launcher.flags + "Ximporttime")
    per_command: dict[str, list[Any]] = {"VERSION": [], ADD: [], DEL: []}
    walls: dict[str, list[float]] = {k: [] for k in per_command}
    add_job, del_job = cycle_jobs(node, (str(variant),), device, pod)
    for _ in range(runs):
        done = require_success("importtime VERSION", node.spawner.run_one(version_job(node, variant)))
        per_command["VERSION"].append(parse_importtime(done.stderr))
        walls["VERSION"].append(float(done.wall_ns))
        for command, job in ((ADD, add_job), (DEL, del_job)):
            done = require_success(f"importtime {command}", node.spawner.run_one(job))
            per_command[command].append(parse_importtime(done.stderr))
            walls[command].append(float(done.wall_ns))
        node.check([device], [pod])
    log(f"  importtime: {runs} run(s) of VERSION, ADD and DEL")
    return {
        "launcher_flags": launcher.flags + "Ximporttime",
        "commands": {c: summarize_runs(r) | {"wall_ns_under_importtime": summarize(walls[c]).to_dict()} for c, r in per_command.items()},
    }


def _probe_phases(done: Exec, out: Path) -> dict[str, tuple[int, int, int]]:
    data = json.loads(out.read_text())
    if data["unpatched"]:
        raise PluginFailed(f"phase probe: the plugin no longer has {data['unpatched']}: update PATCHES in phase_probe.py")
    phases: dict[str, tuple[int, int, int]] = {STARTUP: (data["t0_ns"] - done.start_ns, 0, 1)}
    for name, (wall, cpu, calls) in data["phases"].items():
        phases[name] = (wall, cpu, calls)
    phases[EXIT] = (done.end_ns - data["t_end_ns"], 0, 1)
    return phases


def run_phases(node: BenchNode, device: StandInDevice, pod: str, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Per-phase wall and CPU of ADD and DEL, medians over ``runs`` probed cycles."""
    launcher = Launcher.read(node.plugin)
    out = node.work / "phases.json"
    argv = probe_argv(launcher, out)
    add_job, del_job = cycle_jobs(node, argv, device, pod)
    samples: dict[str, dict[str, list[tuple[int, int, int]]]] = {ADD: {}, DEL: {}}
    totals: dict[str, list[float]] = {ADD: [], DEL: []}
    cpu_totals: dict[str, list[float]] = {ADD: [], DEL: []}
    for _ in range(runs):
        for command, job in ((ADD, add_job), (DEL, del_job)):
            out.unlink(missing_ok=True)
            done = require_success(f"phase probe {command}", node.spawner.run_one(job))
            for name, value in _probe_phases(done, out).items():
                samples[command].setdefault(name, []).append(value)
            totals[command].append(float(done.wall_ns))
            cpu_totals[command].append(float(done.cpu_ns))
        node.check([device], [pod])
    log(f"  phases: {runs} probed ADD+DEL cycle(s)")
    result: dict[str, Any] = {"runs": runs, "argv_shape": "<interpreter> " + launcher.flags + " phase_probe.py OUT <launcher's settings> <launcher sys.path>"}
    for command, phases in samples.items():
        rows = []
        for name, values in phases.items():
            padded = values + [(0, 0, 0)] * (runs - len(values))
            rows.append({
                "phase": name,
                "wall_ns": summarize([float(v[0]) for v in padded]).median,
                "cpu_ns": summarize([float(v[1]) for v in padded]).median if name not in (STARTUP, EXIT) else None,
                "calls": summarize([float(v[2]) for v in padded]).median,
            })  # fmt: skip
        result[command] = {
            "total_wall_ns": summarize(totals[command]).to_dict(),
            "total_cpu_ns": summarize(cpu_totals[command]).to_dict(),
            "phases": rows,
        }
    return result


def probe_argv(launcher: Launcher, out: Path) -> tuple[str, ...]:
    """The phase probe run as the launcher runs the plugin: same interpreter, flags, node settings
    file ("" for the default) and sys.path; it writes its timers to ``out``."""
    return (launcher.interpreter, *_split_flags(launcher.flags), str(PROBE), str(out), launcher.settings or "", *launcher.sys_path)


def _split_flags(flags: str) -> list[str]:
    return flags.split() if flags else []
