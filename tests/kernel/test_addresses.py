"""Addresses over our rtnetlink against ``ip -j -d addr`` as the oracle."""

from __future__ import annotations

import errno
from typing import Any, Callable

import pytest

from hostdev._netlink.rtnl_addr import Address
from hostdev._netlink.rtnl_tables import (
    AF_INET,
    AF_INET6,
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFA_F_PERMANENT,
    IFA_F_SECONDARY,
    INFINITY_LIFE_TIME,
)
from hostdev.errors import NetlinkError
from hostdev.handle import Handle
from tests.kernel.nsutil import TestNetns, veth_in

NetnsFactory = Callable[..., TestNetns]
OpenHandle = Callable[[TestNetns], Handle]

SCOPES = {"global": 0, "link": 253, "host": 254}
# ip -j prints these IFA_F_* bits as booleans
FLAG_KEYS = {"secondary": IFA_F_SECONDARY, "nodad": IFA_F_NODAD, "noprefixroute": IFA_F_NOPREFIXROUTE}
# Lifetimes count down in whole seconds between our read and ip's (or the write and the read): on a
# loaded 2-core machine seconds can pass there. A generous bound still tells a decoded lifetime
# from a wrong field (the tests' valid and preferred lifetimes differ by 300 s or more).
LIFETIME_SLACK_S = 30


def as_ip_shows_it(addr: Address) -> dict[str, Any]:
    """Our decoded address in ``ip -j -d addr``'s vocabulary (lifetimes left to the caller)."""
    shown: dict[str, Any] = {
        "family": "inet" if addr.family == AF_INET else "inet6",
        "local": addr.address,
        "prefixlen": addr.prefixlen,
        "scope": {v: k for k, v in SCOPES.items()}[addr.scope],
        "dynamic": not addr.flags & IFA_F_PERMANENT,
    }
    if addr.peer:
        shown["address"] = addr.peer
    if addr.broadcast:
        shown["broadcast"] = addr.broadcast
    if addr.label:
        shown["label"] = addr.label
    if addr.metric:
        shown["metric"] = addr.metric
    for key, bit in FLAG_KEYS.items():
        shown[key] = bool(addr.flags & bit)
    return shown


def ip_view(entry: dict[str, Any]) -> dict[str, Any]:
    keys = {"family", "local", "prefixlen", "scope", "address", "broadcast", "label", "metric"}
    shown = {k: v for k, v in entry.items() if k in keys}
    shown["dynamic"] = bool(entry.get("dynamic"))
    for key in FLAG_KEYS:
        shown[key] = bool(entry.get(key))
    return shown


def assert_same_as_ip(ours: list[Address], ns: TestNetns, dev: str, family: str = "") -> None:
    (ip,) = ns.ip_json(f"-d {family} addr show dev {dev}")
    assert [as_ip_shows_it(a) for a in ours] == [ip_view(e) for e in ip["addr_info"]]
    for addr, entry in zip(ours, ip["addr_info"]):
        if addr.valid_lft == INFINITY_LIFE_TIME:
            assert (entry["valid_life_time"], entry["preferred_life_time"]) == (INFINITY_LIFE_TIME, INFINITY_LIFE_TIME)
        else:  # counting down: ip asked after us
            assert 0 <= addr.valid_lft - entry["valid_life_time"] <= LIFETIME_SLACK_S
            assert 0 <= addr.preferred_lft - entry["preferred_life_time"] <= LIFETIME_SLACK_S


@pytest.fixture
def ns(netns_factory: NetnsFactory) -> TestNetns:
    space = netns_factory()
    veth_in(space, "a0", "a0p")
    veth_in(space, "b0", "b0p")
    space.run("ip link set dev a0 up")
    space.run("ip link set dev a0p up")
    return space


def populate(ns: TestNetns) -> None:
    for command in [
        "ip addr add 10.1.0.1/24 dev a0",
        "ip addr add 10.2.0.0/31 dev a0 valid_lft 3600 preferred_lft 1800",
        "ip addr add 10.3.0.1 peer 10.3.0.2/32 dev a0",
        "ip addr add 10.1.0.2/24 brd + label a0:sec dev a0",
        "ip addr add 2001:db8::1/64 dev a0 nodad noprefixroute",
        "ip addr add 2001:db8:2::1/64 dev a0 metric 77",
        "ip addr add 10.9.0.1/24 dev b0",  # another link: must not show up
        "ip addr add 2001:db8:9::1/64 dev b0",
    ]:
        ns.run(command)


def test_listing_is_filtered_in_the_kernel_and_matches_ip_in_full_detail(ns: TestNetns, open_handle: OpenHandle) -> None:
    populate(ns)
    handle = open_handle(ns)
    index = ns.ifindex("a0")
    ours = handle.addresses(index)
    assert {a.index for a in ours} == {index}
    assert_same_as_ip(ours, ns, "a0")
    # the kernel's own order: IPv4 primaries, then secondaries; IPv6 newest first, link-local last
    assert [a.cidr for a in ours] == [
        "10.1.0.1/24", "10.2.0.0/31", "10.3.0.1/32", "10.1.0.2/24",
        "2001:db8:2::1/64", "2001:db8::1/64", ours[-1].cidr,
    ]  # fmt: skip
    assert ours[-1].address.startswith("fe80::") and ours[-1].scope == SCOPES["link"]
    assert_same_as_ip(handle.addresses(index, AF_INET), ns, "a0", "-4")
    assert_same_as_ip(handle.addresses(index, AF_INET6), ns, "a0", "-6")
    assert_same_as_ip(handle.addresses(ns.ifindex("b0")), ns, "b0")


