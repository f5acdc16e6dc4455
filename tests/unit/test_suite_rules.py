"""The suite's own rules (tests/suite, tests/README.md), checked on a throwaway pytest run each:
CI=true turns every skip into a failure and refuses whole-tier switches, the summary counts per
tier, and the hypothesis seed follows the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.suite import confinement
from tests.suite.determinism import seed_of, tree_digest
from tests.suite.tiers import ci_problems

REPO = Path(__file__).resolve().parents[2]
SAMPLE = """
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="GNU time is not installed")
def test_needs_a_tool():
    pass

def test_gives_up():
    pytest.skip("no Go host-device")

@pytest.mark.vm(host=True)
def test_boots():
    pass
"""


def _run_sample(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(SAMPLE))
    plugins = ["-p", "tests.suite.determinism", "-p", "tests.suite.tiers", "-p", "tests.vm.conftest"]
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "HOSTDEV_VM", "HOSTDEV_PLUGIN")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-o", "markers=vm", *plugins, "test_sample.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**base, "PYTHONPATH": str(REPO), "HOSTDEV_VM": "off", **env},
    )  # fmt: skip


def test_developers_see_skips_as_skips(tmp_path: Path) -> None:
    done = _run_sample(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "per tier: unit: 1 passed, 2 skipped; kernel: none; e2e: none; vm: 1 skipped" in done.stdout
    assert "GNU time is not installed" in done.stdout and "HOSTDEV_VM=off" in done.stdout


def test_in_ci_every_skip_is_a_failure_that_says_why(tmp_path: Path) -> None:
    done = _run_sample(tmp_path, CI="true", HOSTDEV_VM="")
    if os.geteuid() != 0:  # CI refuses to start at all (next test); nothing to count then
        assert done.returncode == 4 and "not root" in done.stderr
        return
    assert done.returncode == 1, done.stdout
    # A skip in setup (skipif) fails the setup: pytest calls that an error.
    assert "per tier: unit: 1 passed, 1 failed, 1 error; kernel: none; e2e: none; vm: 1 passed" in done.stdout
    assert "1 failed, 2 passed, 1 error" in done.stdout
    assert done.stdout.count("CI=true: a skip is a failure") == 2
    assert "GNU time is not installed" in done.stdout and "no Go host-device" in done.stdout


@pytest.mark.parametrize(
    ("env", "euid", "named"),
    [
        ({"HOSTDEV_VM": "off"}, 0, "HOSTDEV_VM=off"),
        ({"HOSTDEV_VM": "OFF"}, 0, "HOSTDEV_VM=off"),
        ({"HOSTDEV_PLUGIN": "/opt/cni/bin/amd-host-device"}, 0, "HOSTDEV_PLUGIN"),
        ({}, 1000, "not root"),
    ],
)
def test_ci_refuses_whole_tier_switches_up_front(env: dict[str, str], euid: int, named: str) -> None:
    (problem,) = ci_problems(env, euid)
    assert named in problem
    assert ci_problems({"HOSTDEV_VM": "on"}, 0) == []


def test_ci_run_with_a_tier_switched_off_stops_before_any_test(tmp_path: Path) -> None:
    done = _run_sample(tmp_path, CI="true")
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert "CI=true runs every tier" in done.stderr and "HOSTDEV_VM=off" in done.stderr
    assert "test_runs" not in done.stdout


def test_ci_seed_is_the_trees_and_printed(tmp_path: Path) -> None:
    done = _run_sample(tmp_path, CI="true", HOSTDEV_VM="")
    digest = tree_digest()
    assert digest.startswith("git:") and len(digest) == 44
    assert f"hypothesis profile 'ci', seed {seed_of(digest)} (tree {digest})" in done.stdout or os.geteuid() != 0


PROPERTY_SAMPLE = """
import os
from hypothesis import given, settings, strategies as st

@given(st.integers(), st.text())
def test_draws(number, text):
    with open(os.environ["DRAWN"], "a") as f:
        f.write(repr((number, text)) + "\\n")

def test_profile():
    print("settings:", settings.default.deadline, settings.default.database)
