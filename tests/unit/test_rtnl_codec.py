"""rtnetlink bodies (links, addresses, routes): what we encode decodes back to what we meant,
replies in any attribute order decode to the right values, and garbage only raises DecodeError.

A request body and a kernel reply share their layout (family header + attributes), so a body
framed as a reply (:func:`as_reply`) exercises the decoder the kernel's answers go through.
"""

from __future__ import annotations

import random
import socket
import struct
from hostdev._record import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev.errors import DecodeError
from hostdev._netlink import rtnl_addr, rtnl_link, rtnl_route
from hostdev._netlink.attrs import Kind, encode_attr
from hostdev._netlink.rtnl_addr import Address, address_body, decode_address
from hostdev._netlink.rtnl_link import Link, check_ifname, decode_link, parse_mac, set_link_body
from hostdev._netlink.rtnl_route import USER_ROUTE_FLAGS, Route, decode_route, route_body
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    IFA,
    IFA_CACHEINFO,
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFA_F_PERMANENT,
    IFADDRMSG,
    IFF_UP,
    IFINFOMSG,
    IFLA,
    INFINITY_LIFE_TIME,
    RTNH_F_DEAD,
    RTNH_F_LINKDOWN,
    RTNH_F_ONLINK,
    RTA,
    RTAX,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTMSG,
)
from hostdev._netlink.socket import Request, _attribute_at
from hostdev._netlink.wire import NLA_F_NESTED, NLM_F_MULTI, MessageHeader, encode_message, iter_messages

EXAMPLES = settings(max_examples=200, deadline=None)  # cheap inputs: fuzzing bytes
ROUND_TRIPS = settings(max_examples=100, deadline=None)  # rich composite values: dear to generate


def as_reply(msg_type: int, body: bytes) -> tuple[bytes, MessageHeader]:
    """Frame a body the way a dump reply arrives: one message in a datagram, in a fresh buffer."""
    buf = encode_message(msg_type, NLM_F_MULTI, 42, body, pid=0x502F)
    (msg,) = iter_messages(buf)
    return buf, msg


def decode_body(decoder: Any, msg_type: int, body: bytes) -> Any:
    buf, msg = as_reply(msg_type, body)
    return decoder(memoryview(buf), msg)


# --- strategies ---
ipv4 = st.binary(min_size=4, max_size=4).map(lambda b: socket.inet_ntop(AF_INET, b))
ipv6 = st.binary(min_size=16, max_size=16).map(lambda b: socket.inet_ntop(AF_INET6, b))
u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
ifname = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=15).filter(
    lambda n: n not in (".", "..")
)
mac_bytes = st.one_of(st.binary(min_size=6, max_size=6), st.binary(min_size=20, max_size=20))
label_text = st.text("abcdefghijklmnopqrstuvwxyz0123456789:", min_size=1, max_size=15)
lifetimes = st.one_of(
    st.just((INFINITY_LIFE_TIME, INFINITY_LIFE_TIME)),
    st.tuples(u32, u32).map(lambda t: (max(t), min(t))),  # (valid, preferred), preferred <= valid
)


@st.composite
def addresses(draw: st.DrawFn) -> Address:
    family = draw(st.sampled_from([AF_INET, AF_INET6]))
    ip = ipv4 if family == AF_INET else ipv6
    own = draw(ip)
    peer = draw(st.one_of(st.none(), ip.filter(lambda p: p != own)))
    valid, preferred = draw(lifetimes)
    return Address(
        family=family,
        address=own,
        prefixlen=draw(st.integers(0, 32 if family == AF_INET else 128)),
        peer=peer,
        broadcast=draw(st.one_of(st.none(), ipv4)) if family == AF_INET else None,
        label=draw(st.one_of(st.none(), label_text)) if family == AF_INET else None,
        scope=draw(u8),
        flags=draw(st.integers(0, 0xFFF)),
        valid_lft=valid,
        preferred_lft=preferred,
        metric=draw(st.one_of(st.none(), st.integers(1, 0xFFFFFFFF))),
        proto=None,
        index=draw(st.integers(1, 2**31 - 1)),
    )


RTAX_INT_METRICS = sorted(n for n, a in RTAX.by_number.items() if a.kind == Kind.U32)


