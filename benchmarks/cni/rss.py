"""Peak RSS of one plugin exec, through GNU ``time -f %M``.

``wait4``'s ``ru_maxrss`` cannot be used for children of the spawner: ``posix_spawn`` vforks, and
at ``execve`` the kernel folds the old address space's high-water mark (the spawner's own, a
Python process) into the child's, so every child would report at least the spawner's RSS. GNU
``time`` is a small process; its child's high-water mark is the plugin's own.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Sequence

from benchmarks.cni.cycle import ADD, DEL, EXEC, CycleImpl, ExecImpl, require_success
from benchmarks.cni.node import BenchNode
from benchmarks.cni.spawner import Exec, Job
from benchmarks.harness.stats import summarize

TIME = "/usr/bin/time"
_MARK = "HDB_MAXRSS_KB="


def rss_available() -> str | None:
    """Why peak RSS cannot be measured here, or None."""
    return None if os.access(TIME, os.X_OK) else f"{TIME} (GNU time) is not installed"


def wrapped(job: Job) -> Job:
    return replace(job, argv=(TIME, "-f", _MARK + "%M", *job.argv))


def peak_rss_kb(done: Exec) -> int:
    """The plugin's peak RSS from the wrapped exec's stderr (GNU time prints last)."""
    for line in reversed(done.stderr.splitlines()):
        if line.startswith(_MARK):
            return int(line[len(_MARK):])
    raise ValueError(f"no {_MARK} line in stderr: {done.stderr[-300:]!r}")


def without_mark(done: Exec) -> Exec:
    """The exec as the plugin alone would have reported it (GNU time's line removed)."""
    kept = [line for line in done.stderr.splitlines(keepends=True) if not line.startswith(_MARK)]
    return replace(done, stderr="".join(kept))


def measure_peak_rss(node: BenchNode, impls: Sequence[CycleImpl | ExecImpl], runs: int) -> dict[str, Any]:
    """Peak RSS per implementation and command, ``runs`` execs each (cycles checked after each)."""
    why = rss_available()
    if why:
        return {"measured": False, "reason": why}
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(runs):
        for impl in impls:
            if isinstance(impl, CycleImpl):
                for command, job in zip((ADD, DEL), impl.jobs()):
                    done = require_success(f"{impl.name} {command} under {TIME}", node.spawner.run_one(wrapped(job)))
                    samples.setdefault(impl.name, {}).setdefault(command, []).append(float(peak_rss_kb(done)))
                impl.after_run()
            else:
                done = require_success(f"{impl.name} under {TIME}", node.spawner.run_one(wrapped(impl.job)))
                samples.setdefault(impl.name, {}).setdefault(EXEC, []).append(float(peak_rss_kb(done)))
    return {
        "measured": True,
        "runs": runs,
        "peak_rss_kb": {name: {c: summarize(v).to_dict() for c, v in by.items()} for name, by in samples.items()},
    }
