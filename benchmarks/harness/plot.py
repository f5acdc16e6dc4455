"""PNG plots of latency per operation per implementation (matplotlib, headless)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True, slots=True)
class Bar:
    median: float
    low: float  # p10
    high: float  # p90


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    groups: Sequence[str]  # x axis: operations
    series: dict[str, dict[str, Bar]]  # implementation -> group -> bar (missing group: no bar)
    unit: str = "ms"
    scale: float = 1e-6  # ns -> unit
    log: bool = True


def plot_panels(path: Path, panels: Sequence[Panel], title: str, *, widths: Sequence[float] | None = None) -> None:
    """Grouped bars (median) with p10–p90 whiskers, one panel per entry of ``panels``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 5.2), squeeze=False,
        gridspec_kw={"width_ratios": list(widths) if widths else [1.0] * len(panels)},
    )  # fmt: skip
    names = list(dict.fromkeys(name for panel in panels for name in panel.series))  # first-seen order
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(names)}
    for ax, panel in zip(axes[0], panels):
        present = [name for name in names if name in panel.series]
        width = 0.8 / max(len(present), 1)
        for i, name in enumerate(present):
            xs, heights, lows, highs = [], [], [], []
            for g, group in enumerate(panel.groups):
                bar = panel.series[name].get(group)
                if bar is None:
                    continue
                xs.append(g - 0.4 + width * (i + 0.5))
                heights.append(bar.median * panel.scale)
                lows.append(max(bar.median - bar.low, 0.0) * panel.scale)
                highs.append(max(bar.high - bar.median, 0.0) * panel.scale)
            if xs:
                ax.bar(xs, heights, width * 0.95, label=name, color=colours[name],
                       yerr=[lows, highs], capsize=2, error_kw={"elinewidth": 0.8})  # fmt: skip
        ax.set_xticks(range(len(panel.groups)))
        ax.set_xticklabels(panel.groups, rotation=20, ha="right")
        ax.set_ylabel(f"latency [{panel.unit}], median, whiskers p10–p90")
        if panel.log:
            ax.set_yscale("log")
        ax.set_title(panel.title, fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

