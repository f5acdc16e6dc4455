"""Where parallel plugin processes wait: off-CPU stretches of every plugin process, classified.

The harness's tracer (:mod:`benchmarks.harness.offcpu`) follows one thread; plugin processes are
many and their pids unknown in advance, so this one filters ``sched_switch`` by command name
(a launcher's comm is its file name, ``amd-host-device``; Go's is ``host-device``), then splits
the trace per pid with the harness's parser. Same private tracefs instance in a private mount
namespace, same clean-up.

Each stretch is put in one class by its kernel stack:

* ``netns move: RCU wait (holds RTNL)``: inside ``__dev_change_net_namespace`` (``rcu_barrier``,
  ``synchronize_rcu_expedited``, ``synchronize_net``): the move holds the RTNL mutex throughout,
  so at most one process on the machine is ever in here;
* ``waiting for RTNL``: asleep on a mutex with rtnetlink on the stack: queued behind a move;
* ``preempted (CPU busy)``: runnable but another task had the CPU;
* ``nanosleep``: in amd-host-device only the flock poll sleeps (it backs off while another
  process holds the device's lock); Go's runtime sleeps in its own threads (sysmon);
* ``file sync (state store)``: ``fsync``/``fdatasync``;
* ``futex``: a Go runtime thread parked (Go host-device runs netlink on other OS threads);
* ``other``: everything else (page faults, exec, I/O).

Threads count as well as the processes' main threads (Go runs its netlink calls on other OS
threads): a task with a plugin's comm whose id follows one of the batch's pids closely (threads
get the next free ids). That keeps out plugin processes other programs on the machine run at
the same time. Stretches are clipped to the batch's window; timelines are of the main threads.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from benchmarks.harness.offcpu import _HELPER, OffCpu, TraceHelper, TraceUnavailable, parse_off_cpu

COMMS = ("amd-host-device", "host-device")
MOVE_WAIT = "netns move: RCU wait (holds RTNL)"
RTNL_WAIT = "waiting for RTNL"
PREEMPTED = "preempted (CPU busy)"
LOCK_SLEEP = "nanosleep (hostdev: lock poll; Go: runtime)"
FSYNC = "file sync (state store)"
FUTEX = "futex (idle Go runtime thread)"
OTHER = "other"
CLASSES = (MOVE_WAIT, RTNL_WAIT, PREEMPTED, LOCK_SLEEP, FSYNC, FUTEX, OTHER)
_SWITCH_OUT = re.compile(r"sched_switch: prev_comm=(\S+) prev_pid=(\d+)")
_SWITCH_PIDS = re.compile(r"sched_switch: .*?prev_pid=(\d+) .*?next_pid=(\d+)")

_PID_FILTER = 'echo "prev_pid == $HDB_TID || next_pid == $HDB_TID"'
_COMM_FILTER = 'echo "$HDB_FILTER"'


def classify(stretch: OffCpu) -> str:
    frames = stretch.stack
    if stretch.state.startswith("R"):
        return PREEMPTED
    if any("dev_change_net_namespace" in f for f in frames) and not stretch.blocker.startswith(("__mutex_lock", "mutex_lock")):
        return MOVE_WAIT
    if stretch.blocker.startswith(("__mutex_lock", "mutex_lock", "rtnl_lock")) and any("rtnl" in f or "rtnetlink" in f for f in frames):
        return RTNL_WAIT
    if any("nanosleep" in f for f in frames):
        return LOCK_SLEEP
    if any("fsync" in f or "fdatasync" in f for f in frames):
        return FSYNC
    if any("futex" in f for f in frames):
        return FUTEX
    return OTHER


class CommTracer(TraceHelper):
    """``with CommTracer() as t: ...`` then ``t.lines``: sched_switch events (with kernel stacks) of
    every task whose comm is one of ``COMMS``."""

    def __init__(self, comms: Sequence[str] = COMMS, ready_timeout: float = 10.0) -> None:
        if _PID_FILTER not in _HELPER:
            raise TraceUnavailable("the harness's tracing helper changed: cannot set a comm filter")
        self.filter = " || ".join(f'prev_comm == "{c}" || next_comm == "{c}"' for c in comms)
        super().__init__(_HELPER.replace(_PID_FILTER, _COMM_FILTER), {"HDB_FILTER": self.filter}, ready_timeout)


@dataclass(frozen=True, slots=True)
class Window:
    pid: int
    start_ns: int
    end_ns: int


def union_ns(spans: Iterable[tuple[int, int]]) -> int:
    """Total length covered by possibly overlapping ``(start, end)`` spans."""
    total, reach = 0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def plugin_tasks(lines: Sequence[str], comms: Sequence[str] = COMMS) -> set[int]:
    """Every task (thread id) with one of the plugins' comms that left a CPU in the trace."""
    tasks = set()
    for line in lines:
        match = _SWITCH_OUT.search(line)
        if match and match.group(1) in comms:
            tasks.add(int(match.group(2)))
    return tasks


