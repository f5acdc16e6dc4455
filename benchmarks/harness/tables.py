"""Number formatting and tables, rendered both as Markdown (report) and as aligned text (console)."""

from __future__ import annotations

from typing import Sequence

Row = Sequence[str]


def fmt_duration(ns: float) -> str:
    """A duration with three significant digits in the unit that fits (ns, µs, ms, s)."""
    magnitude = abs(ns)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if magnitude >= scale:
            return f"{_three(ns / scale)} {unit}"
    return f"{ns:.0f} ns"


def _three(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def fmt_bytes(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1024 * 1024:
        return f"{value / (1024 * 1024):.2f} MiB"
    if magnitude >= 1024:
        return f"{value / 1024:.1f} KiB"
    return f"{value:.0f} B"


def markdown_table(headers: Row, rows: Sequence[Row], *, left: int = 1) -> str:
    """GitHub Markdown; the first ``left`` columns are left-aligned (labels), the rest right (numbers)."""
    aligns = [":--" if i < left else "--:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: Row, rows: Sequence[Row], *, left: int = 1) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Row) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])