@st.composite
def routes(draw: st.DrawFn) -> Route:
    family = draw(st.sampled_from([AF_INET, AF_INET6]))
    ip = ipv4 if family == AF_INET else ipv6
    bits = 32 if family == AF_INET else 128
    dst = draw(st.one_of(st.none(), ip))
    src = draw(st.one_of(st.none(), ip))
    metric_numbers = draw(st.lists(st.sampled_from(RTAX_INT_METRICS), unique=True, max_size=4))
    return Route(
        family=family,
        dst=dst,
        dst_len=draw(st.integers(0, bits)) if dst is not None else 0,
        gateway=draw(st.one_of(st.none(), ip)),
        oif=None,
        table=draw(st.one_of(st.integers(1, 255), st.integers(256, 0xFFFFFFFF))),
        priority=draw(st.one_of(st.none(), u32)),
        protocol=draw(u8),
        scope=draw(u8),
        type=draw(u8),
        flags=draw(u8),
        prefsrc=draw(st.one_of(st.none(), ip)),
        src=src,
        src_len=draw(st.integers(0, bits)) if src is not None else 0,
        tos=draw(u8),
        pref=draw(st.one_of(st.none(), u8)),
        metrics=tuple(sorted((n, draw(u32)) for n in metric_numbers)),
    )


# --- addresses ---
def expected_after_round_trip(addr: Address, index: int) -> Address:
    settable = rtnl_addr.IPV4_SETTABLE_FLAGS if addr.family == AF_INET else rtnl_addr.IPV6_SETTABLE_FLAGS
    timed = (addr.valid_lft, addr.preferred_lft) != (INFINITY_LIFE_TIME, INFINITY_LIFE_TIME)
    return replace(
        addr,
        flags=addr.flags & settable,
        metric=addr.metric or None,
        valid_lft=addr.valid_lft if timed else INFINITY_LIFE_TIME,
        preferred_lft=addr.preferred_lft if timed else INFINITY_LIFE_TIME,
        index=index,
    )


@ROUND_TRIPS
@given(addresses(), st.integers(1, 2**31 - 1))
def test_address_bodies_decode_to_the_address(addr: Address, index: int) -> None:
    assert decode_body(decode_address, RTM_NEWADDR, address_body(addr, index)) == expected_after_round_trip(addr, index)
    # a delete names only the address: no flags, scope, lifetimes, label or broadcast
    decoded = decode_body(decode_address, RTM_NEWADDR, address_body(addr, index, for_delete=True))
    assert decoded == Address(addr.family, addr.address, addr.prefixlen, peer=addr.peer, index=index)


@ROUND_TRIPS
@given(addresses(), st.integers(0, 2**32))
def test_kernel_shaped_address_reply_decodes_in_any_attribute_order(addr: Address, seed: int) -> None:
    """What inet_fill_ifaddr/inet6_fill_ifaddr emit: IFA_FLAGS with all 32 bits and the u8 copy
    truncated, CACHEINFO always, PROTO, plus attributes we do not know, in shuffled order."""
    fam = addr.family
    own = socket.inet_pton(fam, addr.address)
    peer = socket.inet_pton(fam, addr.peer) if addr.peer else own
    attrs = [encode_attr(IFA["ADDRESS"], peer if fam == AF_INET or addr.peer else own)]
    if fam == AF_INET or addr.peer:
        attrs.append(encode_attr(IFA["LOCAL"], own))
    if addr.broadcast:
        attrs.append(encode_attr(IFA["BROADCAST"], socket.inet_pton(AF_INET, addr.broadcast)))
    if addr.label:
        attrs.append(encode_attr(IFA["LABEL"], addr.label.encode() + b"\0"))
    attrs.append(encode_attr(IFA["FLAGS"], struct.pack("=I", addr.flags)))
    attrs.append(encode_attr(IFA["CACHEINFO"], IFA_CACHEINFO.pack(addr.preferred_lft, addr.valid_lft, 7, 9)))
    if addr.metric:
        attrs.append(encode_attr(IFA["RT_PRIORITY"], struct.pack("=I", addr.metric)))
    attrs.append(encode_attr(IFA["PROTO"], b"\x03"))
    attrs.append(encode_attr(60, b"unknown to us"))
    random.Random(seed).shuffle(attrs)
    header = IFADDRMSG.pack(fam, addr.prefixlen, addr.flags & 0xFF, addr.scope, addr.index)
    decoded = decode_body(decode_address, RTM_NEWADDR, header + b"".join(attrs))
    assert decoded == replace(addr, metric=addr.metric or None, proto=3)


