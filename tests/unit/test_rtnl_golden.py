"""Our rtnetlink bytes against iproute2's, and our decoding against strace's and ``ip -j``'s.

Two sources:
- ``tests/data/golden_rtnl/*.json``: ``ip`` commands on this machine's kernel, recorded by
  ``tests/tools/capture_rtnl_golden.py`` (each file holds the command, every netlink buffer in
  hex, strace's own decode of it, and ``ip -j`` output taken right after);
- ``tests/data/golden/<kernel>/ip_link_set_*.json``: NIC netns moves on real 6.1, 6.12 and 7.2
  kernels (missing captures fail the test: see ``tests/unit/golden.py``).

Requests must be byte-identical to ip's once the values that legitimately differ (sequence
number, ifindex, fd) are fed in from the recording. Where we deliberately differ it is stated:
we always set ``NLM_F_ACK`` (ip leaves it off on gets and dumps).
"""

from __future__ import annotations

import errno
import re
from typing import Any, Callable

import pytest

from hostdev._netlink import rtnl_tables as T
from hostdev._netlink.rtnl_addr import Address, address_body, decode_address, dump_addresses_body
from hostdev._netlink.rtnl_link import Link, decode_link, get_link_body, set_link_body
from hostdev._netlink.rtnl_route import Route, decode_route, dump_routes_body, route_body
from hostdev._netlink.wire import HEADER, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, iter_messages, parse_ack
from tests.unit import golden
from tests.unit.rtnl_captures import (
    _HEXSTR,
    DATA,
    answers,
    buffers,
    case,
    decoded_replies,
    first_message,
    ifindex_from_strace,
    index_of,
    is_probe,
    names_to_value,
    only_ack,
    ours,
    s_field,
    s_inet,
    s_int,
    s_mac,
    s_str,
    sent,
    strace_chunks,
    with_ack,
)

SAME_NAME_EXTACK = "An interface with the same name exists in the target netns"


# --- requests: byte for byte against ip(8) ---
LINK_SETS: dict[str, Callable[[int, int | None], bytes]] = {
    "link_set_mtu": lambda index, _fd: set_link_body(index, mtu=9000),
    "link_set_up": lambda index, _fd: set_link_body(index, up=True),
    "link_set_alias": lambda index, _fd: set_link_body(index, alias="golden alias"),
    "link_move_eexist": lambda index, fd: set_link_body(index, netns_fd=fd),
    "link_move_fd_rename": lambda index, fd: set_link_body(index, netns_fd=fd, name="gm0"),
}


@pytest.mark.parametrize("name", sorted(LINK_SETS))
def test_link_set_requests_match_ip(name: str) -> None:
    ip = sent(name, T.RTM_NEWLINK)
    assert ours(ip, T.RTM_NEWLINK, LINK_SETS[name](index_of(name), case(name)["netns_fd"])) == ip


@pytest.mark.parametrize(("name", "body"), [
    ("link_get", get_link_body(name="gv0")),
    ("link_get_altname", get_link_body(altname="gv0-alternative-name")),
])  # fmt: skip
def test_link_get_requests_match_ip(name: str, body: bytes) -> None:
    # ip's name lookup (ll_link_get): the first RTM_GETLINK of the command
    ip = sent(name, T.RTM_GETLINK)
    assert ours(ip, T.RTM_GETLINK, body) == with_ack(ip)


V4, V6 = T.AF_INET, T.AF_INET6
ADDRESS_REQUESTS = [
    ("addr_add_v4", T.RTM_NEWADDR, Address(V4, "10.1.2.3", 24), NLM_F_CREATE | NLM_F_EXCL, False),
    ("addr_add_v4_secondary_label", T.RTM_NEWADDR,
     Address(V4, "10.1.2.4", 24, broadcast="10.1.2.255", label="gv0:sec"), NLM_F_CREATE | NLM_F_EXCL, False),
    ("addr_add_v4_31", T.RTM_NEWADDR, Address(V4, "10.9.0.0", 31), NLM_F_CREATE | NLM_F_EXCL, False),
    ("addr_add_v4_eexist", T.RTM_NEWADDR, Address(V4, "10.1.2.3", 24), NLM_F_CREATE | NLM_F_EXCL, False),
    ("addr_replace_v4", T.RTM_NEWADDR, Address(V4, "10.9.0.0", 31), NLM_F_CREATE | NLM_F_REPLACE, False),
    ("addr_add_v6_nodad", T.RTM_NEWADDR, Address(V6, "2001:db8::1", 64, flags=T.IFA_F_NODAD),
     NLM_F_CREATE | NLM_F_EXCL, False),
    ("addr_add_v6_nodad_noprefixroute", T.RTM_NEWADDR,
     Address(V6, "2001:db8:1::1", 64, flags=T.IFA_F_NODAD | T.IFA_F_NOPREFIXROUTE), NLM_F_CREATE | NLM_F_EXCL, False),
    ("addr_del_v4", T.RTM_DELADDR, Address(V4, "10.1.2.4", 24, flags=T.IFA_F_SECONDARY), 0, True),
    ("addr_del_v6", T.RTM_DELADDR, Address(V6, "2001:db8::1", 64, flags=T.IFA_F_NODAD), 0, True),
]  # fmt: skip


