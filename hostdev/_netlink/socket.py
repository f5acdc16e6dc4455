"""Netlink socket I/O: one request, its replies, its ACK. The only module here that does I/O.

Every socket turns on extended ack and capped ack (and strict checking for rtnetlink); every
request asks for an ACK and replies are matched by sequence number, so a reply left over from an
earlier, abandoned request can never be taken for the answer to this one. One receive buffer
per socket is reused for every datagram; replies are decoded straight out of it by the caller's
decoder, so nothing is copied that is not kept.
"""

from __future__ import annotations

import _socket  # the C module: socket.py would add selectors, enum and array, unused here
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Self, TypeVar
    T = TypeVar("T")
    Decoder = Callable[[memoryview, MessageHeader], T]

from hostdev._netlink.attrs import Request as Request
from hostdev._netlink.wire import (
    ATTR_HEADER,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
    NETLINK_ROUTE,
    NLA_TYPE_MASK,
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HDRLEN,
    NLMSG_NOOP,
    NLMSG_OVERRUN,
    SOL_NETLINK,
    MessageHeader,
    align4,
    encode_message,
    iter_messages,
    parse_ack,
)
from hostdev.errors import DecodeError, DumpInterrupted, NetlinkError


RECV_BUFFER = 64 * 1024  # the kernel sizes dump datagrams to at most 32 KiB; one link can be larger
DUMP_RETRIES = 8


class Closing:
    """``with x:`` closes ``x`` at the end of the block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NetlinkSocket(Closing):
    """A netlink socket of one protocol, bound to the netns it was created in.

    Not thread-safe: give each thread its own (they are cheap).
    """

    def __init__(self, protocol: int, groups: int = 0) -> None:
        sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, protocol)
        try:
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            if protocol == NETLINK_ROUTE:
                sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            sock.bind((0, groups))  # groups: the multicast groups whose events it receives
        except BaseException:
            sock.close()
            raise
        self.protocol = protocol
        self.port: int = sock.getsockname()[0]
        self._sock = sock
        self._seq = 0
        self._buf = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buf)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def wait_for_event(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for an event of the groups this socket joined, and drop it
        (the caller looks at the kernel's state afresh instead); True if one came."""
        import errno
        import select

        readable, _, _ = select.select([self._sock], [], [], max(timeout_s, 0.0))
        if not readable:
            return False
        try:
            self._sock.recv_into(self._buf)
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:  # ENOBUFS: events were dropped; looking again covers them
                raise
        return True

    def request(self, msg_type: int, body: bytes, what: Request, *, flags: int = 0, decode: Decoder[T] | None = None) -> list[T]:
        """Send one request and collect its replies (decoded by ``decode``) up to the ACK."""
        self._seq = seq = (self._seq + 1) & 0xFFFFFFFF or 1
        data = encode_message(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, body)
        self._sock.send(data)
        results, _interrupted = self._collect(seq, data, what, decode)
        return results

    def dump(self, msg_type: int, body: bytes, what: Request, decode: Decoder[T]) -> list[T]:
        """A dump; restarted from scratch when the kernel flags it inconsistent (``NLM_F_DUMP_INTR``)."""
        for _attempt in range(DUMP_RETRIES):
            self._seq = seq = (self._seq + 1) & 0xFFFFFFFF or 1
            data = encode_message(msg_type, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq, body)
            self._sock.send(data)
            results, interrupted = self._collect(seq, data, what, decode)
            if not interrupted:
                return results
        raise DumpInterrupted(f"{what.name}: the dump changed under us {DUMP_RETRIES} times in a row")

    def _collect(self, seq: int, sent: bytes, what: Request, decode: Decoder[T] | None) -> tuple[list[T], bool]:
        results: list[T] = []
        interrupted = False
        failure: Exception | None = None
        view = self._view
        while True:
            size = self._sock.recv_into(self._buf, 0, _socket.MSG_TRUNC)
            if size > len(self._buf):
                raise DecodeError(f"{what.name}: a {size}-byte datagram does not fit the {len(self._buf)}-byte buffer")
            for msg in iter_messages(view, size):
                if msg.seq != seq:
                    continue  # a late reply to an earlier request: never ours
                if msg.flags & NLM_F_DUMP_INTR:
                    interrupted = True
                if msg.type == NLMSG_ERROR or msg.type == NLMSG_DONE:
                    if failure is not None:
                        raise failure
                    ack = parse_ack(view, msg)
                    if ack.error:
                        raise NetlinkError(
                            ack.error,
                            what.name,
                            ack.extack_message,
                            _attribute_at(sent, ack.bad_attr_offset, what),
                            _missing(ack.missing_type, what),
                        )
                    return results, interrupted
                if msg.type in (NLMSG_NOOP, NLMSG_OVERRUN):
                    continue
                if decode is not None and failure is None:
                    try:
                        results.append(decode(view, msg))
                    except Exception as exc:
                        # Read on to the end of this reply before raising: a dump left half-read
                        # makes the kernel refuse the socket's next dump with EBUSY.
                        failure = exc


def _missing(number: int | None, what: Request) -> str | None:
    """Name the attribute the kernel says the request lacks (NLMSGERR_ATTR_MISS_TYPE)."""
    if number is None:
        return None
    return what.table.describe(number) if what.table is not None else f"<{number}>"


def _attribute_at(sent: bytes, offset: int | None, what: Request) -> str | None:
    """Name the request attribute that contains byte ``offset`` (NLMSGERR_ATTR_OFFS)."""
    if offset is None or what.table is None:
        return None
    pos = NLMSG_HDRLEN + what.header_size
    while pos + 4 <= len(sent):
        length, attr_type = ATTR_HEADER.unpack_from(sent, pos)
        if length < 4:
            break
        if pos <= offset < pos + max(length, 4):
            return what.table.describe(attr_type & NLA_TYPE_MASK)
        pos += align4(length)
    return None


class SocketOwner(Closing):
    """A handle that owns one netlink socket, ``sock``: closing the handle closes it."""

    sock: NetlinkSocket

    def close(self) -> None:
        self.sock.close()
