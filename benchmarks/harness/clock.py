"""Clocks that an implementation ticks at the end of each operation of one run.

An implementation calls ``clock.lap(op)`` right after finishing ``op``; the clock decides what a lap
measures (wall time, Python allocations, which requests were sent). The laps of one run are
contiguous: the first starts at :meth:`start`, each next one where the previous ended, so their sum is
the whole sequence.
"""

from __future__ import annotations

import sys
import tracemalloc
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What an implementation sees: one call at the end of every operation."""

    def lap(self, op: str) -> None: ...


class RunClock(Clock, Protocol[T]):
    """What the runner sees: start a run, then read its laps."""

    def start(self) -> None: ...

    def laps(self) -> list[tuple[str, T]]: ...


class WallClock:
    """Wall time per operation in nanoseconds (``perf_counter_ns``)."""

    __slots__ = ("_laps", "_last")

    def __init__(self) -> None:
        self._laps: list[tuple[str, int]] = []
        self._last = 0

    def start(self) -> None:
        self._laps = []
        self._last = perf_counter_ns()

    def lap(self, op: str) -> None:
        now = perf_counter_ns()
        self._laps.append((op, now - self._last))
        self._last = now

    def laps(self) -> list[tuple[str, int]]:
        return self._laps


@dataclass(frozen=True, slots=True)
class Allocation:
    """Python memory of one operation, as tracemalloc sees it (all threads)."""

    peak_bytes: int  # highest traced memory during the op, above where the op started
    net_bytes: int  # traced memory still held when the op ended (negative: it freed more)
    net_blocks: int  # pymalloc blocks still held (sys.getallocatedblocks difference)


class AllocationClock:
    """Per-operation allocations; only meaningful while ``tracemalloc`` is tracing.

    Kept out of the timing pass on purpose: tracing every allocation slows Python code several
    times over and would make in-process implementations look worse than they are.
    """

    __slots__ = ("_laps", "_base", "_blocks")

    def __init__(self) -> None:
        self._laps: list[tuple[str, Allocation]] = []
        self._base = 0
        self._blocks = 0

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            raise RuntimeError("AllocationClock needs tracemalloc.start() first")
        self._laps = []
        self._blocks = sys.getallocatedblocks()
        self._base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def lap(self, op: str) -> None:
        current, peak = tracemalloc.get_traced_memory()
        blocks = sys.getallocatedblocks()
        self._laps.append((op, Allocation(peak - self._base, current - self._base, blocks - self._blocks)))
        # Read the baseline again: the lap's own bookkeeping must not count against the next op.
        self._blocks = sys.getallocatedblocks()
        self._base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def laps(self) -> list[tuple[str, Allocation]]:
        return self._laps


class TaggingClock(Generic[T]):
    """Marks which operation each item appended to ``log`` belongs to (used to record requests)."""

    __slots__ = ("log", "_tagged", "_laps")

    def __init__(self, log: list[T]) -> None:
        self.log = log
        self._tagged = 0
        self._laps: list[tuple[str, list[T]]] = []

    def start(self) -> None:
        self.log.clear()
        self._tagged = 0
        self._laps = []

    def lap(self, op: str) -> None:
        self._laps.append((op, self.log[self._tagged:]))
        self._tagged = len(self.log)

    def laps(self) -> list[tuple[str, list[T]]]:
        return self._laps
