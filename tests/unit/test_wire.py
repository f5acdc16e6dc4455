"""Netlink framing (hostdev._netlink.wire): messages, attributes, acks, extended acks.

Byte vectors marked *recorded* are the ones netlink-facts.md §2 records from a 6.18 kernel.
"""

from __future__ import annotations

import errno
import pickle
import struct
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev.errors import DecodeError, DumpInterrupted, NetlinkError
from hostdev._netlink.attrs import Attr, AttrSet, Kind, encode_attr
from hostdev._netlink.socket import DUMP_RETRIES, RECV_BUFFER, NetlinkSocket, Request
from hostdev._netlink.wire import (
    HEADER,
    NLA_F_NESTED,
    NLA_F_NET_BYTEORDER,
    NETLINK_ROUTE,
    NLM_F_ACK,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HDRLEN,
    NLMSGERR_ATTR_MISS_TYPE,
    NLMSGERR_ATTR_MSG,
    NLMSGERR_ATTR_OFFS,
    MessageHeader,
    align4,
    decode_string,
    encode_message,
    iter_attrs,
    iter_messages,
    parse_ack,
)

EXAMPLES = settings(max_examples=200, deadline=None)

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def one(buf: bytes) -> MessageHeader:
    msgs = list(iter_messages(buf))
    assert len(msgs) == 1
    return msgs[0]


# --- recorded vectors (netlink-facts.md §2, observed on 6.18, port id 0x502f) ---
ENODEV_CAPPED = bytes.fromhex(
    "24000000" "0200" "0001" "01000000" "2f500000" "edffffff" "20000000" "1300" "0500" "01000000" "00000000"
)
SUCCESS_CAPPED = bytes.fromhex(
    "24000000" "0200" "0001" "01000000" "2f500000" "00000000" "20000000" "1300" "0500" "01000000" "00000000"
)
_EINVAL_TEXT = b"Invalid values in header for get link request\0"
EINVAL_EXTACK = (
    bytes.fromhex("58000000" "0200" "0003" "03000000" "2f500000" "eaffffff" "20000000" "1200" "0500" "03000000" "00000000")
    + struct.pack("=HH", 4 + len(_EINVAL_TEXT), NLMSGERR_ATTR_MSG)
    + _EINVAL_TEXT
    + b"\0\0"
)


def test_recorded_enodev_capped_ack() -> None:
    msg = one(ENODEV_CAPPED)
    assert (msg.length, msg.type, msg.flags, msg.seq, msg.pid) == (36, NLMSG_ERROR, NLM_F_CAPPED, 1, 0x502F)
    assert parse_ack(ENODEV_CAPPED, msg) == (errno.ENODEV, None, None, None)


def test_recorded_success_ack() -> None:
    assert parse_ack(SUCCESS_CAPPED, one(SUCCESS_CAPPED)).error == 0


def test_recorded_einval_with_extack_message() -> None:
    assert len(EINVAL_EXTACK) == 0x58
    ack = parse_ack(EINVAL_EXTACK, one(EINVAL_EXTACK))
    assert ack.error == errno.EINVAL
    assert ack.extack_message == "Invalid values in header for get link request"


def test_uncapped_error_skips_the_echoed_request_to_reach_the_tlvs() -> None:
    request = encode_message(16, 5, 9, b"\0" * 16 + encode_attr(28, struct.pack("=I", 4)))
    tlvs = encode_attr(NLMSGERR_ATTR_MSG, b"An interface with the same name exists\0")
    tlvs += encode_attr(NLMSGERR_ATTR_OFFS, struct.pack("=I", 32))
    tlvs += encode_attr(NLMSGERR_ATTR_MISS_TYPE, struct.pack("=I", 3))
    reply = encode_message(NLMSG_ERROR, NLM_F_ACK_TLVS, 9, struct.pack("=i", -errno.EEXIST) + request + tlvs)
    ack = parse_ack(reply, one(reply))
    assert ack == (errno.EEXIST, "An interface with the same name exists", 32, 3)


