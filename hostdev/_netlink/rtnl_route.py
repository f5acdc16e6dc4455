"""Route messages (``RTM_*ROUTE``): request bodies and reply decoding. Pure.

Only single-nexthop routes are modelled; a multipath route is decoded with ``multipath=True``
so callers can tell it was there and what they are not restoring.
"""

from __future__ import annotations

import _socket  # inet_pton/ntop without socket.py (selectors, enum, array)
from hostdev._record import record

from hostdev._netlink.attrs import Buffer
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RT_TABLE_UNSPEC,
    RTA,
    RTAX,
    RTMSG,
    RTN_UNICAST,
    RT_TABLE_LOCAL,
    RTM_F_CLONED,
    RTNH_F_ONLINK,
    RTPROT_BOOT,
    RTPROT_KERNEL,
    RTPROT_RA,
)
from hostdev._netlink.wire import MessageHeader, family_header
from hostdev.errors import DecodeError

_DST = RTA["DST"]
_SRC = RTA["SRC"]
_OIF = RTA["OIF"]
_GATEWAY = RTA["GATEWAY"]
_PRIORITY = RTA["PRIORITY"]
_PREFSRC = RTA["PREFSRC"]
_METRICS = RTA["METRICS"]
_MULTIPATH = RTA["MULTIPATH"]
_TABLE = RTA["TABLE"]
_PREF = RTA["PREF"]
_ADDR_LEN = {AF_INET: 4, AF_INET6: 16}
# Of the rtm_flags a dump reports, the only one a request may carry: ``onlink`` is the user's
# setting; ``dead`` and ``linkdown`` are the kernel's view of the nexthop (no carrier), refused in a
# request ("Invalid rtm_flags - can not contain DEAD or LINKDOWN"), and offload/trap belong to
# the driver. A NIC without carrier at ADD must still get its routes in the pod and back.
USER_ROUTE_FLAGS = RTNH_F_ONLINK
ROUTE_ATTRS = frozenset({_DST, _SRC, _OIF, _GATEWAY, _PRIORITY, _PREFSRC, _METRICS, _MULTIPATH, _TABLE, _PREF})


@record
class Route:
    family: int
    dst: str | None  # None = default route
    dst_len: int
    gateway: str | None = None
    oif: int | None = None
    table: int = RT_TABLE_MAIN
    priority: int | None = None  # metric
    protocol: int = RTPROT_BOOT
    scope: int = RT_SCOPE_UNIVERSE
    type: int = RTN_UNICAST
    flags: int = 0  # rtm_flags as reported (RTNH_F_ONLINK, RTNH_F_LINKDOWN, …); see USER_ROUTE_FLAGS
    prefsrc: str | None = None
    src: str | None = None
    src_len: int = 0
    tos: int = 0
    pref: int | None = None  # IPv6 router preference
    metrics: tuple[tuple[int, int], ...] = ()  # (RTAX_*, value), e.g. per-route MTU
    multipath: bool = False

    @property
    def destination(self) -> str:
        return "default" if self.dst is None else f"{self.dst}/{self.dst_len}"


def decode_route(buf: Buffer, msg: MessageHeader) -> Route:
    family, dst_len, src_len, tos, table8, protocol, scope, rtype, flags = family_header(buf, msg, RTMSG, "route")
    attrs = RTA.decode(buf, msg.payload + RTMSG.size, msg.end, ROUTE_ATTRS)
    table = attrs.integer(_TABLE)
    metrics = attrs.nest(_METRICS)
    return Route(
        family=family,
        dst=_text(family, attrs.binary(_DST)),
        dst_len=dst_len,
        gateway=_text(family, attrs.binary(_GATEWAY)),
        oif=attrs.integer(_OIF),
        table=table if table is not None else table8,
        priority=attrs.integer(_PRIORITY),
        protocol=protocol,
        scope=scope,
        type=rtype,
        flags=flags,
        prefsrc=_text(family, attrs.binary(_PREFSRC)),
        src=_text(family, attrs.binary(_SRC)),
        src_len=src_len,
        tos=tos,
        pref=attrs.integer(_PREF),
        metrics=tuple(sorted((k, v) for k, v in metrics.items() if isinstance(v, int))) if metrics is not None else (),
        multipath=_MULTIPATH in attrs,
    )


