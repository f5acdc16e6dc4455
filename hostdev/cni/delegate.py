"""Delegated plugins (SPEC.md section 4): find one in ``CNI_PATH`` and run it, bounded in time.

Only imported when a configuration delegates (an ``ipam`` section with a ``type``): the plain
ADD/DEL path never pays for it. It starts the plugin with ``os.posix_spawn`` and waits on its
pipes and a pidfd with ``select.poll`` — no ``subprocess`` (which imports ``threading``,
``selectors``, ``signal``/``enum``, ``locale`` and ``warnings``: several milliseconds of every
exec that needs none of it).

The delegate runs in a process group of its own, so a hang is ended with one ``killpg`` that
also takes whatever it started. Its stderr is copied to ours as it arrives (the spec wants it
there) and the last few KiB are kept to explain a failure that printed no error JSON.
"""

from __future__ import annotations

import os

from .errors import INTERNAL, INVALID_CONFIG, INVALID_ENVIRONMENT, TRY_AGAIN_LATER, CniError
from .names import plugin_name_problem, shorten

TYPE_CHECKING = False
if TYPE_CHECKING:
    from signal import SIGKILL, SIGPIPE, SIGXFSZ
    from typing import Mapping
else:  # the C module's plain ints: `signal` itself builds enums at import (costly)
    from _signal import SIGKILL, SIGPIPE, SIGXFSZ

MAX_OUTPUT = 1 << 20
"""A result is a few KiB; more than 1 MiB on stdout is not a result (and is not kept)."""

STDERR_TAIL = 4096
"""How much of a delegate's stderr is kept to quote in an error (all of it goes to ours)."""

_CHUNK = 65536
_EXEC_RETRIES = 5  # "text file busy": the binary is being replaced right now (an installer)
_S_IFMT, _S_IFREG = 0o170000, 0o100000


class Finished:
    """How a delegate ended: ``status`` as ``os.waitstatus_to_exitcode`` (negative: signal)."""

    __slots__ = ("status", "stdout", "stderr_tail")

    def __init__(self, status: int, stdout: bytes, stderr_tail: bytes) -> None:
        self.status = status
        self.stdout = stdout
        self.stderr_tail = stderr_tail


class TimedOut(Exception):
    """The delegate did not finish in time; it (and its process group) has been killed."""


def find_plugin(name: str, cni_path: tuple[str, ...], what: str) -> str:
    """The path of plugin ``name`` in the first ``CNI_PATH`` directory that has it (a regular,
    executable file; symlinks followed, as libcni does). ``what`` names the configuration key
    the name came from, for the error."""
    problem = plugin_name_problem(name, what)
    if problem is not None:  # the configuration parser refuses these already; never exec one
        raise CniError(INVALID_CONFIG, f"invalid {what}", f"{problem}: {shorten(name)}")
    if not cni_path:
        raise CniError(
            INVALID_ENVIRONMENT,
            "required environment variables missing: CNI_PATH",
            f"needed to find the plugin {name!r} named by {what}",
        )
    for directory in cni_path:
        candidate = os.path.join(directory, name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if st.st_mode & _S_IFMT == _S_IFREG and st.st_mode & 0o111:
            return candidate
    raise CniError(
        INVALID_CONFIG,
        f"plugin {name!r} named by {what} is not in CNI_PATH",
        "looked in " + ", ".join(cni_path),
    )


def run(path: str, stdin: bytes, environ: Mapping[str, str], timeout_s: float) -> Finished:
    """Run the plugin at ``path`` with ``environ`` and ``stdin``; wait at most ``timeout_s``.

    Raises :class:`TimedOut` (after killing its process group) when time runs out, ``OSError``
    when it cannot be started, and ``CniError`` when its stdout exceeds :data:`MAX_OUTPUT`.
    """
    import time

    deadline = time.monotonic() + timeout_s
    pid, to_child, from_stdout, from_stderr = _spawn(path, environ, deadline)
    try:
        stdout, tail, exited = _exchange(pid, stdin, to_child, from_stdout, from_stderr, deadline)
        status = _reap(pid, exited, deadline)
    except BaseException:
        _kill_group(pid)  # not reaped yet on any path that raises: the pid is still its own
        os.waitpid(pid, 0)
        raise
    return Finished(status, stdout, tail)


def _spawn(path: str, environ: Mapping[str, str], deadline: float) -> tuple[int, int, int, int]:
    import time

    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]
    (in_r, in_w), (out_r, out_w), (err_r, err_w) = pipes
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    try:
        for attempt in range(_EXEC_RETRIES + 1):
            try:
                # Its own process group (killed as one on timeout); SIGPIPE and SIGXFSZ back to
                # their defaults, which Python ignores and an exec would otherwise inherit.
                pid = os.posix_spawn(
                    path, [path], dict(environ), file_actions=actions, setpgroup=0, setsigdef=(SIGPIPE, SIGXFSZ)
                )
                break
            except OSError as exc:
                if exc.errno != 26 or attempt == _EXEC_RETRIES or time.monotonic() + 0.2 > deadline:  # ETXTBSY
                    raise
                time.sleep(0.2)
    except BaseException:
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    for fd in (in_r, out_w, err_w):  # the child's ends
        os.close(fd)
    for fd in (in_w, out_r, err_r):
        os.set_blocking(fd, False)
    return pid, in_w, out_r, err_r