def test_uncapped_error_without_tlvs_flag_ignores_trailing_bytes() -> None:
    request = encode_message(16, 5, 9, b"\0" * 16)
    reply = encode_message(NLMSG_ERROR, 0, 9, struct.pack("=i", -errno.EPERM) + request)
    assert parse_ack(reply, one(reply)) == (errno.EPERM, None, None, None)


def test_done_carries_dump_status_and_extack() -> None:
    ok = encode_message(NLMSG_DONE, 2, 1, struct.pack("=i", 0))
    assert parse_ack(ok, one(ok)).error == 0
    empty = encode_message(NLMSG_DONE, 2, 1, b"")
    assert parse_ack(empty, one(empty)).error == 0
    failed = encode_message(
        NLMSG_DONE, 2 | NLM_F_ACK_TLVS, 1, struct.pack("=i", -errno.ENOENT) + encode_attr(NLMSGERR_ATTR_MSG, b"ipv4: FIB table does not exist\0")
    )
    assert parse_ack(failed, one(failed)) == (errno.ENOENT, "ipv4: FIB table does not exist", None, None)


extack_text = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=80)


@EXAMPLES
@given(
    st.integers(0, 4095),
    st.booleans(),
    st.binary(max_size=40),
    st.one_of(st.none(), extack_text),
    st.one_of(st.none(), u32),
    st.one_of(st.none(), u32),
    st.sampled_from([NLMSG_ERROR, NLMSG_DONE]),
)
def test_acks_round_trip(
    error: int, capped: bool, request_body: bytes, text: str | None, offset: int | None, missing: int | None, kind: int
) -> None:
    tlvs = b""
    if text is not None:
        tlvs += encode_attr(NLMSGERR_ATTR_MSG, text.encode() + b"\0")
    if offset is not None:
        tlvs += encode_attr(NLMSGERR_ATTR_OFFS, struct.pack("=I", offset))
    if missing is not None:
        tlvs += encode_attr(NLMSGERR_ATTR_MISS_TYPE, struct.pack("=I", missing))
    flags = NLM_F_ACK_TLVS if tlvs else 0
    if kind == NLMSG_DONE:
        payload = struct.pack("=i", -error) + tlvs
    else:
        request = encode_message(16, 5, 7, request_body)
        echoed = request[:NLMSG_HDRLEN] if capped else request + b"\0" * (align4(len(request)) - len(request))
        flags |= NLM_F_CAPPED if capped else 0
        payload = struct.pack("=i", -error) + echoed + tlvs
    buf = encode_message(kind, flags, 7, payload)
    assert parse_ack(buf, one(buf)) == (error, text, offset, missing)


def test_error_too_short_for_echoed_header_is_a_decode_error() -> None:
    short = encode_message(NLMSG_ERROR, 0, 1, struct.pack("=i", -1) + b"\0" * 8)
    with pytest.raises(DecodeError):
        parse_ack(short, one(short))
    no_code = encode_message(NLMSG_ERROR, 0, 1, b"\0\0")
    with pytest.raises(DecodeError):
        parse_ack(no_code, one(no_code))


# --- message framing ---
message = st.tuples(u16, u16, u32, u32, st.binary(max_size=64))


@EXAMPLES
@given(st.lists(message, max_size=6))
def test_messages_round_trip_with_padding(specs: list[tuple[int, int, int, int, bytes]]) -> None:
    datagram = b""
    for msg_type, flags, seq, pid, body in specs:
        encoded = encode_message(msg_type, flags, seq, body, pid)
        assert len(encoded) == NLMSG_HDRLEN + len(body)
        datagram += encoded + b"\0" * (align4(len(encoded)) - len(encoded))
    decoded = list(iter_messages(datagram))
    assert [(m.type, m.flags, m.seq, m.pid, datagram[m.payload : m.end]) for m in decoded] == specs


