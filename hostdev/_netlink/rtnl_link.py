"""Link messages (``RTM_*LINK``): request bodies and reply decoding. Pure.

Requests mirror what iproute2 sends, so our bytes can be compared with ``ip``'s byte for byte:
``ip link set`` is an ``RTM_NEWLINK`` without ``NLM_F_CREATE``, which the kernel treats as a
set (``do_setlink``).
"""

from __future__ import annotations

from hostdev._record import record

from hostdev._netlink.attrs import Buffer, encode_attr
from hostdev._netlink.rtnl_tables import (
    AF_UNSPEC,
    IFLA_PROP,
    IFF_UP,
    IFINFOMSG,
    IFLA,
    IFLA_INFO,
    RTEXT_FILTER_SKIP_STATS,
    RTEXT_FILTER_VF,
)
from hostdev._netlink.wire import NLA_F_NESTED, MessageHeader, family_header

IFNAMSIZ = 16
ALTIFNAMSIZ = 128  # an alternative name's buffer, NUL included
IFALIASZ = 256

_HEX = frozenset("0123456789abcdefABCDEF")
_BAD_IFNAME_CHARS = "/:\0 \t\n\v\f\r"  # dev_valid_name(): '/', ':' and C isspace()

# What ip(8) asks for on a get: VF info (cheap for non-PFs) and no statistics.
GET_EXT_MASK = RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS

_ADDRESS = IFLA["ADDRESS"]
_IFNAME = IFLA["IFNAME"]
_MTU = IFLA["MTU"]
_MASTER = IFLA["MASTER"]
_OPERSTATE = IFLA["OPERSTATE"]
_LINKINFO = IFLA["LINKINFO"]
_IFALIAS = IFLA["IFALIAS"]
_PROP_LIST = IFLA["PROP_LIST"]
_PERM_ADDRESS = IFLA["PERM_ADDRESS"]
_PARENT_DEV_NAME = IFLA["PARENT_DEV_NAME"]
_PARENT_DEV_BUS_NAME = IFLA["PARENT_DEV_BUS_NAME"]
_NUM_VF = IFLA["NUM_VF"]
_NETNS_IMMUTABLE = IFLA["NETNS_IMMUTABLE"]
_ALT_IFNAME = IFLA["ALT_IFNAME"]
_INFO_KIND = IFLA_INFO["KIND"]

LINK_ATTRS = frozenset(
    {_ADDRESS, _IFNAME, _MTU, _MASTER, _OPERSTATE, _LINKINFO, _IFALIAS, _PROP_LIST, _PERM_ADDRESS,
     _PARENT_DEV_NAME, _PARENT_DEV_BUS_NAME, _NUM_VF, _NETNS_IMMUTABLE}
)  # fmt: skip


def format_mac(raw: bytes) -> str:
    return raw.hex(":")


