"""The scale scenario.

On one node with max(N) stand-ins and as many pods:

1. for each N: **one pod**: N ADDs back to back into the first pod, then N DELs; **separate
   pods**: device i into pod i, with P plugin processes in flight (P = 1, 2, 4, 8; P ≤ N). Small
   N are repeated (``reps_small``) and every repetition runs the configurations in a rotated
   order. After every batch pair the N stand-ins and the pods are checked against the baseline.
2. state store versus N: inside each one-pod run, with N−1 other attachments recorded, the last
   device is DELeted and ADDed again by the phase probe (outside every batch time), so the
   state store's share of one ADD is measured at every N.
3. reference: Go host-device, separate pods, N=8, P=1 and P=8, in every repetition;
4. kernel waits (full runs): N=8 devices, P=8 and P=1, amd-host-device and Go host-device, with
   every plugin thread's off-CPU time traced and classified (RTNL, RCU, CPU, sleeps). Tracing
   slows the traced processes, so walls come from the untraced passes and the trace only says
   where the time went.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from benchmarks.cni.breakdown import EXIT, STARTUP, probe_argv
from benchmarks.cni.cycle import ADD, DEL, PluginFailed
from benchmarks.cni.launcher import Launcher
from benchmarks.cni.node import GO_HOST_DEVICE, BenchNode, RestoreMismatch, StandInDevice
from benchmarks.cni.rss import peak_rss_kb, rss_available, wrapped
from benchmarks.cni.spawner import SpawnError
from benchmarks.harness.hold import hold_point
from benchmarks.harness.offcpu import TraceUnavailable
from benchmarks.harness.stats import summarize
from benchmarks.scale.batches import ONE_POD, SEPARATE_PODS, Attachment, Batch, attachments, job, run_batch
from benchmarks.scale.waits import CommTracer, Window, attribute, tracing_possible

HOSTDEV = "amd-host-device"
GO = "host-device"


@dataclass
class ScaleConfig:
    sizes: Sequence[int] = (1, 8, 32, 64)
    parallel: Sequence[int] = (1, 2, 4, 8)
    reps_small: int = 2  # repetitions for N <= 8 (larger N run once)
    trace: bool = True
    trace_reps: int = 2
    trace_devices: int = 8
    go_reference: bool = True  # Go host-device, separate pods, N=trace_devices, P=1 and P=max
    probe_state: bool = True

    def plan(self, go: bool) -> list[tuple[str, int, int, str]]:
        """(mode, N, P, plugin) of every configuration of one repetition."""
        out = []
        for n in self.sizes:
            out.append((ONE_POD, n, 1, HOSTDEV))
            out += [(SEPARATE_PODS, n, p, HOSTDEV) for p in self.parallel if p <= n]
        reference = self.trace_devices
        if go and reference <= max(self.sizes):
            out += [(SEPARATE_PODS, reference, p, GO) for p in sorted({1, min(max(self.parallel), reference)})]
        return out


class _Runner:
    def __init__(self, node: BenchNode, log: Callable[[str], None]) -> None:
        self.node = node
        self.log = log
        launcher = Launcher.read(node.plugin)
        self.probe_argv = probe_argv(launcher, node.work / "phases.json")

    def hostdev_conf(self, device: StandInDevice) -> dict[str, Any]:
        return self.node.hostdev_conf(device, "pciBusID")

    def batch_pair(self, mode: str, n: int, parallel: int, *, plugin: str = HOSTDEV, probe: bool = False) -> tuple[dict[str, Any], Batch, Batch]:
        """N ADDs then N DELs (reverse order, as a runtime tears down); the fixture checked after."""
        node = self.node
        atts = attachments(node, mode, n)
        path = node.plugin if plugin == HOSTDEV else GO_HOST_DEVICE
        conf = self.hostdev_conf if plugin == HOSTDEV else (lambda d: node.go_conf(d, "pciBusID"))
        added = run_batch(node, [job(node, path, conf(a.device), ADD, a) for a in atts], ADD, parallel)
        probed = self.probe_last(atts) if probe else None
        deleted = run_batch(node, [job(node, path, conf(a.device), DEL, a) for a in reversed(atts)], DEL, parallel)
        if plugin == GO:
            node.readdress([a.device for a in atts])
        node.check([a.device for a in atts], sorted({a.pod for a in atts}))
        out = {"mode": mode, "n": n, "parallel": parallel, "plugin": plugin, ADD: added.summary(), DEL: deleted.summary(),
               "per_device_ns": (added.wall_ns + deleted.wall_ns) / n, "stderr_lock_lines": _lock_lines(added, deleted)}  # fmt: skip
        if probed is not None:
            out["probe"] = probed
        return out, added, deleted

    def probe_last(self, atts: Sequence[Attachment]) -> dict[str, Any]:
        """With the other N−1 attachments recorded, DEL and ADD the last one again: first with the
        phase probe, then under GNU time for its peak RSS. Outside every batch time."""
        import json

        node, last = self.node, atts[-1]
        conf = self.hostdev_conf(last.device)
        out = node.work / "phases.json"
        probed: dict[str, Any] = {"records_present": len(atts) - 1}
        for command in (DEL, ADD):
            out.unlink(missing_ok=True)
            done = node.spawner.run_one(job(node, node.plugin, conf, command, last, self.probe_argv))
            if done.returncode != 0:
                raise PluginFailed(f"probed {command} exited {done.returncode}: {done.stdout[:300]} {done.stderr[:300]}")
            data = json.loads(out.read_text())
            rows = {name: v[0] for name, v in data["phases"].items()}
            rows[STARTUP] = data["t0_ns"] - done.start_ns
            rows[EXIT] = done.end_ns - data["t_end_ns"]
            probed[command] = {"wall_ns": done.wall_ns, "phases_ns": rows}
        if rss_available() is None:
            for command in (DEL, ADD):
                done = node.spawner.run_one(wrapped(job(node, node.plugin, conf, command, last)))
                if done.returncode != 0:
                    raise PluginFailed(f"{command} under GNU time exited {done.returncode}: {done.stdout[:300]} {done.stderr[:300]}")
                probed[command]["peak_rss_kb"] = peak_rss_kb(done)
        return probed


def _lock_lines(*batches: Batch) -> int:
    return sum(1 for b in batches for e in b.execs for line in e.stderr.splitlines() if "lock" in line.lower())


def _windows(batch: Batch) -> list[Window]:
    return [Window(e.pid, e.start_ns, e.end_ns) for e in batch.execs]


def run_scale(cfg: ScaleConfig, log: Callable[[str], None]) -> dict[str, Any]:
    go = cfg.go_reference and GO_HOST_DEVICE.exists()
    plan = cfg.plan(go)
    size = max(max(cfg.sizes), cfg.trace_devices if cfg.trace else 1)
    results: dict[str, Any] = {"scenario": "scale", "failure": None,
                               "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.__dict__.items()} | {"plan": plan}}  # fmt: skip
    with BenchNode(devices=size, pods=size) as node:
        results["standin"] = node.describe()
        results["state_fs"] = node.state_filesystem()
        results["namespaces"] = {"host": node.host_name, "pods": f"{len(node.pod_names)} × {node.pod_names[0][:-1]}<i>"}
        results["nproc"] = os.cpu_count()
        runner = _Runner(node, log)
        try:
            runs: list[dict[str, Any]] = []
            reps = max(cfg.reps_small, 1)
            for rep in range(reps):
                todo = [c for c in plan if rep == 0 or c[1] <= 8]
                todo = todo[rep % len(todo):] + todo[: rep % len(todo)]  # rotate: drift hits all alike
                log(f"repetition {rep + 1}/{reps}: {len(todo)} configurations")
                for mode, n, parallel, plugin in todo:
                    probe = cfg.probe_state and mode == ONE_POD and rep == 0
                    pair, _added, _deleted = runner.batch_pair(mode, n, parallel, plugin=plugin, probe=probe)
                    pair["rep"] = rep
                    runs.append(pair)
                    log(f"  {plugin:15} {mode:13} N={n:<3} P={parallel}: ADD {pair[ADD]['wall_ns'] / 1e6:7.0f} ms, DEL {pair[DEL]['wall_ns'] / 1e6:7.0f} ms, "
                        f"{pair['per_device_ns'] / 1e6:6.1f} ms per device")  # fmt: skip
                    hold_point("after-batch-pair")  # the Ctrl-C test interrupts the run here
            results["runs"] = runs
            results["traced"] = _traced(cfg, runner, go, log)
            node.check_independent()
            results["checks"] = {"after_every_batch_pair": "every stand-in used equal to its baseline snapshot, pods hold only lo", "passed": True}
        except (RestoreMismatch, SpawnError, PluginFailed) as exc:
            results["failure"] = str(exc)
            results["checks"] = {"passed": False}
    return results


def _traced(cfg: ScaleConfig, runner: _Runner, go: bool, log: Callable[[str], None]) -> dict[str, Any]:
    if not cfg.trace:
        return {"traced": False, "reason": "disabled (--quick or --no-kernel-trace)"}
    why = tracing_possible()
    if why:
        return {"traced": False, "reason": why}
    n = cfg.trace_devices
    plugins = [HOSTDEV] + ([GO] if go else [])
    out: dict[str, Any] = {"traced": True, "n": n, "reps": cfg.trace_reps, "pairs": []}
    log(f"kernel waits: N={n}, P=1 and P={n}, {' and '.join(plugins)}, {cfg.trace_reps} rep(s), sched_switch traced")
    try:
        for rep in range(cfg.trace_reps):
            for plugin in plugins:
                for parallel in (n, 1):
                    with CommTracer() as tracer:
                        pair, added, deleted = runner.batch_pair(SEPARATE_PODS, n, parallel, plugin=plugin)
                    pair["waits"] = {ADD: attribute(tracer.lines, _windows(added)), DEL: attribute(tracer.lines, _windows(deleted))}
                    pair["rep"] = rep
                    out["pairs"].append(pair)
    except TraceUnavailable as exc:
        return {"traced": False, "reason": f"tracing unavailable: {exc}"}
    return out


def per_device_table(runs: Sequence[dict[str, Any]]) -> dict[str, dict[int, dict[str, float]]]:
    """Median per-device cost (ms) per configuration and N, over repetitions."""
    table: dict[str, dict[int, list[float]]] = {}
    for run in runs:
        if run.get("plugin", HOSTDEV) != HOSTDEV:
            continue
        key = ONE_POD if run["mode"] == ONE_POD else f"{SEPARATE_PODS}, P={run['parallel']}"
        table.setdefault(key, {}).setdefault(run["n"], []).append(run["per_device_ns"])
    return {k: {n: {"median_ns": summarize(v).median, "reps": len(v)} for n, v in sorted(ns.items())} for k, ns in table.items()}
