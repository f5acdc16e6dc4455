"""hostdev, in process: the public API exactly as the CNI plugin uses it."""

from __future__ import annotations

from benchmarks.harness.clock import Clock
from benchmarks.move.ops import APPLY, MOVE_BACK, MOVE_IN, RESTORE, SNAPSHOT
from benchmarks.move.standin import StandIn
from hostdev.handle import Handle
from hostdev.snapshot import apply_snapshot, move_link, take_snapshot


class HostdevImpl:
    """Handles (one rtnetlink socket per namespace) are opened once, like pyroute2's."""

    name = "hostdev"

    def __init__(self, nic: StandIn) -> None:
        self.ifname = nic.spec.ifname
        self.host = Handle(nic.host_ns)
        try:
            self.pod = Handle(nic.pod_ns)
        except BaseException:
            self.host.close()
            raise

    def run(self, clock: Clock) -> None:
        host, pod = self.host, self.pod
        link = host.link(name=self.ifname)
        snap = take_snapshot(host, link)
        clock.lap(SNAPSHOT)
        moved = move_link(host, pod, link)
        clock.lap(MOVE_IN)
        applied = apply_snapshot(pod, moved, snap)
        clock.lap(APPLY)
        back = move_link(pod, host, moved)
        clock.lap(MOVE_BACK)
        restored = apply_snapshot(host, back, snap)
        clock.lap(RESTORE)
        failed = applied.failed_routes + restored.failed_routes
        if failed:
            raise RuntimeError(f"routes not restored: {failed}")

    def close(self) -> None:
        self.host.close()
        self.pod.close()
