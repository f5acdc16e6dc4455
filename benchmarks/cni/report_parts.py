"""Pieces shared by the CNI and scale reports: the machine section, load note, number cells."""

from __future__ import annotations

from typing import Any

from benchmarks.cni.cpu_share import describe
from benchmarks.harness.tables import fmt_duration, fmt_ratio, markdown_table


def load_text(m: dict[str, Any]) -> str:
    def fmt(values: Any) -> str:
        return " ".join(f"{x:.2f}" for x in values) if values else "?"

    return f"{fmt(m.get('loadavg_at_start'))} / {fmt(m.get('loadavg_at_end'))}"


def busy_note(m: dict[str, Any]) -> list[str]:
    loads = [m.get("loadavg_at_start") or [0.0], m.get("loadavg_at_end") or [0.0]]
    others = (m.get("cpu_use") or {}).get("others_cpus", 0.0)
    if max(load[0] for load in loads) <= 0.5 * (m.get("nproc") or 1) and others < 0.25:
        return []
    return [
        "The machine was busy with other work during this run (load average above half the CPUs): spreads are wide "
        "and absolute times inflated, parallel runs most of all; the interleaved medians and per-round ratios are what "
        "to compare.",
        "",
    ]


def machine_section(m: dict[str, Any], extra: list[list[str]] | None = None) -> list[str]:
    rows = [
        ["CPUs (nproc / usable)", f"{m['nproc']} / {m['cpus_usable']}"],
        ["CPU model", m["cpu_model"] + (" (virtual machine)" if m["virtualized"] else "")],
        ["kernel", f"{m['kernel']} ({m['kernel_build']})"],
        ["Python", f"{m['python']} ({m['python_executable']})"],
        ["hostdev", f"{m['hostdev']} @ {m['hostdev_commit']}"],
        ["kernel settings that time a move", ", ".join(f"{k.removeprefix('CONFIG_')}={v}" for k, v in m.get("kernel_facts", {}).items()) or "?"],
        *(extra or []),
        ["load average (1/5/15 min) at start / end", load_text(m)],
        ["CPU use during this part (/proc/stat)", describe(m.get("cpu_use") or {})],
    ]  # fmt: skip
    return ["## Machine", "", markdown_table(["", ""], rows, left=2), "", *busy_note(m)]


def ms(ns: float | None) -> str:
    return "–" if ns is None else fmt_duration(ns)


def spread(summary: dict[str, float]) -> str:
    return f"{fmt_duration(summary['p10'])} – {fmt_duration(summary['p90'])}"


def ratio_cell(summary: dict[str, float] | None) -> str:
    if not summary:
        return "–"
    return f"{fmt_ratio(summary['median'])} [{fmt_ratio(summary['p10'])}–{fmt_ratio(summary['p90'])}]"


def mib(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"
