"""What the kernel spends on each request of the sequence, measured on the floor (no library code).

Wall time is send-to-ACK; CPU time is what the calling thread ran meanwhile (user + kernel).
The gap is waiting: a netns move holds RTNL and waits for RCU (``synchronize_net``,
``rcu_barrier``) in ``__dev_change_net_namespace``, which an address add never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from benchmarks.harness.stats import summarize
from benchmarks.move.impl_floor import FloorImpl


@dataclass(frozen=True, slots=True)
class RequestSlot:
    op: str
    position: int  # index within the whole sequence
    side: str
    label: str


def request_slots(floor: FloorImpl) -> list[RequestSlot]:
    slots: list[RequestSlot] = []
    for op, requests in floor.recorded:
        for request in requests:
            slots.append(RequestSlot(op, len(slots), request.side, request.label))
    return slots


@dataclass
class RequestCosts:
    slots: list[RequestSlot]
    starts: list[list[int]]  # per round, per slot: CLOCK_MONOTONIC ns at send
    walls: list[list[int]]
    cpus: list[list[int]]

    def summary(self) -> list[dict[str, Any]]:
        out = []
        for slot in self.slots:
            wall = summarize([r[slot.position] for r in self.walls])
            cpu = summarize([r[slot.position] for r in self.cpus])
            out.append({
                "op": slot.op, "position": slot.position, "side": slot.side, "request": slot.label,
                "wall_ns": wall.to_dict(), "cpu_ns": cpu.to_dict(),
            })  # fmt: skip
        return out

    def by_label(self) -> dict[str, dict[str, Any]]:
        """Pooled over every occurrence of the same kind of request (e.g. all RTM_NEWADDR)."""
        pooled: dict[str, tuple[list[int], list[int]]] = {}
        for slot in self.slots:
            walls, cpus = pooled.setdefault(slot.label, ([], []))
            walls += [r[slot.position] for r in self.walls]
            cpus += [r[slot.position] for r in self.cpus]
        return {
            label: {"n": len(w), "wall_ns": summarize(w).to_dict(), "cpu_ns": summarize(c).to_dict()}
            for label, (w, c) in pooled.items()
        }


def measure_request_costs(floor: FloorImpl, rounds: int, check: Callable[[], None]) -> RequestCosts:
    slots = request_slots(floor)
    costs = RequestCosts(slots, [], [], [])
    for _ in range(rounds):
        timings = floor.run_timed_requests()
        check()
        if len(timings) != len(slots):
            raise RuntimeError(f"floor sent {len(timings)} requests, expected {len(slots)}")
        costs.starts.append([t[0] for t in timings])
        costs.walls.append([t[1] for t in timings])
        costs.cpus.append([t[2] for t in timings])
    return costs
