"""The interface-state cost measurement runs, leaves no namespace behind, and measures what it
says: with the state the calls do more (capture reads it, applies write it) than without."""

from __future__ import annotations

import pytest

from benchmarks.ifstate import PHASES, measure, report
from benchmarks.tests.own_run import netns_names

pytestmark = pytest.mark.kernel  # needs root: tests/suite/tiers.py


def test_measure_reports_each_call_with_and_without_the_interface_state(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.ifstate as module
    from benchmarks.harness.netns import ThrowawayNamespaces

    made: list[str] = []

    class Recorded(ThrowawayNamespaces):
        def __enter__(self) -> ThrowawayNamespaces:
            made.extend(self.names.values())
            return super().__enter__()

    monkeypatch.setattr(module, "ThrowawayNamespaces", Recorded)
    run = measure(rounds=2, extra_links=3, log=lambda _text: None)
    assert len(made) == 2 and not set(made) & netns_names()  # ours, and gone (others may run beside)
    assert list(run["phases"]) == [*PHASES, "per ADD (capture + apply in the pod)"]
    for cells in run["phases"].values():
        assert cells["with"]["n"] == cells["without"]["n"] == cells["added"]["n"] == 2
        assert cells["with"]["median"] > 0 and cells["without"]["median"] > 0
    text = report({"machine": {"nproc": 2, "cpu_model": "x", "kernel": "k", "python": "p", "loadavg_at_start": (0.0, 0.0, 0.0)},
                   "runs": [run]})  # fmt: skip
    assert "| capture on the host (ADD) |" in text and "3 other links" in text