@pytest.mark.parametrize(("name", "msg_type", "addr", "flags", "delete"), ADDRESS_REQUESTS, ids=[r[0] for r in ADDRESS_REQUESTS])
def test_address_requests_match_ip(name: str, msg_type: int, addr: Address, flags: int, delete: bool) -> None:
    ip = sent(name, msg_type)
    assert ours(ip, msg_type, address_body(addr, index_of(name), for_delete=delete), flags) == ip


ROUTE_REQUESTS = [
    ("route_add_v4_main", Route(V4, "192.0.2.0", 24, gateway="10.1.2.254")),
    ("route_add_v4_table", Route(V4, "198.51.100.0", 24, gateway="10.1.2.254", table=100)),
    ("route_add_v6_table", Route(V6, "2001:db8:5::", 64, gateway="fe80::1", table=100)),
]


@pytest.mark.parametrize(("name", "route"), ROUTE_REQUESTS, ids=[r[0] for r in ROUTE_REQUESTS])
def test_route_requests_match_ip(name: str, route: Route) -> None:
    ip = sent(name, T.RTM_NEWROUTE)
    assert ours(ip, T.RTM_NEWROUTE, route_body(route, index_of(name)), NLM_F_CREATE | NLM_F_EXCL) == ip
    assert only_ack(name, ip) == (0, None)


@pytest.mark.parametrize(("name", "msg_type", "body"), [
    ("addr_show", T.RTM_GETADDR, lambda i: dump_addresses_body(T.AF_UNSPEC, i)),
    ("route_show_v4", T.RTM_GETROUTE, lambda i: dump_routes_body(V4, oif=i)),
    ("route_show_v6", T.RTM_GETROUTE, lambda i: dump_routes_body(V6, oif=i)),
])  # fmt: skip
def test_filtered_dump_requests_match_ip(name: str, msg_type: int, body: Callable[[int], bytes]) -> None:
    ip = sent(name, msg_type)
    assert ours(ip, msg_type, body(index_of(name)), NLM_F_DUMP) == with_ack(ip)


# --- replies: acks and refusals ---
@pytest.mark.parametrize("name", [n for n in sorted(p.stem for p in DATA.glob("*.json")) if not n.endswith("eexist")])
def test_every_recorded_change_was_acked(name: str) -> None:
    for data, _meta in buffers(name, "tx"):
        raw, msg = first_message(data)
        if msg.type in (T.RTM_NEWLINK, T.RTM_NEWADDR, T.RTM_DELADDR, T.RTM_NEWROUTE) and not is_probe(raw):
            assert only_ack(name, raw) == (0, None)


def test_probe_with_ifindex_zero_is_an_uncapped_enodev() -> None:
    probe = next(first_message(d)[0] for d, _m in buffers("link_get", "tx") if is_probe(d))
    assert only_ack("link_get", probe) == (errno.ENODEV, None)


def test_address_eexist_echoes_the_request_and_carries_the_kernels_words() -> None:
    request = sent("addr_add_v4_eexist", T.RTM_NEWADDR)
    (data, meta), *_ = answers("addr_add_v4_eexist", request)
    assert "error=-EEXIST" in meta["strace"]
    assert data[20 : 20 + len(request)] == request  # not capped: ip sets no NETLINK_CAP_ACK here
    words = s_str(meta["strace"], "NLMSGERR_ATTR_MSG")
    assert words == "ipv4: Address already assigned"
    assert only_ack("addr_add_v4_eexist", request) == (errno.EEXIST, words)


def test_move_onto_a_taken_name_is_eexist_with_the_kernels_words() -> None:
    request = sent("link_move_eexist", T.RTM_NEWLINK)
    (_data, meta), *_ = answers("link_move_eexist", request)
    assert "error=-EEXIST" in meta["strace"]
    assert s_str(meta["strace"], "NLMSGERR_ATTR_MSG") == SAME_NAME_EXTACK
    assert only_ack("link_move_eexist", request) == (errno.EEXIST, SAME_NAME_EXTACK)