def test_last_message_may_omit_its_padding() -> None:
    buf = encode_message(20, 0, 1, b"abcde")
    assert len(buf) % 4 == 1
    assert one(buf).end == len(buf)


def test_size_limits_the_walk_to_the_datagram() -> None:
    msg = encode_message(20, 0, 1, b"abcd")
    buf = bytearray(msg + b"\xff" * 100)
    assert [m.seq for m in iter_messages(buf, len(msg))] == [1]
    claims_more = HEADER.pack(36, 20, 0, 1, 0) + b"abcd"
    with pytest.raises(DecodeError):
        list(iter_messages(claims_more, 36))  # a size beyond the buffer is a lie too


@pytest.mark.parametrize(
    "buf",
    [
        b"\x10\0\0\0",  # truncated header
        HEADER.pack(15, 2, 0, 0, 0),  # length below a header
        HEADER.pack(0, 2, 0, 0, 0),  # zero length: would never advance
        HEADER.pack(17, 2, 0, 0, 0),  # length past the datagram
        HEADER.pack(16, 2, 0, 0, 0) + b"\0" * 3,  # trailing garbage shorter than a header
    ],
)
def test_lying_message_lengths_raise_decode_error(buf: bytes) -> None:
    with pytest.raises(DecodeError):
        list(iter_messages(buf))


def test_a_message_not_at_an_aligned_offset_is_a_decode_error() -> None:
    # a 17-byte message must be followed by 3 bytes of padding; here the next header starts at
    # 17, so the walker (rightly at 20) finds a truncated header
    unpadded = encode_message(20, 0, 1, b"x") + encode_message(20, 0, 2, b"")
    with pytest.raises(DecodeError):
        list(iter_messages(unpadded))


def test_align4() -> None:
    assert [align4(n) for n in range(9)] == [0, 4, 4, 4, 4, 8, 8, 8, 8]


# --- attributes ---
attribute = st.tuples(st.integers(0, 0x3FFF), st.binary(max_size=40), st.booleans())


@EXAMPLES
@given(st.lists(attribute, max_size=8))
def test_attributes_round_trip_and_nested_bit_is_masked(specs: list[tuple[int, bytes, bool]]) -> None:
    buf = b"".join(encode_attr(number | (NLA_F_NESTED if nested else 0), payload) for number, payload, nested in specs)
    assert len(buf) % 4 == 0
    walked = [(number, buf[start:end]) for number, start, end in iter_attrs(buf, 0, len(buf))]
    assert walked == [(number, payload) for number, payload, _nested in specs]


def test_net_byteorder_bit_is_masked() -> None:
    buf = struct.pack("=HH", 6, 29 | NLA_F_NET_BYTEORDER) + b"\x00\x50\0\0"
    assert [(t, s, e) for t, s, e in iter_attrs(buf, 0, len(buf))] == [(29, 4, 6)]


def test_empty_nest_with_nested_flag_as_the_kernel_sends_it() -> None:
    # IFLA_DEVLINK_PORT (62) and IFLA_DPLL_PIN (65): 4-byte attributes with NLA_F_NESTED
    buf = bytes.fromhex("04003e80" "04004180")
    assert [(t, e - s) for t, s, e in iter_attrs(buf, 0, len(buf))] == [(62, 0), (65, 0)]
    assert NLA_F_NESTED == 0x8000


def test_trailing_bytes_shorter_than_an_attribute_header_are_padding() -> None:
    buf = encode_attr(3, b"lo\0") + b"\0\0"
    assert [t for t, _s, _e in iter_attrs(buf, 0, len(buf))] == [3]


