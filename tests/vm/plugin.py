"""pytest integration of the VM tier (hooks are re-exported by tests/vm/conftest.py).

On the host, items marked `@pytest.mark.vm(...)` are collected normally but not run
here: all selected items that share a boot spec (group, kernel, sriov, nics, module
options) run inside ONE guest boot, as `python -m pytest <node ids> --junitxml=...`
with HOSTDEV_IN_VM=1, and each host item is then reported passed/failed/skipped from
that junit file, carrying the guest's failure text. Inside the guest (HOSTDEV_IN_VM=1)
these hooks step aside and the tests simply run.

Marker arguments, all optional:
    group="rdma"            boots are per group (and per the settings below)
    kernel="6.1"            or a list, e.g. ["6.1", "6.12"]: the test is parametrized
                            over `vm_kernel` and runs once per kernel
    sriov=False             add an igb PF (SR-IOV capable) on a q35 machine
    nics=("e1000", ...)     qemu NIC models instead of the default set
    module_options={"ib_core": "netns_mode=0"}
    timeout_s=60            this test's share of the group's time budget
    host=True               the test runs on the host and boots guests itself (the tier's
                            own plumbing, e.g. what a guest kernel crash does to a group)

If the VM tier cannot be prepared or booted, its tests FAIL. HOSTDEV_VM=off skips them
instead (for a developer's quick run only).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from _pytest.reports import TestReport

if TYPE_CHECKING:
    from tests.vm.junit_results import CaseResult
    from tests.vm.runner import GuestResult

# Kept equal to runner.DEFAULT_NICS; the runner is imported only on the host, where it boots.
DEFAULT_NICS = ("e1000", "virtio-net-pci")
DEFAULT_KERNEL = "6.1"
DEFAULT_GROUP = "default"
BOOT_BUDGET_S = 120.0
DEFAULT_TEST_BUDGET_S = 45.0
KERNEL_PARAM = "vm_kernel"


def in_guest() -> bool:
    return os.environ.get("HOSTDEV_IN_VM") == "1"


def vm_tier_disabled() -> bool:
    return os.environ.get("HOSTDEV_VM", "").lower() == "off"


def runs_in_guest(item: pytest.Item) -> bool:
    """A `vm` test that the host ships into a guest (not a `host=True` one)."""
    return item.get_closest_marker("vm") is not None and not _marker_arguments(item).get("host", False)


@dataclass(frozen=True)
class BootSpec:
    group: str
    kernel: str
    sriov: bool
    nics: tuple[str, ...]
    module_options: tuple[tuple[str, str], ...]

    def label(self) -> str:
        extras = [f"kernel {self.kernel}"]
        if self.sriov:
            extras.append("sriov")
        extras += [f"{m} {o}" for m, o in self.module_options]
        return f"group {self.group!r} ({', '.join(extras)})"


def _marker_arguments(item: pytest.Item) -> dict[str, Any]:
    """vm marker keyword arguments, the closest marker winning per key."""
    merged: dict[str, Any] = {}
    for marker in item.iter_markers("vm"):
        if marker.args:
            raise pytest.UsageError(f"{item.nodeid}: pytest.mark.vm takes keyword arguments only")
        for key, value in marker.kwargs.items():
            merged.setdefault(key, value)
    return merged


def _kernels(value: object) -> list[str]:
    if value is None:
        return [DEFAULT_KERNEL]
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    raise TypeError(f"vm marker kernel must be a string or a list of strings, not {value!r}")


def boot_spec(item: pytest.Item) -> BootSpec:
    arguments = _marker_arguments(item)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and KERNEL_PARAM in callspec.params:
        kernel = str(callspec.params[KERNEL_PARAM])
    else:
        kernel = _kernels(arguments.get("kernel"))[0]
    options: Mapping[str, str] = arguments.get("module_options") or {}
    return BootSpec(
        group=str(arguments.get("group", DEFAULT_GROUP)),
        kernel=kernel,
        sriov=bool(arguments.get("sriov", False)),
        nics=tuple(arguments.get("nics") or DEFAULT_NICS),
        module_options=tuple(sorted(options.items())),
    )


@pytest.hookimpl(tryfirst=True)  # a fixed place among the hooks: parametrize ids (node ids the
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:  # guest must find) depend on it
    markers = list(metafunc.definition.iter_markers("vm"))
    kernel = next((m.kwargs["kernel"] for m in markers if "kernel" in m.kwargs), None)
    if kernel is not None and not isinstance(kernel, str):
        kernels = _kernels(kernel)
        metafunc.parametrize(KERNEL_PARAM, kernels, ids=[f"linux-{k}" for k in kernels])


@pytest.fixture(autouse=True)
def vm_kernel(request: pytest.FixtureRequest) -> str:
    """The kernel series this test runs on (parametrized for multi-kernel vm tests)."""
    return str(getattr(request, "param", os.environ.get("HOSTDEV_VM_KERNEL", "")))


# -- running a group on the host ------------------------------------------------------


@dataclass(frozen=True)
class GroupRun:
    cases: dict[tuple[str, str], CaseResult]
    failure: str | None  # why items without a junit entry failed


_group_runs = pytest.StashKey[dict[BootSpec, GroupRun]]()


def _item_budget(item: pytest.Item) -> float:
    return float(_marker_arguments(item).get("timeout_s", DEFAULT_TEST_BUDGET_S))


def _announce(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"hostdev-vm: {message}")


def _echo_to_stderr(chunk: bytes) -> None:
    stream = sys.__stderr__
    if stream is not None:
        stream.buffer.write(chunk)
        stream.flush()


def _guest_pytest_command(config: pytest.Config, nodeids: Sequence[str]) -> list[str]:
    from tests.vm.initramfs import GUEST_JOB_DIR

    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"]
    if config.inipath is not None:
        command += ["-c", str(config.inipath)]
    command += [
        f"--rootdir={config.rootpath}",
        "-o", "junit_logging=all",
        f"--junitxml={GUEST_JOB_DIR}/junit.xml",
        *nodeids,
    ]  # fmt: skip
    return command


def _run_group(config: pytest.Config, spec: BootSpec, items: Sequence[pytest.Item]) -> GroupRun:
    run = _boot_group_once(config, spec, items)
    if run.emulator_died:
        # qemu itself aborted before the guest reported anything (seen once: a TCG assertion in
        # qemu 10's iotlb code). That is the emulator's fault, not the tests': boot once more.
        # A guest kernel crash is never this: it may be ours, and a retry could hide it.
        _announce(config, f"{spec.label()}: qemu died before the guest reported; booting once more")
        run = _boot_group_once(config, spec, items)
    return GroupRun(run.cases, run.failure)


@dataclass(frozen=True)
class _Boot:
    cases: dict[tuple[str, str], CaseResult]
    failure: str | None
    emulator_died: bool = False


def _boot_group_once(config: pytest.Config, spec: BootSpec, items: Sequence[pytest.Item]) -> _Boot:
    from tests.vm import junit_results
    from tests.vm.prepare import PrepareError
    from tests.vm.runner import run_in_guest

    timeout_s = BOOT_BUDGET_S + sum(_item_budget(i) for i in items)
    _announce(config, f"booting {spec.label()} for {len(items)} test(s)")
    share = Path(tempfile.mkdtemp(prefix="hostdev-vm-pytest-"))
    started = time.monotonic()
    try:
        result = run_in_guest(
            _guest_pytest_command(config, [i.nodeid for i in items]),
            kernel=spec.kernel,
            nics=spec.nics,
            sriov=spec.sriov,
            module_options=dict(spec.module_options),
            timeout_s=timeout_s,
            cwd=config.rootpath,
            share_dir=share,
            # Third-party plugins (hypothesis alone takes many seconds to import under TCG)
            # are not needed by the kernel-facing tests.
            env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            echo=_echo_to_stderr if os.environ.get("HOSTDEV_VM_ECHO") == "1" else None,
        )
        junit = share / "junit.xml"
        cases = junit_results.parse(junit) if junit.is_file() else {}
    except PrepareError as error:
        return _Boot({}, f"the VM tier could not be prepared: {error}")
    except Exception as error:  # noqa: BLE001 - becomes every group member's failure, not an INTERNALERROR
        return _Boot({}, f"booting the guest failed: {error!r}")
    finally:
        shutil.rmtree(share, ignore_errors=True)
    _announce(
        config,
        f"{spec.label()} finished in {time.monotonic() - started:.1f}s "
        f"(guest exit {result.exit_code}, {result.kernel_release or 'kernel unknown'})",
    )
    if result.kernel_crash is not None:
        _announce(config, f"{spec.label()}: the guest kernel crashed; the group fails")
    return judge_boot(result, cases)


def judge_boot(result: GuestResult, cases: dict[tuple[str, str], CaseResult]) -> _Boot:
    """What one boot means for its group: per-test results, a failure for the unreported, and
    whether qemu itself died (the only case that earns a second boot)."""
    if result.kernel_crash is not None:
        # Whatever the junit file says, the whole group fails: the crash may come from any of
        # its tests (or from the plugin after they reported), and it is never retried.
        return _Boot({}, "the guest kernel crashed during this group\n" + result.describe_failure())
    failure = None
    if result.exit_code not in (0, 1) or not cases:
        failure = "the guest did not report this test\n" + result.describe_failure()
    died = result.exit_code is None and not result.timed_out and not cases
    return _Boot(cases, failure, died)


def _group_run_for(item: pytest.Item, spec: BootSpec) -> GroupRun:
    runs = item.config.stash.setdefault(_group_runs, {})
    if spec not in runs:
        members = [i for i in item.session.items if runs_in_guest(i) and boot_spec(i) == spec]
        runs[spec] = _run_group(item.config, spec, members)
    return runs[spec]


def _report(
    item: pytest.Item,
    when: Literal["setup", "call", "teardown"],
    outcome: Literal["passed", "failed", "skipped"],
    longrepr: Any = None,
    sections: Sequence[tuple[str, str]] = (),
    duration: float = 0.0,
) -> TestReport:
    keywords: dict[str, Literal[1]] = {name: 1 for name in item.keywords}
    return TestReport(item.nodeid, item.location, keywords, outcome, longrepr, when, sections, duration)


def _skip_longrepr(item: pytest.Item, reason: str) -> tuple[str, int, str]:
    return (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {reason}")


def _host_reports(item: pytest.Item) -> list[TestReport]:
    if vm_tier_disabled():
        return [_report(item, "setup", "skipped", _skip_longrepr(item, "HOSTDEV_VM=off: VM tier disabled"))]
    from tests.vm.junit_results import junit_address

    spec = boot_spec(item)
    run = _group_run_for(item, spec)
    case = run.cases.get(junit_address(item.nodeid))
    if case is None:
        text = run.failure or "the guest's junit file has no entry for this test"
        return [_report(item, "setup", "passed"), _report(item, "call", "failed", text), _report(item, "teardown", "passed")]
    sections = [(f"Captured guest stdout ({spec.label()})", case.stdout)] if case.stdout else []
    if case.stderr:
        sections.append((f"Captured guest stderr ({spec.label()})", case.stderr))
    if case.outcome == "skipped":
        call = _report(item, "call", "skipped", _skip_longrepr(item, case.message or case.text), sections, case.seconds)
    elif case.outcome == "failed":
        text = f"{case.message}\n[in the guest, {spec.label()}]\n{case.text}"
        call = _report(item, "call", "failed", text, sections, case.seconds)
    else:
        call = _report(item, "call", "passed", None, sections, case.seconds)
    return [_report(item, "setup", "passed"), call, _report(item, "teardown", "passed")]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("vm") is not None and not in_guest() and vm_tier_disabled():
        pytest.skip("HOSTDEV_VM=off: VM tier disabled")  # host=True tests; the others never set up here


def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if in_guest() or not runs_in_guest(item):
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in _host_reports(item):
        item.ihook.pytest_runtest_logreport(report=report)
    # This item never went through setup, but collectors set up by the host-run items before
    # it are still on the setup stack: tear down what the next item does not share, as the
    # normal protocol would, or the next non-VM item finds a stack that is not its own.
    item.session._setupstate.teardown_exact(nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