# --- replies: decoded values against strace and ip -j ---
IFF_NAMES = {"UP": T.IFF_UP, "BROADCAST": T.IFF_BROADCAST, "LOOPBACK": T.IFF_LOOPBACK, "NOARP": T.IFF_NOARP,
             "MULTICAST": T.IFF_MULTICAST, "LOWER_UP": T.IFF_LOWER_UP, "POINTOPOINT": T.IFF_POINTOPOINT}  # fmt: skip


def check_link_against_strace(link: Link, chunk: str, ifindex: dict[str, int]) -> None:
    assert link.index == ifindex_from_strace(chunk, ifindex)
    assert link.name == s_str(chunk, "IFLA_IFNAME")
    assert link.mtu == s_int(chunk, "IFLA_MTU")
    assert link.mac == s_mac(chunk, "IFLA_ADDRESS")
    assert link.perm_mac == s_mac(chunk, "IFLA_PERM_ADDRESS")
    assert link.alias == s_str(chunk, "IFLA_IFALIAS")
    assert link.operstate == s_int(chunk, "IFLA_OPERSTATE")
    assert link.kind == s_str(chunk, "IFLA_INFO_KIND")
    assert link.parent_dev_name == s_str(chunk, "IFLA_PARENT_DEV_NAME")
    assert link.parent_bus_name == s_str(chunk, "IFLA_PARENT_DEV_BUS_NAME")
    assert link.num_vf == s_int(chunk, "IFLA_NUM_VF")
    assert link.flags == names_to_value(s_field(chunk, "ifi_flags"), "IFF_")
    alts = re.findall(r"nla_type=IFLA_ALT_IFNAME\}, " + _HEXSTR, chunk)
    assert link.altnames == tuple(bytes.fromhex(a.replace("\\x", "")).rstrip(b"\0").decode() for a in alts)


def check_link_against_ip(link: Link, ip_link: dict[str, Any]) -> None:
    assert (link.index, link.name, link.mtu, link.mac) == (ip_link["ifindex"], ip_link["ifname"], ip_link["mtu"], ip_link["address"])
    assert link.alias == ip_link.get("ifalias")
    assert link.altnames == tuple(ip_link.get("altnames", ()))
    assert link.kind == ip_link.get("linkinfo", {}).get("info_kind")
    assert link.operstate == ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"].index(ip_link["operstate"])
    for flag_name, bit in IFF_NAMES.items():
        assert bool(link.flags & bit) == (flag_name in ip_link["flags"]), flag_name


@pytest.mark.parametrize("name", ["link_get", "link_get_altname", "link_set_alias", "link_move_fd_rename"])
def test_link_replies_decode_like_strace_and_ip(name: str) -> None:
    request = sent(name, T.RTM_GETLINK)
    ((link, chunk),) = decoded_replies(name, request, decode_link)
    check_link_against_strace(link, chunk, case(name)["ifindex"])
    assert link.name == "gv0" and link.kind == "veth"
    if name == "link_get":  # state unchanged by the command: ip -j right after must agree
        (ip_link,) = case(name)["oracle"]["ip -j -d link show dev gv0"]
        check_link_against_ip(link, ip_link)
    if name == "link_get_altname":
        assert link.altnames == ("gv0-alternative-name",)


def check_address_against_strace(addr: Address, chunk: str, ifindex: dict[str, int]) -> None:
    family = T.AF_INET if "ifa_family=AF_INET," in chunk else T.AF_INET6
    assert addr.family == family
    assert addr.index == ifindex_from_strace(chunk, ifindex, "ifa_index=")
    assert addr.prefixlen == int(s_field(chunk, "ifa_prefixlen"))
    assert addr.scope == names_to_value(s_field(chunk, "ifa_scope"), "RT_SCOPE_")
    assert addr.address == s_inet(chunk, "IFA_LOCAL" if family == T.AF_INET else "IFA_ADDRESS")
    assert addr.broadcast == s_inet(chunk, "IFA_BROADCAST")
    assert addr.label == s_str(chunk, "IFA_LABEL")
    flags = re.search(r"nla_type=IFA_FLAGS\}, ([A-Z0-9_|x]+)\]", chunk)
    assert flags and addr.flags == names_to_value(flags.group(1), "IFA_F_")
    cache = re.search(r"ifa_prefered=(\d+), ifa_valid=(\d+)", chunk)
    assert cache and (addr.preferred_lft, addr.valid_lft) == (int(cache.group(1)), int(cache.group(2)))


