"""Routes over our rtnetlink against ``ip -j route show table all`` as the oracle."""

from __future__ import annotations

import errno
from typing import Any, Callable

import pytest

from hostdev._netlink.rtnl_route import Route
from hostdev._netlink.rtnl_tables import AF_INET, AF_INET6, RT_SCOPE_LINK, RT_TABLE_MAIN
from hostdev.errors import NetlinkError
from hostdev.handle import Handle
from tests.kernel.nsutil import TestNetns, veth_in

NetnsFactory = Callable[..., TestNetns]
OpenHandle = Callable[[TestNetns], Handle]

TYPES = {2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole", 7: "unreachable", 8: "prohibit"}
PROTOCOLS = {1: "redirect", 2: "kernel", 4: "static", 9: "ra"}
SCOPES = {200: "site", 253: "link", 254: "host"}
TABLES = {253: "default", 255: "local"}
PREFS = {0: "medium", 1: "high", 3: "low"}
METRICS = {2: "mtu", 8: "advmss"}  # RTAX_MTU, RTAX_ADVMSS (RTAX_LOCK is not shown by ip -j)


def as_ip_shows_it(route: Route) -> dict[str, Any]:
    """Our decoded route in ``ip -j route``'s vocabulary (``dev`` left out: we filter by it)."""
    full = 32 if route.family == AF_INET else 128
    shown: dict[str, Any] = {}
    if route.type != 1:
        shown["type"] = TYPES[route.type]
    shown["dst"] = "default" if route.dst is None else route.dst if route.dst_len == full else f"{route.dst}/{route.dst_len}"
    if route.gateway:
        shown["gateway"] = route.gateway
    if route.table != RT_TABLE_MAIN:
        shown["table"] = TABLES.get(route.table, str(route.table))
    if route.protocol != 3:
        shown["protocol"] = PROTOCOLS[route.protocol]
    if route.scope:
        shown["scope"] = SCOPES[route.scope]
    if route.prefsrc:
        shown["prefsrc"] = route.prefsrc
    if route.priority is not None:
        shown["metric"] = route.priority
    if route.pref is not None:
        shown["pref"] = PREFS[route.pref]
    shown_metrics = {METRICS[k]: v for k, v in route.metrics if k != 1}
    if shown_metrics:
        shown["metrics"] = [shown_metrics]
    return shown


def ip_routes(ns: TestNetns, dev: str, family: str = "") -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "flags"} for r in ns.ip_json(f"{family} route show table all dev {dev}")]


@pytest.fixture
def ns(netns_factory: NetnsFactory) -> TestNetns:
    space = netns_factory()
    for dev, peer in (("r0", "r0p"), ("r1", "r1p")):
        veth_in(space, dev, peer)
        space.run(f"ip link set dev {dev} up")
        space.run(f"ip link set dev {peer} up")
    space.run("ip addr add 10.1.0.1/24 dev r0")
    space.run("ip addr add 2001:db8::1/64 dev r0 nodad")
    space.run("ip addr add 10.2.0.1/24 dev r1")
    return space


def test_listing_spans_tables_and_matches_ip(ns: TestNetns, open_handle: OpenHandle) -> None:
    for command in [
        "ip route add 192.0.2.0/24 via 10.1.0.254 dev r0 metric 10",
        "ip route add default via 10.1.0.254 dev r0 table 100",
        "ip route add 198.51.100.0/24 dev r0 table 1000",
        "ip route add 203.0.113.0/24 via 10.1.0.254 dev r0 proto static mtu lock 1400 advmss 1300",
        "ip -6 route add 2001:db8:5::/64 via fe80::1 dev r0 table 100",
        "ip -6 route add 2001:db8:6::/64 via 2001:db8::fe dev r0 metric 5 pref high",
        "ip route add 192.0.2.0/24 via 10.2.0.254 dev r1 table 100",  # other link: filtered out
    ]:
        ns.run(command)
    handle = open_handle(ns)
    index = ns.ifindex("r0")
    ours = handle.routes(index)
    assert {r.oif for r in ours} == {index}
    assert [as_ip_shows_it(r) for r in ours] == ip_routes(ns, "r0")
    tables = {r.table for r in ours}
    assert {RT_TABLE_MAIN, 100, 1000, 255} <= tables
    assert [as_ip_shows_it(r) for r in handle.routes(index, families=(AF_INET6,))] == ip_routes(ns, "r0", "-6")
    assert [as_ip_shows_it(r) for r in handle.routes(ns.ifindex("r1"))] == ip_routes(ns, "r1")


