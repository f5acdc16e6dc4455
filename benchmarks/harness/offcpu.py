"""Where a thread waits inside the kernel: sched_switch events with kernel stacks, via tracefs.

Function tracing and kprobes may be locked down; scheduler tracepoints with stack traces
usually are not. Every time the traced thread leaves the CPU the kernel records its stack; the
time until it runs again is attributed to the first frame that is not scheduler plumbing
(``rcu_barrier``, ``synchronize_rcu_expedited``, ``__mutex_lock`` …).

Tracing is set up by a helper process in its own private mount namespace (``unshare -m``), so the
tracefs mount never appears on the machine; it uses a private trace *instance*, removed on exit,
also when this process dies (the helper sees EOF on its stdin). Timestamps use the ``mono``
trace clock, i.e. CLOCK_MONOTONIC, the clock behind ``time.perf_counter_ns`` on Linux.
"""

from __future__ import annotations

import re
import secrets
import select
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Sequence

_HELPER = r"""
set -u
dir=$(mktemp -d /tmp/hdb-tracefs.XXXXXX) || exit 1
mount -t tracefs nodev "$dir" || { rmdir "$dir"; echo "ERROR cannot mount tracefs"; exit 1; }
inst="$dir/instances/$HDB_INSTANCE"
if ! mkdir "$inst"; then umount "$dir"; rmdir "$dir"; echo "ERROR cannot create a trace instance"; exit 1; fi
cleanup() {
  echo 0 > "$inst/tracing_on"
  echo 0 > "$inst/events/sched/sched_switch/enable"
  echo 0 > "$inst/options/stacktrace"
  rmdir "$inst"
  umount "$dir"
  rmdir "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "ERROR $1"; exit 1; }
echo 8192 > "$inst/buffer_size_kb" || fail "buffer size"
echo mono > "$inst/trace_clock" || fail "trace clock mono"
echo "prev_pid == $HDB_TID || next_pid == $HDB_TID" > "$inst/events/sched/sched_switch/filter" || fail "event filter"
echo 1 > "$inst/options/stacktrace" || fail "stacktrace option"
echo 1 > "$inst/events/sched/sched_switch/enable" || fail "enable sched_switch"
echo 1 > "$inst/tracing_on" || fail "tracing_on"
echo READY
read -r _ || true
echo 0 > "$inst/tracing_on"
echo TRACE
cat "$inst/trace"
"""

# Frames that say "this thread is sleeping" without saying why.
PLUMBING = frozenset({
    "trace_event_raw_event_sched_switch", "__traceiter_sched_switch", "__schedule", "schedule",
    "schedule_timeout", "schedule_preempt_disabled", "__wait_for_common", "wait_for_completion",
    "wait_for_completion_state", "wait_for_completion_killable", "io_schedule", "preempt_schedule",
    "preempt_schedule_common", "preempt_schedule_irq", "__cond_resched", "_cond_resched",
    "schedule_hrtimeout_range", "schedule_hrtimeout_range_clock", "do_nanosleep", "rcu_note_context_switch",
})  # fmt: skip

_SWITCH = re.compile(r"\s(\d+)\.(\d+): sched_switch: .*?prev_pid=(\d+) .*?prev_state=(\S+) ==> .*?next_pid=(\d+)")
_FRAME = re.compile(r"^\s*=> (\S+)")


class TraceUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class OffCpu:
    """One stretch of time the thread did not run."""

    start_ns: int
    end_ns: int
    state: str  # D, S: blocked; R, R+: preempted while runnable
    blocker: str  # first non-plumbing frame, or "preempted"
    caller: str  # the frame after it (who called the blocker)
    stack: tuple[str, ...]

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