def lines_by_task(lines: Sequence[str], tasks: set[int]) -> dict[int, list[str]]:
    """Each task's own switch events (in or out) with the stack lines that follow them: one pass,
    so that parsing per task does not rescan the whole trace."""
    out: dict[int, list[str]] = {}
    current: list[list[str]] = []
    for line in lines:
        match = _SWITCH_PIDS.search(line)
        if match:
            current = [out.setdefault(pid, []) for pid in {int(match.group(1)), int(match.group(2))} if pid in tasks]
        for bucket in current:
            bucket.append(line)
    return out


THREAD_ID_SPAN = 64  # how far after its process's pid a thread's id may be


def batch_tasks(tasks: set[int], pids: Iterable[int]) -> set[int]:
    """The batch's processes and the threads that belong to them (ids just after a pid)."""
    ordered = sorted(pids)
    return {t for t in tasks if t in ordered or any(p < t <= p + THREAD_ID_SPAN for p in ordered)} | set(ordered)


def attribute(lines: Sequence[str], windows: Sequence[Window]) -> dict[str, Any]:
    """Per class: summed over all plugin threads, and the union over time (how much of the batch
    had at least one thread waiting that way); plus a per-process timeline for plots."""
    per_class_sum = {c: 0 for c in CLASSES}
    spans: dict[str, list[tuple[int, int]]] = {c: [] for c in CLASSES}
    waits: dict[str, int] = {c: 0 for c in CLASSES}
    examples: dict[str, list[str]] = {}
    if not windows:
        return {"sum_ns": per_class_sum, "union_ns": {c: 0 for c in CLASSES}, "stretches": waits, "example_stacks": {}, "timeline": []}
    origin, finish = min(w.start_ns for w in windows), max(w.end_ns for w in windows)
    mains = {w.pid: w for w in windows}
    timeline: dict[int, list[list[Any]]] = {pid: [] for pid in mains}
    tasks = batch_tasks(plugin_tasks(lines), mains)
    per_task = lines_by_task(lines, tasks)
    for task in sorted(tasks):
        for stretch in parse_off_cpu(per_task.get(task, []), task):
            window = mains.get(task)
            lo = max(stretch.start_ns, window.start_ns if window else origin)
            hi = min(stretch.end_ns, window.end_ns if window else finish)
            if hi <= lo:
                continue
            kind = classify(stretch)
            per_class_sum[kind] += hi - lo
            spans[kind].append((lo, hi))
            waits[kind] += 1
            examples.setdefault(kind, [f for f in stretch.stack if not f.startswith(("trace_event_", "__traceiter_"))][:10])
            if task in timeline:
                timeline[task].append([round((lo - origin) / 1e6, 3), round((hi - lo) / 1e6, 3), kind])
    return {
        "window_ns": finish - origin,
        "threads": len(tasks),
        "sum_ns": per_class_sum,
        "union_ns": {c: union_ns(spans[c]) for c in CLASSES},
        "stretches": waits,
        "example_stacks": examples,
        "timeline": [
            {"pid": w.pid, "start_ms": round((w.start_ns - origin) / 1e6, 3), "end_ms": round((w.end_ns - origin) / 1e6, 3), "off_cpu": timeline[w.pid]}
            for w in windows
        ],
    }


def tracing_possible() -> str | None:
    """Why tracing cannot work here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if "CLOCK_MONOTONIC" not in time.get_clock_info("perf_counter").implementation:
        return "perf_counter is not CLOCK_MONOTONIC"
    return None
