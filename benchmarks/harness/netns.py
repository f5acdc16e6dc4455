"""Throwaway named network namespaces (``hdb-<random>-<role>``), always removed.

``HDB_NETNS_TAG=T`` names them ``hdb-T-<random>-<role>``: a caller that runs the benchmarks
(the harness' own tests) tells its run's namespaces from those of runs beside it by the tag,
never by comparing the machine's list before and after.

Named (under /run/netns) because the peers address namespaces by name: ``ip -n NAME`` and
pyroute2's ``IPRoute(netns=NAME)``. Removal happens on normal exit, on exceptions, on Ctrl-C and
on SIGTERM/SIGHUP (turned into an exception so every ``finally`` runs).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, Iterator, Sequence

PREFIX = "hdb-"
RUN_TAG_ENV = "HDB_NETNS_TAG"


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM/SIGHUP so that cleanup code runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


_INSTALLED_IN: list[int] = []  # pid of the process that installed the handlers


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    if os.getpid() not in _INSTALLED_IN:
        # A forked child (pyroute2 forks to open a socket in a netns) inherits this handler and
        # a copy of our whole stack: unwinding there would run our cleanup and delete the
        # namespaces the parent is still using. Die the way the default action would.
        os._exit(128 + signum)
    raise Terminated(signum)


def install_termination_handlers() -> None:
    _INSTALLED_IN[:] = [os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_terminated)


def ip(*args: str, input_text: str | None = None) -> str:
    """Run ``ip ARGS`` for fixture work; its stderr becomes the error text on failure."""
    done = subprocess.run(["ip", *args], input=input_text, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM/SIGHUP until the block is done, then act on the first that came.

    Cleanup interrupted half way would leave namespaces behind; a signal during it is remembered
    and re-delivered afterwards. Outside the main thread (no handlers there) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def remember(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous: dict[int, Any] = {sig: signal.signal(sig, remember) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


class ThrowawayNamespaces:
    """``with ThrowawayNamespaces(["host", "pod"]) as ns: ns.name("pod")``"""

    def __init__(self, roles: Sequence[str]) -> None:
        run_tag = os.environ.get(RUN_TAG_ENV)
        prefix = f"{PREFIX}{run_tag}-" if run_tag else PREFIX
        tag = secrets.token_hex(4)
        self.names = {role: f"{prefix}{tag}-{role}" for role in roles}
        self._created: list[str] = []
        self._owner = os.getpid()

    def name(self, role: str) -> str:
        return self.names[role]

    def __enter__(self) -> ThrowawayNamespaces:
        try:
            for name in self.names.values():
                with signals_deferred():  # created and remembered, or neither
                    ip("netns", "add", name)
                    self._created.append(name)
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.remove()

    def remove(self) -> None:
        """Delete every namespace we created; a veth inside dies with its namespace.

        Only in the process that created them: a forked child unwinding a copy of our stack
        (Ctrl-C reaches the whole process group) must not pull them from under the parent.
        """
        if os.getpid() != self._owner:
            return
        with signals_deferred():
            while self._created:
                name = self._created.pop()
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