"""


def _run_property(tmp_path: Path, run: str, *args: str, **env: str) -> tuple[list[str], str]:
    """The examples the sample property drew in one pytest run (determinism plugin only), and
    the run's output."""
    (tmp_path / "test_property.py").write_text(textwrap.dedent(PROPERTY_SAMPLE))
    drawn = tmp_path / f"drawn-{run}"
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "HOSTDEV_VM", "HOSTDEV_PLUGIN")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-p", "tests.suite.determinism", *args, "test_property.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**base, "PYTHONPATH": str(REPO), "DRAWN": str(drawn), **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return drawn.read_text().splitlines(), done.stdout


def test_ci_draws_the_same_examples_every_run_and_another_seed_draws_others(tmp_path: Path) -> None:
    first, out = _run_property(tmp_path, "ci-1", CI="true")
    again, _ = _run_property(tmp_path, "ci-2", CI="true")
    assert len(first) >= 50 and first == again  # a CI verdict is reproducible
    assert "settings: None None" in out  # no deadline, no example database in CI
    other, out = _run_property(tmp_path, "seed-7", "--hypothesis-seed=7", CI="true")
    assert "hypothesis profile 'ci', seed 7 " in out and other != first  # an explicit seed wins


def test_developers_runs_draw_new_examples_each_time(tmp_path: Path) -> None:
    first, out = _run_property(tmp_path, "dev-1")
    again, _ = _run_property(tmp_path, "dev-2")
    assert "hypothesis profile 'dev', random seeds" in out
    assert len(first) >= 50 and first != again


def test_the_seed_without_git_is_a_digest_of_the_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "junk").write_text("not source\n")
    first = tree_digest(tmp_path)
    assert first.startswith("files:")
    (tmp_path / ".venv" / "junk").write_text("changed, still not source\n")
    assert tree_digest(tmp_path) == first
    (tmp_path / "a.py").write_text("x = 2\n")
    assert tree_digest(tmp_path) != first


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "scripts" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def _requirement_closure(name: str, extras: frozenset[str]) -> set[str]:
    """``name`` and everything it requires with ``extras``, as installed here (canonical names)."""
    found: set[str] = set()
    todo = [(name, extras)]
    while todo:
        current, wanted = todo.pop()
        if canonicalize_name(current) in found:
            continue
        found.add(canonicalize_name(current))
        for text in metadata.requires(current) or []:
            requirement = Requirement(text)
            environments = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found


def test_every_test_and_bench_dependency_is_pinned_and_installed_as_pinned() -> None:
    pins = _pins()
    needed = _requirement_closure("hostdev", frozenset({"dev", "bench"})) - {"hostdev"}
    assert needed - set(pins) == set(), "add these to scripts/constraints.txt"
    for name in needed:
        assert metadata.version(name) == pins[name], f"{name}: installed {metadata.version(name)}, pinned {pins[name]}"
    assert {"pytest", "hypothesis", "mypy"} <= needed


# Self-contained: what the suite reads is in the clone. A path built from the clone's parent would
# pass where the clone has neighbours and fail for anyone who clones it alone.
OUTSIDE_THE_CLONE = ("REPO.parent", "parents[3]", "parents[4]")


def test_nothing_in_the_suite_or_the_benchmarks_reads_outside_the_clone() -> None:
    found = []
    for top in ("tests", "benchmarks", "scripts"):
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix not in (".py", ".sh") or "__pycache__" in path.parts:
                continue
            if path in (Path(__file__), Path(confinement.__file__)):  # the rule's own words
                continue
            text = path.read_text(errors="replace")
            found += [f"{path.relative_to(REPO)}: {needle}" for needle in OUTSIDE_THE_CLONE if needle in text]
    assert found == []


def stand_in_clone(tmp_path: Path) -> Path:
    """A clone with neighbours, as on a developer's machine, in a temp directory of the test's own."""
    machine = tmp_path / "machine"
    clone = machine / "project"
    (clone / "tests").mkdir(parents=True)
    (machine / "references" / "golden").mkdir(parents=True)
    (machine / "notes.md").write_text("a neighbour")
    (machine / ".tool-cache").mkdir()
    (machine / "interpreter" / "bin").mkdir(parents=True)
    return clone