def parse_mac(text: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` (any case, ``:`` or ``-``) to bytes; ValueError otherwise."""
    parts = text.replace("-", ":").split(":")
    # int(p, 16) alone would take " f" or "+f": insist on two hex digits per byte
    if len(parts) not in (6, 20) or any(len(p) != 2 or not _HEX.issuperset(p) for p in parts):
        raise ValueError(f"not a MAC address: {text[:64]!r}")
    return bytes(int(p, 16) for p in parts)


@record
class Link:
    """A network interface as the kernel reports it in one namespace."""

    index: int
    name: str
    flags: int
    arphrd: int
    mac: str | None
    mtu: int | None
    alias: str | None
    altnames: tuple[str, ...]
    operstate: int | None
    kind: str | None  # rtnl_link_ops kind ("veth", "macvlan", …); None for physical NICs
    perm_mac: str | None
    parent_dev_name: str | None  # e.g. the PCI address "0000:44:00.0"
    parent_bus_name: str | None  # e.g. "pci"
    master: int | None
    num_vf: int | None
    netns_immutable: bool | None

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


def decode_link(buf: Buffer, msg: MessageHeader) -> Link:
    _family, arphrd, index, flags, _change = family_header(buf, msg, IFINFOMSG, "link")
    attrs = IFLA.decode(buf, msg.payload + IFINFOMSG.size, msg.end, LINK_ATTRS)
    mac = attrs.binary(_ADDRESS)
    perm = attrs.binary(_PERM_ADDRESS)
    linkinfo = attrs.nest(_LINKINFO)
    props = attrs.nest(_PROP_LIST)
    return Link(
        index=index,
        name=attrs.required_text(_IFNAME, f"link {index}"),
        flags=flags,
        arphrd=arphrd,
        mac=format_mac(mac) if mac else None,
        mtu=attrs.integer(_MTU),
        alias=attrs.text(_IFALIAS),
        altnames=props.texts(_ALT_IFNAME) if props is not None else (),
        operstate=attrs.integer(_OPERSTATE),
        kind=linkinfo.text(_INFO_KIND) if linkinfo is not None else None,
        perm_mac=format_mac(perm) if perm and any(perm) else None,
        parent_dev_name=attrs.text(_PARENT_DEV_NAME),
        parent_bus_name=attrs.text(_PARENT_DEV_BUS_NAME),
        master=attrs.integer(_MASTER),
        num_vf=attrs.integer(_NUM_VF),
        netns_immutable=attrs.boolean(_NETNS_IMMUTABLE),
    )


# --- requests ---
def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, family: int = AF_UNSPEC) -> bytes:
    return IFINFOMSG.pack(family, 0, index, flags, change)


def get_link_body(*, index: int = 0, name: str | None = None, altname: str | None = None) -> bytes:
    """``ip link show``: by index (wins when > 0), else by name or alternative name."""
    body = ifinfomsg(index) + IFLA.encode_one("EXT_MASK", GET_EXT_MASK)
    if name is not None:
        body += IFLA.encode_one("IFNAME", check_ifname(name))
    elif altname is not None:
        body += IFLA.encode_one("ALT_IFNAME", altname)
    return body


def dump_links_body() -> bytes:
    return ifinfomsg() + IFLA.encode_one("EXT_MASK", GET_EXT_MASK)


def set_link_body(
    index: int,
    *,
    netns_fd: int | None = None,
    netns_pid: int | None = None,
    name: str | None = None,
    mtu: int | None = None,
    mac: str | None = None,
    alias: str | None = None,
    up: bool | None = None,
) -> bytes:
    """One ``do_setlink`` request. The kernel applies the netns move first, then the rest in the
    target namespace, and a name given with a move is also the fallback on a name clash."""
    flags = change = 0
    if up is not None:
        # ifi_change must name the bit: change == 0 means "all flags" to the kernel.
        flags, change = (IFF_UP if up else 0), IFF_UP
    pairs: list[tuple[str, object]] = []
    if netns_fd is not None:
        pairs.append(("NET_NS_FD", netns_fd))
    if netns_pid is not None:
        pairs.append(("NET_NS_PID", netns_pid))
    if name is not None:
        pairs.append(("IFNAME", check_ifname(name)))
    if mtu is not None:
        pairs.append(("MTU", mtu))
    if mac is not None:
        pairs.append(("ADDRESS", parse_mac(mac)))
    body = ifinfomsg(index, flags, change) + IFLA.encode(pairs)
    if alias is not None:
        raw = alias.encode("utf-8", "surrogateescape")
        if len(raw) >= IFALIASZ:
            raise ValueError(f"alias longer than {IFALIASZ - 1} bytes")
        # Unterminated, as ip(8) sends it: dev_set_alias() stores nla_len bytes verbatim, so a
        # NUL would count against IFALIASZ (a 255-byte alias would be refused) and be stored.
        body += encode_attr(_IFALIAS, raw)
    return body


def ifname_problem(name: str) -> str | None:
    """Why the kernel would refuse ``name`` as an interface name, or None: its own rule
    (``dev_valid_name``) on the UTF-8 bytes: 1-15 of them, not ``.`` or ``..``, no ``/``, ``:``,
    NUL or ASCII whitespace. The one copy of that rule (sysfs paths use it too)."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if not raw or len(raw) >= IFNAMSIZ:
        return f"must be 1-{IFNAMSIZ - 1} bytes"
    if name in (".", ".."):
        return "'.' and '..' are not interface names"
    if any(c in name for c in _BAD_IFNAME_CHARS):
        return "contains '/', ':', NUL or whitespace"
    return None


def altname_body(index: int, altname: str) -> bytes:
    """``ip link property add|del dev X altname NAME`` (RTM_NEWLINKPROP / RTM_DELLINKPROP)."""
    raw = altname.encode("utf-8", "surrogateescape")
    if not raw or len(raw) >= ALTIFNAMSIZ or any(c in altname for c in _BAD_IFNAME_CHARS):
        raise ValueError(f"invalid alternative name {altname[:32]!r}")
    # The kernel insists on NLA_F_NESTED here (a newer attribute, strictly validated), as ip sends it.
    return ifinfomsg(index) + encode_attr(_PROP_LIST | NLA_F_NESTED, IFLA_PROP.encode_one("ALT_IFNAME", altname))


def check_ifname(name: str) -> str:
    """The kernel's own rules (:func:`ifname_problem`), checked before a request leaves."""
    if ifname_problem(name) is not None:
        raise ValueError(f"invalid interface name {name[:32]!r}")
    return name
