"""The floor: hostdev's own kernel requests, replayed from pre-encoded bytes on bare sockets.

The requests are recorded from one hostdev run (so they are identical by construction, and stay
identical when hostdev changes) and replayed with nothing but: patch the sequence number, send,
walk reply headers until the ACK/DONE carrying that number, fail on a non-zero error. Nothing is
decoded and nothing decided, so floor = kernel + the least user-space work a Python program can do.
What hostdev adds above it is its own cost.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.harness.clock import Clock, TaggingClock
from benchmarks.move.impl_hostdev import HostdevImpl
from benchmarks.move.standin import StandIn
from hostdev._netlink.rtnl_tables import (
    IFF_UP,
    IFINFOMSG,
    IFLA,
    MESSAGE_NAMES,
    RTM_NEWLINK,
)
from hostdev._netlink.wire import (
    HEADER,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
    NETLINK_ROUTE,
    NLM_F_DUMP,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HDRLEN,
    SOL_NETLINK,
    iter_attrs,
)
from hostdev.netns import NetNS, entered

_SEQ = struct.Struct("=I")
_ERRNO = struct.Struct("=i")
_NET_NS_FD = IFLA["NET_NS_FD"]
RECV_BUFFER = 64 * 1024


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    side: str  # "host" or "pod": the namespace of the socket it went out on
    data: bytes

    @property
    def label(self) -> str:
        return describe_request(self.data)


class _RecordingSocket:
    """Stands in for a NetlinkSocket's kernel socket and logs every datagram sent."""

    def __init__(self, real: socket.socket, side: str, log: list[RecordedRequest]) -> None:
        self._real = real
        self._side = side
        self._log = log

    def send(self, data: bytes) -> int:
        self._log.append(RecordedRequest(self._side, bytes(data)))
        return self._real.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def record_hostdev(impl: HostdevImpl) -> list[tuple[str, list[RecordedRequest]]]:
    """One run of ``impl`` with its sockets tapped: the requests it sent, grouped by operation."""
    log: list[RecordedRequest] = []
    # NetlinkSocket keeps its kernel socket in ``_sock``; if that ever changes this fails loudly.
    sockets = {"host": impl.host.sock, "pod": impl.pod.sock}
    originals = {side: getattr(sock, "_sock") for side, sock in sockets.items()}
    clock: TaggingClock[RecordedRequest] = TaggingClock(log)
    try:
        for side, sock in sockets.items():
            setattr(sock, "_sock", _RecordingSocket(originals[side], side, log))
        clock.start()
        impl.run(clock)
    finally:
        for side, sock in sockets.items():
            setattr(sock, "_sock", originals[side])
    recorded = clock.laps()
    if not recorded or any(not requests for _op, requests in recorded):
        raise RuntimeError(f"recording hostdev's requests failed: {[(op, len(r)) for op, r in recorded]}")
    return recorded


def describe_request(data: bytes) -> str:
    """``RTM_NEWLINK move`` / ``RTM_GETADDR dump`` / …: enough to tell requests apart in a table."""
    _length, kind, flags, _seq, _pid = HEADER.unpack_from(data)
    name = MESSAGE_NAMES.get(kind, f"type {kind}")
    if flags & NLM_F_DUMP == NLM_F_DUMP:
        return f"{name} dump"
    if kind == RTM_NEWLINK:
        _family, _type, _index, ifi_flags, change = IFINFOMSG.unpack_from(data, NLMSG_HDRLEN)
        attrs = {number for number, _s, _e in iter_attrs(data, NLMSG_HDRLEN + IFINFOMSG.size, len(data))}
        if _NET_NS_FD in attrs:
            return f"{name} netns move"
        if change & IFF_UP:
            return f"{name} {'up' if ifi_flags & IFF_UP else 'down'}"
        return f"{name} set"
    return name


def rtnl_socket_in(netns: NetNS) -> socket.socket:
    """A bare rtnetlink socket in ``netns`` with the options hostdev's sockets have (the kernel's
    work differs with them: strict checking filters dumps in the kernel)."""
    with entered(netns):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    sock.bind((0, 0))
    return sock


class FloorRequestFailed(RuntimeError):
    pass


class FloorImpl:
    name = "floor"

    def __init__(self, nic: StandIn, recorded: list[tuple[str, list[RecordedRequest]]]) -> None:
        self.recorded = recorded
        self._sockets = {"host": rtnl_socket_in(nic.host_ns), "pod": rtnl_socket_in(nic.pod_ns)}
        self._plan = [
            (op, [(self._sockets[r.side], bytearray(r.data)) for r in requests]) for op, requests in recorded
        ]
        self._buf = bytearray(RECV_BUFFER)
        self._seq = 0

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()

    def run(self, clock: Clock) -> None:
        buf = self._buf
        seq = self._seq
        for op, requests in self._plan:
            for sock, message in requests:
                seq += 1
                _SEQ.pack_into(message, 8, seq)
                sock.send(message)
                self._await_ack(sock, buf, seq)
            clock.lap(op)
        self._seq = seq

    def run_timed_requests(self) -> list[tuple[int, int, int]]:
        """One sequence, timing each request: ``(start_ns, wall_ns, thread_cpu_ns)``.

        ``start_ns`` is CLOCK_MONOTONIC (``perf_counter_ns`` on Linux), the clock of a tracefs
        buffer set to ``mono``. CPU time counts what this thread ran, in user space and in the
        kernel; wall minus CPU is time spent waiting (grace periods, locks, other CPUs' work).
        """
        buf = self._buf
        seq = self._seq
        timings: list[tuple[int, int, int]] = []
        for _op, requests in self._plan:
            for sock, message in requests:
                seq += 1
                _SEQ.pack_into(message, 8, seq)
                cpu0 = time.thread_time_ns()
                t0 = time.perf_counter_ns()
                sock.send(message)
                self._await_ack(sock, buf, seq)
                t1 = time.perf_counter_ns()
                cpu1 = time.thread_time_ns()
                timings.append((t0, t1 - t0, cpu1 - cpu0))
        self._seq = seq
        return timings

    @staticmethod
    def _await_ack(sock: socket.socket, buf: bytearray, seq: int) -> None:
        unpack = HEADER.unpack_from
        while True:
            size = sock.recv_into(buf)
            offset = 0
            while offset < size:
                length, kind, _flags, reply_seq, _pid = unpack(buf, offset)
                if length < NLMSG_HDRLEN:
                    raise FloorRequestFailed(f"malformed reply to seq {seq}: nlmsg_len {length}")
                if reply_seq == seq and (kind == NLMSG_ERROR or kind == NLMSG_DONE):
                    error = _ERRNO.unpack_from(buf, offset + NLMSG_HDRLEN)[0] if length > NLMSG_HDRLEN else 0
                    if error:
                        raise FloorRequestFailed(f"request seq {seq} refused: errno {-error}")
                    return
                offset += (length + 3) & ~3
