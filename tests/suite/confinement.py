"""Self-contained: nothing a test opens lies beside the clone.

A clone of the project alone has nothing next to it, but on a developer's machine the clone may sit
beside other material (notes, other checkouts, reference files). A test that reads any of it passes
there and fails for anyone who clones the project alone, so the rule is checked where it can fail:
an audit hook (PEP 578) sees every ``open``, ``os.listdir`` and ``os.scandir`` of the test process,
and a test during which one of them named a path beside the clone fails at teardown, naming the
path. Reads done at collection time fail the session. Child processes are not watched (they are the
plugin, ``ip`` and the like, which take their paths from the test).

"Beside the clone" is every entry of the clone's parent directory when the session starts, except:
- the clone itself;
- hidden entries: tool state, such as ``~/.cache`` when the clone lives in a home directory;
- whatever holds the interpreter or the temp directory.
A clone directly in the temp directory watches nothing: its neighbours there are every test's
scratch space. ``HOSTDEV_CONFINED_CLONE`` names another clone root: the tests of this module point
it at a stand-in, so that they never read beside the real clone themselves.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_WATCHED_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
_watched: tuple[str, ...] = ()
_reads: list[str] = []


def _interpreter_and_temp() -> tuple[str, ...]:
    return (sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir())


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + os.sep)


def watched_beside(clone: Path, keep: Iterable[str] | None = None) -> tuple[str, ...]:
    """The entries beside ``clone`` that a test must not read (see the module docstring); ``keep``:
    paths whose holders stay readable (default: the interpreter's prefixes and the temp directory)."""
    clone_path = os.path.normpath(os.path.abspath(clone))
    parent = os.path.dirname(clone_path)
    kept = [os.path.normpath(os.path.abspath(p)) for p in (_interpreter_and_temp() if keep is None else keep)]
    if parent in kept:
        return ()  # the clone sits right in a kept directory (the temp directory): nothing is its own
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return ()
    beside = (os.path.join(parent, name) for name in names if not name.startswith("."))
    return tuple(p for p in beside if p != clone_path and not any(_within(k, p) for k in kept))


def beside_the_clone(event: str, args: Sequence[object], watched: Sequence[str]) -> str | None:
    """The path an audited ``event`` names if it lies in one of the ``watched`` entries."""
    if event not in _WATCHED_EVENTS or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return None  # a file descriptor, or an event we don't watch
    try:
        path = os.path.normpath(os.path.abspath(os.fsdecode(args[0])))
    except (OSError, ValueError):  # no current directory any more, an embedded NUL
        return None
    return path if any(_within(path, entry) for entry in watched) else None


def _watch(event: str, args: tuple[object, ...]) -> None:
    # Runs inside every audited call of the process: it must never raise.
    path = beside_the_clone(event, args, _watched)
    if path is not None:
        _reads.append(path)


def pytest_configure(config: pytest.Config) -> None:
    global _watched
    _watched = watched_beside(Path(os.environ.get("HOSTDEV_CONFINED_CLONE") or REPO))
    sys.addaudithook(_watch)  # for the rest of the process: hooks can't be removed


@pytest.fixture(autouse=True)
def _nothing_read_beside_the_clone() -> Iterator[None]:
    start = len(_reads)
    yield
    if len(_reads) > start:
        read = sorted(set(_reads[start:]))
        pytest.fail(f"read beside the clone (a clone of the project alone has nothing there): {read}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _reads and session.exitstatus == 0:
        print(f"\nread beside the clone during collection or set-up: {sorted(set(_reads))}", file=sys.stderr)
        session.exitstatus = 1