@pytest.mark.parametrize(
    "buf",
    [
        struct.pack("=HH", 3, 1) + b"\0" * 4,  # below a header
        struct.pack("=HH", 0, 1) + b"\0" * 4,  # zero: would never advance
        struct.pack("=HH", 12, 1) + b"\0" * 4,  # past the end
    ],
)
def test_lying_attribute_lengths_raise_decode_error(buf: bytes) -> None:
    with pytest.raises(DecodeError):
        list(iter_attrs(buf, 0, len(buf)))


def test_decode_string_stops_at_nul_and_escapes_bad_utf8() -> None:
    assert decode_string(b"eth0\0\0\0\0", 0, 8) == "eth0"
    assert decode_string(b"eth0", 0, 4) == "eth0"  # unterminated (e.g. an alias from ip(8))
    text = decode_string(b"a\xffb\0", 0, 4)
    assert text.encode("utf-8", "surrogateescape") == b"a\xffb"


# --- no input may crash the decoder with anything but DecodeError, or hang it ---
@EXAMPLES
@given(st.binary(max_size=256), st.sampled_from([NLMSG_ERROR, NLMSG_DONE]), u16)
def test_arbitrary_bytes_only_ever_raise_decode_error(noise: bytes, kind: int, flags: int) -> None:
    framed = encode_message(kind, flags, 1, noise)
    for buf in (noise, framed):
        try:
            msgs = list(iter_messages(buf))
        except DecodeError:
            continue
        assert len(msgs) <= len(buf) // NLMSG_HDRLEN
        for msg in msgs:
            try:
                parse_ack(buf, msg)
            except DecodeError:
                pass


@EXAMPLES
@given(st.binary(max_size=200), st.integers(0, 0xFFFF))
def test_arbitrary_extack_tlvs_only_ever_raise_decode_error(tlvs: bytes, flags: int) -> None:
    capped = struct.pack("=i", -errno.EINVAL) + HEADER.pack(16, 18, 5, 1, 0) + tlvs
    buf = encode_message(NLMSG_ERROR, flags | NLM_F_ACK_TLVS, 1, capped)
    try:
        ack = parse_ack(buf, one(buf))
    except DecodeError:
        return
    assert ack.error == errno.EINVAL


@EXAMPLES
@given(st.binary(max_size=200))
def test_arbitrary_attribute_bytes_only_ever_raise_decode_error(buf: bytes) -> None:
    try:
        walked = list(iter_attrs(buf, 0, len(buf)))
    except DecodeError:
        return
    assert len(walked) <= len(buf) // 4
    assert all(0 <= s <= e <= len(buf) for _t, s, e in walked)


# --- the error type ---
def test_netlink_error_keeps_errno_request_and_kernel_words() -> None:
    exc = NetlinkError(errno.EEXIST, "RTM_NEWLINK ifindex=3", "An interface with the same name exists", "IFLA_IFNAME")
    assert isinstance(exc, OSError) and exc.errno == errno.EEXIST
    assert exc.extack == "An interface with the same name exists" and exc.attribute == "IFLA_IFNAME"
    assert str(exc) == (
        "RTM_NEWLINK ifindex=3: File exists (An interface with the same name exists) [attribute IFLA_IFNAME]"
    )
    clone = pickle.loads(pickle.dumps(exc))
    assert (clone.errno, clone.request, clone.extack, clone.attribute, str(clone)) == (
        exc.errno, exc.request, exc.extack, exc.attribute, str(exc),
    )  # fmt: skip
    assert str(NetlinkError(errno.ENODEV, "RTM_GETLINK")) == "RTM_GETLINK: No such device"


# --- the request/reply loop of NetlinkSocket, against a scripted kernel ---
class ScriptedKernel:
    """Stands in for the kernel side of a netlink socket: ``answer(request)`` gives the
    datagrams to deliver after each send."""

    def __init__(self, answer: Callable[[bytes, int], list[bytes]]) -> None:
        self.answer = answer
        self.sent: list[bytes] = []
        self.queue: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        self.queue += self.answer(data, len(self.sent))
        return len(data)

    def recv_into(self, buf: bytearray, nbytes: int = 0, flags: int = 0) -> int:
        datagram = self.queue.pop(0)
        size = min(len(datagram), len(buf))
        buf[:size] = datagram[:size]
        return len(datagram)  # MSG_TRUNC: the real length, even when it did not fit

    def close(self) -> None:
        pass


