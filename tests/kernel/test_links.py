"""Links over our rtnetlink against ``ip -j`` as the oracle, in throwaway namespaces."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from hostdev._netlink.rtnl_link import Link
from hostdev._netlink.rtnl_tables import IFF_BROADCAST, IFF_LOWER_UP, IFF_MULTICAST, IFF_NOARP, IFF_UP
from hostdev.errors import LinkNotFound
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import move_link
from tests.kernel.nsutil import TestNetns, veth_in, wait_for

NetnsFactory = Callable[..., TestNetns]
OpenHandle = Callable[[TestNetns], Handle]

OPERSTATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"]
FLAG_NAMES = {"UP": IFF_UP, "BROADCAST": IFF_BROADCAST, "MULTICAST": IFF_MULTICAST, "NOARP": IFF_NOARP,
              "LOWER_UP": IFF_LOWER_UP}  # fmt: skip


def assert_matches_ip(link: Link, ip: dict[str, Any]) -> None:
    """Every field ``ip -j -d link`` shows for it agrees with what we decoded."""
    assert (link.index, link.name, link.mtu, link.mac) == (ip["ifindex"], ip["ifname"], ip["mtu"], ip["address"])
    assert link.alias == ip.get("ifalias")
    assert link.altnames == tuple(ip.get("altnames", ()))
    assert link.operstate == OPERSTATES.index(ip["operstate"])
    assert link.kind == ip.get("linkinfo", {}).get("info_kind")
    assert link.perm_mac == ip.get("permaddr")
    for name, bit in FLAG_NAMES.items():
        assert bool(link.flags & bit) == (name in ip["flags"]), name
    assert link.arphrd == {"ether": 1, "loopback": 772}[ip["link_type"]]


@pytest.fixture
def ns(netns_factory: NetnsFactory) -> TestNetns:
    space = netns_factory()
    veth_in(space, "l0", "l0p")
    veth_in(space, "l1", "l1p")
    return space


def test_list_matches_ip(ns: TestNetns, open_handle: OpenHandle) -> None:
    ns.run("ip link set dev l0 up")
    ns.run("ip link set dev l0p up")
    # The kernel's linkwatch sets operstate UP asynchronously after carrier comes on; compare
    # only once it has settled, or ours and ip's views can straddle the change.
    wait_for(
        lambda: {e["ifname"]: e["operstate"] for e in ns.ip_json("link show")},
        lambda states: states.get("l0") == "UP" and states.get("l0p") == "UP",
        what="l0/l0p operstate UP",
    )
    ours = open_handle(ns).links()
    theirs = ns.ip_json("-d link show")
    assert [link.name for link in ours] == [e["ifname"] for e in theirs]
    for link, ip in zip(ours, theirs):
        assert_matches_ip(link, ip)
    up = next(link for link in ours if link.name == "l0")
    assert up.up and up.flags & IFF_LOWER_UP and up.operstate == OPERSTATES.index("UP")


def test_get_by_name_index_mac_and_altname(ns: TestNetns, open_handle: OpenHandle) -> None:
    ns.run("ip link property add dev l1 altname l1-a-rather-long-altname")
    ns.run("ip link property add dev l1 altname l1alt")
    handle = open_handle(ns)
    (ip,) = ns.ip_json("-d link show dev l1")
    by_name = handle.link(name="l1")
    assert_matches_ip(by_name, ip)
    assert by_name.altnames == ("l1-a-rather-long-altname", "l1alt")
    assert handle.link(index=ip["ifindex"]) == by_name
    assert handle.link(mac=ip["address"].upper()) == by_name
    assert handle.link(altname="l1-a-rather-long-altname") == by_name
    assert handle.link(name="l1alt") == by_name  # the kernel resolves IFLA_IFNAME through altnames too
    assert handle.find_link(name="l1") == by_name


def test_missing_links_are_link_not_found(ns: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(ns)
    with pytest.raises(LinkNotFound):
        handle.link(name="nope0")
    with pytest.raises(LinkNotFound):
        handle.link(index=99999)
    with pytest.raises(LinkNotFound):
        handle.link(mac="02:00:00:00:00:99")
    with pytest.raises(LinkNotFound):
        handle.link(altname="no-such-alternative-name")
    assert handle.find_link(name="nope0") is None
    with pytest.raises(ValueError):
        handle.link()


def test_set_name_alias_mtu_mac_up_down(ns: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(ns)
    index = handle.link(name="l0").index
    handle.set_link(index, name="renamed0", mtu=9000, mac="02:11:22:33:44:55", alias="uplink to rack 7")
    (ip,) = ns.ip_json("-d link show dev renamed0")
    assert (ip["ifindex"], ip["mtu"], ip["address"], ip["ifalias"]) == (index, 9000, "02:11:22:33:44:55", "uplink to rack 7")
    assert_matches_ip(handle.link(index=index), ip)

    handle.set_link(index, up=True)
    assert "UP" in ns.ip_json("link show dev renamed0")[0]["flags"]
    handle.set_link(index, up=False)
    (ip,) = ns.ip_json("link show dev renamed0")
    assert "UP" not in ip["flags"] and "BROADCAST" in ip["flags"]  # only IFF_UP changed

    handle.set_link(index, alias="")
    assert "ifalias" not in ns.ip_json("link show dev renamed0")[0]
    assert handle.link(index=index).alias is None


def test_alias_of_the_full_255_bytes(ns: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(ns)
    index = handle.link(name="l0").index
    handle.set_link(index, alias="a" * 255)
    assert ns.ip_json("link show dev l0")[0]["ifalias"] == "a" * 255
    assert handle.link(index=index).alias == "a" * 255
    assert ns.run("cat /sys/class/net/l0/ifalias") == "a" * 255 + "\n"


def test_move_by_fd_with_rename(netns_factory: NetnsFactory, ns: TestNetns, open_handle: OpenHandle) -> None:
    target = netns_factory()
    veth_in(target, "t0", "t0p")  # takes index 2 and 3 in the target as well
    source = open_handle(ns)
    there = open_handle(target)
    ns.run("ip link set dev l1 mtu 4000 address 02:aa:bb:cc:dd:ee alias kept")
    ns.run("ip link property add dev l1 altname l1-survives")
    ns.run("ip link set dev l1 up")
    link = source.link(name="l1")
    with NetNS.from_path(target.path) as target_ns:
        source.move_link(link.index, target_ns, name="moved1")
    assert "l1" not in {e["ifname"] for e in ns.ip_json("link show")}
    (ip,) = target.ip_json("-d link show dev moved1")
    moved = there.link(name="moved1")
    assert_matches_ip(moved, ip)
    # what the kernel keeps across a move, and what it drops
    assert (moved.mtu, moved.mac, moved.alias, moved.altnames) == (4000, "02:aa:bb:cc:dd:ee", "kept", ("l1-survives",))
    assert not moved.up


def test_library_move_link_reresolves_the_ifindex(netns_factory: NetnsFactory, ns: TestNetns, open_handle: OpenHandle) -> None:
    target = netns_factory()
    veth_in(target, "t0", "t0p")
    veth_in(target, "t1", "t1p")
    source = open_handle(ns)
    there = open_handle(target)
    link = source.link(name="l1")
    taken = {e["ifindex"] for e in target.ip_json("link show")}
    assert link.index in taken  # so the kernel must hand out a new one
    moved = move_link(source, there, link)
    (ip,) = target.ip_json("link show dev l1")
    assert moved.index == ip["ifindex"] != link.index
    assert moved.name == "l1"


def test_a_dump_spanning_many_datagrams(netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    ns = netns_factory()
    ns.ip_batch([f"link add m{i} type veth peer name m{i}p" for i in range(40)])
    ours = open_handle(ns).links()
    assert len(ours) == 81  # ~1 KiB per link: several 32 KiB datagrams
    assert [(link.index, link.name, link.mac) for link in ours] == [
        (e["ifindex"], e["ifname"], e["address"]) for e in ns.ip_json("link show")
    ]
