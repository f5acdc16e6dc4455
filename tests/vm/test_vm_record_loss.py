"""DEL when the record is lost, on real NICs (issue 16, items 5 and 10).

Without a usable record DEL falls back to the device the configuration names, found inside the
runtime's CNI_NETNS by its PCI parent (virtio-net: the function's virtio device), not recorded
for any other attachment, and gives it back with its name and MTU. Nothing of the pod's
configuration is taken for the host's: a pod with NET_ADMIN could have planted a default route,
addresses or a MAC. That holds for a corrupt record (set aside) and, now, for a record deleted
outright, which used to leave the NIC in the pod ("nothing recorded: nothing to do").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vm.guest_tools import (
    configure_rich,
    ip_json,
    nad_conf,
    netdev_exists,
    netns_path,
    network_namespace,
    ok,
    run,
    run_plugin,
    wait_for,
)


def _link(ifname: str) -> dict[str, object]:
    (link,) = ip_json("-d", "link", "show", "dev", ifname)
    return dict(link)


@pytest.mark.vm(timeout_s=90)
@pytest.mark.parametrize("loss", ["corrupt", "deleted"])
def test_del_without_a_record_returns_the_nic_and_nothing_the_pod_planted(
    plugin: Path, nic: tuple[str, str], tmp_path: Path, loss: str
) -> None:
    bdf, ifname = nic
    configure_rich(ifname, octet=16)
    host_link = _link(ifname)
    state = tmp_path / "state"
    conf = nad_conf(bdf, state)
    with network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        # The pod plants an address, a default route and a MAC of its own on its NIC.
        run("ip", "-n", pod, "addr", "add", "203.0.113.66/24", "dev", ifname)
        run("ip", "-n", pod, "route", "add", "default", "via", "203.0.113.1", "dev", ifname)
        run("ip", "-n", pod, "link", "set", "dev", ifname, "address", "02:00:00:00:66:66")
        (record,) = (state / "networks").rglob("*.json")
        if loss == "corrupt":
            record.write_text(record.read_text()[:40])
        else:
            record.unlink()
        r = ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        assert "without a state record" in r.stderr, r.stderr
        assert not netdev_exists(ifname, pod)
    wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
    back = _link(ifname)
    assert (back["ifname"], back["mtu"]) == (host_link["ifname"], host_link["mtu"])  # name and MTU
    assert back["address"] == host_link["address"] and "permaddr" not in back  # the NIC's own MAC
    (addrs,) = ip_json("addr", "show", "dev", ifname)
    assert not [a for a in addrs["addr_info"] if not str(a["local"]).startswith("fe80")]  # none taken from the pod
    assert ip_json("route", "show", "default") == [] and ip_json("route", "show", "dev", ifname) == []


@pytest.mark.vm(timeout_s=90)
def test_del_without_a_record_meeting_a_taken_name_waits_for_the_next_del(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    """The name the NIC must come home under is held by another host interface: code 11, the NIC
    stays in the pod untouched, and the runtime's next DEL (the set-aside copy says why it looks)
    brings it home once the name is free."""
    bdf, ifname = e1000
    state = tmp_path / "state"
    conf = nad_conf(bdf, state)
    try:
        with network_namespace() as pod:
            ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
            (record,) = (state / "networks").rglob("*.json")
            record.write_text("{torn")
            run("ip", "link", "add", ifname, "type", "bridge")
            r = run_plugin(plugin, "DEL", conf, netns=netns_path(pod))
            assert r.error_code() == 11 and ifname in r.stdout, r.stdout + r.stderr
            assert netdev_exists(ifname, pod)
            run("ip", "link", "del", ifname)
            ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
            assert not netdev_exists(ifname, pod)
        wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
        assert _link(ifname).get("linkinfo") is None  # the NIC, not a bridge
    finally:
        if netdev_exists(ifname) and _link(ifname).get("linkinfo", {}).get("info_kind") == "bridge":
            run("ip", "link", "del", ifname)
