"""Round-robin runner: every implementation runs once per round, so machine noise hits all alike.

The starting implementation rotates each round (round r starts at implementation r mod n): with a
fixed order the implementation after the slowest one would always start on a busier kernel (RCU
callbacks of the previous netns move still pending, deferred work queued, caches cold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generic, Protocol, Sequence, TypeVar

from benchmarks.harness.clock import Clock, RunClock

T = TypeVar("T")


class Implementation(Protocol):
    """One way of doing a scenario's sequence; ``run`` ticks ``clock.lap(op)`` after every op."""

    @property
    def name(self) -> str: ...

    def run(self, clock: Clock) -> None: ...


class ImplementationFailed(Exception):
    """An implementation raised, or the check after its run found the fixture not restored."""

    def __init__(self, name: str, round_no: int, cause: BaseException) -> None:
        super().__init__(f"{name} failed in round {round_no}: {type(cause).__name__}: {cause}")
        self.name = name
        self.round_no = round_no
        self.cause = cause


@dataclass
class Runs(Generic[T]):
    """Laps per implementation, one list of ``(op, value)`` per measured round, in round order."""

    rounds: dict[str, list[list[tuple[str, T]]]] = field(default_factory=dict)
    order: list[list[str]] = field(default_factory=list)  # who ran in which position, per round

    def ops(self, name: str) -> list[str]:
        """The op names of an implementation, in the order it laps them."""
        first = self.rounds[name][0] if self.rounds.get(name) else []
        return [op for op, _ in first]

    def series(self, name: str, op: str) -> list[T]:
        return [value for laps in self.rounds[name] for lap_op, value in laps if lap_op == op]


def run_interleaved(
    impls: Sequence[Implementation],
    rounds: int,
    clock: RunClock[T],
    *,
    warmup: int = 0,
    check: Callable[[Implementation], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Runs[T]:
    """Run ``warmup + rounds`` rounds; keep the laps of the last ``rounds``.

    ``check`` runs after every single run, outside the measured region (it verifies the fixture
    is back to its baseline); any exception there or in a run is raised as
    :class:`ImplementationFailed` and ends the whole measurement: the fixture can no longer be
    trusted to be the same for everybody.
    """
    runs: Runs[T] = Runs({impl.name: [] for impl in impls})
    count = len(impls)
    for round_no in range(warmup + rounds):
        start = round_no % count
        ordered = list(impls[start:]) + list(impls[:start])
        for impl in ordered:
            try:
                clock.start()
                impl.run(clock)
                laps = clock.laps()
                if check is not None:
                    check(impl)
            except Exception as exc:
                raise ImplementationFailed(impl.name, round_no, exc) from exc
            if round_no >= warmup:
                runs.rounds[impl.name].append(list(laps))
        if round_no >= warmup:
            runs.order.append([impl.name for impl in ordered])
        if progress is not None:
            progress(round_no + 1, warmup + rounds)
    return runs


def log_progress(log: Callable[[str], None], every_percent: int = 25) -> Callable[[int, int], None]:
    """A ``progress`` callback for :func:`run_interleaved` that logs every ``every_percent`` % of
    the rounds and at the end."""
    logged = [0]

    def report(done: int, total: int) -> None:
        percent = done * 100 // total
        if percent >= logged[0] + every_percent or done == total:
            logged[0] = percent
            log(f"  {done}/{total} rounds")

    return report
