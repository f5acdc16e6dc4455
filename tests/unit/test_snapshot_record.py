"""The snapshot as it is stored in an attachment record: JSON in, the same snapshot out; records
written before the interface state was captured still load (and say so: ``None``)."""

from __future__ import annotations

import json

import pytest

from hostdev._netlink.rtnl_addr import Address
from hostdev._netlink.rtnl_neigh import Neighbour
from hostdev._netlink.rtnl_tables import AF_INET, AF_INET6, NTF_PROXY, NTF_ROUTER, NUD_NONE, RTPROT_STATIC
from hostdev.ifstate import InterfaceConf
from hostdev.snapshot import LinkSnapshot

CONF = InterfaceConf(
    ipv4=(("arp_ignore", "1"), ("rp_filter", "2")),
    ipv6=(("accept_ra", "0"), ("stable_secret", "2001:0db8:0000:0000:0000:0000:05ec:07e7")),
    neigh_ipv4=(("delay_first_probe_time_ms", 1500),),
    neigh_ipv6=(("retrans_time_ms", 1200), ("unres_qlen_bytes", 20000)),
)
NEIGHBOURS = (
    Neighbour(AF_INET, "10.7.0.9", "02:00:00:00:00:09"),
    Neighbour(AF_INET6, "2001:db8::9", "02:00:00:00:01:09", flags=NTF_ROUTER, protocol=RTPROT_STATIC),
    Neighbour(AF_INET, "10.7.0.20", None, NUD_NONE, NTF_PROXY),
)

# What a record written before this change holds under "snapshot" (no conf, no neighbours).
OLD_SNAPSHOT = {
    "name": "enp68s0", "index": 7, "mac": "02:11:22:33:44:55", "perm_mac": None, "mtu": 9000, "up": True,
    "alias": "rdma nic", "altnames": [], "routes": [], "kind": None, "parent_dev_name": "0000:44:00.0",
    "parent_bus_name": "pci", "skipped_routes": [],
    "addresses": [{"family": 2, "address": "55.1.1.56", "prefixlen": 24, "peer": None, "broadcast": "55.1.1.255",
                   "label": "enp68s0", "scope": 0, "flags": 128, "valid_lft": 4294967295,
                   "preferred_lft": 4294967295, "metric": None, "proto": None, "index": 7}],
}  # fmt: skip


def snapshot(**changes: object) -> LinkSnapshot:
    base = LinkSnapshot.from_dict(OLD_SNAPSHOT)
    from hostdev._record import replace

    return replace(base, **changes)


def test_interface_state_round_trips_through_json() -> None:
    snap = snapshot(conf=CONF, neighbours=NEIGHBOURS)
    stored = json.loads(json.dumps(snap.to_dict()))
    assert stored["conf"]["ipv4"] == {"arp_ignore": "1", "rp_filter": "2"}
    assert LinkSnapshot.from_dict(stored) == snap
    assert LinkSnapshot.from_dict(json.loads(json.dumps(snapshot(conf=InterfaceConf(), neighbours=()).to_dict()))).neighbours == ()


def test_an_old_record_loads_without_interface_state() -> None:
    snap = LinkSnapshot.from_dict(json.loads(json.dumps(OLD_SNAPSHOT)))
    assert (snap.conf, snap.neighbours) == (None, None)  # not captured: apply leaves it alone
    assert snap.addresses == (Address(AF_INET, "55.1.1.56", 24, broadcast="55.1.1.255", label="enp68s0", flags=128, index=7),)


@pytest.mark.parametrize("bad", [
    {"conf": []}, {"conf": {"ipv4": []}}, {"conf": {"ipv4": {"rp_filter": 2}}}, {"conf": {"neigh_ipv4": {"x": "1"}}},
    {"conf": {"neigh_ipv6": {"x": True}}}, {"neighbours": {}}, {"neighbours": [1]},
    {"neighbours": [{"family": 7, "address": "10.0.0.1"}]}, {"neighbours": [{"family": 2, "address": 5}]},
    {"neighbours": [{"family": 2}]}, {"neighbours": [{"family": 2, "address": "10.0.0.1", "flags": [1]}]},
])  # fmt: skip
def test_malformed_interface_state_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LinkSnapshot.from_dict(OLD_SNAPSHOT | bad)
