"""hostdev.addressing against the kernel: what address()/route() make of CIDR text is what
``ip addr add``/``ip route add`` make of it, and wait_for_dad sees DAD finish, fail or stall."""

from __future__ import annotations

import time
from typing import Callable

import pytest

from hostdev.addressing import DuplicateAddress, address, route, same_route, wait_for_dad
from hostdev.handle import Handle
from tests.kernel.conftest import NetnsFactory
from tests.kernel.nsutil import TestNetns, veth_in

OpenHandle = Callable[[TestNetns], Handle]


def _ours(ns: TestNetns, name: str) -> tuple[TestNetns, int]:
    index = veth_in(ns, name, "peer0")
    ns.run(f"ip link set {name} up")
    ns.run("ip link set peer0 up")
    return ns, index


def test_addresses_are_what_ip_addr_add_makes(netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    ns, index = _ours(netns_factory(), "eth9")
    handle = open_handle(ns)
    for cidr in ("10.7.0.2/24", "10.8.0.0/31", "192.0.2.9/32", "fd00:7::2/64"):
        handle.add_address(index, address(cidr))
    ns.run("ip link add ref type veth peer name refp")
    for cidr in ("10.7.0.2/24 brd +", "10.8.0.0/31", "192.0.2.9/32", "fd00:7::2/64"):
        ns.run(f"ip addr add {cidr} dev ref")
    keys = ("local", "prefixlen", "broadcast", "scope")
    ours = [{k: a.get(k) for k in keys} for a in ns.ip_json("addr show dev eth9")[0]["addr_info"] if a.get("scope") != "link"]
    refs = [{k: a.get(k) for k in keys} for a in ns.ip_json("addr show dev ref")[0]["addr_info"] if a.get("scope") != "link"]
    assert ours == refs
    assert ours[0]["broadcast"] == "10.7.0.255"


def test_routes_are_what_ip_route_add_makes(netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    ns, index = _ours(netns_factory(), "eth9")
    ns.run("ip addr add 10.7.0.2/24 dev eth9")
    ns.run("ip addr add fd00:7::2/64 dev eth9 nodad")
    handle = open_handle(ns)
    wanted = [
        route("0.0.0.0/0", gateway="10.7.0.1"),
        route("10.50.1.2/16", gateway="10.7.0.1", metric=7, mtu=1400, advmss=1360),  # host bits: its network
        route("10.60.0.0/16"),  # no gateway: scope link
        route("10.70.0.0/16", gateway="10.7.0.1", table=100),
        route("fd10::/64", gateway="fd00:7::1"),
    ]
    for r in wanted:
        handle.add_route(index, r)
    shown = {r["dst"]: r for r in ns.ip_json("route show table all dev eth9") if r.get("protocol") is None and r.get("table") != "local"}
    assert shown["default"]["gateway"] == "10.7.0.1"
    assert shown["10.50.0.0/16"]["metric"] == 7 and shown["10.50.0.0/16"]["metrics"] == [{"mtu": 1400, "advmss": 1360}]
    assert shown["10.60.0.0/16"]["scope"] == "link" and "gateway" not in shown["10.60.0.0/16"]
    assert shown["10.70.0.0/16"]["table"] == "100"
    v6 = [r for r in ns.ip_json("-6 route show dev eth9") if r["dst"] == "fd10::/64"]
    assert v6 and v6[0]["gateway"] == "fd00:7::1"
    # What the kernel reports back is the same route, whatever the text form was.
    present = handle.routes(index, user_only=True)
    for r in wanted:
        assert any(same_route(r, p) for p in present), r
    assert not any(same_route(route("10.50.0.0/16", gateway="10.7.0.1"), p) for p in present)  # other metric


def test_route_refuses_mixed_families() -> None:
    with pytest.raises(ValueError):
        route("10.0.0.0/8", gateway="fd00::1")
    with pytest.raises(ValueError):
        address("10.0.0.1")


def test_wait_for_dad_returns_once_dad_is_done(netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    ns = netns_factory(no_dad=False)
    ns.sysctl("net.ipv6.conf.default.dad_transmits=1", "net.ipv6.conf.all.dad_transmits=1")
    ns, index = _ours(ns, "eth9")
    handle = open_handle(ns)
    handle.add_address(index, address("fd00:7::2/64"))
    assert "tentative" in ns.run("ip addr show dev eth9")
    started = time.monotonic()
    assert wait_for_dad(handle, index, 30) == ()
    assert time.monotonic() - started < 30
    assert "tentative" not in ns.run("ip addr show dev eth9")


def test_wait_for_dad_gives_up_on_a_link_without_carrier(netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    ns = netns_factory(no_dad=False)
    index = veth_in(ns, "eth9", "peer0")
    ns.run("ip link set eth9 up")  # peer down: no carrier, DAD waits for it
    handle = open_handle(ns)
    handle.add_address(index, address("fd00:7::2/64"))
    still = wait_for_dad(handle, index, 0.3)
    assert [a.cidr for a in still] == ["fd00:7::2/64"]


def test_wait_for_dad_reports_a_duplicate(netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    ours = netns_factory(no_dad=False)
    other = netns_factory(no_dad=False)
    index = veth_in(ours, "eth9", "peer0", peer_ns=other)
    other.run("ip addr add fd00:7::2/64 dev peer0 nodad")
    other.run("ip link set peer0 up")
    ours.run("ip link set eth9 up")
    handle = open_handle(ours)
    handle.add_address(index, address("fd00:7::2/64"))
    with pytest.raises(DuplicateAddress) as info:
        wait_for_dad(handle, index, 30)
    assert "fd00:7::2/64" in str(info.value)
