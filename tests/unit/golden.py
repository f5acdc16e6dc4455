"""Loader for the golden netlink captures in ``tests/data/golden/<kernel>/<name>.json``.

The captures are part of the repository (see ``tests/data/golden/README.md`` for how they were
made), so a clone runs every test. A missing directory or file raises :class:`GoldenMissing`
(an AssertionError, so the test using it fails: a test that silently skipped without them
would prove nothing).

    cap = load("6.1.0-57-amd64", "rdma_dev_show")
    for tx in cap.sent("NETLINK_RDMA"):
        answers = cap.answers_to(tx)          # the rx buffers on tx's socket up to its next send
    cap.opened()                              # [("/run/netns/pod", 4), ...] from the .strace
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

KERNELS = ("6.1.0-57-amd64", "6.12.117+deb13-amd64", "7.2.13+deb14-amd64")
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "golden"

_OPENAT = re.compile(r'openat\(AT_FDCWD, "((?:[^"\\]|\\.)*)", [^)]*\) = (\d+)')
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


class GoldenMissing(AssertionError):
    """The golden captures are not where they must be."""


def golden_dir() -> Path:
    if not GOLDEN_DIR.is_dir():
        raise GoldenMissing(f"golden captures not found at {GOLDEN_DIR}")
    return GOLDEN_DIR


def capture_names(kernel: str, prefix: str = "") -> list[str]:
    """Names (without extension) of the JSON captures of ``kernel`` that start with ``prefix``."""
    kdir = golden_dir() / kernel
    if not kdir.is_dir():
        raise GoldenMissing(f"no golden captures for kernel {kernel} at {kdir}")
    return sorted(p.stem for p in kdir.glob(f"{prefix}*.json"))


@dataclass(frozen=True)
class Nlmsg:
    """One netlink header as the capture tool decoded it (``error`` only for NLMSG_ERROR)."""

    length: int
    type: int
    flags: int
    seq: int
    pid: int
    error: int | None


@dataclass(frozen=True)
class Buffer:
    """One send or receive: ``data`` are the exact bytes."""

    position: int
    dir: str  # "tx" | "rx"
    syscall: str
    fd: int
    proto: str | None
    data: bytes
    nlmsgs: tuple[Nlmsg, ...]


@dataclass(frozen=True)
class Capture:
    kernel: str
    name: str
    source: str
    buffers: tuple[Buffer, ...]
    strace: str

    def sent(self, proto: str | None = None) -> list[Buffer]:
        return [b for b in self.buffers if b.dir == "tx" and (proto is None or b.proto == proto)]

    def received(self, proto: str | None = None) -> list[Buffer]:
        return [b for b in self.buffers if b.dir == "rx" and (proto is None or b.proto == proto)]

    def answers_to(self, tx: Buffer) -> list[Buffer]:
        """The buffers received on ``tx``'s socket after it, up to that socket's next send."""
        found: list[Buffer] = []
        for buf in self.buffers[tx.position + 1 :]:
            if buf.fd != tx.fd:
                continue
            if buf.dir == "tx":
                break
            found.append(buf)
        return found

    def opened(self) -> list[tuple[str, int]]:
        """``(path, fd)`` of every successful ``openat`` in the strace, in order."""
        return [(_unescape(m.group(1)), int(m.group(2))) for m in _OPENAT.finditer(self.strace)]


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@lru_cache(maxsize=None)
def load(kernel: str, name: str) -> Capture:
    base = golden_dir() / kernel / name
    json_path, strace_path = base.with_suffix(".json"), base.with_suffix(".strace")
    if not json_path.is_file():
        raise GoldenMissing(f"golden capture {json_path} is missing")
    raw = json.loads(json_path.read_text())
    buffers = tuple(
        Buffer(
            position=i,
            dir=m["dir"],
            syscall=m["syscall"],
            fd=int(m["fd"]),
            proto=m.get("proto"),
            data=bytes.fromhex(m["hex"]),
            nlmsgs=tuple(
                Nlmsg(n["len"], n["type"], n["flags"], n["seq"], n["pid"], n.get("error"))
                for n in m.get("nlmsgs", ())
            ),
        )
        for i, m in enumerate(raw["messages"])
    )
    strace = strace_path.read_text() if strace_path.is_file() else ""
    return Capture(kernel, name, raw.get("source", ""), buffers, strace)
