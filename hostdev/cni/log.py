"""Plugin logging: one line per step, with the container ID and device, never on stdout.

stdout belongs to the CNI result. Lines go to stderr (the runtime captures it) and, when
``logFile`` is configured, are appended there too. Deliberately not the ``logging`` module:
configuring it costs more start-up time than the whole of this.
"""

from __future__ import annotations

import os
import sys
import time

LEVELS = {"error": 0, "warn": 1, "info": 2, "debug": 3}


class Log:
    __slots__ = ("threshold", "path", "context")

    def __init__(self, level: str = "warn", path: str | None = None, context: str = "") -> None:
        self.threshold = LEVELS.get(level, 1)
        self.path = path
        self.context = context

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
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        if self.path:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
                try:
                    os.write(fd, line.encode("utf-8", "backslashreplace"))
                finally:
                    os.close(fd)
            except OSError:
                pass  # a broken log file must never fail the attachment
