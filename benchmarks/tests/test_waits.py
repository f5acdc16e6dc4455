from __future__ import annotations

from benchmarks.harness.offcpu import OffCpu
from benchmarks.scale.waits import (
    FUTEX, LOCK_SLEEP, MOVE_WAIT, OTHER, PREEMPTED, RTNL_WAIT, Window, attribute, classify, plugin_tasks, union_ns,
)  # fmt: skip


def _switch(ts: str, comm: str, pid: int, state: str, next_comm: str, next_pid: int) -> str:
    return (f"  {comm}-{pid} [000] d..2. {ts}: sched_switch: prev_comm={comm} prev_pid={pid} prev_prio=120 "
            f"prev_state={state} ==> next_comm={next_comm} next_pid={next_pid} next_prio=120")  # fmt: skip


def _stack(*frames: str) -> list[str]:
    return ["  <stack trace>", *(f" => {f}" for f in frames)]


# Two plugin processes: 100 moves its device (RCU wait inside the move, holding RTNL) while 200
# queues for RTNL; then 200 is preempted; a Go runtime thread (204) parks in a futex; 999 is
# some other program and must be ignored, as must 5000, another program's plugin process.
TRACE = [
    _switch("100.000000", "amd-host-device", 100, "D", "swapper/0", 0),
    *_stack("__schedule", "schedule", "synchronize_rcu_expedited", "__dev_change_net_namespace", "do_setlink.isra.0", "rtnl_newlink"),
    _switch("100.002000", "amd-host-device", 200, "D", "swapper/1", 0),
    *_stack("__schedule", "schedule", "schedule_preempt_disabled", "__mutex_lock.constprop.0", "rtnetlink_rcv_msg", "netlink_rcv_skb"),
    _switch("100.003000", "other", 999, "S", "swapper/1", 0),
    *_stack("__schedule", "schedule", "__dev_change_net_namespace"),
    _switch("100.010000", "swapper/0", 0, "R", "amd-host-device", 100),
    _switch("100.011000", "swapper/1", 0, "R", "amd-host-device", 200),
    _switch("100.012000", "amd-host-device", 200, "R+", "amd-host-device", 100),
    *_stack("__schedule", "preempt_schedule_irq", "asm_sysvec_apic_timer_interrupt"),
    _switch("100.013000", "amd-host-device", 100, "S", "amd-host-device", 200),
    *_stack("__schedule", "schedule", "do_nanosleep", "hrtimer_nanosleep", "common_nsleep"),
    _switch("100.014000", "swapper/0", 0, "R", "amd-host-device", 100),
    _switch("100.015000", "host-device", 204, "S", "swapper/0", 0),
    *_stack("__schedule", "schedule", "futex_do_wait", "__futex_wait", "futex_wait"),
    _switch("100.016000", "swapper/0", 0, "R", "host-device", 204),
    _switch("100.016500", "amd-host-device", 5000, "D", "swapper/0", 0),
    *_stack("__schedule", "schedule", "synchronize_rcu_expedited", "__dev_change_net_namespace"),
    _switch("100.017000", "swapper/0", 0, "R", "amd-host-device", 5000),
]


def _stretch(state: str, blocker: str, *stack: str) -> OffCpu:
    return OffCpu(0, 1, state, blocker, "?", tuple(stack))


def test_classes_follow_the_kernel_stack() -> None:
    assert classify(_stretch("D", "synchronize_rcu_expedited", "synchronize_rcu_expedited", "__dev_change_net_namespace")) == MOVE_WAIT
    assert classify(_stretch("D", "rcu_barrier", "rcu_barrier", "__dev_change_net_namespace")) == MOVE_WAIT
    assert classify(_stretch("D", "__mutex_lock.constprop.0", "__mutex_lock.constprop.0", "rtnetlink_rcv_msg")) == RTNL_WAIT
    # a mutex inside the move is still a wait for RTNL-protected work, not the move's own RCU wait
    assert classify(_stretch("D", "__mutex_lock.constprop.0", "__mutex_lock.constprop.0", "__dev_change_net_namespace", "rtnl_newlink")) == RTNL_WAIT
    assert classify(_stretch("R+", "preempted", "asm_sysvec_apic_timer_interrupt")) == PREEMPTED
    assert classify(_stretch("S", "hrtimer_nanosleep", "do_nanosleep", "hrtimer_nanosleep")) == LOCK_SLEEP
    assert classify(_stretch("S", "futex_wait", "futex_do_wait", "futex_wait")) == FUTEX
    assert classify(_stretch("D", "folio_wait_bit", "folio_wait_bit", "filemap_fault")) == OTHER


def test_union_merges_overlaps_only() -> None:
    assert union_ns([(0, 10), (5, 15), (20, 25)]) == 20
    assert union_ns([(20, 25), (0, 10)]) == 15
    assert union_ns([(0, 10), (2, 3)]) == 10
    assert union_ns([]) == 0


def test_every_plugin_thread_is_found_and_other_programs_ignored() -> None:
    assert plugin_tasks(TRACE) == {100, 200, 204, 5000}


def test_attribution_per_class_sum_and_union() -> None:
    base = 100_000_000_000
    windows = [Window(100, base, base + 20_000_000), Window(200, base, base + 20_000_000)]
    out = attribute(TRACE, windows)
    ms = 1_000_000
    assert out["sum_ns"][MOVE_WAIT] == 10 * ms
    assert out["sum_ns"][RTNL_WAIT] == 9 * ms  # 200 queued from 2 ms until it ran at 11 ms
    assert out["union_ns"][RTNL_WAIT] == 9 * ms
    assert out["sum_ns"][PREEMPTED] == 1 * ms
    assert out["sum_ns"][LOCK_SLEEP] == 1 * ms
    assert out["sum_ns"][FUTEX] == 1 * ms  # the Go thread, clipped to the batch window
    assert out["threads"] == 3  # 5000 is not this batch's: its move wait is not counted
    by_pid = {row["pid"]: row for row in out["timeline"]}
    assert [kind for _start, _len, kind in by_pid[100]["off_cpu"]] == [MOVE_WAIT, LOCK_SLEEP]
    assert by_pid[200]["off_cpu"][0][:2] == [2.0, 9.0]


def test_attribution_is_clipped_to_each_process_window() -> None:
    base = 100_000_000_000
    # Process 100's exec ended 5 ms into its RCU wait (as if it had been reaped): only 5 ms count.
    out = attribute(TRACE, [Window(100, base, base + 5_000_000)])
    assert out["sum_ns"][MOVE_WAIT] == 5_000_000
    assert out["sum_ns"][LOCK_SLEEP] == 0
