"""Addresses and routes as configuration systems write them (CIDR and address text), made into
the library's :class:`Address` and :class:`Route`, and waiting for IPv6 duplicate address
detection (DAD) to finish.

An address a link gets from elsewhere (an IPAM plugin, a config file) is what ``ip addr add``
would make of it; a route is what ``ip route add`` would make: no gateway means scope link, and
a destination with host bits (``10.1.2.3/16``) means its network.
"""

from __future__ import annotations

import _socket  # the C module: socket.py imports selectors, enum and array

from hostdev._netlink.rtnl_addr import Address
from hostdev._netlink.rtnl_route import Route
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    IFA_F_DADFAILED,
    IFA_F_TENTATIVE,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTAX,
)
from hostdev.errors import HostdevError
from hostdev.handle import Handle

_BITS = {AF_INET: 32, AF_INET6: 128}
_RTAX_MTU = RTAX["MTU"]
_RTAX_ADVMSS = RTAX["ADVMSS"]
_RTMGRP_IPV6_IFADDR = 0x100


class DuplicateAddress(HostdevError):
    """IPv6 DAD found another node using these addresses (the kernel marked them dadfailed)."""

    def __init__(self, addresses: tuple[Address, ...]) -> None:
        super().__init__("duplicate address detected: " + ", ".join(a.cidr for a in addresses))
        self.addresses = addresses


def _parse(cidr: str) -> tuple[int, int, int]:
    """(family, address value, prefix length) of ``addr/len``; ValueError if it is not that."""
    text, sep, prefix_text = cidr.partition("/")
    family = AF_INET6 if ":" in text else AF_INET
    try:
        value = int.from_bytes(_socket.inet_pton(family, text), "big")
    except OSError:
        raise ValueError(f"not an IP address: {text[:64]!r}") from None
    if not sep or not prefix_text.isdigit() or int(prefix_text) > _BITS[family]:
        raise ValueError(f"not CIDR text: {cidr[:80]!r}")
    return family, value, int(prefix_text)


def _text(family: int, value: int) -> str:
    return _socket.inet_ntop(family, value.to_bytes(_BITS[family] // 8, "big"))


def address(cidr: str) -> Address:
    """``ip addr add CIDR`` (IPv4 below /31 with ``broadcast +``, as ip(8) and Go's netlink do)."""
    family, value, prefix = _parse(cidr)
    broadcast = None
    if family == AF_INET and prefix < 31:
        broadcast = _text(family, value | ((1 << (32 - prefix)) - 1))
    return Address(family=family, address=_text(family, value), prefixlen=prefix, broadcast=broadcast)


def route(
    dst: str,
    *,
    gateway: str | None = None,
    table: int | None = None,
    metric: int | None = None,
    scope: int | None = None,
    mtu: int | None = None,
    advmss: int | None = None,
) -> Route:
    """``ip route add DST [via GATEWAY] [table T] [metric M] [scope S] [mtu M] [advmss A]``."""
    family, value, prefix = _parse(dst)
    bits = _BITS[family]
    network = value & (((1 << prefix) - 1) << (bits - prefix)) if prefix else 0
    if gateway is not None and (AF_INET6 if ":" in gateway else AF_INET) != family:
        raise ValueError(f"gateway {gateway} is not of the family of {dst}")
    metrics = tuple(sorted((key, v) for key, v in ((_RTAX_MTU, mtu), (_RTAX_ADVMSS, advmss)) if v is not None))
    if scope is None:
        scope = RT_SCOPE_UNIVERSE if gateway is not None or family == AF_INET6 else RT_SCOPE_LINK
    return Route(
        family=family,
        dst=_text(family, network) if prefix else None,
        dst_len=prefix,
        gateway=gateway,
        table=RT_TABLE_MAIN if table is None else table,
        priority=metric,
        scope=scope,
        metrics=metrics,
    )


def same_route(a: Route, b: Route) -> bool:
    """Whether two routes are the same entry of a routing table (destination, gateway, table,
    metric) — what the kernel itself tells apart — whatever text form the addresses have. No
    metric means the kernel's default: 0 for IPv4, 1024 for IPv6 (``IP6_RT_PRIO_USER``)."""

    def key(r: Route) -> tuple[object, ...]:
        dst = _parse(f"{r.dst}/{r.dst_len}")[1] if r.dst is not None else 0
        gw = int.from_bytes(_socket.inet_pton(r.family, r.gateway), "big") if r.gateway else None
        metric = r.priority if r.priority is not None else (1024 if r.family == AF_INET6 else 0)
        return (r.family, dst, r.dst_len, gw, r.table, metric)

    return key(a) == key(b)


def wait_for_dad(handle: Handle, index: int, timeout_s: float) -> tuple[Address, ...]:
    """Wait (at most ``timeout_s``) until no IPv6 address of link ``index`` is tentative.

    Returns the addresses still tentative when time ran out (DAD waits for carrier: a NIC
    without link keeps them tentative). Raises :class:`DuplicateAddress` when DAD failed. Waits
    on address events of the handle's namespace, never polling on a timer.
    """
    import time

    from hostdev._netlink.wire import NETLINK_ROUTE
    from hostdev.netns import socket_in

    deadline = time.monotonic() + timeout_s
    # Subscribed before the first look, so no change slips between the look and the wait.
    with socket_in(handle.netns, NETLINK_ROUTE, _RTMGRP_IPV6_IFADDR) as events:
        while True:
            addrs = handle.addresses(index, AF_INET6)
            failed = tuple(a for a in addrs if a.flags & IFA_F_DADFAILED)
            if failed:
                raise DuplicateAddress(failed)
            tentative = tuple(a for a in addrs if a.flags & IFA_F_TENTATIVE)
            remaining = deadline - time.monotonic()
            if not tentative or remaining <= 0:
                return tentative
            events.wait_for_event(remaining)
