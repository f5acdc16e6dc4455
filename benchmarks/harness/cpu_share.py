"""How much of the machine a part had: CPU used by everything else while it ran.

The load average says little about a 2-CPU machine where another program keeps one CPU busy;
parallel plugin runs then have one CPU, not two. Measured from ``/proc/stat`` (all CPUs' busy
time) minus this process's and its reaped children's CPU time (``os.times``), so it is exact
only once the part's children (the spawner, ``ip``) have been reaped; kernel threads working for
us (RCU callbacks, netns clean-up) count as "other".
"""

from __future__ import annotations

import os
import time
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")
# Both clocks count in ticks, and /proc/stat charges a whole tick to whatever a CPU was doing
# when the timer fired: each reading of it may be off by about a tick per CPU.
TICK_S = 1.0 / _TICK


def _stat() -> tuple[float, float]:
    """(busy seconds, steal seconds) over all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


def _ours() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuMeter:
    def __init__(self) -> None:
        self._start = (time.monotonic(), *_stat(), _ours())

    def read(self) -> dict[str, Any]:
        now, busy, steal, ours = time.monotonic(), *_stat(), _ours()
        elapsed = now - self._start[0]
        if elapsed <= 0:
            return {}
        all_busy = (busy - self._start[1]) / elapsed
        mine = (ours - self._start[3]) / elapsed
        return {
            # Unrounded seconds, for callers that compare the two clocks themselves.
            "busy_s": busy - self._start[1],
            "ours_s": ours - self._start[3],
            "elapsed_s": round(elapsed, 1),
            "cpus": os.cpu_count(),
            "busy_cpus": round(all_busy, 2),
            "ours_cpus": round(mine, 2),
            "others_cpus": round(max(all_busy - mine, 0.0), 2),
            "steal_cpus": round((steal - self._start[2]) / elapsed, 2),
        }


def describe(use: dict[str, Any]) -> str:
    if not use:
        return "?"
    return (f"{use['others_cpus']:.2f} of {use['cpus']} CPUs busy with other work on average over {use['elapsed_s']:.0f} s "
            f"(this run: {use['ours_cpus']:.2f}; hypervisor steal {use['steal_cpus']:.2f})")  # fmt: skip
