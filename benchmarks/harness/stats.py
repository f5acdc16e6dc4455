"""Order statistics of samples and of per-round ratios between two implementations.

Medians and percentiles only: latency distributions here are skewed (a netns move waits for RCU
grace periods), so means and standard deviations would describe a shape the data does not have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``ordered`` must be sorted."""
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    median: float
    p10: float
    p90: float
    q1: float
    q3: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def scaled(self, factor: float) -> Summary:
        return Summary(self.n, *(v * factor for v in (self.median, self.p10, self.p90, self.q1, self.q3, self.min, self.max)))

    def to_dict(self) -> dict[str, float]:
        out: dict[str, float] = asdict(self)
        out["iqr"] = self.iqr
        return out


def summarize(values: Sequence[float]) -> Summary:
    ordered = sorted(values)
    return Summary(
        n=len(ordered),
        median=percentile(ordered, 0.5),
        p10=percentile(ordered, 0.1),
        p90=percentile(ordered, 0.9),
        q1=percentile(ordered, 0.25),
        q3=percentile(ordered, 0.75),
        min=ordered[0],
        max=ordered[-1],
    )


def paired_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> Summary:
    """Per-round ``numerator / denominator``: both ran in the same round, under the same noise."""
    if len(numerator) != len(denominator):
        raise ValueError(f"unpaired samples: {len(numerator)} vs {len(denominator)}")
    return summarize([a / b for a, b in zip(numerator, denominator) if b > 0])


def paired_differences(minuend: Sequence[float], subtrahend: Sequence[float]) -> Summary:
    """Per-round ``minuend - subtrahend`` (e.g. the user-space time an implementation adds to the floor)."""
    if len(minuend) != len(subtrahend):
        raise ValueError(f"unpaired samples: {len(minuend)} vs {len(subtrahend)}")
    return summarize([a - b for a, b in zip(minuend, subtrahend)])
