"""Self-contained: nothing a test opens lies in the machine's references beside the clone.

This machine keeps the project's references in ``../shared`` next to the clone (golden captures,
the seed, design notes). A test that reads them passes here and fails for anyone who clones the
project alone, so the rule is checked where it can fail: an audit hook (PEP 578) sees every
``open``, ``os.listdir`` and ``os.scandir`` of the test process, and a test during which one of
them named a path in ``<clone>/../shared`` fails at teardown, naming the path. Reads done at
collection time fail the session. Child processes are not watched (they are the plugin, ``ip``
and the like, which take their paths from the test). ``tests/unit/test_suite_rules.py`` also
greps the sources for the ways such a path gets spelled.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCES = os.path.normpath(REPO.parent / "shared")
_WATCHED = frozenset({"open", "os.listdir", "os.scandir"})
_reads: list[str] = []


def in_the_references(event: str, args: Sequence[object]) -> str | None:
    """The path an audited ``event`` names if it lies in the references beside the clone."""
    if event not in _WATCHED or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return None  # a file descriptor, or an event we don't watch
    try:
        path = os.path.normpath(os.path.abspath(os.fsdecode(args[0])))
    except (OSError, ValueError):  # no current directory any more, an embedded NUL
        return None
    return path if path == REFERENCES or path.startswith(REFERENCES + os.sep) else None


def _watch(event: str, args: tuple[object, ...]) -> None:
    # Runs inside every audited call of the process: it must never raise.
    path = in_the_references(event, args)
    if path is not None:
        _reads.append(path)


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_watch)  # for the rest of the process: hooks can't be removed


@pytest.fixture(autouse=True)
def _nothing_read_beside_the_clone() -> Iterator[None]:
    start = len(_reads)
    yield
    if len(_reads) > start:
        read = sorted(set(_reads[start:]))
        pytest.fail(f"read outside the clone (a clone of the project alone has no {REFERENCES}): {read}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _reads and session.exitstatus == 0:
        print(f"\nread outside the clone during collection or set-up: {sorted(set(_reads))}", file=sys.stderr)
        session.exitstatus = 1