def check_addresses_against_ip(addrs: list[Address], ip_addrs: list[dict[str, Any]]) -> None:
    scope_names = {"global": 0, "link": 253, "host": 254}
    expected = [
        (T.AF_INET if a["family"] == "inet" else T.AF_INET6, a["local"], a["prefixlen"], a.get("broadcast"),
         a.get("label"), scope_names[a["scope"]], bool(a.get("secondary")), bool(a.get("nodad")),
         bool(a.get("noprefixroute")), a["valid_life_time"], a["preferred_life_time"])
        for a in ip_addrs
    ]  # fmt: skip
    got = [
        (a.family, a.address, a.prefixlen, a.broadcast, a.label, a.scope, bool(a.flags & T.IFA_F_SECONDARY),
         bool(a.flags & T.IFA_F_NODAD), bool(a.flags & T.IFA_F_NOPREFIXROUTE), a.valid_lft, a.preferred_lft)
        for a in addrs
    ]  # fmt: skip
    assert got == expected


def test_address_dump_decodes_like_strace_and_ip() -> None:
    request = sent("addr_show", T.RTM_GETADDR)
    replies = decoded_replies("addr_show", request, decode_address)
    for addr, chunk in replies:
        check_address_against_strace(addr, chunk, case("addr_show")["ifindex"])
    addrs = [a for a, _c in replies]
    (ip_link,) = case("addr_show")["oracle"]["ip -j -d addr show dev gv0"]
    check_addresses_against_ip(addrs, ip_link["addr_info"])
    # what the earlier cases set up, in the kernel's order: IPv4 primaries, then the secondary;
    # IPv6 newest first, link-local last
    assert [(a.cidr, a.flags & (T.IFA_F_SECONDARY | T.IFA_F_NODAD | T.IFA_F_NOPREFIXROUTE)) for a in addrs[:5]] == [
        ("10.1.2.3/24", 0), ("10.9.0.0/31", 0), ("10.1.2.4/24", T.IFA_F_SECONDARY),
        ("2001:db8:1::1/64", T.IFA_F_NODAD | T.IFA_F_NOPREFIXROUTE), ("2001:db8::1/64", T.IFA_F_NODAD),
    ]  # fmt: skip
    assert addrs[2].label == "gv0:sec" and addrs[2].broadcast == "10.1.2.255"
    assert addrs[5].address.startswith("fe80:") and addrs[5].proto == T.IFAPROT_KERNEL_LL


TABLE_NAMES = {T.RT_TABLE_MAIN: None, T.RT_TABLE_LOCAL: "local"}


def ip_dst(route: Route) -> str:
    full = 32 if route.family == T.AF_INET else 128
    if route.dst is None:
        return "default"
    return route.dst if route.dst_len == full else f"{route.dst}/{route.dst_len}"


def check_route_against_strace(route: Route, chunk: str, ifindex: dict[str, int]) -> None:
    assert route.dst_len == int(s_field(chunk, "rtm_dst_len"))
    assert route.table == names_to_value(s_field(chunk, "rtm_table"), "RT_TABLE_")
    assert route.protocol == names_to_value(s_field(chunk, "rtm_protocol"), "RTPROT_")
    assert route.scope == names_to_value(s_field(chunk, "rtm_scope"), "RT_SCOPE_")
    assert route.type == names_to_value(s_field(chunk, "rtm_type"), "RTN_")
    assert route.dst == s_inet(chunk, "RTA_DST")
    assert route.gateway == s_inet(chunk, "RTA_GATEWAY")
    assert route.prefsrc == s_inet(chunk, "RTA_PREFSRC")
    assert route.priority == s_int(chunk, "RTA_PRIORITY")
    assert route.oif == ifindex_from_strace(chunk, ifindex, "nla_type=RTA_OIF}, ")


@pytest.mark.parametrize(("name", "oracle"), [
    ("route_show_v4", "ip -j -4 route show table all dev gv0"),
    ("route_show_v6", "ip -j -6 route show table all dev gv0"),
])  # fmt: skip
def test_route_dump_decodes_like_strace_and_ip(name: str, oracle: str) -> None:
    request = sent(name, T.RTM_GETROUTE)
    replies = decoded_replies(name, request, decode_route)
    assert replies
    for route, chunk in replies:
        check_route_against_strace(route, chunk, case(name)["ifindex"])
    got = [(ip_dst(r), r.gateway, TABLE_NAMES.get(r.table, str(r.table))) for r, _c in replies]
    expected = [(r["dst"], r.get("gateway"), r.get("table")) for r in case(name)["oracle"][oracle]]
    assert got == expected
    assert ("198.51.100.0/24" if name.endswith("v4") else "2001:db8:5::/64", "10.1.2.254" if name.endswith("v4") else "fe80::1", "100") in got


