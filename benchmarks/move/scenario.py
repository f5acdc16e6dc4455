"""The move scenario: one NIC, snapshot → move into a netns → apply → move back → restore.

Passes, each over the same stand-in and all implementations:

1. timing: round-robin, rotating start, fixture checked after every run (outside the clock);
2. allocations: the same, under tracemalloc (a separate pass: tracing distorts time);
3. kernel cost: the floor alone, each request timed (wall and thread CPU), optionally with the
   thread's off-CPU stretches attributed to kernel functions (sched_switch stacks);
4. profile: cProfile over hostdev's sequence.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from benchmarks.harness.clock import AllocationClock, Allocation, WallClock
from benchmarks.harness.interleave import Implementation, ImplementationFailed, Runs, log_progress, run_interleaved
from benchmarks.harness.offcpu import OffCpuTracer, TraceUnavailable
from benchmarks.harness.stats import paired_differences, paired_ratios, summarize
from benchmarks.move.impl_floor import FloorImpl, record_hostdev
from benchmarks.move.impl_hostdev import HostdevImpl
from benchmarks.move.kernel_cost import RequestCosts, measure_request_costs
from benchmarks.move.off_cpu_summary import summarize_off_cpu
from benchmarks.move.ops import MOVES, SEQUENCE, TOTAL
from benchmarks.move.profile import profile_hostdev
from benchmarks.move.standin import RestoreMismatch, StandIn

ALL_IMPLEMENTATIONS = ("hostdev", "floor", "pyroute2", "ip", "ip-batch")
NON_MOVE = "non-move ops"  # snapshot + apply + restore: the part a library controls

DESCRIPTIONS = {
    "hostdev": "hostdev public API in process (Handle per netns, take_snapshot/move_link/apply_snapshot)",
    "floor": "hostdev's exact requests replayed from pre-encoded bytes on bare sockets: kernel + minimal user space",
    "pyroute2": "pyroute2 IPRoute(netns=…, groups=0) in process, same steps",
    "ip": "one `ip -n NS …` exec per step (iproute2)",
    "ip-batch": "`ip -n NS -batch -`: 3 execs (host: show+move; pod: apply+move back; host: restore)",
}


@dataclass
class MoveConfig:
    rounds: int = 150
    warmup: int = 3
    alloc_rounds: int = 15
    request_rounds: int = 60
    profile_rounds: int = 40
    kernel_trace: bool = True
    implementations: Sequence[str] = field(default_factory=lambda: list(ALL_IMPLEMENTATIONS))


def _make(name: str, nic: StandIn, hostdev: HostdevImpl, floor: FloorImpl) -> Any:
    if name == "hostdev":
        return hostdev
    if name == "floor":
        return floor
    if name == "pyroute2":
        from benchmarks.move.impl_pyroute2 import Pyroute2Impl

        return Pyroute2Impl(nic)
    from benchmarks.move.impl_iproute2 import IpBatchImpl, IpPerStepImpl

    if name == "ip":
        return IpPerStepImpl(nic)
    if name == "ip-batch":
        return IpBatchImpl(nic)
    raise ValueError(f"unknown implementation {name!r}; known: {', '.join(ALL_IMPLEMENTATIONS)}")


def _per_op(runs: Runs[int], name: str) -> dict[str, list[float]]:
    """Samples per op plus the sequence total and, where ops are separate, the non-move subtotal."""
    out: dict[str, list[float]] = {op: [float(v) for v in runs.series(name, op)] for op in runs.ops(name)}
    out[TOTAL] = [float(sum(v for _op, v in laps)) for laps in runs.rounds[name]]
    if all(op in out for op in SEQUENCE):
        out[NON_MOVE] = [float(sum(v for op, v in laps if op not in MOVES)) for laps in runs.rounds[name]]
    return out


def timing_results(runs: Runs[int]) -> dict[str, Any]:
    samples = {name: _per_op(runs, name) for name in runs.rounds}
    summary = {name: {op: summarize(v).to_dict() for op, v in ops.items()} for name, ops in samples.items()}
    comparisons: dict[str, Any] = {}
    if "hostdev" in samples and "floor" in samples:
        hd, fl = samples["hostdev"], samples["floor"]
        comparisons["hostdev_vs_floor"] = {
            op: {"ratio": paired_ratios(hd[op], fl[op]).to_dict(), "overhead_ns": paired_differences(hd[op], fl[op]).to_dict()}
            for op in hd if op in fl
        }
    for base in ("hostdev", "floor"):
        if base in samples:
            ref = samples[base]
            comparisons[f"vs_{base}"] = {
                name: {op: paired_ratios(ops[op], ref[op]).to_dict() for op in (TOTAL, NON_MOVE, *SEQUENCE) if op in ops and op in ref}
                for name, ops in samples.items() if name != base
            }  # fmt: skip
    return {
        "rounds": len(next(iter(runs.rounds.values()), [])),
        "summary_ns": summary,
        "comparisons": comparisons,
        "samples_us": {n: {op: [round(v / 1e3, 1) for v in vs] for op, vs in ops.items()} for n, ops in samples.items()},
        "first_in_round": [order[0] for order in runs.order],
    }


def allocation_results(runs: Runs[Allocation]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rounds in runs.rounds.items():
        per_op: dict[str, Any] = {}
        for op in runs.ops(name):
            series = runs.series(name, op)
            per_op[op] = {
                "peak_bytes": summarize([a.peak_bytes for a in series]).to_dict(),
                "net_bytes": summarize([a.net_bytes for a in series]).to_dict(),
                "net_blocks": summarize([a.net_blocks for a in series]).to_dict(),
            }
        per_op[TOTAL] = {"peak_bytes": summarize([max(a.peak_bytes for _op, a in laps) for laps in rounds]).to_dict()}
        out[name] = per_op
    return out


def kernel_results(costs: RequestCosts, off_cpu: dict[str, Any]) -> dict[str, Any]:
    return {"requests": costs.summary(), "by_request": costs.by_label(), "off_cpu": off_cpu}


def run_move(cfg: MoveConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every pass; on a failure return what was measured so far with ``failure`` set."""
    results: dict[str, Any] = {"scenario": "move", "failure": None, "config": cfg.__dict__ | {"implementations": list(cfg.implementations)}}
    opened: list[Any] = []
    with StandIn() as nic:
        results["standin"] = nic.spec.describe()
        results["namespaces"] = {"host": nic.host_name, "pod": nic.pod_name}
        try:
            hostdev = HostdevImpl(nic)
            opened.append(hostdev)
            recorded = record_hostdev(hostdev)
            nic.check()
            floor = FloorImpl(nic, recorded)
            opened.append(floor)
            results["hostdev_requests"] = [
                {"op": op, "requests": [f"{r.side}: {r.label}" for r in requests]} for op, requests in recorded
            ]
            impls: list[Implementation] = []
            for name in cfg.implementations:
                impl = _make(name, nic, hostdev, floor)
                if impl not in opened:
                    opened.append(impl)
                impls.append(impl)
            results["implementations"] = {impl.name: DESCRIPTIONS[impl.name] for impl in impls}

            def check(_impl: Implementation) -> None:
                nic.check()

            log(f"timing: {cfg.rounds} rounds (+{cfg.warmup} warm-up) × {len(impls)} implementations")
            runs = run_interleaved(impls, cfg.rounds, WallClock(), warmup=cfg.warmup, check=check, progress=log_progress(log))
            results["timing"] = timing_results(runs)

            log(f"allocations: {cfg.alloc_rounds} rounds under tracemalloc")
            tracemalloc.start()
            try:
                alloc_runs = run_interleaved(impls, cfg.alloc_rounds, AllocationClock(), warmup=1, check=check)
            finally:
                tracemalloc.stop()
            results["allocations"] = allocation_results(alloc_runs)

            log(f"kernel cost: {cfg.request_rounds} floor sequences, every request timed")
            off_cpu: dict[str, Any] = {"traced": False, "reason": "disabled (--no-kernel-trace or --quick)"}
            if cfg.kernel_trace:
                try:
                    with OffCpuTracer() as tracer:
                        costs = measure_request_costs(floor, cfg.request_rounds, nic.check)
                    off_cpu = summarize_off_cpu(costs, tracer.intervals)
                except TraceUnavailable as exc:
                    off_cpu = {"traced": False, "reason": f"tracing unavailable: {exc}"}
                    costs = measure_request_costs(floor, cfg.request_rounds, nic.check)
            else:
                costs = measure_request_costs(floor, cfg.request_rounds, nic.check)
            results["kernel"] = kernel_results(costs, off_cpu)

            log(f"profile: cProfile over {cfg.profile_rounds} hostdev sequences")
            results["profile"] = profile_hostdev(hostdev, cfg.profile_rounds, nic.check)

            nic.check_independent()
            results["checks"] = {
                "after_every_run": "hostdev snapshot of the stand-in equal to the baseline, pod namespace empty",
                "final": "`ip -j -d addr`/`ip -j route show table all` of the stand-in equal to the view before the first run",
                "passed": True,
            }
        except (ImplementationFailed, RestoreMismatch) as exc:
            results["failure"] = str(exc)
            results["checks"] = {"passed": False}
        finally:
            while opened:
                opened.pop().close()
    return results