def test_add_is_exclusive_replace_is_not_delete_removes(ns: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(ns)
    index = ns.ifindex("a0")
    v4 = Address(AF_INET, "10.5.0.1", 24)
    handle.add_address(index, v4)
    with pytest.raises(NetlinkError) as caught:
        handle.add_address(index, v4)
    assert caught.value.errno == errno.EEXIST
    assert caught.value.extack == "ipv4: Address already assigned"

    handle.add_address(index, Address(AF_INET, "10.5.0.1", 24, valid_lft=600, preferred_lft=300), replace=True)
    (entry,) = [e for e in ns.ip_json("addr show dev a0")[0]["addr_info"] if e["local"] == "10.5.0.1"]
    assert entry["dynamic"] and 600 - LIFETIME_SLACK_S <= entry["valid_life_time"] <= 600
    assert 300 - LIFETIME_SLACK_S <= entry["preferred_life_time"] <= 300

    handle.delete_address(index, v4)
    assert "10.5.0.1" not in {e["local"] for e in ns.ip_json("addr show dev a0")[0]["addr_info"]}
    with pytest.raises(NetlinkError) as caught:
        handle.delete_address(index, v4)
    assert caught.value.errno == errno.EADDRNOTAVAIL


def test_ipv6_add_replace_delete_with_flags(ns: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(ns)
    index = ns.ifindex("a0")
    v6 = Address(AF_INET6, "2001:db8:7::1", 64, flags=IFA_F_NODAD | IFA_F_NOPREFIXROUTE)
    handle.add_address(index, v6)
    with pytest.raises(NetlinkError) as caught:
        handle.add_address(index, v6)
    assert caught.value.errno == errno.EEXIST
    (entry,) = [e for e in ns.ip_json("addr show dev a0")[0]["addr_info"] if e["local"] == "2001:db8:7::1"]
    assert entry["nodad"] and entry["noprefixroute"]
    assert not ns.ip_json("-6 route show 2001:db8:7::/64")  # noprefixroute did its job

    # replace drops noprefixroute: the kernel adds the prefix route now
    handle.add_address(index, Address(AF_INET6, "2001:db8:7::1", 64, flags=IFA_F_NODAD), replace=True)
    (entry,) = [e for e in ns.ip_json("addr show dev a0")[0]["addr_info"] if e["local"] == "2001:db8:7::1"]
    assert entry["nodad"] and not entry.get("noprefixroute")
    assert ns.ip_json("-6 route show 2001:db8:7::/64")

    handle.delete_address(index, v6)
    assert "2001:db8:7::1" not in {e["local"] for e in ns.ip_json("addr show dev a0")[0]["addr_info"]}

    # a point-to-point IPv6 address: IFA_LOCAL is ours, IFA_ADDRESS the peer
    p2p = Address(AF_INET6, "2001:db8:8::1", 128, peer="2001:db8:8::2", flags=IFA_F_NODAD)
    handle.add_address(index, p2p)
    (entry,) = [e for e in ns.ip_json("addr show dev a0")[0]["addr_info"] if e["local"] == "2001:db8:8::1"]
    assert entry["address"] == "2001:db8:8::2"
    (ours,) = [a for a in handle.addresses(index, AF_INET6) if a.address == "2001:db8:8::1"]
    assert (ours.peer, ours.prefixlen) == ("2001:db8:8::2", 128)
    handle.delete_address(index, ours)
    assert "2001:db8:8::1" not in {e["local"] for e in ns.ip_json("addr show dev a0")[0]["addr_info"]}


def test_ipv4_shapes_round_trip_through_the_kernel(ns: TestNetns, open_handle: OpenHandle) -> None:
    """What we add reads back from the kernel as the same address (and ip sees the same)."""
    handle = open_handle(ns)
    index = ns.ifindex("b0")
    wanted = [
        Address(AF_INET, "10.7.0.1", 24, broadcast="10.7.0.255", label="b0"),
        Address(AF_INET, "10.8.0.0", 31, label="b0"),
        Address(AF_INET, "10.7.0.9", 24, broadcast="10.7.0.255", label="b0:two"),
        Address(AF_INET, "10.6.0.1", 32, peer="10.6.0.2", label="b0", metric=50),
    ]
    for addr in wanted:
        handle.add_address(index, addr)
    got = handle.addresses(index, AF_INET)
    assert [(a.address, a.prefixlen, a.peer, a.broadcast, a.label, a.metric) for a in got] == [
        (a.address, a.prefixlen, a.peer, a.broadcast, a.label, a.metric) for a in [wanted[0], wanted[1], wanted[3], wanted[2]]
    ]
    assert got[3].flags & IFA_F_SECONDARY and not got[0].flags & IFA_F_SECONDARY
    assert_same_as_ip(got, ns, "b0", "-4")


def test_a_dump_spanning_many_datagrams(ns: TestNetns, open_handle: OpenHandle) -> None:
    ns.ip_batch([f"addr add 10.{i // 250}.{i % 250}.1/24 dev b0" for i in range(600)])
    ours = open_handle(ns).addresses(ns.ifindex("b0"), AF_INET)
    assert len(ours) == 600
    assert_same_as_ip(ours, ns, "b0", "-4")
