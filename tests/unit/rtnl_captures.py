"""The local iproute2 captures (``tests/data/golden_rtnl/*.json``, recorded by
``tests/tools/capture_rtnl_golden.py``) and strace's decode of them: loading, finding a request
and its answers, and reading values out of strace's text as an independent oracle."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from hostdev._netlink import rtnl_tables as T
from hostdev._netlink.wire import (
    HEADER,
    NLM_F_ACK,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    MessageHeader,
    encode_message,
    iter_messages,
    parse_ack,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "golden_rtnl"


# --- loading the local captures ---
@lru_cache(maxsize=None)
def case(name: str) -> dict[str, Any]:
    path = DATA / f"{name}.json"
    assert path.is_file(), f"golden capture {path} missing: run tests/tools/capture_rtnl_golden.py"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def buffers(name: str, direction: str) -> list[tuple[bytes, dict[str, Any]]]:
    return [(bytes.fromhex(m["hex"]), m) for m in case(name)["messages"] if m["dir"] == direction]


def first_message(data: bytes) -> tuple[bytes, MessageHeader]:
    """The first netlink message of a buffer, cut to its nlmsg_len (ip sends padding after dumps)."""
    msg = next(iter_messages(data))
    return data[: msg.length], msg


def sent(name: str, msg_type: int, *, skip_probe: bool = True) -> bytes:
    """The one request of ``msg_type`` that the command is about (ip's index-0 probe skipped)."""
    found = []
    for data, _meta in buffers(name, "tx"):
        raw, msg = first_message(data)
        if msg.type != msg_type or (skip_probe and is_probe(raw)):
            continue
        found.append(raw)
    assert found, f"{name}: no request of type {msg_type}"
    return found[0]


def is_probe(raw: bytes) -> bool:
    """ip's opening RTM_NEWLINK with ifindex 0 (it tests the kernel's strictness)."""
    return HEADER.unpack_from(raw)[1] == T.RTM_NEWLINK and raw[20:24] == b"\0\0\0\0"


def answers(name: str, request: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    """The buffers received on the request's socket after it, up to that socket's next send."""
    messages = case(name)["messages"]
    index = next(i for i, m in enumerate(messages) if bytes.fromhex(m["hex"]).startswith(request))
    fd = messages[index]["fd"]
    found = []
    for m in messages[index + 1 :]:
        if m["fd"] != fd:
            continue
        if m["dir"] == "tx":
            break
        found.append((bytes.fromhex(m["hex"]), m))
    return found


def ours(ip_request: bytes, msg_type: int, body: bytes, extra_flags: int = 0) -> bytes:
    """What NetlinkSocket.request would send for ``body``, with ip's sequence number."""
    seq = HEADER.unpack_from(ip_request)[3]
    return encode_message(msg_type, NLM_F_REQUEST | NLM_F_ACK | extra_flags, seq, body)


def with_ack(request: bytes) -> bytes:
    length, msg_type, flags, seq, pid = HEADER.unpack_from(request)
    assert not flags & NLM_F_ACK
    return HEADER.pack(length, msg_type, flags | NLM_F_ACK, seq, pid) + request[HEADER.size :]


def index_of(name: str, dev: str = "gv0") -> int:
    return int(case(name)["ifindex"][dev])


def only_ack(name: str, request: bytes) -> tuple[int, str | None]:
    (data, _meta), *_ = answers(name, request)
    _raw, msg = first_message(data)
    assert msg.type == NLMSG_ERROR
    ack = parse_ack(data, msg)
    return ack.error, ack.extack_message


# --- strace's own decode, as an independent oracle ---
_HEXSTR = r'"((?:\\x[0-9a-f]{2})*)"'


def strace_chunks(line: str) -> list[str]:
    """strace's decode of each netlink message in one received datagram."""
    return line.split("{nlmsg_len=")[1:]


def s_str(chunk: str, attr: str) -> str | None:
    m = re.search(r"nla_type=" + attr + r"\}, " + _HEXSTR, chunk)
    return bytes.fromhex(m.group(1).replace("\\x", "")).split(b"\0")[0].decode() if m else None


def s_int(chunk: str, attr: str) -> int | None:
    m = re.search(r"nla_type=" + attr + r"\}, (\d+)\]", chunk)
    return int(m.group(1)) if m else None


def s_mac(chunk: str, attr: str) -> str | None:
    m = re.search(r"nla_type=" + attr + r"\}, ([0-9a-f]{2}(?::[0-9a-f]{2})+)\]", chunk)
    return m.group(1) if m else None


def s_inet(chunk: str, attr: str) -> str | None:
    m = re.search(r"nla_type=" + attr + r"\}, inet_(?:addr|pton)\((?:AF_INET6, )?" + _HEXSTR + r"\)", chunk)
    return bytes.fromhex(m.group(1).replace("\\x", "")).decode() if m else None


def s_field(chunk: str, field: str) -> str:
    m = re.search(field + r"=([^,}]+)", chunk)
    assert m, f"{field} not in strace decode"
    return m.group(1)


def names_to_value(text: str, prefix: str) -> int:
    """``IFA_F_NODAD|IFA_F_PERMANENT`` (or ``0``, or ``0x64``) to a number, via our table constants."""
    value = 0
    for part in text.split("|"):
        if part.startswith("0x"):
            value |= int(part, 16)
        elif part.isdigit():
            value |= int(part)
        else:
            assert part.startswith(prefix), part
            value |= getattr(T, part)
    return value


# --- replies, decoded, beside strace's decode ---
def decoded_replies(name: str, request: bytes, decoder: Callable[[Any, MessageHeader], Any]) -> list[tuple[Any, str]]:
    """Every non-control message answering ``request``, decoded, with strace's decode of it."""
    out = []
    for data, meta in answers(name, request):
        chunks = strace_chunks(meta["strace"])
        msgs = list(iter_messages(data))
        assert len(msgs) == len(chunks)
        for msg, chunk in zip(msgs, chunks):
            if msg.type in (NLMSG_DONE, NLMSG_ERROR):
                continue
            out.append((decoder(memoryview(data), msg), chunk))
    return out


def ifindex_from_strace(chunk: str, ifindex: dict[str, int], prefix: str = "ifi_index=") -> int:
    """strace shows an ifindex as ``if_nametoindex("name")``, or as a number."""
    m = re.search(re.escape(prefix) + r"(?:if_nametoindex\(" + _HEXSTR + r"\)|(\d+))", chunk)
    assert m, f"{prefix} not in strace decode"
    return ifindex[bytes.fromhex(m.group(1).replace("\\x", "")).decode()] if m.group(1) is not None else int(m.group(2))