def test_ip_style_address_bodies() -> None:
    v6 = Address(AF_INET6, "2001:db8::1", 64, flags=IFA_F_NODAD | IFA_F_NOPREFIXROUTE | IFA_F_PERMANENT)
    body = address_body(v6, 3)
    # flags beyond 0xff go only in IFA_FLAGS; PERMANENT is not ours to set
    assert body[:8] == IFADDRMSG.pack(AF_INET6, 64, 0, 0, 3)
    numbers = [struct.unpack_from("=H", body, off + 2)[0] for off in (8, 28, 36)]
    assert numbers == [IFA["LOCAL"], IFA["FLAGS"], IFA["ADDRESS"]]
    assert struct.unpack_from("=I", body, 32)[0] == IFA_F_NODAD | IFA_F_NOPREFIXROUTE
    nodad = address_body(replace(v6, flags=IFA_F_NODAD), 3)
    assert nodad[:8] == IFADDRMSG.pack(AF_INET6, 64, IFA_F_NODAD, 0, 3) and len(nodad) == 8 + 20 + 20


def test_address_body_refuses_what_the_kernel_would() -> None:
    with pytest.raises(ValueError):
        address_body(Address(AF_INET, "10.0.0.1", 33), 1)
    with pytest.raises(ValueError):
        address_body(Address(AF_INET, "10.0.0.256", 24), 1)
    with pytest.raises(ValueError):
        address_body(Address(AF_INET6, "10.0.0.1", 64), 1)


def test_address_reply_with_wrong_address_size_is_a_decode_error() -> None:
    body = IFADDRMSG.pack(AF_INET, 24, 0, 0, 1) + encode_attr(IFA["LOCAL"], b"\x0a\0\0\x01\0")
    with pytest.raises(DecodeError):
        decode_body(decode_address, RTM_NEWADDR, body)
    with pytest.raises(DecodeError):  # neither IFA_ADDRESS nor IFA_LOCAL
        decode_body(decode_address, RTM_NEWADDR, IFADDRMSG.pack(AF_INET, 24, 0, 0, 1))


# --- routes ---
@ROUND_TRIPS
@given(routes(), st.integers(1, 2**31 - 1))
def test_route_bodies_decode_to_the_route(route: Route, oif: int) -> None:
    # only the flags a user sets travel (linkdown/dead are the kernel's report: it refuses them)
    sent = replace(route, oif=oif, flags=route.flags & USER_ROUTE_FLAGS)
    assert decode_body(decode_route, RTM_NEWROUTE, route_body(route, oif)) == sent
    # a delete leaves out what the kernel does not match a route on
    decoded = decode_body(decode_route, RTM_NEWROUTE, route_body(route, oif, for_delete=True))
    assert decoded == replace(sent, prefsrc=None, metrics=(), pref=None)


def test_route_body_never_carries_the_kernels_nexthop_flags() -> None:
    reported = Route(AF_INET, "192.0.2.0", 24, gateway="10.0.0.1", flags=RTNH_F_LINKDOWN | RTNH_F_DEAD | RTNH_F_ONLINK)
    sent = decode_body(decode_route, RTM_NEWROUTE, route_body(reported, 3))
    assert sent.flags == RTNH_F_ONLINK


def test_small_tables_travel_in_the_header_large_ones_in_rta_table() -> None:
    small = route_body(Route(AF_INET, "192.0.2.0", 24, table=100), 3)
    assert RTMSG.unpack_from(small)[4] == 100 and RTA["TABLE"] not in RTA.decode(small, RTMSG.size, len(small))
    large = route_body(Route(AF_INET, "192.0.2.0", 24, table=1000), 3)
    assert RTMSG.unpack_from(large)[4] == 0 and RTA.decode(large, RTMSG.size, len(large))[RTA["TABLE"]] == 1000


