"""Address messages (``RTM_*ADDR``): request bodies and reply decoding. Pure.

IPv4 and IPv6 use ``IFA_ADDRESS``/``IFA_LOCAL`` differently: for IPv4 ``IFA_LOCAL`` is the
interface's own address and ``IFA_ADDRESS`` the peer (equal to it when there is none); for IPv6
``IFA_ADDRESS`` is the address and ``IFA_LOCAL`` appears only with a peer.
"""

from __future__ import annotations

import _socket  # inet_pton/ntop without socket.py (selectors, enum, array)
from hostdev._record import record

from hostdev._netlink.attrs import Buffer
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    IFA,
    IFA_CACHEINFO,
    IFA_F_HOMEADDRESS,
    IFA_F_MANAGETEMPADDR,
    IFA_F_MCAUTOJOIN,
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFA_F_OPTIMISTIC,
    IFADDRMSG,
    INFINITY_LIFE_TIME,
)
from hostdev._netlink.wire import MessageHeader, family_header
from hostdev.errors import DecodeError

_ADDRESS = IFA["ADDRESS"]
_LOCAL = IFA["LOCAL"]
_LABEL = IFA["LABEL"]
_BROADCAST = IFA["BROADCAST"]
_CACHEINFO = IFA["CACHEINFO"]
_FLAGS = IFA["FLAGS"]
_RT_PRIORITY = IFA["RT_PRIORITY"]
_PROTO = IFA["PROTO"]
ADDR_ATTRS = frozenset({_ADDRESS, _LOCAL, _LABEL, _BROADCAST, _CACHEINFO, _FLAGS, _RT_PRIORITY, _PROTO})

# The only flags inet6_rtm_newaddr honours on add ("We ignore other flags so far").
IPV6_SETTABLE_FLAGS = (
    IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE | IFA_F_MCAUTOJOIN | IFA_F_OPTIMISTIC
)
# IPv4 takes flags as given, but SECONDARY is recomputed and PERMANENT follows from the lifetime.
IPV4_SETTABLE_FLAGS = IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_NOPREFIXROUTE | IFA_F_MCAUTOJOIN | IFA_F_OPTIMISTIC

_ADDR_LEN = {AF_INET: 4, AF_INET6: 16}


@record
class Address:
    """One interface address, in text form (``_socket.inet_ntop``) so it serialises as is."""

    family: int
    address: str  # the interface's own address (IPv4: IFA_LOCAL; IPv6: IFA_ADDRESS or IFA_LOCAL)
    prefixlen: int
    peer: str | None = None  # point-to-point peer, when it differs from the address
    broadcast: str | None = None
    label: str | None = None  # IPv4 only
    scope: int = 0
    flags: int = 0  # from IFA_FLAGS (the u8 in ifaddrmsg truncates them)
    valid_lft: int = INFINITY_LIFE_TIME
    preferred_lft: int = INFINITY_LIFE_TIME
    metric: int | None = None  # IFA_RT_PRIORITY: metric of the prefix route
    proto: int | None = None  # IFA_PROTO: who made it (kernel_ll, kernel_ra, …)
    index: int = 0

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


def decode_address(buf: Buffer, msg: MessageHeader) -> Address:
    family, prefixlen, flags8, scope, index = family_header(buf, msg, IFADDRMSG, "address")
    attrs = IFA.decode(buf, msg.payload + IFADDRMSG.size, msg.end, ADDR_ATTRS)
    addr = attrs.binary(_ADDRESS)
    local = attrs.binary(_LOCAL)
    if family == AF_INET:
        own, other = local if local is not None else addr, addr
    else:
        own, other = (local, addr) if local is not None else (addr, None)
    if own is None:
        raise DecodeError(f"address message for ifindex {index} without IFA_ADDRESS/IFA_LOCAL")
    valid = preferred = INFINITY_LIFE_TIME
    cache = attrs.binary(_CACHEINFO)
    if cache is not None and len(cache) >= IFA_CACHEINFO.size:
        preferred, valid, _cstamp, _tstamp = IFA_CACHEINFO.unpack_from(cache)
    broadcast = attrs.binary(_BROADCAST)
    flags = attrs.integer(_FLAGS)
    return Address(
        family=family,
        address=ntop(family, own),
        prefixlen=prefixlen,
        peer=ntop(family, other) if other is not None and other != own else None,
        broadcast=ntop(family, broadcast) if broadcast is not None else None,
        label=attrs.text(_LABEL),
        scope=scope,
        flags=flags if flags is not None else flags8,
        valid_lft=valid,
        preferred_lft=preferred,
        metric=attrs.integer(_RT_PRIORITY),
        proto=attrs.integer(_PROTO),
        index=index,
    )


def ntop(family: int, raw: bytes) -> str:
    if len(raw) != _ADDR_LEN.get(family, -1):
        raise DecodeError(f"address of {len(raw)} bytes for family {family}")
    return _socket.inet_ntop(family, raw)


def family_of(text: str) -> int:
    return AF_INET6 if ":" in text else AF_INET


def pton(family: int, text: str) -> bytes:
    try:
        return _socket.inet_pton(family, text)
    except OSError:
        raise ValueError(f"not an IPv{4 if family == AF_INET else 6} address: {text[:64]!r}") from None


# --- requests ---
def dump_addresses_body(family: int, index: int) -> bytes:
    """A dump the kernel filters to one link (strict checking makes ``ifa_index`` a filter)."""
    return IFADDRMSG.pack(family, 0, 0, 0, index)


def address_body(addr: Address, index: int, *, for_delete: bool = False) -> bytes:
    """``ip addr add|del ADDR/LEN [peer P] [broadcast B] [label L] [metric M] dev X [flags]
    [valid_lft V preferred_lft P]``, attribute for attribute as ip(8) sends it.

    Like ip(8), IFA_LOCAL always carries the address and IFA_ADDRESS the peer (or the address
    again), for both families; flags above 0xff travel only in IFA_FLAGS (the u8 stays 0).
    """
    family = addr.family
    maxlen = 32 if family == AF_INET else 128
    if not 0 <= addr.prefixlen <= maxlen:
        raise ValueError(f"prefix length {addr.prefixlen} out of range for {addr.address}")
    own = pton(family, addr.address)
    peer = pton(family, addr.peer) if addr.peer else None
    settable = IPV4_SETTABLE_FLAGS if family == AF_INET else IPV6_SETTABLE_FLAGS
    flags = 0 if for_delete else addr.flags & settable
    pairs: list[tuple[str, object]] = [("LOCAL", own)]
    if peer is not None:
        pairs.append(("ADDRESS", peer))
    if not for_delete:
        if addr.broadcast and family == AF_INET:
            pairs.append(("BROADCAST", pton(family, addr.broadcast)))
        if addr.label and family == AF_INET:
            pairs.append(("LABEL", addr.label))
        if addr.metric:
            pairs.append(("RT_PRIORITY", addr.metric))
        if flags > 0xFF:
            pairs.append(("FLAGS", flags))
    if peer is None:
        pairs.append(("ADDRESS", own))
    if not for_delete and (addr.valid_lft != INFINITY_LIFE_TIME or addr.preferred_lft != INFINITY_LIFE_TIME):
        pairs.append(("CACHEINFO", IFA_CACHEINFO.pack(addr.preferred_lft, addr.valid_lft, 0, 0)))
    u8_flags = flags if flags <= 0xFF else 0
    scope = 0 if for_delete else addr.scope  # deletes match on address and prefix only
    return IFADDRMSG.pack(family, addr.prefixlen, u8_flags, scope, index) + IFA.encode(pairs)
