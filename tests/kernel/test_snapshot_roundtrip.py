"""Snapshot -> move into another namespace -> apply -> move back -> apply ends where it started,
as ``ip -j`` sees it (link, addresses, routes of every table)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest

from hostdev import Link, NameTaken
from hostdev.handle import Handle
from hostdev.snapshot import LinkSnapshot, apply_snapshot, move_link, return_link, take_snapshot
from tests.kernel.nsutil import TestNetns, veth_in, wait_for

NetnsFactory = Callable[..., TestNetns]
OpenHandle = Callable[[TestNetns], Handle]

SETUP = [
    "ip link set dev x0 mtu 9000",
    "ip link set dev x0 alias 'pod uplink'",
    "ip link property add dev x0 altname x0-alternative",
    "ip link set dev x0p up",
    "ip link set dev x0 up",
    "ip addr add 10.20.0.1/24 dev x0",
    "ip addr add 10.30.0.0/31 dev x0",
    "ip addr add 10.20.0.2/24 brd + label x0:sec dev x0",
    "ip addr add 10.40.0.1/24 dev x0 metric 300",
    "ip addr add 2001:db8:a::1/64 dev x0 nodad",
    "ip addr add 2001:db8:b::1/64 dev x0 nodad noprefixroute",
    "ip route add 192.0.2.0/24 via 10.20.0.254 dev x0",
    "ip route add 203.0.113.0/24 via 10.20.0.254 dev x0 proto static mtu lock 1400 advmss 1300",
    "ip route add 198.51.100.0/24 via 10.20.0.254 dev x0 table 100 metric 7",
    "ip route add default via 10.30.0.1 dev x0 table 1000",
    "ip -6 route add 2001:db8:c::/64 via fe80::1 dev x0 table 100",
    "ip -6 route add 2001:db8:d::/64 via 2001:db8:a::fe dev x0 metric 50",
]

# Fields of `ip -j -d link` that legitimately change across two netns moves: counters, and
# the ifindex, which the kernel may reassign.
VOLATILE_LINK_KEYS = {"ifindex", "carrier_changes", "carrier_up_count", "carrier_down_count", "stats", "stats64"}


def state(ns: TestNetns, dev: str) -> dict[str, Any]:
    """What ip sees of one link: its details, its addresses, its routes in every table."""
    (link,) = ns.ip_json(f"-d link show dev {dev}")
    (addrs,) = ns.ip_json(f"-d addr show dev {dev}")
    return {
        "link": {k: v for k, v in link.items() if k not in VOLATILE_LINK_KEYS},
        "addresses": addrs["addr_info"],
        "routes": ns.ip_json(f"route show table all dev {dev}"),
    }


def settled(snapshot: dict[str, Any]) -> bool:
    """IPv6 DAD work done: no address tentative, and each address has its local-table route
    (IPv6 inserts that route from the DAD workqueue, after the add has returned)."""
    locals_ = {r["dst"] for r in snapshot["routes"] if r.get("type") == "local"}
    return all(not a.get("tentative") and a["local"] in locals_ for a in snapshot["addresses"])


def settled_state(ns: TestNetns, dev: str) -> dict[str, Any]:
    return wait_for(lambda: state(ns, dev), settled, what=f"addresses of {dev} in {ns.name}")


@pytest.fixture
def host(netns_factory: NetnsFactory) -> TestNetns:
    space = netns_factory()
    veth_in(space, "x0", "x0p")
    for command in SETUP:
        space.run(command)
    return space


def test_snapshot_move_apply_and_back_ends_identical(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    pod = netns_factory()
    veth_in(pod, "p0", "p0p")  # occupies the indexes x0 had, so x0 gets a new one in the pod
    start = settled_state(host, "x0")
    on_host, in_pod = open_handle(host), open_handle(pod)

    snap = take_snapshot(on_host, "x0")
    # the snapshot holds what the kernel will drop, and not what it rebuilds by itself
    assert [a.cidr for a in snap.addresses] == [
        "10.20.0.1/24", "10.30.0.0/31", "10.40.0.1/24", "10.20.0.2/24", "2001:db8:b::1/64", "2001:db8:a::1/64",
    ]  # fmt: skip
    assert sorted(r.destination for r in snap.routes) == [
        "192.0.2.0/24", "198.51.100.0/24", "2001:db8:c::/64", "2001:db8:d::/64", "203.0.113.0/24", "default",
    ]  # fmt: skip
    assert (snap.mtu, snap.alias, snap.altnames, snap.up) == (9000, "pod uplink", ("x0-alternative",), True)
    stored = LinkSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert stored == snap

    # into the pod, renamed in the same request, and rebuilt there
    moved = move_link(on_host, in_pod, on_host.link(name="x0"), name="net1")
    assert moved.index != snap.index and moved.name == "net1"
    assert not pod.ip_json("addr show dev net1")[0]["addr_info"]  # the kernel stripped them all
    report = apply_snapshot(in_pod, moved, stored)
    assert report.failed_routes == ()
    inside = settled_state(pod, "net1")
    assert [(a["local"], a["prefixlen"]) for a in inside["addresses"]] == [
        (a["local"], a["prefixlen"]) for a in start["addresses"]
    ]
    assert inside["link"]["mtu"] == 9000 and "UP" in inside["link"]["flags"]

    # and back, under the old name
    back = move_link(in_pod, on_host, in_pod.link(name="net1"), name="x0")
    assert apply_snapshot(on_host, back, stored).failed_routes == ()
    assert settled_state(host, "x0") == start

    # applying again changes nothing
    assert apply_snapshot(on_host, on_host.link(name="x0"), stored).failed_routes == ()
    assert settled_state(host, "x0") == start


def test_apply_converges_instead_of_appending(host: TestNetns, open_handle: OpenHandle) -> None:
    """Addresses the snapshot lacks go, an alias it lacks is cleared, kernel-made addresses stay;
    IPv4 labels follow a rename."""
    handle = open_handle(host)
    snap = take_snapshot(handle, "x0")
    start = settled_state(host, "x0")
    host.run("ip addr add 10.99.0.1/24 dev x0")
    host.run("ip addr del 10.30.0.0/31 dev x0")
    host.run("ip -6 addr add 2001:db8:99::1/64 dev x0 nodad")
    host.run("ip link set dev x0 alias changed")
    host.run("ip link set dev x0 mtu 1500")
    apply_snapshot(handle, handle.link(name="x0"), snap, routes=False)
    end = settled_state(host, "x0")
    assert end["addresses"] == start["addresses"]  # the link-local survived untouched, in place
    assert (end["link"]["ifalias"], end["link"]["mtu"]) == ("pod uplink", 9000)

    host.run("ip link set dev x0 alias ''")
    assert "ifalias" not in host.ip_json("link show dev x0")[0]
    plain = take_snapshot(handle, "x0")
    host.run("ip link set dev x0 alias temporary")
    apply_snapshot(handle, handle.link(name="x0"), plain, routes=False)
    assert "ifalias" not in host.ip_json("link show dev x0")[0]


def test_labels_follow_the_rename(host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle) -> None:
    pod = netns_factory()
    on_host, in_pod = open_handle(host), open_handle(pod)
    snap = take_snapshot(on_host, "x0")
    moved = move_link(on_host, in_pod, on_host.link(name="x0"), name="net1")
    apply_snapshot(in_pod, moved, snap)
    labels = [a.get("label") for a in pod.ip_json("-4 addr show dev net1")[0]["addr_info"]]
    assert labels == ["net1", "net1", "net1", "net1:sec"]


def test_routes_of_a_nic_without_carrier_survive_both_moves(
    netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    """Issue 16 item 9: a NIC without carrier (cable out, PF down; here a veth whose peer is
    down) shows its routes as ``linkdown``. That flag is the kernel's report, not a setting: a
    replay that sends it back is refused ("Invalid rtm_flags - can not contain DEAD or
    LINKDOWN"), and the routes are lost in the pod and again on the host after DEL. ``onlink``,
    which a user does set, must still come back."""
    host, pod = netns_factory(), netns_factory()
    veth_in(host, "x0", "x0p")
    for command in (
        "ip link set dev x0 up",  # x0p stays down: x0 has no carrier
        "ip addr add 10.20.0.1/24 dev x0",
        "ip route add 192.0.2.0/24 via 10.20.0.254 dev x0",
        "ip route add 198.51.100.0/24 via 10.99.0.1 dev x0 onlink table 100",
        "ip -6 route add 2001:db8:d::/64 dev x0 metric 50",
    ):
        host.run(command)
    start = host.ip_json("route show table all dev x0") + host.ip_json("-6 route show table all dev x0")
    assert any("linkdown" in r.get("flags", []) for r in start)  # the stand-in is what it claims
    wanted = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:d::/64"]
    on_host, in_pod = open_handle(host), open_handle(pod)

    snap = take_snapshot(on_host, "x0")
    assert sorted(r.destination for r in snap.routes) == wanted
    moved = move_link(on_host, in_pod, on_host.link(name="x0"))
    assert apply_snapshot(in_pod, moved, snap).failed_routes == ()
    in_pod_now = pod.ip_json("route show table all dev x0") + pod.ip_json("-6 route show table all dev x0")
    assert {"192.0.2.0/24", "198.51.100.0/24", "2001:db8:d::/64"} <= {r["dst"] for r in in_pod_now}
    assert "onlink" in next(r for r in in_pod_now if r["dst"] == "198.51.100.0/24")["flags"]

    back = move_link(in_pod, on_host, in_pod.link(name="x0"))
    assert apply_snapshot(on_host, back, snap).failed_routes == ()
    end = host.ip_json("route show table all dev x0") + host.ip_json("-6 route show table all dev x0")
    assert sorted(json.dumps(r, sort_keys=True) for r in end if r.get("protocol") != "kernel") == sorted(
        json.dumps(r, sort_keys=True) for r in start if r.get("protocol") != "kernel"
    )


# --- the way back: return_link -------------------------------------------------------------------


def test_return_link_brings_it_home_renamed_and_restored(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    pod = netns_factory()
    start = settled_state(host, "x0")
    on_host, in_pod = open_handle(host), open_handle(pod)
    snap = take_snapshot(on_host, "x0")
    moved = move_link(on_host, in_pod, on_host.link(name="x0"), name="net1")
    apply_snapshot(in_pod, moved, snap)
    pod.run("ip addr add 10.77.0.1/24 dev net1")  # what the pod did must not come home

    seen: list[str] = []
    report = return_link(on_host, in_pod.link(name="net1"), snap, pod=in_pod, after_move=lambda l: seen.append(l.name))
    assert report.failed_routes == () and seen == ["x0"]
    assert pod.try_run("ip link show dev net1").returncode != 0
    assert settled_state(host, "x0") == start


def test_return_link_renames_a_link_the_kernel_returned_as_devN(host: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(host)
    start = settled_state(host, "x0")
    snap = take_snapshot(handle, "x0")
    host.run("ip link set dev x0 down")
    host.run("ip link set dev x0 name dev7")  # as the kernel hands back a NIC whose name is taken
    host.run("ip addr flush dev dev7")
    report = return_link(handle, handle.link(name="dev7"), snap)
    assert report.failed_routes == ()
    assert settled_state(host, "x0") == start


def test_return_link_changes_nothing_when_the_name_is_taken(
    host: TestNetns, netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    pod = netns_factory()
    on_host, in_pod = open_handle(host), open_handle(pod)
    snap = take_snapshot(on_host, "x0")
    move_link(on_host, in_pod, on_host.link(name="x0"), name="net1")
    veth_in(host, "x0", "x0q")  # someone took the name meanwhile
    holder = on_host.link(name="x0")
    in_pod_before = state(pod, "net1")
    with pytest.raises(NameTaken) as caught:
        return_link(on_host, in_pod.link(name="net1"), snap, pod=in_pod)
    assert (caught.value.name, caught.value.holder_index) == ("x0", holder.index)
    assert state(pod, "net1") == in_pod_before  # not even taken down


def test_wait_for_link_wakes_on_the_link_event(host: TestNetns, open_handle: OpenHandle) -> None:
    handle = open_handle(host)
    looks: list[int] = []

    def arrived(links: list[Link]) -> Link | None:
        looks.append(len(links))
        if len(looks) == 1:
            veth_in(host, "late0", "late0p")  # arrives after the first look, before any wait
        return next((l for l in links if l.name == "late0"), None)

    start = time.monotonic()
    found = handle.wait_for_link(arrived, timeout_s=60)
    assert found is not None and found.name == "late0"
    assert time.monotonic() - start < 30  # woken by the event, not by the timeout
    assert handle.wait_for_link(lambda links: None, timeout_s=0) is None


def test_return_link_leaves_the_pods_altnames_behind_and_brings_back_the_hosts(
    netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    """Issue 16 item 8: an altname the pod adds that a host interface holds (as its name or an
    altname) made the move home fail with EEXIST on every try; one the pod removed was lost."""
    host, pod = netns_factory(), netns_factory()
    veth_in(host, "x0", "x0p")
    host.run("ip link property add dev x0 altname x0-host-alt")
    host.run("ip link add clash type bridge")
    host.run("ip link property add dev clash altname clash-alt")
    on_host, in_pod = open_handle(host), open_handle(pod)
    snap = take_snapshot(on_host, "x0")
    moved = move_link(on_host, in_pod, on_host.link(name="x0"), name="net1")
    pod.run("ip link property del dev net1 altname x0-host-alt")
    for planted in ("clash", "clash-alt", "x0", "pod-made"):
        pod.run(f"ip link property add dev net1 altname {planted}")

    report = return_link(on_host, in_pod.link(index=moved.index), snap, pod=in_pod)
    assert report.failed_altnames == ()
    (back,) = host.ip_json("link show dev x0")
    assert back["altnames"] == ["x0-host-alt"]
    assert host.ip_json("link show dev clash")[0]["altnames"] == ["clash-alt"]