def test_multipath_route_is_flagged_and_non_inet_routes_are_decode_errors() -> None:
    body = RTMSG.pack(AF_INET, 24, 0, 0, 254, 4, 0, 1, 0) + RTA.encode([("DST", b"\xc0\0\x02\0")])
    body += encode_attr(RTA["MULTIPATH"], b"\0" * 16)
    assert decode_body(decode_route, RTM_NEWROUTE, body).multipath
    mpls = RTMSG.pack(28, 20, 0, 0, 254, 4, 0, 1, 0) + encode_attr(RTA["DST"], b"\0\x01\x01\0")
    with pytest.raises(DecodeError):
        decode_body(decode_route, RTM_NEWROUTE, mpls)
    unknown_family = RTMSG.pack(28, 20, 0, 0, 254, 4, 0, 1, 0) + encode_attr(RTA["DST"], b"\0" * 16)
    with pytest.raises(DecodeError):
        decode_body(decode_route, RTM_NEWROUTE, unknown_family)


# --- links ---
@st.composite
def links(draw: st.DrawFn) -> Link:
    mac = draw(st.one_of(st.none(), mac_bytes))
    perm = draw(st.one_of(st.none(), mac_bytes.filter(any)))
    return Link(
        index=draw(st.integers(1, 2**31 - 1)),
        name=draw(ifname),
        flags=draw(u32),
        arphrd=draw(st.integers(0, 0xFFFF)),
        mac=mac.hex(":") if mac else None,
        mtu=draw(st.one_of(st.none(), u32)),
        alias=draw(st.one_of(st.none(), st.text("abc xyz", min_size=1, max_size=40))),
        altnames=tuple(draw(st.lists(st.text("abcdefghij-", min_size=1, max_size=30), max_size=3))),
        operstate=draw(st.one_of(st.none(), st.integers(0, 6))),
        kind=draw(st.one_of(st.none(), st.sampled_from(["veth", "macvlan", "vlan"]))),
        perm_mac=perm.hex(":") if perm else None,
        parent_dev_name=draw(st.one_of(st.none(), st.just("0000:44:00.0"))),
        parent_bus_name=draw(st.one_of(st.none(), st.just("pci"))),
        master=draw(st.one_of(st.none(), st.integers(1, 2**31 - 1))),
        num_vf=draw(st.one_of(st.none(), st.integers(0, 256))),
        netns_immutable=draw(st.one_of(st.none(), st.booleans())),
    )


def link_reply_body(link: Link, rnd: random.Random) -> bytes:
    """What rtnl_fill_ifinfo could emit for ``link``, with stuff we skip, in shuffled order."""
    attrs = [IFLA.encode_one("IFNAME", link.name)]
    if link.mac:
        attrs.append(encode_attr(IFLA["ADDRESS"], bytes.fromhex(link.mac.replace(":", ""))))
    if link.mtu is not None:
        attrs.append(IFLA.encode_one("MTU", link.mtu))
    if link.alias:
        attrs.append(IFLA.encode_one("IFALIAS", link.alias))
    if link.operstate is not None:
        attrs.append(IFLA.encode_one("OPERSTATE", link.operstate))
    if link.kind:
        attrs.append(encode_attr(IFLA["LINKINFO"], IFLA.by_name["LINKINFO"].nested.encode([("KIND", link.kind)])))  # type: ignore[union-attr]
    if link.altnames:
        props = b"".join(IFLA.encode_one("ALT_IFNAME", n) for n in link.altnames)
        attrs.append(encode_attr(IFLA["PROP_LIST"] | NLA_F_NESTED, props))
    if link.perm_mac:
        attrs.append(encode_attr(IFLA["PERM_ADDRESS"], bytes.fromhex(link.perm_mac.replace(":", ""))))
    if link.parent_dev_name:
        attrs.append(IFLA.encode_one("PARENT_DEV_NAME", link.parent_dev_name))
    if link.parent_bus_name:
        attrs.append(IFLA.encode_one("PARENT_DEV_BUS_NAME", link.parent_bus_name))
    if link.master is not None:
        attrs.append(IFLA.encode_one("MASTER", link.master))
    if link.num_vf is not None:
        attrs.append(IFLA.encode_one("NUM_VF", link.num_vf))
    if link.netns_immutable is not None:
        attrs.append(IFLA.encode_one("NETNS_IMMUTABLE", int(link.netns_immutable)))
    attrs += [encode_attr(7, b"\0" * 96), encode_attr(62 | NLA_F_NESTED, b""), encode_attr(26, b"\x04\0\x02\0"), encode_attr(66, b"\0" * 4)]
    rnd.shuffle(attrs)
    return IFINFOMSG.pack(0, link.arphrd, link.index, link.flags, 0) + b"".join(attrs)


