from __future__ import annotations

from benchmarks.harness.offcpu import off_cpu_between, parse_off_cpu

# Shape of a real tracefs instance buffer (sched_switch with the stacktrace option, mono clock).
TRACE = """
# tracer: nop
          python-1234    [000] d..2.   796.607348: sched_switch: prev_comm=python prev_pid=1234 prev_prio=120 prev_state=D ==> next_comm=kworker/0:2 next_pid=132 next_prio=120
          python-1234    [000] d..2.   796.607350: <stack trace>
 => trace_event_raw_event_sched_switch
 => __traceiter_sched_switch
 => __schedule
 => schedule
 => synchronize_rcu_expedited
 => __dev_change_net_namespace
 => do_setlink.isra.0
          <idle>-0       [001] d..2.   796.610300: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=1234 next_prio=120
          <idle>-0       [001] d..2.   796.610301: <stack trace>
 => trace_event_raw_event_sched_switch
 => do_idle
          python-1234    [001] d..2.   796.610459: sched_switch: prev_comm=python prev_pid=1234 prev_prio=120 prev_state=D ==> next_comm=swapper/1 next_pid=0 next_prio=120
          python-1234    [001] d..2.   796.610490: <stack trace>
 => __schedule
 => schedule
 => schedule_timeout
 => wait_for_completion
 => rcu_barrier
 => __dev_change_net_namespace
          <idle>-0       [001] dNs5.   796.634254: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=1234 next_prio=120
          python-1234    [001] d..2.   796.634572: sched_switch: prev_comm=python prev_pid=1234 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u8:0 next_pid=12 next_prio=120
          python-1234    [001] d..2.   796.634592: <stack trace>
 => __schedule
 => exit_to_user_mode_loop
"""


def test_off_cpu_stretches_are_attributed_to_the_waiting_function() -> None:
    intervals = parse_off_cpu(TRACE.splitlines(), 1234)
    assert [(iv.blocker, iv.caller, iv.duration_ns) for iv in intervals] == [
        ("synchronize_rcu_expedited", "__dev_change_net_namespace", 2_952_000),
        ("rcu_barrier", "__dev_change_net_namespace", 23_795_000),
    ]  # the last switch-out never switched back in: not a finished stretch
    # The stack of the task switched in (swapper) must not leak into ours.
    assert "do_idle" not in intervals[0].stack


def test_off_cpu_between_clips_to_the_window() -> None:
    intervals = parse_off_cpu(TRACE.splitlines(), 1234)
    start = 796_610_459_000 + 1_000_000
    clipped = off_cpu_between(intervals, start, start + 5_000_000)
    assert [(iv.blocker, iv.duration_ns) for iv in clipped] == [("rcu_barrier", 5_000_000)]
