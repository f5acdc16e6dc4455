"""A minimal writer for the cpio "newc" format the kernel unpacks as an initramfs."""

from __future__ import annotations

import stat
from typing import BinaryIO

_TRAILER = "TRAILER!!!"


class CpioWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._inode = 1
        self._written = 0

    def _pad(self) -> None:
        remainder = self._written % 4
        if remainder:
            self._emit(b"\0" * (4 - remainder))

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)

    def _entry(self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (
            self._inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0,
        )  # fmt: skip
        self._inode += 1
        self._emit(b"070701" + b"".join(b"%08X" % f for f in fields))
        self._emit(encoded)
        self._pad()
        self._emit(data)
        self._pad()

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755, b"")

    def file(self, name: str, data: bytes, executable: bool = False) -> None:
        self._entry(name, stat.S_IFREG | (0o755 if executable else 0o644), data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, b"", (major, minor))

    def close(self) -> None:
        self._entry(_TRAILER, 0, b"")
