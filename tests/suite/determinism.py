"""Randomness per kind of run: reproducible in CI, exploring on developers' machines.

``CI=true``: profile ``ci`` with one seed for every property test, derived from the source
tree (``git rev-parse HEAD^{tree}``, or a digest of the files when there is no git), printed in
the pytest header. The same commit therefore generates the same examples on every machine and
every run, and a new commit explores new ones. No example database (a leftover ``.hypothesis/``
must not change a verdict), no deadlines and no ``too_slow`` health check (both measure the
machine's load, not the code). Reproduce a CI failure anywhere with ``CI=true`` on the same
commit, or ``--hypothesis-seed=<seed>``.

Developers' runs: profile ``dev``, random seeds and the example database (a failure found
once is replayed until fixed). Explicit ``--hypothesis-profile``/``--hypothesis-seed`` win.

Tests that draw their own random numbers take :func:`run_seed` (same rule) and name it when
they fail.

Inside a VM guest hypothesis is not loaded (see tests/vm/plugin.py); nothing happens there.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HYPOTHESIS_PLUGIN = "hypothesispytest"
# Not part of the source: environments, caches and outputs of earlier runs.
_NOT_SOURCE = frozenset({".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", "build", "dist"})

_seed_stash = pytest.StashKey[tuple[str, str]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def tree_digest(root: Path = REPO) -> str:
    """``git:<tree id>`` of HEAD, or ``files:<sha256>`` of the source files without git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD^{tree}"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return "git:" + done.stdout.strip()
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _NOT_SOURCE and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.endswith(".pyc") or not path.is_file():
                continue
            digest.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return "files:" + digest.hexdigest()


def seed_of(digest: str) -> int:
    return int(hashlib.sha256(digest.encode()).hexdigest()[:8], 16)


def run_seed() -> int:
    """The seed for a test's own random choices (not hypothesis'): the tree's in CI, so a CI
    verdict is reproducible; a fresh one otherwise. Put it in the failure message."""
    if in_ci():
        return seed_of(tree_digest())
    return random.randrange(1 << 32)


def _register_profiles() -> None:
    from hypothesis import HealthCheck, settings

    # derandomize=False in both: hypothesis' own CI profile (which it picks when it sees CI set)
    # derandomizes by test function alone, which would ignore the seed and never change.
    # Developers keep a deadline (it flags an accidental quadratic codec early), generous enough
    # for a busy laptop; tests that read files or reach the kernel set deadline=None themselves.
    settings.register_profile("dev", derandomize=False, print_blob=True, deadline=timedelta(milliseconds=500))
    settings.register_profile(
        "ci",
        derandomize=False,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


@pytest.hookimpl(tryfirst=True)  # before hypothesis' own pytest_configure reads the options
def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin(HYPOTHESIS_PLUGIN):
        return
    _register_profiles()
    if not in_ci():
        if config.getoption("hypothesis_profile") is None:
            config.option.hypothesis_profile = "dev"
        return
    if config.getoption("hypothesis_profile") is None:
        config.option.hypothesis_profile = "ci"
    digest = tree_digest()
    if config.getoption("hypothesis_seed") is None:
        config.option.hypothesis_seed = str(seed_of(digest))
    config.stash[_seed_stash] = (str(config.getoption("hypothesis_seed")), digest)


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.pluginmanager.hasplugin(HYPOTHESIS_PLUGIN):
        return None
    if _seed_stash not in config.stash:
        return f"hostdev: hypothesis profile {config.getoption('hypothesis_profile')!r}, random seeds (CI=true for CI's)"
    seed, digest = config.stash[_seed_stash]
    return (
        f"hostdev: hypothesis profile {config.getoption('hypothesis_profile')!r}, seed {seed} "
        f"(tree {digest}); reproduce with --hypothesis-seed={seed}"
    )
