"""Off-CPU time per request of the floor, by the kernel function the thread waited in."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from benchmarks.harness.offcpu import OffCpu, off_cpu_between
from benchmarks.harness.stats import summarize
from benchmarks.move.kernel_cost import RequestCosts


def summarize_off_cpu(costs: RequestCosts, intervals: Sequence[OffCpu]) -> dict[str, Any]:
    rounds = len(costs.walls)
    per_request = []
    for slot in costs.slots:
        by_blocker: dict[str, list[int]] = defaultdict(lambda: [0] * rounds)
        counts: dict[str, int] = defaultdict(int)
        stacks: dict[str, tuple[str, ...]] = {}
        off_total = [0] * rounds
        for r in range(rounds):
            start = costs.starts[r][slot.position]
            end = start + costs.walls[r][slot.position]
            for piece in off_cpu_between(intervals, start, end):
                key = f"{piece.blocker} ← {piece.caller}"
                by_blocker[key][r] += piece.duration_ns
                counts[key] += 1
                stacks.setdefault(key, piece.stack)
                off_total[r] += piece.duration_ns
        per_request.append({
            "op": slot.op,
            "position": slot.position,
            "request": slot.label,
            "wall_ns": summarize([w[slot.position] for w in costs.walls]).to_dict(),
            "cpu_ns": summarize([c[slot.position] for c in costs.cpus]).to_dict(),
            "off_cpu_ns": summarize(off_total).to_dict(),
            "blockers": {
                key: {
                    "ns": summarize(values).to_dict(),
                    "waits_per_request": counts[key] / rounds,
                    "stack": list(_kernel_frames(stacks[key])[:12]),
                }
                for key, values in sorted(by_blocker.items(), key=lambda kv: -sum(kv[1]))
            },
        })  # fmt: skip
    return {"traced": True, "rounds": rounds, "intervals": len(intervals), "per_request": per_request}


def _kernel_frames(stack: tuple[str, ...]) -> tuple[str, ...]:
    """The stack without the tracing frames and below the syscall entry."""
    frames = [f for f in stack if not f.startswith(("trace_event_", "__traceiter_"))]
    for i, frame in enumerate(frames):
        if frame in ("do_syscall_64", "entry_SYSCALL_64_after_hwframe"):
            return tuple(frames[:i])
    return tuple(frames)
