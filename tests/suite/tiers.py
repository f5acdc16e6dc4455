"""Tiers, and CI's rule that nothing is skipped.

Every test belongs to one tier: ``vm`` (marker ``vm``), ``e2e`` (everything under tests/e2e),
``kernel`` (everything under tests/kernel, and ``benchmarks/tests`` modules marked ``kernel``),
else ``unit``. The ``e2e`` and ``kernel`` markers are applied here by directory; the ``kernel``
and ``e2e`` tiers need root (network namespaces) and are skipped as a whole without it.

With ``CI=true`` a skip is a failure, wherever it comes from (a ``skipif``, ``pytest.skip``, a
VM test the guest skipped, the tier switches below): a green CI run has run every test. What a
test needs is installed by scripts/bootstrap.sh; if a test cannot run on CI's machine, that is a
bug of the test or of bootstrap, not a skip. Whole-tier switches are refused up front in CI:
not root, ``HOSTDEV_VM=off``, ``HOSTDEV_PLUGIN`` (it tests another build than this tree's).

The terminal summary shows the outcome counts per tier.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Mapping
from pathlib import Path

import pytest
from _pytest.reports import CollectReport, TestReport
from _pytest.terminal import TerminalReporter

from tests.suite.determinism import in_ci

REPO = Path(__file__).resolve().parents[2]
TIERS = ("unit", "kernel", "e2e", "vm")
_BY_DIRECTORY = {REPO / "tests" / "kernel": "kernel", REPO / "tests" / "e2e": "e2e"}
_NEEDS_ROOT = frozenset({"kernel", "e2e"})
# How the outcomes pytest files reports under read in the tier summary.
_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")

_tier_of = pytest.StashKey[dict[str, str]]()


def tier(item: pytest.Item) -> str:
    for name in ("vm", "e2e", "kernel"):
        if item.get_closest_marker(name) is not None:
            return name
    return "unit"


def ci_problems(environ: Mapping[str, str], euid: int) -> list[str]:
    """Why this run cannot be CI's run of every tier (empty when it can)."""
    problems = []
    if euid != 0:
        problems.append("not root: the kernel, e2e and vm tiers need root (run: sudo CI=true .ci/run)")
    if environ.get("HOSTDEV_VM", "").lower() == "off":
        problems.append("HOSTDEV_VM=off skips the vm tier; it is for a developer's quick run only")
    if environ.get("HOSTDEV_PLUGIN"):
        problems.append(f"HOSTDEV_PLUGIN={environ['HOSTDEV_PLUGIN']} would test another build than this tree's")
    return problems


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_tier_of] = {}
    if in_ci():
        problems = ci_problems(os.environ, os.geteuid())
        if problems:
            raise pytest.UsageError("CI=true runs every tier, and cannot here:\n  " + "\n  ".join(problems))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tiers = config.stash[_tier_of]
    for item in items:
        for directory, marker in _BY_DIRECTORY.items():
            if item.path.is_relative_to(directory):
                item.add_marker(marker)
        tiers[item.nodeid] = found = tier(item)
        if found in _NEEDS_ROOT and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=f"the {found} tier needs root (network namespaces)"))


def _strict(report: TestReport | CollectReport) -> None:
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true: a skip is a failure (tests/README.md). {reason}\n"
        "Install what the test needs in scripts/bootstrap.sh, or make the test run here."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_logreport(report: TestReport) -> Generator[None, None, None]:
    # Here, not in pytest_runtest_makereport: the VM tier reports its tests' guest outcomes
    # straight to this hook. A wrapper runs before every plain implementation, so the session's
    # failure count and the terminal both see the verdict (a skip in setup shows as an error).
    _strict(report)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_collectreport(report: CollectReport) -> Generator[None, None, None]:
    _strict(report)  # a module skipped as a whole (pytest.skip(allow_module_level=True))
    return (yield)


def tier_counts(reporter: TerminalReporter) -> dict[str, Counter[str]]:
    tiers = reporter.config.stash.get(_tier_of, {})
    counts: dict[str, Counter[str]] = {name: Counter() for name in TIERS}
    for outcome in _OUTCOMES:
        for report in reporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if isinstance(report, TestReport) or nodeid in tiers:
                counts[tiers.get(nodeid, "unit")][outcome] += 1
    return counts


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    counts = tier_counts(terminalreporter)
    parts = []
    for name in TIERS:
        shown = ", ".join(f"{counts[name][o]} {o}" for o in _OUTCOMES if counts[name][o])
        parts.append(f"{name}: {shown or 'none'}")
    terminalreporter.write_sep("-", "per tier: " + "; ".join(parts), bold=True)