# --- real 6.1 / 6.12 / 7.2 kernels: NIC moves by iproute2 (qemu guest captures) ---
GUEST_MOVES = [(k, n) for k in golden.KERNELS for n in golden.capture_names(k, "ip_link_set_")]


def test_guest_move_captures_are_all_there() -> None:
    for kernel in golden.KERNELS:
        names = set(golden.capture_names(kernel, "ip_link_set_"))
        assert {"ip_link_set_eth2_netns_pod", "ip_link_set_eth2_netns_pod_name", "ip_link_set_eth2_netns_1_by_pid",
                "ip_link_set_eth2_netns_pod_eexist"} <= names, kernel  # fmt: skip


def _strace_call(cap: golden.Capture, buf: golden.Buffer) -> str:
    """strace's line for ``buf``: the call on its fd that transferred exactly its bytes."""
    pattern = re.compile(rf"\b{buf.syscall}\({buf.fd}, .* = {len(buf.data)}$")
    lines = [ln for ln in cap.strace.splitlines() if pattern.search(ln) and "MSG_PEEK" not in ln]
    assert lines, f"{cap.name}: no strace line for {buf.syscall} on fd {buf.fd}"
    matching = [ln for ln in lines if f"nlmsg_seq={HEADER.unpack_from(buf.data)[3]}," in ln]
    return (matching or lines)[0]


@pytest.mark.parametrize(("kernel", "name"), GUEST_MOVES)
def test_guest_kernel_netns_moves_match_ip_and_decode(kernel: str, name: str) -> None:
    cap = golden.load(kernel, name)
    sends = [b for b in cap.sent() if b.proto in (None, "NETLINK_ROUTE")]
    probe, getlink, move = sends
    dev = name.split("_")[3]

    # the probe: RTM_NEWLINK with ifindex 0, answered ENODEV with the request echoed
    (probe_ack,) = cap.answers_to(probe)
    assert parse_ack(probe_ack.data, next(iter_messages(probe_ack.data))) == (errno.ENODEV, None, None, None)

    # the name lookup: our get request, and the reply against strace's decode
    assert ours(getlink.data, T.RTM_GETLINK, get_link_body(name=dev)) == with_ack(getlink.data)
    (reply,) = cap.answers_to(getlink)
    (msg,) = iter_messages(reply.data)
    link = decode_link(memoryview(reply.data), msg)
    assert (link.name, link.index, link.kind) == (dev, int.from_bytes(reply.data[20:24], "little", signed=True), None)
    (chunk,) = strace_chunks(_strace_call(cap, reply))
    if "RTM_NEWLINK" in chunk:  # strace could not tell the protocol of sockets made after a setns
        check_link_against_strace(link, chunk, {dev: link.index})
    assert (link.parent_bus_name, link.parent_dev_name is not None) in (("pci", True), ("virtio", True))

    # the move: byte for byte, with ip's fd (or pid) and the kernel's ifindex
    move_line = _strace_call(cap, move)
    if "_netns_1" in name:  # "netns 1": no /run/netns/1, so ip takes it as a pid
        body = set_link_body(link.index, netns_pid=1)
        # strace decodes it as IFLA_NET_NS_PID, or (socket made after a setns) shows the raw attribute
        assert "nla_type=IFLA_NET_NS_PID}, 1]" in move_line or "\\x08\\x00\\x13\\x00\\x01\\x00\\x00\\x00" in move_line
    else:
        fd = dict(cap.opened())["/run/netns/pod"]
        assert f"nla_type=IFLA_NET_NS_FD}}, {fd}]" in move_line
        body = set_link_body(link.index, netns_fd=fd, name=s_str(move_line, "IFLA_IFNAME") if name.endswith("_name") else None)
    assert ours(move.data, T.RTM_NEWLINK, body) == move.data

    # the answer: an ACK, or EEXIST with the kernel's words from 6.12 on
    (answer,) = cap.answers_to(move)
    ack = parse_ack(answer.data, next(iter_messages(answer.data)))
    if name.endswith("_eexist"):
        words = None if kernel.startswith("6.1.") else SAME_NAME_EXTACK
        assert (ack.error, ack.extack_message) == (errno.EEXIST, words)
    else:
        assert (ack.error, ack.extack_message) == (0, None)