@ROUND_TRIPS
@given(links(), st.integers(0, 2**32))
def test_link_reply_decodes_in_any_attribute_order(link: Link, seed: int) -> None:
    assert decode_body(decode_link, RTM_NEWLINK, link_reply_body(link, random.Random(seed))) == link


def test_zero_perm_address_means_none() -> None:
    body = IFINFOMSG.pack(0, 772, 1, 0x49, 0) + IFLA.encode_one("IFNAME", "lo")
    body += encode_attr(IFLA["PERM_ADDRESS"], b"\0" * 6) + encode_attr(IFLA["ADDRESS"], b"\0" * 6)
    link = decode_body(decode_link, RTM_NEWLINK, body)
    assert (link.perm_mac, link.mac) == (None, "00:00:00:00:00:00")


@ROUND_TRIPS
@given(
    st.integers(1, 2**31 - 1),
    ifname,
    st.one_of(st.none(), u32),
    st.one_of(st.none(), mac_bytes),
    st.one_of(st.none(), st.text("ab ", max_size=40)),
    st.one_of(st.none(), st.booleans()),
)
def test_set_link_body_decodes_back(
    index: int, name: str, mtu: int | None, mac: bytes | None, alias: str | None, up: bool | None
) -> None:
    body = set_link_body(index, name=name, mtu=mtu, mac=mac.hex(":") if mac else None, alias=alias, up=up)
    _family, _type, got_index, flags, change = IFINFOMSG.unpack_from(body)
    assert (got_index, flags, change) == (index, IFF_UP if up else 0, 0 if up is None else IFF_UP)
    link = decode_body(decode_link, RTM_NEWLINK, body)
    assert (link.index, link.name, link.mtu) == (index, name, mtu)
    assert link.mac == (mac.hex(":") if mac else None)
    assert link.alias == (alias or None)


def test_alias_goes_out_unterminated_like_ip_and_may_use_all_255_bytes() -> None:
    body = set_link_body(3, alias="x" * 255)
    assert struct.unpack_from("=HH", body, 16) == (4 + 255, IFLA["IFALIAS"])
    with pytest.raises(ValueError):
        set_link_body(3, alias="x" * 256)
    assert set_link_body(3, alias="")[16:] == struct.pack("=HH", 4, IFLA["IFALIAS"])  # "" deletes


def test_move_body_carries_fd_then_name() -> None:
    body = set_link_body(7, netns_fd=5, name="eth9")
    assert body == IFINFOMSG.pack(0, 0, 7, 0, 0) + IFLA.encode([("NET_NS_FD", 5), ("IFNAME", "eth9")])


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\nb", "a\rb", "a\vb", "a\fb", "x" * 16, "é" * 8])
def test_check_ifname_refuses_what_dev_valid_name_refuses(name: str) -> None:
    with pytest.raises(ValueError):
        check_ifname(name)


@pytest.mark.parametrize("name", ["eth0", "x" * 15, "a-b_c.d", "é" * 7])
def test_check_ifname_accepts_valid_names(name: str) -> None:
    assert check_ifname(name) == name


def test_parse_mac() -> None:
    assert parse_mac("AA-bb-CC-dd-EE-ff") == bytes.fromhex("aabbccddeeff")
    assert len(parse_mac(":".join(["80"] * 20))) == 20
    for bad in ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aa:bb:cc:dd:ee: f", "aa:bb:cc:dd:ee:+f", "aabbccddeeff", ""]:
        with pytest.raises(ValueError):
            parse_mac(bad)


def test_altnames_are_read_in_order_from_a_nested_flagged_prop_list() -> None:
    link = Link(3, "eth0", 0, 1, None, None, None, ("first-alt", "second-alt"), None, None, None, None, None, None, None, None)
    assert decode_body(decode_link, RTM_NEWLINK, link_reply_body(link, random.Random(1))).altnames == link.altnames


def test_link_without_name_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_body(decode_link, RTM_NEWLINK, IFINFOMSG.pack(0, 1, 5, 0, 0))


