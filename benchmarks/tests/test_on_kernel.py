"""The benchmark's own safety nets, on this machine's kernel: a wrong implementation is caught,
namespaces never outlive a run, and the smoke run CI executes passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.harness.clock import Clock, WallClock
from benchmarks.harness.interleave import ImplementationFailed, run_interleaved
from benchmarks.move.impl_hostdev import HostdevImpl
from benchmarks.move.standin import RestoreMismatch, StandIn
from benchmarks.tests.own_run import OwnRun, netns_names
from hostdev.snapshot import apply_snapshot, move_link, take_snapshot

pytestmark = pytest.mark.kernel  # needs root: tests/suite/tiers.py
REPO = Path(__file__).resolve().parents[2]


class ForgetsRoutes(HostdevImpl):
    """Gives everything back but the routes: the kind of bug the fixture check exists for."""

    name = "forgets-routes"

    def run(self, clock: Clock) -> None:
        link = self.host.link(name=self.ifname)
        snap = take_snapshot(self.host, link)
        moved = move_link(self.host, self.pod, link)
        apply_snapshot(self.pod, moved, snap)
        back = move_link(self.pod, self.host, moved)
        apply_snapshot(self.host, back, snap, routes=False)
        clock.lap("sequence")


class LeavesLinkInPod(HostdevImpl):
    name = "leaves-link-in-pod"

    def run(self, clock: Clock) -> None:
        link = self.host.link(name=self.ifname)
        move_link(self.host, self.pod, link)
        clock.lap("sequence")


@pytest.mark.parametrize("broken", [ForgetsRoutes, LeavesLinkInPod])
def test_a_run_that_does_not_restore_the_stand_in_fails_the_measurement(broken: type[HostdevImpl]) -> None:
    with StandIn() as nic:
        names = {nic.host_name, nic.pod_name}
        assert names <= netns_names()
        good, bad = HostdevImpl(nic), broken(nic)
        try:
            with pytest.raises(ImplementationFailed) as failed:
                run_interleaved([good, bad], 2, WallClock(), check=lambda _impl: nic.check())
        finally:
            good.close()
            bad.close()
    assert failed.value.name == broken.name
    assert isinstance(failed.value.cause, RestoreMismatch)
    assert not names & netns_names()


def test_quick_run_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    run = OwnRun(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=REPO, env=run.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "move.json").read_text())
    assert results["failure"] is None and results["checks"]["passed"] is True
    assert set(results["timing"]["summary_ns"]) == {"hostdev", "floor", "pyroute2", "ip", "ip-batch"}
    assert (tmp_path / "move.md").read_text().startswith("# hostdev move latency")
    assert (tmp_path / "move-latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(run.owns(name) for name in results["namespaces"].values())
    assert not run.namespaces() and not run.temp_dirs()
