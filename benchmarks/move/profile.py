"""Where hostdev's own time goes: cProfile over whole sequences, kernel calls separated out.

cProfile roughly doubles the cost of Python function calls, so read the shares, not the absolute
numbers; the absolute user-space overhead is hostdev minus the floor in the timing pass.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
from typing import Any, Callable

from benchmarks.harness.clock import WallClock
from benchmarks.harness.machine import REPO
from benchmarks.move.impl_hostdev import HostdevImpl

# Where the thread is in the kernel (and waits for it): everything else is Python work.
SYSCALLS = ("<method 'send' of '_socket.socket' objects>", "<method 'recv_into' of '_socket.socket' objects>")


def _where(key: tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":
        return func
    try:
        filename = os.path.relpath(filename, REPO)
    except ValueError:
        pass
    if filename.startswith(".."):
        filename = os.path.basename(filename)
    return f"{filename}:{line}({func})"


def profile_hostdev(impl: HostdevImpl, rounds: int, check: Callable[[], None], top: int = 25) -> dict[str, Any]:
    profiler = cProfile.Profile()
    clock = WallClock()
    for _ in range(rounds):
        clock.start()
        profiler.enable()
        impl.run(clock)
        profiler.disable()
        check()
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _cc, _nc, tt, _ct, _callers in entries.values())
    syscalls = sum(entries[k][2] for k in entries if k[0] == "~" and k[2] in SYSCALLS)
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    rows = []
    for key, (_cc, calls, tottime, cumtime, _callers) in ranked:
        if key[0] == "~" and key[2] in SYSCALLS:
            continue
        rows.append({
            "function": _where(key),
            "calls_per_sequence": calls / rounds,
            "tottime_us_per_sequence": tottime / rounds * 1e6,
            "cumtime_us_per_sequence": cumtime / rounds * 1e6,
            "share_of_python": tottime / (total - syscalls) if total > syscalls else 0.0,
        })  # fmt: skip
        if len(rows) >= top:
            break
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
    cumulative = io.StringIO()
    pstats.Stats(profiler, stream=cumulative).sort_stats("cumulative").print_stats(40)
    return {
        "rounds": rounds,
        "profiled_us_per_sequence": total / rounds * 1e6,
        "in_kernel_us_per_sequence": syscalls / rounds * 1e6,
        "python_us_per_sequence": (total - syscalls) / rounds * 1e6,
        "top_by_tottime": rows,
        "pstats_tottime": text.getvalue().replace(str(REPO) + "/", ""),
        "pstats_cumulative": cumulative.getvalue().replace(str(REPO) + "/", ""),
    }