# --- dump request bodies ---
def test_dump_bodies() -> None:
    assert rtnl_addr.dump_addresses_body(AF_INET6, 4) == IFADDRMSG.pack(AF_INET6, 0, 0, 0, 4)
    assert rtnl_link.dump_links_body() == IFINFOMSG.pack(0, 0, 0, 0, 0) + IFLA.encode_one("EXT_MASK", 9)
    body = rtnl_route.dump_routes_body(AF_INET, oif=3)
    assert body == RTMSG.pack(AF_INET, 0, 0, 0, 0, 0, 0, 0, 0) + RTA.encode_one("OIF", 3)
    body = rtnl_route.dump_routes_body(AF_INET6, table=1000)
    assert body == RTMSG.pack(AF_INET6, 0, 0, 0, 0, 0, 0, 0, 0) + RTA.encode_one("TABLE", 1000)


def test_get_link_body_by_index_name_and_altname() -> None:
    head = IFINFOMSG.pack(0, 0, 0, 0, 0) + IFLA.encode_one("EXT_MASK", 9)
    assert rtnl_link.get_link_body(name="eth0") == head + IFLA.encode_one("IFNAME", "eth0")
    assert rtnl_link.get_link_body(altname="a-very-long-alternative") == head + IFLA.encode_one(
        "ALT_IFNAME", "a-very-long-alternative"
    )
    assert rtnl_link.get_link_body(index=7) == IFINFOMSG.pack(0, 0, 7, 0, 0) + IFLA.encode_one("EXT_MASK", 9)


# --- the attribute a refusal points at (NLMSGERR_ATTR_OFFS) ---
def test_attribute_at_names_the_request_attribute_containing_the_offset() -> None:
    body = set_link_body(7, netns_fd=5, name="eth9")
    sent = encode_message(RTM_NEWLINK, 5, 1, body)
    what = Request("RTM_NEWLINK", IFINFOMSG.size, IFLA)
    assert _attribute_at(sent, 32, what) == "IFLA_NET_NS_FD"
    assert _attribute_at(sent, 40, what) == "IFLA_IFNAME"
    assert _attribute_at(sent, 44, what) == "IFLA_IFNAME"  # inside the attribute
    assert _attribute_at(sent, 20, what) is None  # in the family header
    assert _attribute_at(sent, None, what) is None


# --- garbage in, DecodeError out ---
DECODERS = [(decode_link, RTM_NEWLINK, IFINFOMSG, IFLA), (decode_address, RTM_NEWADDR, IFADDRMSG, IFA), (decode_route, RTM_NEWROUTE, RTMSG, RTA)]


@EXAMPLES
@given(st.binary(max_size=300), st.sampled_from(DECODERS))
def test_arbitrary_payloads_only_ever_raise_decode_error(payload: bytes, decoder: Any) -> None:
    decode, msg_type, _header, _table = decoder
    try:
        decode_body(decode, msg_type, payload)
    except DecodeError:
        pass


@EXAMPLES
@given(
    st.sampled_from(DECODERS),
    st.binary(min_size=16, max_size=16),
    st.lists(st.tuples(st.integers(0, 70), st.binary(max_size=24), st.booleans()), max_size=10),
)
def test_valid_headers_with_arbitrary_attributes_only_raise_decode_error(
    decoder: Any, header: bytes, attrs: list[tuple[int, bytes, bool]]
) -> None:
    decode, msg_type, struct_, _table = decoder
    head = bytearray(header[: struct_.size])
    if struct_ is not IFINFOMSG:
        head[0] = header[0] % 3 * 4 + (2 if header[0] % 3 else 10)  # mostly INET/INET6, sometimes other
    body = bytes(head) + b"".join(encode_attr(n | (NLA_F_NESTED if f else 0), p) for n, p, f in attrs)
    try:
        decode_body(decode, msg_type, body)
    except DecodeError:
        pass


@EXAMPLES
@given(st.binary(max_size=400))
def test_arbitrary_datagrams_through_every_decoder(datagram: bytes) -> None:
    try:
        msgs = list(iter_messages(datagram))
    except DecodeError:
        return
    for msg in msgs:
        for decode, *_rest in DECODERS:
            try:
                decode(datagram, msg)
            except DecodeError:
                pass
