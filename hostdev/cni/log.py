"""Plugin logging: one line per step, with the container ID and device, never on stdout.

stdout belongs to the CNI result. Lines go to stderr (the runtime captures it) and, when a
``logFile`` is configured, are appended there too. Deliberately not the ``logging`` module:
configuring it costs more start-up time than the whole of this.

The log file is opened once, as root, on a path the configuration chose within the node's log
directory (see config.py): so it is opened without following a symlink and without blocking (a
FIFO with nobody reading would otherwise hang the plugin while it holds a device lock), and kept
only if it is a regular file of ours with one link (a hard link could lead anywhere), mode 0600.
Anything else is not written, said once on stderr; a broken log never fails the attachment.
"""

from __future__ import annotations

import os
import sys
import time

LEVELS = {"error": 0, "warn": 1, "info": 2, "debug": 3}
_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_UNOPENED = -2
_UNUSABLE = -1


class Log:
    __slots__ = ("threshold", "path", "context", "_fd")

    def __init__(self, level: str = "warn", path: str | None = None, context: str = "") -> None:
        self.threshold = LEVELS.get(level, 1)
        self.path = path
        self.context = context
        self._fd = _UNOPENED if path else _UNUSABLE

    def error(self, msg: str) -> None:
        self._emit(0, "ERROR", msg)

    def warn(self, msg: str) -> None:
        self._emit(1, "WARN", msg)

    def info(self, msg: str) -> None:
        self._emit(2, "INFO", msg)

    def debug(self, msg: str) -> None:
        self._emit(3, "DEBUG", msg)

    def _emit(self, level: int, name: str, msg: str) -> None:
        if level > self.threshold:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        line = f"{stamp} amd-host-device[{os.getpid()}] {name} {self.context}{msg}\n"
        _to_stderr(line)
        if self._fd == _UNOPENED:
            self._fd = self._open()
        if self._fd >= 0:
            try:
                os.write(self._fd, line.encode("utf-8", "backslashreplace"))
            except OSError:
                pass  # a full disk or a vanished file must never fail the attachment

    def _open(self) -> int:
        assert self.path is not None
        try:
            fd = os.open(self.path, _LOG_FLAGS, 0o600)
        except OSError as exc:
            _to_stderr(f"amd-host-device: log file {self.path} not written: {_why(exc)}\n")
            return _UNUSABLE
        try:
            st = os.fstat(fd)
            problem = _file_problem(st)
            if problem is None and st.st_mode & 0o777 != 0o600:
                os.fchmod(fd, 0o600)
        except OSError as exc:
            problem = exc.strerror or str(exc)
        if problem is not None:
            os.close(fd)
            _to_stderr(f"amd-host-device: log file {self.path} not written: {problem}\n")
            return _UNUSABLE
        return fd


def _file_problem(st: os.stat_result) -> str | None:
    import stat

    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_nlink != 1:
        return f"it has {st.st_nlink} links (a hard link may lead anywhere)"
    if st.st_uid != os.geteuid():
        return f"it is owned by uid {st.st_uid}"
    return None


def _why(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "it is a symlink"
    if exc.errno == errno.ENXIO:
        return "it is a FIFO or socket nobody reads"
    return exc.strerror or str(exc)


def _to_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