def is_kernel_made(protocol: int, table: int, flags: int) -> bool:
    """Routes the kernel derives from addresses and links and re-creates by itself (proto
    kernel or ra, the local table, cached clones): never ours to record or restore."""
    return protocol in (RTPROT_KERNEL, RTPROT_RA) or table == RT_TABLE_LOCAL or bool(flags & RTM_F_CLONED)


def decode_user_route(buf: Buffer, msg: MessageHeader) -> Route | None:
    """:func:`decode_route` for the routes that are not kernel-made; None for the rest, judged
    from the fixed header alone so their attributes are never decoded (most of a dump)."""
    if msg.end - msg.payload >= RTMSG.size:
        _f, _d, _s, _t, table8, protocol, _sc, _ty, flags = RTMSG.unpack_from(buf, msg.payload)
        if is_kernel_made(protocol, table8, flags):
            return None
    return decode_route(buf, msg)


def _text(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if len(raw) != _ADDR_LEN.get(family, -1):
        raise DecodeError(f"route address of {len(raw)} bytes for family {family}")
    return _socket.inet_ntop(family, raw)


def _pton(family: int, text: str) -> bytes:
    try:
        return _socket.inet_pton(family, text)
    except OSError:
        raise ValueError(f"not an address of family {family}: {text[:64]!r}") from None


# --- requests ---
def dump_routes_body(family: int, oif: int | None = None, table: int | None = None) -> bytes:
    """A dump of every table, filtered in the kernel by output interface (strict checking)."""
    rt_table = RT_TABLE_UNSPEC if table is None or table > 255 else table
    pairs: list[tuple[str, object]] = []
    if table is not None:
        pairs.append(("TABLE", table))
    if oif is not None:
        pairs.append(("OIF", oif))
    return RTMSG.pack(family, 0, 0, 0, rt_table, 0, 0, 0, 0) + RTA.encode(pairs)


def get_route_body(family: int, dst: str) -> bytes:
    """``ip route get DST``: the route the kernel would take to one address (a host prefix)."""
    full = 8 * _ADDR_LEN[family]
    return RTMSG.pack(family, full, 0, 0, RT_TABLE_UNSPEC, 0, 0, 0, 0) + RTA.encode([("DST", _pton(family, dst))])


def route_body(route: Route, oif: int, *, for_delete: bool = False) -> bytes:
    """``ip route add|del DST [from SRC] [via GW] [metric M] [src PREFSRC] [table T] [pref P]
    dev X [mtu …]``, attribute for attribute as ip(8) sends it: a table below 256 travels in
    ``rtm_table`` only, a larger one in RTA_TABLE."""
    family = route.family
    rt_table = route.table if route.table < 256 else RT_TABLE_UNSPEC
    header = RTMSG.pack(
        family, route.dst_len, route.src_len, route.tos, rt_table, route.protocol,
        route.scope, route.type, route.flags & USER_ROUTE_FLAGS,
    )  # fmt: skip
    pairs: list[tuple[str, object]] = []
    if route.dst is not None:
        pairs.append(("DST", _pton(family, route.dst)))
    if route.src is not None:
        pairs.append(("SRC", _pton(family, route.src)))
    if route.gateway is not None:
        pairs.append(("GATEWAY", _pton(family, route.gateway)))
    if route.priority is not None:
        pairs.append(("PRIORITY", route.priority))
    if route.prefsrc is not None and not for_delete:
        pairs.append(("PREFSRC", _pton(family, route.prefsrc)))
    if route.table >= 256:
        pairs.append(("TABLE", route.table))
    if route.pref is not None and not for_delete:
        pairs.append(("PREF", route.pref))
    pairs.append(("OIF", oif))
    if route.metrics and not for_delete:
        pairs.append(("METRICS", RTAX.encode([(RTAX.by_number[k].name, v) for k, v in route.metrics])))
    return header + RTA.encode(pairs)
