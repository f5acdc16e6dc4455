"""What the pod's interface is to carry with IPAM, and what the result says: pure parts."""

from __future__ import annotations

import pytest

from hostdev.addressing import address, route
from hostdev.cni.ipam_step import attachment_result, pod_snapshot, routes_of
from hostdev.cni.results import DNS, Interface, IPConfig, Result, Route, format_result
from hostdev.snapshot import LinkSnapshot

HOST = LinkSnapshot(
    name="enp68s0", index=7, mac="04:90:81:2c:4f:90", perm_mac=None, mtu=9000, up=False, alias="rdma nic",
    altnames=(), addresses=(address("55.1.1.56/24"),), routes=(route("192.168.1.0/24", gateway="55.1.1.1"),),
)  # fmt: skip
IPAM = Result(
    ips=(IPConfig("10.7.0.2/24", "10.7.0.1"), IPConfig("fd00:7::2/64", "fd00:7::1")),
    routes=(Route("0.0.0.0/0"), Route("::/0"), Route("10.80.0.0/16", "10.7.0.254", priority=5, table=100), Route("10.90.0.0/16")),
    dns=DNS(nameservers=("10.7.0.53",)),
)


def test_a_route_without_gw_goes_through_its_familys_gateway() -> None:
    assert [(r.dst, r.dst_len, r.gateway, r.table, r.priority) for r in routes_of(IPAM)] == [
        (None, 0, "10.7.0.1", 254, None),
        (None, 0, "fd00:7::1", 254, None),
        ("10.80.0.0", 16, "10.7.0.254", 100, 5),
        ("10.90.0.0", 16, "10.7.0.1", 254, None),
    ]


def test_without_any_gateway_a_route_is_on_link() -> None:
    (only,) = routes_of(Result(ips=(IPConfig("10.7.0.2/24"),), routes=(Route("10.90.0.0/16"),)))
    assert only.gateway is None and only.scope == 253


def test_the_pod_gets_ipams_addresses_and_routes_and_the_hosts_link_settings() -> None:
    target = pod_snapshot(HOST, IPAM, keep_host=False)
    assert [a.cidr for a in target.addresses] == ["10.7.0.2/24", "fd00:7::2/64"]
    assert target.routes == routes_of(IPAM)
    assert (target.name, target.mtu, target.mac, target.alias, target.up) == ("enp68s0", 9000, HOST.mac, "rdma nic", True)


def test_keeping_host_addresses_gives_both() -> None:
    target = pod_snapshot(HOST, IPAM, keep_host=True)
    assert [a.cidr for a in target.addresses] == ["10.7.0.2/24", "fd00:7::2/64", "55.1.1.56/24"]
    assert target.routes == routes_of(IPAM) + HOST.routes


@pytest.mark.parametrize("keep", [False, True])
def test_the_result_points_every_address_at_our_interface(keep: bool) -> None:
    iface = Interface("enp68s0", HOST.mac, 9000, "/run/netns/p", "0000:44:00.0")
    result = attachment_result(iface, HOST, IPAM, keep)
    expected_ips = [("10.7.0.2/24", "10.7.0.1", 0), ("fd00:7::2/64", "fd00:7::1", 0)] + ([("55.1.1.56/24", None, 0)] if keep else [])
    assert [(ip.address, ip.gateway, ip.interface) for ip in result.ips] == expected_ips
    assert result.interfaces == (iface,) and result.routes == IPAM.routes and result.dns == IPAM.dns
    assert format_result("0.3.1", result)["ips"][0] == {"version": "4", "address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 0}