class TraceHelper:
    """The tracing helper shell script in a private mount namespace: started on ``__enter__``
    (waits for its READY), stopped on ``__exit__``; ``lines`` is what it traced."""

    def __init__(self, script: str, env: dict[str, str], ready_timeout: float = 10.0) -> None:
        self.script = script
        self.env = {**env, "HDB_INSTANCE": f"hdb-{secrets.token_hex(4)}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        self.ready_timeout = ready_timeout
        self.lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> TraceHelper:
        try:
            proc = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", self.script],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
            )  # fmt: skip
        except OSError as exc:
            raise TraceUnavailable(f"cannot start the tracing helper: {exc}") from None
        self._proc = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self.ready_timeout)
        line = proc.stdout.readline().strip() if ready else ""
        if line != "READY":
            self._abort()
            stderr = proc.stderr.read().strip() if proc.stderr else ""
            raise TraceUnavailable(line.removeprefix("ERROR ") or stderr or "tracing helper did not start")
        return self

    def _abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if exc_type is not None:
            self._proc = proc
            self._abort()
            return
        out, err = proc.communicate("stop\n", timeout=60)
        if proc.returncode != 0 or "TRACE" not in out:
            raise TraceUnavailable(f"tracing helper failed: {err.strip() or out[-200:]}")
        self.lines = out.split("TRACE", 1)[1].splitlines()


class OffCpuTracer(TraceHelper):
    """``with OffCpuTracer(tid) as tracer: ...work...`` then ``tracer.intervals``."""

    def __init__(self, tid: int | None = None, ready_timeout: float = 10.0) -> None:
        self.tid = tid if tid is not None else threading.get_native_id()
        self.intervals: list[OffCpu] = []
        if "CLOCK_MONOTONIC" not in time.get_clock_info("perf_counter").implementation:
            raise TraceUnavailable("perf_counter is not CLOCK_MONOTONIC here: timestamps would not line up")
        super().__init__(_HELPER, {"HDB_TID": str(self.tid)}, ready_timeout)

    def __enter__(self) -> OffCpuTracer:
        super().__enter__()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.intervals = parse_off_cpu(self.lines, self.tid)


def parse_off_cpu(lines: Sequence[str], tid: int) -> list[OffCpu]:
    """Pair each switch-out of ``tid`` (with the stack that follows it) with its next switch-in."""
    intervals: list[OffCpu] = []
    pending: tuple[int, str, list[str]] | None = None  # start, state and stack of the open stretch
    collecting: list[str] | None = None  # the stack being read, right after a switch-out
    for line in lines:
        frame = _FRAME.match(line)
        if frame:
            if collecting is not None:
                collecting.append(frame.group(1))
            continue
        if "<stack trace>" in line:
            continue
        match = _SWITCH.search(line)
        if not match:
            continue
        ts = int(match.group(1)) * 1_000_000_000 + int(match.group(2).ljust(9, "0")[:9])
        prev_pid, state, next_pid = int(match.group(3)), match.group(4), int(match.group(5))
        collecting = None
        if prev_pid == tid:
            collecting = []
            pending = (ts, state, collecting)
        elif next_pid == tid and pending is not None:
            intervals.append(_attribute(pending[0], ts, pending[1], pending[2]))
            pending = None
    return intervals


def _attribute(start: int, end: int, state: str, frames: list[str]) -> OffCpu:
    meaningful = [f for f in frames if f not in PLUMBING]
    if state.startswith("R"):
        return OffCpu(start, end, state, "preempted", meaningful[0] if meaningful else "?", tuple(frames))
    blocker = meaningful[0] if meaningful else "?"
    caller = meaningful[1] if len(meaningful) > 1 else "?"
    return OffCpu(start, end, state, blocker, caller, tuple(frames))


def off_cpu_between(intervals: Sequence[OffCpu], start_ns: int, end_ns: int) -> list[OffCpu]:
    """The part of each interval inside ``[start_ns, end_ns]``."""
    out = []
    for iv in intervals:
        lo, hi = max(iv.start_ns, start_ns), min(iv.end_ns, end_ns)
        if hi > lo:
            out.append(OffCpu(lo, hi, iv.state, iv.blocker, iv.caller, iv.stack))
    return out