def test_the_neighbours_of_the_clone_are_watched_but_not_the_clone_tool_state_or_the_interpreter(tmp_path: Path) -> None:
    clone = stand_in_clone(tmp_path)
    machine = clone.parent
    watched = confinement.watched_beside(clone, keep=[str(machine / "interpreter" / "bin")])
    assert watched == (str(machine / "notes.md"), str(machine / "references"))
    # A clone right in a kept directory (the temp directory) has no neighbours of its own.
    assert confinement.watched_beside(clone, keep=[str(machine)]) == ()


def test_a_path_beside_the_clone_is_recognised_however_it_is_spelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clone = stand_in_clone(tmp_path)
    references = clone.parent / "references"
    watched = confinement.watched_beside(clone, keep=[])
    monkeypatch.chdir(clone / "tests")
    for spelled in (references / "design.md", str(references), os.fsencode(references / "golden"), "../../references/seed", f"{clone}/../notes.md"):
        assert confinement.beside_the_clone("open", (spelled, "r", 0), watched) is not None, spelled
        assert confinement.beside_the_clone("os.listdir", (spelled,), watched) is not None, spelled
    for elsewhere in (clone / "tests" / "data", "/tmp/references", f"{clone.parent}/references-not", "data/references", 3):
        assert confinement.beside_the_clone("open", (elsewhere, "r", 0), watched) is None, elsewhere
    assert confinement.beside_the_clone("os.chmod", (str(references), 0o600), watched) is None  # not a read


def test_a_test_that_reads_beside_the_clone_fails(tmp_path: Path) -> None:
    # The reading test runs in its own pytest with this suite's plugin, confined to a stand-in clone
    # (HOSTDEV_CONFINED_CLONE): what fails it is the attempt, whether or not the file exists.
    clone = stand_in_clone(tmp_path)
    (clone / "tests" / "test_reads.py").write_text(textwrap.dedent(f"""
        def test_reads_a_neighbours_file():
            try:
                open({str(clone.parent / "references" / "golden" / "no-such-capture")!r}).close()
            except OSError:
                pass

        def test_reads_its_own_data():
            open({str(REPO / "pyproject.toml")!r}).close()
    """))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.suite.confinement", "-q", str(clone / "tests" / "test_reads.py")],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**env, "HOSTDEV_CONFINED_CLONE": str(clone)},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # Both calls pass; the reading one errors at teardown, naming what it read.
    assert "2 passed, 1 error" in done.stdout, done.stdout
    assert "ERROR at teardown of test_reads_a_neighbours_file" in done.stdout and "test_reads_its_own_data" not in done.stdout, done.stdout
    assert "read beside the clone" in done.stdout and "no-such-capture" in done.stdout, done.stdout


def test_bootstrap_installs_the_venv_module_and_hides_no_failed_install() -> None:
    script = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert "python3-venv" in script  # stock Debian's python3 has no venv module
    for line in script.splitlines():
        if "|| true" in line:  # allowed only where no install can fail unseen
            assert "install" not in line and "pip" not in line and "apt" not in line, line


def _collected(marker: str, *paths: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "-m", marker, *paths],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "CI"},
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_e2e_and_kernel_markers_follow_the_directory() -> None:
    # `-m e2e` / `-m kernel` select a tier whatever a module declares (tests/suite/tiers.py).
    e2e, kernel = "tests/e2e/test_demo.py", "tests/kernel/test_bootstrap.py"
    assert _collected("e2e", e2e, kernel) == ["tests/e2e/test_demo.py::test_demo_reproduces_seed_verification_and_shows_the_vnic_nad_with_ipam"]
    kernel_tier = _collected("kernel", e2e, kernel)
    assert kernel_tier and all(nodeid.startswith(kernel) for nodeid in kernel_tier)
    assert _collected("not e2e and not kernel", e2e, kernel) == []
