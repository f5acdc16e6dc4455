"""Neighbour messages (``RTM_*NEIGH``) and neighbour-table parameters (``RTM_*NEIGHTBL``). Pure.

Neighbours: ``ndmsg`` + ``NDA_*``, as ``ip neigh`` sends and reads them. Proxy entries
(``ip neigh add proxy``) live in a separate kernel table; they are dumped and changed with
``NTF_PROXY`` in ``ndm_flags`` and carry no state and no link-layer address.

Table parameters: ``ndtmsg`` + ``NDTA_*`` with an ``NDTA_PARMS`` nest of ``NDTPA_*``; a nest with
``NDTPA_IFINDEX`` holds one device's parameters (``ip ntable show dev X``). Every time is in
milliseconds on the wire, which is why we read and write them here and not through
``/proc/sys/net/*/neigh/<if>/``: those files round ``delay_first_probe_time`` and
``gc_stale_time`` to whole seconds and ``locktime``/``anycast_delay``/``proxy_delay`` to
USER_HZ, and hold two views of one value (``retrans_time``/``retrans_time_ms``,
``unres_qlen``/``unres_qlen_bytes``) that round each other when both are written back.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import struct
else:  # struct.py only re-exports the C module: one module less per plugin exec
    import _struct as struct

from hostdev._record import record

from hostdev._netlink.attrs import Buffer
from hostdev._netlink.rtnl_addr import ntop, pton
from hostdev._netlink.rtnl_link import format_mac, parse_mac
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    NDA,
    NDMSG,
    NDTA,
    NDTMSG,
    NDTPA,
    NTF_PROXY,
    NTF_ROUTER,
    NUD_PERMANENT,
)
from hostdev._netlink.wire import MessageHeader, decode_string, family_header, iter_attrs
from hostdev.errors import DecodeError

if TYPE_CHECKING:
    from typing import Iterable

_DST = NDA["DST"]
_LLADDR = NDA["LLADDR"]
_PROTOCOL = NDA["PROTOCOL"]
NEIGH_ATTRS = frozenset({_DST, _LLADDR, _PROTOCOL})

# ndm_flags a neighbour is created with (neigh_add honours these; the rest is the kernel's).
SETTABLE_FLAGS = NTF_ROUTER | NTF_PROXY

_U32 = struct.Struct("=I")

# The kernel's neighbour table of each family: NDTA_NAME in RTM_SETNEIGHTBL.
TABLE_NAMES = {AF_INET: "arp_cache", AF_INET6: "ndisc_cache"}


@record
class Neighbour:
    """One neighbour entry (``ip neigh``), addresses in text form so it serialises as is."""

    family: int
    address: str  # NDA_DST
    lladdr: str | None = None  # NDA_LLADDR, "aa:bb:cc:dd:ee:ff"; none for proxies
    state: int = NUD_PERMANENT  # NUD_*; NUD_NONE for proxies
    flags: int = 0  # NTF_* (NTF_ROUTER, NTF_PROXY, …)
    protocol: int | None = None  # NDA_PROTOCOL: who made it ("ip neigh add … proto P")
    index: int = 0

    @property
    def proxy(self) -> bool:
        return bool(self.flags & NTF_PROXY)


def decode_neighbour(buf: Buffer, msg: MessageHeader) -> Neighbour:
    family, index, state, flags, _type = family_header(buf, msg, NDMSG, "neighbour")
    attrs = NDA.decode(buf, msg.payload + NDMSG.size, msg.end, NEIGH_ATTRS)
    dst = attrs.binary(_DST)
    if dst is None:
        raise DecodeError(f"neighbour message for ifindex {index} without NDA_DST")
    lladdr = attrs.binary(_LLADDR)
    return Neighbour(
        family=family,
        address=ntop(family, dst),
        lladdr=format_mac(lladdr) if lladdr else None,
        state=state,
        flags=flags,
        protocol=attrs.integer(_PROTOCOL),
        index=index,
    )


# --- requests ---
def dump_neighbours_body(family: int, index: int, *, proxy: bool = False) -> bytes:
    """``ip neigh show [proxy] dev X``: strict checking wants the header zero (but for
    ``NTF_PROXY``) and takes the device as an ``NDA_IFINDEX`` filter."""
    return NDMSG.pack(family, 0, 0, NTF_PROXY if proxy else 0, 0) + NDA.encode_one("IFINDEX", index)


def neighbour_body(neigh: Neighbour, index: int, *, for_delete: bool = False) -> bytes:
    """``ip neigh add|replace|del [proxy] ADDR [lladdr L] [nud S] [router] [protocol P] dev X``,
    attribute for attribute as ip(8) sends it (which puts ``NUD_PERMANENT`` in the header of a
    delete and of a proxy entry too; the kernel looks at neither)."""
    dst = NDA.encode_one("DST", pton(neigh.family, neigh.address))
    if for_delete:
        return NDMSG.pack(neigh.family, index, NUD_PERMANENT, neigh.flags & NTF_PROXY, 0) + dst
    body = b""
    if neigh.protocol:
        body += NDA.encode_one("PROTOCOL", neigh.protocol)
    body += dst
    if neigh.lladdr and not neigh.proxy:
        body += NDA.encode_one("LLADDR", parse_mac(neigh.lladdr))
    state = NUD_PERMANENT if neigh.proxy else neigh.state
    return NDMSG.pack(neigh.family, index, state, neigh.flags & SETTABLE_FLAGS, 0) + body


# --- neighbour-table parameters ---
# The writable per-device parameters, named after their sysctl under net/*/neigh/<if>/ — with
# "_ms" added where the sysctl counts seconds or USER_HZ but the wire (and we) count ms.
# QUEUE_LEN is left out: it is QUEUE_LENBYTES divided by a packet's truesize.
PARM_NAMES = {
    "BASE_REACHABLE_TIME": "base_reachable_time_ms",
    "RETRANS_TIME": "retrans_time_ms",
    "GC_STALETIME": "gc_stale_time_ms",
    "DELAY_PROBE_TIME": "delay_first_probe_time_ms",
    "QUEUE_LENBYTES": "unres_qlen_bytes",
    "APP_PROBES": "app_solicit",
    "UCAST_PROBES": "ucast_solicit",
    "MCAST_PROBES": "mcast_solicit",
    "MCAST_REPROBES": "mcast_resolicit",
    "ANYCAST_DELAY": "anycast_delay_ms",
    "PROXY_DELAY": "proxy_delay_ms",
    "PROXY_QLEN": "proxy_qlen",
    "LOCKTIME": "locktime_ms",
    "INTERVAL_PROBE_TIME_MS": "interval_probe_time_ms",
}
_PARM_BY_NUMBER = {NDTPA[wire]: name for wire, name in PARM_NAMES.items()}
_WIRE_BY_NAME = {name: wire for wire, name in PARM_NAMES.items()}
_PARM_NUMBERS = frozenset(_PARM_BY_NUMBER)
_NAME = NDTA["NAME"]
_PARMS = NDTA["PARMS"]
_IFINDEX = NDTPA["IFINDEX"]


def _decode_u32(buf: Buffer, start: int, end: int) -> int:
    if end - start < 4:
        raise DecodeError(f"NDTPA_IFINDEX: {end - start} bytes, expected 4")
    value: int = _U32.unpack_from(buf, start)[0]
    return value


@record
class NeighParms:
    """One neighbour table's parameters for one device (``index`` 0: the table's defaults)."""

    family: int
    table: str  # "arp_cache", "ndisc_cache"
    index: int
    values: tuple[tuple[str, int], ...]  # (name from PARM_NAMES, value), sorted by name


def decode_neigh_parms(buf: Buffer, msg: MessageHeader, index: int | None = None) -> NeighParms | None:
    """An ``RTM_NEWNEIGHTBL`` dump message as parameters; None for one without ``NDTA_PARMS`` or,
    with ``index``, for another device's. A dump lists every device of the namespace in each
    table, so the device is checked before anything else is decoded (a host with hundreds of
    links would otherwise spend milliseconds decoding parameters it drops)."""
    (family,) = family_header(buf, msg, NDTMSG, "neighbour-table")
    start = msg.payload
    name_span = parms_span = None
    for number, vstart, vend in iter_attrs(buf, start + NDTMSG.size, msg.end):
        if number == _NAME:
            name_span = (vstart, vend)
        elif number == _PARMS:
            parms_span = (vstart, vend)
    if parms_span is None:
        return None
    device = 0
    for number, vstart, vend in iter_attrs(buf, *parms_span):
        if number == _IFINDEX:
            device = _decode_u32(buf, vstart, vend)
            break
    if index is not None and device != index:
        return None
    parms = NDTPA.decode(buf, parms_span[0], parms_span[1], _PARM_NUMBERS)
    values = sorted((_PARM_BY_NUMBER[n], v) for n, v in parms.items() if isinstance(v, int))
    return NeighParms(
        family=family,
        table=decode_string(buf, *name_span) if name_span else "",
        index=device,
        values=tuple(values),
    )


def dump_neigh_tables_body(family: int) -> bytes:
    """``ip ntable show``: every table of ``family`` (0: all) and each device's parameters."""
    return NDTMSG.pack(family)


def set_neigh_parms_body(family: int, index: int, values: Iterable[tuple[str, int]]) -> bytes:
    """``ip ntable change name arp_cache|ndisc_cache dev X PARM VALUE …`` for one device: like
    ip(8), the table is chosen by name and ``ndtm_family`` left 0."""
    table = TABLE_NAMES.get(family)
    if table is None:
        raise ValueError(f"no neighbour table for family {family}")
    pairs: list[tuple[str, object]] = [("IFINDEX", index)]
    for name, value in values:
        wire = _WIRE_BY_NAME.get(name)
        if wire is None:
            raise ValueError(f"unknown neighbour parameter {name!r}")
        pairs.append((wire, value))
    return NDTMSG.pack(0) + NDTA.encode([("NAME", table), ("PARMS", NDTPA.encode(pairs))])
