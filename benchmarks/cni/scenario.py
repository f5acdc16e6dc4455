"""The CNI scenario: the installed binary, end to end, against Debian's Go host-device and any
peer plugins given by path (``--peer NAME=PATH``, e.g. AMD's Go plugin built from its source).

Passes, all on one node (one stand-in NIC, one pod), every exec through the spawner:

1. cycle: ADD then DEL of the stand-in, round-robin over amd-host-device, Go host-device (each
   with a ``pciBusID`` and a ``device`` (name) configuration) and the peers (``pciBusID`` and
   ``deviceID``, as Multus passes a device-plugin allocation; their CNI_PATH holds the helper
   plugins they exec); after every run (outside the clock) what a Go plugin stripped is put back
   and the stand-in is checked against its baseline;
2. VERSION: one exec each of amd-host-device VERSION, a bare ``<real python> -I -S -c pass``, Go
   host-device VERSION and every peer's VERSION, round-robin;

With ``--bundle DIR`` the node bundle (what the DaemonSet ships) runs in both passes too, with the
launcher's configuration (``pciBusID``), and is compared with the launcher (``bundle_vs_launcher``).
3. breakdown: ``-X importtime`` of VERSION/ADD/DEL, and per-phase timers of ADD/DEL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.cni.breakdown import VERSION_STDIN, run_importtime, run_phases
from benchmarks.cni.cycle import ADD, CYCLE, DEL, EXEC, CycleImpl, ExecClock, ExecImpl, PluginFailed
from benchmarks.cni.launcher import Launcher
from benchmarks.cni.node import GO_HOST_DEVICE, BenchNode, RestoreMismatch
from benchmarks.cni.rss import measure_peak_rss
from benchmarks.cni.spawner import PLUGIN_PATH, Exec, Job, SpawnError
from benchmarks.harness.interleave import Implementation, ImplementationFailed, Runs, log_progress, run_interleaved
from benchmarks.harness.stats import paired_differences, paired_ratios, summarize

HOSTDEV = "amd-host-device"
GO = "host-device"
BARE_PYTHON = "python -I -S -c pass"
BUNDLE = "bundle"  # the node bundle, measured against the launcher
SELECTORS = ("pciBusID", "device")


def cycle_name(plugin: str, selector: str) -> str:
    return f"{plugin} {selector}"


@dataclass
class CniConfig:
    rounds: int = 40
    warmup: int = 2
    version_rounds: int = 60
    importtime_runs: int = 10
    phase_runs: int = 15
    rss_runs: int = 5
    go: bool = True  # compare with /usr/lib/cni/host-device (skipped when it is not installed)
    peers: dict[str, Path] = field(default_factory=dict)  # name -> plugin binary
    peer_cni_path: str = "/usr/lib/cni"  # where the peers find the plugins they exec (host-device, static)
    bundle: Path | None = None  # a node bundle's directory (bundle/build.sh prints it)


def bundle_plugin(directory: Path) -> tuple[Path, str]:
    """(the bundle's executable, what it is, from its manifest)."""
    manifest = json.loads((directory / "hostdev-bundle.json").read_text())
    return directory / HOSTDEV, f"node bundle `{directory}` ({manifest.get('bundler')}, Python {manifest.get('python')})"


def _exec_stats(execs: Sequence[Exec]) -> dict[str, Any]:
    return {
        "wall_ns": summarize([float(e.wall_ns) for e in execs]).to_dict(),
        "cpu_ns": summarize([float(e.cpu_ns) for e in execs]).to_dict(),
    }


def comparisons(names: Sequence[str]) -> list[tuple[str, str]]:
    """(amd-host-device cycle, other plugin's cycle) for every other plugin run with the same selector."""
    pairs = []
    for selector in SELECTORS:
        ours = cycle_name(HOSTDEV, selector)
        if ours in names:
            pairs += [(ours, name) for name in names if name not in (ours, cycle_name(BUNDLE, selector)) and name.endswith(f" {selector}")]
    return pairs


def cycle_results(runs: Runs[Exec]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    walls: dict[str, dict[str, list[float]]] = {}
    for name in runs.rounds:
        adds, dels = runs.series(name, ADD), runs.series(name, DEL)
        cycles = [float(a.wall_ns + d.wall_ns) for a, d in zip(adds, dels)]
        cycle_cpu = [float(a.cpu_ns + d.cpu_ns) for a, d in zip(adds, dels)]
        summary[name] = {
            ADD: _exec_stats(adds), DEL: _exec_stats(dels),
            CYCLE: {"wall_ns": summarize(cycles).to_dict(), "cpu_ns": summarize(cycle_cpu).to_dict()},
        }  # fmt: skip
        walls[name] = {ADD: [float(a.wall_ns) for a in adds], DEL: [float(d.wall_ns) for d in dels], CYCLE: cycles}
    ratios: dict[str, Any] = {}
    differences: dict[str, Any] = {}
    for ours, theirs in comparisons(list(walls)):
        ratios[f"{ours} ÷ {theirs}"] = {op: paired_ratios(walls[ours][op], walls[theirs][op]).to_dict() for op in (ADD, DEL, CYCLE)}
        differences[f"{ours} − {theirs}"] = {
            op: paired_differences(walls[ours][op], walls[theirs][op]).to_dict() for op in (ADD, DEL, CYCLE)
        }
    bundle, launcher = cycle_name(BUNDLE, "pciBusID"), cycle_name(HOSTDEV, "pciBusID")
    if bundle in walls and launcher in walls:
        ratios_bundle = {op: paired_ratios(walls[bundle][op], walls[launcher][op]).to_dict() for op in (ADD, DEL, CYCLE)}
    return {
        "rounds": len(next(iter(runs.rounds.values()), [])),
        "summary": summary,
        "ratios": ratios,
        **({"bundle_vs_launcher": ratios_bundle} if bundle in walls and launcher in walls else {}),
        "differences_ns": differences,
        "samples_ms": {name: {op: [round(v / 1e6, 2) for v in vs] for op, vs in ops.items()} for name, ops in walls.items()},
        "first_in_round": [order[0] for order in runs.order],
    }


def version_results(runs: Runs[Exec]) -> dict[str, Any]:
    walls = {name: [float(e.wall_ns) for e in runs.series(name, EXEC)] for name in runs.rounds}
    summary = {name: _exec_stats(runs.series(name, EXEC)) for name in runs.rounds}
    ratios: dict[str, Any] = {}
    for base in walls:
        if HOSTDEV in walls and base not in (HOSTDEV, BUNDLE):
            ratios[f"{HOSTDEV} ÷ {base}"] = paired_ratios(walls[HOSTDEV], walls[base]).to_dict()
    diffs: dict[str, Any] = {}
    if HOSTDEV in walls and BARE_PYTHON in walls:
        diffs[f"{HOSTDEV} − {BARE_PYTHON}"] = summarize([a - b for a, b in zip(walls[HOSTDEV], walls[BARE_PYTHON])]).to_dict()
    results = {"rounds": len(next(iter(walls.values()), [])), "summary": summary, "ratios": ratios, "differences_ns": diffs}
    if HOSTDEV in walls and BUNDLE in walls:
        results["bundle_vs_launcher"] = paired_ratios(walls[BUNDLE], walls[HOSTDEV]).to_dict()
    return results


def _cycle_impls(node: BenchNode, go: bool, cfg: CniConfig) -> list[CycleImpl]:
    device, pod = node.devices[0], node.pod_names[0]
    impls = []
    for selector in SELECTORS:
        impls.append(CycleImpl(
            cycle_name(HOSTDEV, selector), node, node.plugin, node.hostdev_conf(device, selector), device, pod,
            strips_config=False, description=f"installed launcher (node settings: its stateDir), {{\"{selector}\": …}}; keeps the name, "
            "restores addresses, MTU, up state and routes in the pod and on DEL",
        ))  # fmt: skip
        if go:
            impls.append(CycleImpl(
                cycle_name(GO, selector), node, GO_HOST_DEVICE, node.go_conf(device, selector), device, pod,
                strips_config=True, description=f"{GO_HOST_DEVICE} (Go), {{\"{selector}\": …}}; renames to CNI_IFNAME, moves "
                "no addresses or routes; after DEL the stand-in is re-addressed outside the clock",
            ))  # fmt: skip
    if cfg.bundle is not None:
        plugin, what = bundle_plugin(cfg.bundle)
        impls.append(CycleImpl(
            cycle_name(BUNDLE, "pciBusID"), node, plugin, node.hostdev_conf(device, "pciBusID"), device, pod,
            strips_config=False, description=f"{what}: the launcher's configuration and work",
        ))  # fmt: skip
    for name, path in cfg.peers.items():
        impls.append(CycleImpl(
            cycle_name(name, "pciBusID"), node, path, node.peer_conf(device, path), device, pod, strips_config=True,
            cni_path=cfg.peer_cni_path, description=f"`{path}`, {{\"pciBusID\": …, \"deviceID\": …}}, CNI_PATH={cfg.peer_cni_path}; "
            "what it does not give back is re-addressed outside the clock after DEL",
        ))  # fmt: skip
    return impls


def _version_impls(node: BenchNode, go: bool, cfg: CniConfig) -> list[ExecImpl]:
    launcher = Launcher.read(node.plugin)
    version_env = {"PATH": PLUGIN_PATH, "CNI_COMMAND": "VERSION"}
    impls = [
        ExecImpl(HOSTDEV, node, Job((str(node.plugin),), version_env, VERSION_STDIN), "installed launcher, CNI_COMMAND=VERSION"),
        ExecImpl(BARE_PYTHON, node, Job((launcher.interpreter, "-I", "-S", "-c", "pass"), {"PATH": PLUGIN_PATH}),
                 f"the launcher's interpreter {launcher.interpreter} doing nothing: the floor of any Python plugin"),
    ]  # fmt: skip
    if go:
        impls.append(ExecImpl(GO, node, Job((str(GO_HOST_DEVICE),), version_env, VERSION_STDIN), f"{GO_HOST_DEVICE} VERSION"))
    if cfg.bundle is not None:
        plugin, what = bundle_plugin(cfg.bundle)
        impls.append(ExecImpl(BUNDLE, node, Job((str(plugin),), version_env, VERSION_STDIN), f"{what}, CNI_COMMAND=VERSION"))
    peer_env = version_env | {"CNI_PATH": cfg.peer_cni_path}
    impls += [ExecImpl(name, node, Job((str(path),), peer_env, VERSION_STDIN), f"{path} VERSION") for name, path in cfg.peers.items()]
    return impls


def peer_facts(cfg: CniConfig) -> dict[str, Any]:
    """What each peer binary is (size, SHA-256) and which helpers its CNI_PATH offers, so a report
    says what it was compared with."""
    import hashlib

    facts: dict[str, Any] = {}
    for name, path in cfg.peers.items():
        data = path.read_bytes()
        facts[name] = {
            "path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "cni_path": cfg.peer_cni_path,
            "cni_path_plugins": sorted(p.name for d in cfg.peer_cni_path.split(":") if Path(d).is_dir() for p in Path(d).iterdir()),
        }  # fmt: skip
    return facts


def run_cni(cfg: CniConfig, log: Callable[[str], None]) -> dict[str, Any]:
    go = cfg.go and GO_HOST_DEVICE.exists()
    config = dict(cfg.__dict__, go=go, peers={name: str(path) for name, path in cfg.peers.items()}, bundle=cfg.bundle and str(cfg.bundle))
    results: dict[str, Any] = {"scenario": "cni", "failure": None, "config": config, "peers": peer_facts(cfg)}
    if cfg.go and not go:
        results["go_missing"] = f"{GO_HOST_DEVICE} not installed (package containernetworking-plugins): Go comparison skipped"
    with BenchNode(devices=1, pods=1, private_var_lib=bool(cfg.peers)) as node:
        results["standin"] = node.describe()
        results["state_fs"] = node.state_filesystem()
        results["namespaces"] = {"host": node.host_name, "pods": node.pod_names}
        results["launcher"] = node.plugin.read_text().splitlines()[0]
        device, pod = node.devices[0], node.pod_names[0]
        try:
            impls = _cycle_impls(node, go, cfg)
            results["implementations"] = {impl.name: impl.description for impl in impls}

            def check(impl: Implementation) -> None:
                assert isinstance(impl, CycleImpl)
                impl.after_run()

            log(f"cycle: {cfg.rounds} rounds (+{cfg.warmup} warm-up) × {len(impls)} implementations")
            runs = run_interleaved(impls, cfg.rounds, ExecClock(), warmup=cfg.warmup, check=check, progress=log_progress(log))
            results["cycle"] = cycle_results(runs)
            results["left_behind"] = {impl.name: impl.left_behind for impl in impls if impl.strips_config}

            versions = _version_impls(node, go, cfg)
            results["version_implementations"] = {impl.name: impl.description for impl in versions}
            log(f"VERSION: {cfg.version_rounds} rounds × {len(versions)}")
            results["version"] = version_results(run_interleaved(versions, cfg.version_rounds, ExecClock(), warmup=2))

            log(f"peak RSS: {cfg.rss_runs} run(s) of every exec under GNU time")
            results["rss"] = measure_peak_rss(node, [*impls, *versions], cfg.rss_runs)
            log("breakdown: -X importtime and per-phase timers")
            results["importtime"] = run_importtime(node, device, pod, cfg.importtime_runs, log)
            results["phases"] = run_phases(node, device, pod, cfg.phase_runs, log)
            node.check_independent()
            results["checks"] = {
                "after_every_run": "hostdev snapshot of the stand-in equal to its baseline, pod holds only lo "
                                   "(after re-addressing, for Go host-device)",
                "final": "`ip -j -d addr` / `ip -j route show table all` of the stand-in equal to the view before the first run",
                "passed": True,
            }  # fmt: skip
        except (ImplementationFailed, RestoreMismatch, SpawnError, PluginFailed) as exc:
            results["failure"] = str(exc)
            results["checks"] = {"passed": False}
    return results