def test_listing_one_table(ns: TestNetns, open_handle: OpenHandle) -> None:
    ns.run("ip route add default via 10.1.0.254 dev r0 table 100")
    ns.run("ip route add 198.51.100.0/24 dev r0 table 1000")
    handle = open_handle(ns)
    index = ns.ifindex("r0")
    assert [as_ip_shows_it(r) for r in handle.routes(index, table=100)] == [
        {k: v for k, v in r.items() if k != "flags"} | {"table": "100"} for r in ns.ip_json("route show table 100 dev r0")
    ]
    assert [r.dst for r in handle.routes(index, table=1000)] == ["198.51.100.0"]
    assert handle.routes(index, table=4242) == []  # a table that does not exist holds no routes


ROUTES = [
    Route(AF_INET, "192.0.2.0", 24, gateway="10.1.0.254", priority=20),
    Route(AF_INET, "192.0.3.0", 24, gateway="10.1.0.254", metrics=((1, 1 << 2), (2, 1400), (8, 1300))),
    Route(AF_INET, None, 0, gateway="10.1.0.254", table=100),
    Route(AF_INET, "198.51.100.0", 24, table=1000, scope=RT_SCOPE_LINK),
    Route(AF_INET6, "2001:db8:5::", 64, gateway="fe80::1", table=100),
    Route(AF_INET6, None, 0, gateway="2001:db8::fe", priority=2048, pref=1),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.destination}-table{r.table}")
def test_add_is_exclusive_and_delete_removes(ns: TestNetns, open_handle: OpenHandle, route: Route) -> None:
    handle = open_handle(ns)
    index = ns.ifindex("r0")
    before = ip_routes(ns, "r0")
    handle.add_route(index, route)
    added = [r for r in ip_routes(ns, "r0") if r not in before]
    expected = as_ip_shows_it(route)
    if route.family == AF_INET6:
        expected.setdefault("metric", 1024)  # the kernel's default IPv6 metric
        expected.setdefault("pref", "medium")
    assert added == [expected]
    with pytest.raises(NetlinkError) as caught:
        handle.add_route(index, route)
    assert caught.value.errno == errno.EEXIST
    handle.add_route(index, route, replace=True)  # ip route replace: same route, no error, no duplicate
    assert sorted(ip_routes(ns, "r0"), key=repr) == sorted(before + added, key=repr)

    decoded = [r for r in handle.routes(index) if as_ip_shows_it(r) == added[0]]
    assert len(decoded) == 1
    handle.delete_route(index, decoded[0])
    assert ip_routes(ns, "r0") == before
    with pytest.raises(NetlinkError) as caught:
        handle.delete_route(index, decoded[0])
    assert caught.value.errno == errno.ESRCH


def test_route_to_is_ip_route_get(ns: TestNetns, open_handle: OpenHandle) -> None:
    """``Handle.route_to`` (issue 16 H3: which link reaches the API server) against ``ip route get``."""
    ns.run("ip addr add 10.5.0.1/24 dev r0")
    ns.run("ip -6 addr add 2001:db8:5::1/64 dev r0 nodad")
    ns.run("ip route add 192.0.2.0/24 via 10.5.0.254 dev r0")
    handle = open_handle(ns)
    for address in ("192.0.2.77", "10.5.0.9", "2001:db8:5::9"):
        (shown,) = ns.ip_json(f"route get {address}")
        route = handle.route_to(address)
        assert route.oif == ns.ifindex(shown["dev"]) and route.gateway == shown.get("gateway"), (address, shown, route)
    with pytest.raises(NetlinkError) as caught:
        handle.route_to("198.51.100.1")  # no route at all
    assert caught.value.errno == errno.ENETUNREACH