def _exchange(
    pid: int, stdin: bytes, to_child: int, from_stdout: int, from_stderr: int, deadline: float
) -> tuple[bytes, bytes, bool]:
    """Feed stdin, collect stdout, copy stderr, until the child exits and its pipes are drained
    (or are at EOF). Returns (stdout, stderr tail, whether the exit was seen on the pidfd)."""
    import select
    import time

    poll = select.poll()
    pidfd = _pidfd(pid)
    pending = memoryview(stdin)
    stdout = bytearray()
    tail = bytearray()
    open_fds = {from_stdout, from_stderr}
    poll.register(from_stdout, select.POLLIN)
    poll.register(from_stderr, select.POLLIN)
    if pending:
        poll.register(to_child, select.POLLOUT)
    else:
        os.close(to_child)
        to_child = -1
    if pidfd >= 0:
        poll.register(pidfd, select.POLLIN)
    exited = False
    try:
        while not exited and (open_fds or pidfd >= 0):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimedOut()
            for fd, _events in poll.poll(remaining * 1000 + 1):
                if fd == pidfd:
                    exited = True
                elif fd == to_child:
                    try:
                        pending = pending[os.write(to_child, pending[:_CHUNK]) :]
                    except BrokenPipeError:
                        pending = pending[:0]  # it stopped reading: its answer will say why
                    if not pending:
                        poll.unregister(to_child)
                        os.close(to_child)
                        to_child = -1
                elif not _read(fd, stdout if fd == from_stdout else None, tail):
                    poll.unregister(fd)
                    open_fds.discard(fd)
        for fd in open_fds:  # exited: take what it wrote; a grandchild may hold the pipe open
            while _read(fd, stdout if fd == from_stdout else None, tail):
                pass
    finally:
        for fd in (to_child, pidfd, from_stdout, from_stderr):
            if fd >= 0:
                os.close(fd)
    return bytes(stdout), bytes(tail), exited


def _read(fd: int, keep: bytearray | None, tail: bytearray) -> bool:
    """One read from a child's pipe: False at EOF (or nothing more for now). stdout goes into
    ``keep``; stderr is copied to our stderr and its end kept in ``tail``."""
    try:
        data = os.read(fd, _CHUNK)
    except BlockingIOError:
        return False
    if not data:
        return False
    if keep is not None:
        keep += data
        if len(keep) > MAX_OUTPUT:
            raise CniError(INTERNAL, "delegated plugin wrote more than 1 MiB to stdout", "not a CNI result")
    else:
        _copy_to_stderr(data)
        tail += data
        del tail[:-STDERR_TAIL]
    return True


def _copy_to_stderr(data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(2, view) :]
    except OSError:
        pass  # our stderr is gone: the runtime stopped listening, nothing to tell it


def _pidfd(pid: int) -> int:
    """A pidfd that becomes readable when ``pid`` exits; -1 on kernels without pidfd_open (<5.3)."""
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return -1


def _reap(pid: int, exited: bool, deadline: float) -> int:
    import time

    if exited:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    delay = 0.001  # no pidfd (kernel < 5.3): its pipes are closed, so the exit is near
    while True:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            raise TimedOut()
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, SIGKILL)
    except ProcessLookupError:
        pass