def scripted_socket(answer: Callable[[bytes, int], list[bytes]]) -> tuple[NetlinkSocket, ScriptedKernel]:
    sock = NetlinkSocket(NETLINK_ROUTE)  # a real, unprivileged socket, then its I/O is swapped
    sock._sock.close()
    kernel = ScriptedKernel(answer)
    sock._sock = kernel  # type: ignore[assignment]
    return sock, kernel


def datagram(*messages: bytes) -> bytes:
    """Messages as the kernel packs them: each padded to 4 bytes."""
    return b"".join(m + b"\0" * (align4(len(m)) - len(m)) for m in messages)


def seq_of(request: bytes) -> int:
    return int(HEADER.unpack_from(request)[3])


def ack(seq: int, error: int = 0, tlvs: bytes = b"", request: bytes = b"") -> bytes:
    echoed = request[:NLMSG_HDRLEN] if request else HEADER.pack(16, 0, 0, seq, 0)
    flags = NLM_F_CAPPED | (NLM_F_ACK_TLVS if tlvs else 0)
    return encode_message(NLMSG_ERROR, flags, seq, struct.pack("=i", -error) + echoed + tlvs)


def payload_of(buf: memoryview, msg: MessageHeader) -> bytes:
    return bytes(buf[msg.payload : msg.end])


WHAT = Request("TEST", 0, None)


def test_replies_to_an_earlier_request_are_never_taken_for_this_ones() -> None:
    def answer(request: bytes, n: int) -> list[bytes]:
        seq = seq_of(request)
        stale = datagram(encode_message(20, 0, seq - 1, b"stale"), ack(seq - 1))
        return [stale, datagram(encode_message(20, 0, seq, b"mine"), ack(seq))]

    sock, _kernel = scripted_socket(answer)
    assert sock.request(22, b"", WHAT, decode=payload_of) == [b"mine"]
    assert sock.request(22, b"", WHAT, decode=payload_of) == [b"mine"]


def test_an_interrupted_dump_is_restarted_from_scratch() -> None:
    def answer(request: bytes, n: int) -> list[bytes]:
        seq = seq_of(request)
        flags = NLM_F_MULTI | (NLM_F_DUMP_INTR if n == 1 else 0)
        return [
            datagram(encode_message(20, flags, seq, f"a{n}".encode()), encode_message(20, flags, seq, f"b{n}".encode())),
            encode_message(NLMSG_DONE, flags, seq, struct.pack("=i", 0)),
        ]

    sock, kernel = scripted_socket(answer)
    assert sock.dump(22, b"", WHAT, payload_of) == [b"a2", b"b2"]
    assert len(kernel.sent) == 2 and seq_of(kernel.sent[0]) != seq_of(kernel.sent[1])
    assert HEADER.unpack_from(kernel.sent[0])[2] == NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP


def test_a_dump_that_never_settles_is_dump_interrupted() -> None:
    def answer(request: bytes, n: int) -> list[bytes]:
        return [encode_message(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, seq_of(request), struct.pack("=i", 0))]

    sock, kernel = scripted_socket(answer)
    with pytest.raises(DumpInterrupted):
        sock.dump(22, b"", WHAT, payload_of)
    assert len(kernel.sent) == DUMP_RETRIES


