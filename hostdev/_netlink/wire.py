"""Netlink framing: message headers, control messages and extended acks. Pure: bytes in, values out.

Layouts follow ``linux/netlink.h``: ``nlmsghdr`` is ``=IHHII`` (len, type, flags, seq, pid);
every message and attribute starts on a 4-byte boundary and its length field excludes padding.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import struct
    from typing import Any, Iterator, NamedTuple
else:  # struct.py only re-exports the C module (one module less per plugin exec); no typing
    import _struct as struct

    from hostdev._record import NamedTuple

from hostdev.errors import DecodeError

# --- protocols and socket options (linux/netlink.h; not all are in Python's socket module) ---
NETLINK_ROUTE = 0
NETLINK_RDMA = 20
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

# --- message flags ---
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP_FILTERED = 0x20
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

# --- control message types ---
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLMSG_MIN_TYPE = 0x10

# --- extended ack attributes (enum nlmsgerr_attrs) ---
NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2
NLMSGERR_ATTR_COOKIE = 3
NLMSGERR_ATTR_POLICY = 4
NLMSGERR_ATTR_MISS_TYPE = 5
NLMSGERR_ATTR_MISS_NEST = 6

NLMSG_HDRLEN = 16
NLA_HDRLEN = 4
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = 0x3FFF

HEADER = struct.Struct("=IHHII")
ATTR_HEADER = struct.Struct("=HH")
_ERRNO = struct.Struct("=i")
_U32 = struct.Struct("=I")


def align4(length: int) -> int:
    """Round a length up to the next 4-byte boundary (NLMSG_ALIGN / NLA_ALIGN)."""
    return (length + 3) & ~3


class MessageHeader(NamedTuple):
    """One ``nlmsghdr`` and where its payload lies in the buffer it was read from."""

    length: int
    type: int
    flags: int
    seq: int
    pid: int
    offset: int  # offset of the nlmsghdr in the buffer

    @property
    def payload(self) -> int:
        return self.offset + NLMSG_HDRLEN

    @property
    def end(self) -> int:
        return self.offset + self.length


class Ack(NamedTuple):
    """An ``NLMSG_ERROR`` (error 0 = ACK) or the status of an ``NLMSG_DONE``."""

    error: int  # 0 or a positive errno
    extack_message: str | None
    bad_attr_offset: int | None  # offset into the original request, from its nlmsghdr
    missing_type: int | None


def encode_message(msg_type: int, flags: int, seq: int, body: bytes, pid: int = 0) -> bytes:
    """Frame ``body`` (family header + attributes) as one netlink message."""
    return HEADER.pack(NLMSG_HDRLEN + len(body), msg_type, flags, seq, pid) + body


def iter_messages(buf: bytes | bytearray | memoryview, size: int | None = None) -> Iterator[MessageHeader]:
    """Walk the messages of one datagram; raise :class:`DecodeError` on any inconsistency.

    A lying ``nlmsg_len`` (shorter than a header, or past the datagram) is an error, never a
    silent stop or an endless loop: every step moves forward by at least ``NLMSG_HDRLEN``.
    """
    end = len(buf) if size is None else size
    if end > len(buf):
        raise DecodeError(f"datagram size {end} exceeds its {len(buf)}-byte buffer")
    offset = 0
    while offset < end:
        if end - offset < NLMSG_HDRLEN:
            raise DecodeError(f"truncated netlink header at offset {offset}: {end - offset} bytes left")
        length, msg_type, flags, seq, pid = HEADER.unpack_from(buf, offset)
        if length < NLMSG_HDRLEN or offset + length > end:
            raise DecodeError(
                f"netlink message at offset {offset} claims length {length}, datagram has {end - offset} bytes"
            )
        yield MessageHeader(length, msg_type, flags, seq, pid, offset)
        offset += align4(length)


def parse_ack(buf: bytes | bytearray | memoryview, msg: MessageHeader) -> Ack:
    """Decode an ``NLMSG_ERROR`` or ``NLMSG_DONE`` payload, including extended-ack TLVs."""
    start = msg.payload
    if msg.end - start < 4:
        if msg.type == NLMSG_DONE:  # some families send an empty DONE
            return Ack(0, None, None, None)
        raise DecodeError(f"{'NLMSG_ERROR' if msg.type == NLMSG_ERROR else 'NLMSG_DONE'} without error code")
    (status,) = _ERRNO.unpack_from(buf, start)
    error = -status if status < 0 else status
    if msg.type == NLMSG_DONE:
        tlv_start = start + 4
    else:
        if msg.end - start < 4 + NLMSG_HDRLEN:
            raise DecodeError("NLMSG_ERROR too short for the echoed request header")
        if msg.flags & NLM_F_CAPPED:
            tlv_start = start + 4 + NLMSG_HDRLEN
        else:
            (echoed_len,) = _U32.unpack_from(buf, start + 4)
            tlv_start = start + 4 + align4(echoed_len)
    if not msg.flags & NLM_F_ACK_TLVS or tlv_start >= msg.end:
        return Ack(error, None, None, None)
    text: str | None = None
    offset_attr: int | None = None
    missing: int | None = None
    for attr_type, vstart, vend in iter_attrs(buf, tlv_start, msg.end):
        if attr_type == NLMSGERR_ATTR_MSG:
            text = decode_string(buf, vstart, vend)
        elif attr_type == NLMSGERR_ATTR_OFFS and vend - vstart >= 4:
            (offset_attr,) = _U32.unpack_from(buf, vstart)
        elif attr_type == NLMSGERR_ATTR_MISS_TYPE and vend - vstart >= 4:
            (missing,) = _U32.unpack_from(buf, vstart)
    return Ack(error, text, offset_attr, missing)


def family_header(buf: bytes | bytearray | memoryview, msg: MessageHeader, header: struct.Struct, what: str) -> tuple[Any, ...]:
    """The fixed family header that follows ``msg``'s nlmsghdr (ifinfomsg, rtmsg, ...),
    unpacked; :class:`DecodeError` when the message is too short to hold it."""
    if msg.end - msg.payload < header.size:
        raise DecodeError(f"{what} message of {msg.length} bytes is shorter than its {header.size}-byte header")
    return header.unpack_from(buf, msg.payload)


def iter_attrs(buf: bytes | bytearray | memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(type, value_start, value_end)`` for each attribute in ``buf[start:end]``.

    The type has ``NLA_F_NESTED``/``NLA_F_NET_BYTEORDER`` masked off: the kernel sets the nested
    bit on some nests and not on others. Trailing bytes shorter than an attribute header are
    padding the kernel may leave; a header whose length is below 4 or runs past ``end`` is an error.
    """
    offset = start
    while end - offset >= NLA_HDRLEN:
        length, attr_type = ATTR_HEADER.unpack_from(buf, offset)
        if length < NLA_HDRLEN or offset + length > end:
            raise DecodeError(f"attribute at offset {offset} claims length {length}, {end - offset} bytes left")
        yield attr_type & NLA_TYPE_MASK, offset + NLA_HDRLEN, offset + length
        offset += align4(length)


def decode_string(buf: bytes | bytearray | memoryview, start: int, end: int) -> str:
    """A NUL-terminated (or unterminated) attribute string; undecodable bytes are escaped, not fatal."""
    raw = bytes(buf[start:end])
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    return raw.decode("utf-8", "surrogateescape")