def test_a_refusal_carries_errno_words_and_the_attribute_pointed_at() -> None:
    body = b"\0" * 16 + encode_attr(28, struct.pack("=I", 4)) + encode_attr(3, b"eth0\0")
    table = AttrSet("IFLA_", [Attr(3, "IFNAME", Kind.STRING), Attr(28, "NET_NS_FD", Kind.U32)])

    def answer(request: bytes, n: int) -> list[bytes]:
        tlvs = encode_attr(NLMSGERR_ATTR_MSG, b"name taken\0") + encode_attr(NLMSGERR_ATTR_OFFS, struct.pack("=I", 40))
        return [ack(seq_of(request), errno.EEXIST, tlvs, request)]

    sock, _kernel = scripted_socket(answer)
    with pytest.raises(NetlinkError) as caught:
        sock.request(16, body, Request("RTM_NEWLINK ifindex=0", 16, table))
    assert (caught.value.errno, caught.value.extack, caught.value.attribute) == (errno.EEXIST, "name taken", "IFLA_IFNAME")


def test_a_refusal_names_the_attribute_the_kernel_says_is_missing() -> None:
    table = AttrSet("IFLA_", [Attr(3, "IFNAME", Kind.STRING), Attr(28, "NET_NS_FD", Kind.U32)])

    def answer(request: bytes, n: int) -> list[bytes]:
        tlvs = encode_attr(NLMSGERR_ATTR_MSG, b"missing\0") + encode_attr(NLMSGERR_ATTR_MISS_TYPE, struct.pack("=I", 3))
        return [ack(seq_of(request), errno.EINVAL, tlvs, request)]

    sock, _kernel = scripted_socket(answer)
    with pytest.raises(NetlinkError) as caught:
        sock.request(16, b"\0" * 16, Request("RTM_NEWLINK ifindex=0", 16, table))
    assert caught.value.missing == "IFLA_IFNAME" and "[missing attribute IFLA_IFNAME]" in str(caught.value)
    assert pickle.loads(pickle.dumps(caught.value)).missing == "IFLA_IFNAME"


def test_a_failed_dump_raises_with_the_kernels_words() -> None:
    def answer(request: bytes, n: int) -> list[bytes]:
        status = struct.pack("=i", -errno.ENOENT) + encode_attr(NLMSGERR_ATTR_MSG, b"no table\0")
        return [encode_message(NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, seq_of(request), status)]

    sock, _kernel = scripted_socket(answer)
    with pytest.raises(NetlinkError) as caught:
        sock.dump(26, b"", WHAT, payload_of)
    assert (caught.value.errno, caught.value.extack) == (errno.ENOENT, "no table")


def test_a_datagram_larger_than_the_buffer_is_a_decode_error_not_a_silent_cut() -> None:
    def answer(request: bytes, n: int) -> list[bytes]:
        return [datagram(encode_message(20, 0, seq_of(request), b"\0" * (RECV_BUFFER + 100)), ack(seq_of(request)))]

    sock, _kernel = scripted_socket(answer)
    with pytest.raises(DecodeError, match="does not fit"):
        sock.request(22, b"", WHAT, decode=payload_of)


def test_a_failing_decoder_reads_the_reply_to_its_end_before_raising() -> None:
    def answer(request: bytes, n: int) -> list[bytes]:
        seq = seq_of(request)
        return [
            datagram(encode_message(20, NLM_F_MULTI, seq, b"good"), encode_message(20, NLM_F_MULTI, seq, b"bad")),
            datagram(encode_message(20, NLM_F_MULTI, seq, b"more")),
            datagram(encode_message(NLMSG_DONE, NLM_F_MULTI, seq, struct.pack("=i", 0))),
        ]

    def picky(buf: memoryview, msg: MessageHeader) -> bytes:
        if payload_of(buf, msg) == b"bad":
            raise DecodeError("bad")
        return payload_of(buf, msg)

    sock, kernel = scripted_socket(answer)
    with pytest.raises(DecodeError, match="bad"):
        sock.dump(22, b"", WHAT, picky)
    assert kernel.queue == []  # nothing of that dump is left for the next request to trip over
    assert sock.dump(22, b"", WHAT, payload_of) == [b"good", b"bad", b"more"]
