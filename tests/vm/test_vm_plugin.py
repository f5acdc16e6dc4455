"""The amd-host-device plugin end to end on real PCI NICs, driven like a runtime drives it.

The launcher is installed with `hostdev install` and executed with the CNI_* environment and
the seed's NetworkAttachmentDefinition config on stdin, plus the keys Multus adds (deviceID,
pciBusID: the NIC's real PCI address). The guest's real /sys is what the plugin reads. A real
NIC, unlike a veth, survives its pod: when the pod's netns is deleted the kernel hands it back
to the host, down and bare, under its pod-side name (or dev<N> when that name is taken).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostdev._sysfs.pci_function import read_pci_function
from tests.vm.guest_tools import (
    NETWORK,
    borrowed_nic,
    configure_interface_state,
    configure_rich,
    gc_conf,
    interface_state,
    ip_json,
    nad_conf,
    netdev_exists,
    netdev_view,
    netlink_parent,
    netns_path,
    network_namespace,
    ok,
    rich_cidrs,
    run,
    run_plugin,
    settled_view,
    state_records,
    wait_for,
    wait_for_view,
)

BOTH_KERNELS = ["6.1", "6.12"]


@pytest.fixture
def virtio() -> Iterator[tuple[str, str]]:
    yield from borrowed_nic("virtio")


def ifindex_in(ifname: str, netns: str) -> int:
    (link,) = ip_json("link", "show", "dev", ifname, netns=netns)
    return int(link["ifindex"])


def parent_of(ifname: str, netns: str | None = None) -> str:
    (link,) = ip_json("-d", "link", "show", "dev", ifname, netns=netns)
    return str(link["parentdev"])


@pytest.mark.vm(kernel=BOTH_KERNELS, timeout_s=90)
def test_add_moves_the_nic_with_its_addresses_and_del_restores_everything(
    plugin: Path, nic: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = nic
    before = configure_rich(ifname, octet=1, dad=True)
    conf = nad_conf(bdf, tmp_path / "state")
    with network_namespace() as pod:
        added = ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        assert added.out is not None
        assert [(i["name"], i["sandbox"]) for i in added.out["interfaces"]] == [(ifname, netns_path(pod))]
        assert {ip["address"] for ip in added.out["ips"]} == rich_cidrs(1, dad=True)

        assert not netdev_exists(ifname)
        assert read_pci_function(bdf).netdevs == ()
        (inside,) = ip_json("addr", "show", "dev", ifname, netns=pod)
        assert rich_cidrs(1, dad=True) <= {f"{a['local']}/{a['prefixlen']}" for a in inside["addr_info"]}
        wait_for_view(ifname, before, netns=pod)  # name, addresses, MTU, alias, routes, up: all there
        assert parent_of(ifname, pod) == netlink_parent(bdf)[0]
        assert [r["phase"] for r in state_records(tmp_path / "state")] == ["attached"]

        deleted = ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
        assert deleted.stdout == ""
        assert not netdev_exists(ifname, pod)
    wait_for_view(ifname, before)
    assert read_pci_function(bdf).netdevs == (ifname,)
    assert state_records(tmp_path / "state") == []


def _leases(data_dir: Path) -> dict[str, str]:
    """host-local's allocation files: address -> "<container ID>\\r\\n<ifname>"."""
    directory = data_dir / NETWORK
    if not directory.is_dir():
        return {}
    return {p.name: p.read_bytes().decode() for p in directory.iterdir() if p.name != "lock" and not p.name.startswith("last_reserved_ip")}


@pytest.mark.vm(kernel=["6.12"], timeout_s=120)
def test_host_local_ipam_on_a_real_nic_also_when_the_pod_netns_dies_first(plugin: Path, e1000: tuple[str, str], tmp_path: Path) -> None:
    """The vnic NAD with host-local: the pod's NIC gets IPAM's address and route instead of the
    host's; DEL releases the allocation and gives the host its own. Then again with the pod's
    netns deleted first: the kernel returns the NIC bare, DEL still releases and restores."""
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=3)
    ipam = {"type": "host-local", "ranges": [[{"subnet": "10.7.0.0/24", "gateway": "10.7.0.1"}]], "routes": [{"dst": "10.80.0.0/16"}], "dataDir": str(tmp_path / "ipam")}
    conf = nad_conf(bdf, tmp_path / "state", ipam=ipam, returnTimeoutSeconds=20)
    with network_namespace() as pod:
        added = ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        assert added.out is not None and added.out["ips"] == [{"version": "4", "address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 0}]
        inside = netdev_view(ifname, pod)
        assert [f"{a['local']}/{a['prefixlen']}" for a in inside["addrs"]] == ["10.7.0.2/24"]
        routes = [(r["dst"], r.get("gateway")) for r in ip_json("route", "show", "dev", ifname, netns=pod) if r.get("protocol") != "kernel"]
        assert routes == [("10.80.0.0/16", "10.7.0.1")]
        assert _leases(tmp_path / "ipam") == {"10.7.0.2": "c0ffee\r\nnet1"}
        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
    wait_for_view(ifname, before)
    assert _leases(tmp_path / "ipam") == {} and state_records(tmp_path / "state") == []

    with network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        run("ip", "netns", "del", pod)
    wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
    ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
    wait_for_view(ifname, before)
    assert _leases(tmp_path / "ipam") == {} and state_records(tmp_path / "state") == []


@pytest.mark.vm(kernel=BOTH_KERNELS, timeout_s=90)
def test_pod_netns_deleted_before_del_returns_the_nic_and_del_restores_it(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=2)
    conf = nad_conf(bdf, tmp_path / "state", returnTimeoutSeconds=20)
    with network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        run("ip", "netns", "del", pod)
    # The kernel hands a physical NIC back by itself, under its current name, down and bare.
    wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
    returned = netdev_view(ifname)
    assert "UP" not in returned["link"]["flags"] and returned["addrs"] == []
    assert read_pci_function(bdf).netdevs == (ifname,)

    ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))  # the runtime's stale path
    wait_for_view(ifname, before)
    assert state_records(tmp_path / "state") == []


@pytest.mark.vm(timeout_s=90)
@pytest.mark.parametrize("host_name", ["free", "taken"])
def test_renamed_nic_returns_under_its_pod_name_or_devN_and_del_restores_it(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path, host_name: str
) -> None:
    bdf, ifname = e1000
    before = configure_rich(ifname, octet=3)
    conf = nad_conf(bdf, tmp_path / "state", renameToIfname=True, returnTimeoutSeconds=20)
    try:
        with network_namespace() as pod:
            ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod), ifname="net1"))
            assert not netdev_exists(ifname, pod) and parent_of("net1", pod) == bdf
            expected = "net1"
            if host_name == "taken":
                run("ip", "link", "add", "net1", "type", "veth", "peer", "name", "net1-peer")
                expected = f"dev{ifindex_in('net1', pod)}"
            run("ip", "netns", "del", pod)
        wait_for(f"{expected} back on the host", lambda: netdev_exists(expected))
        assert parent_of(expected) == bdf and read_pci_function(bdf).netdevs == (expected,)

        ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod), ifname="net1"))
        wait_for_view(ifname, before)
        assert not netdev_exists(expected)
        assert netdev_exists("net1") == (host_name == "taken")  # the unrelated veth is untouched
        assert state_records(tmp_path / "state") == []
    finally:
        run("ip", "link", "del", "net1-peer", check=False)


@pytest.mark.vm(timeout_s=90)
def test_gc_after_the_pod_died_restores_the_nic(plugin: Path, virtio: tuple[str, str], tmp_path: Path) -> None:
    bdf, ifname = virtio
    before = configure_rich(ifname, octet=4)
    state = tmp_path / "state"
    with network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", nad_conf(bdf, state), netns=netns_path(pod)))
        assert len(state_records(state)) == 1
        run("ip", "netns", "del", pod)
    wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
    gc = ok(run_plugin(plugin, "GC", gc_conf(state), netns=None, container_id=None, ifname=None))
    assert gc.stdout == ""
    wait_for_view(ifname, before)
    assert state_records(state) == []


@pytest.mark.vm(timeout_s=90)
def test_sysctls_and_neighbours_of_a_real_nic_come_back_after_its_pod_died(
    plugin: Path, e1000: tuple[str, str], tmp_path: Path
) -> None:
    """The pod gets the host's per-interface sysctls, table parameters and neighbours; when the
    pod's netns dies the kernel hands the NIC back with the initial netns's defaults (the loss,
    on real hardware); DEL gives the host its own values back, not what the pod made of them."""
    bdf, ifname = e1000
    configure_rich(ifname, octet=6)
    configure_interface_state(ifname, octet=6)
    before, state = settled_view(ifname), interface_state(ifname)
    conf = nad_conf(bdf, tmp_path / "state", returnTimeoutSeconds=20)
    with network_namespace() as pod:
        ok(run_plugin(plugin, "ADD", conf, netns=netns_path(pod)))
        assert interface_state(ifname, pod) == state
        run("ip", "netns", "exec", pod, "sysctl", "-q", "-w", f"net.ipv4.conf.{ifname}.rp_filter=0")
        run("ip", "netns", "del", pod)
    wait_for(f"{ifname} back on the host", lambda: netdev_exists(ifname))
    returned = interface_state(ifname)
    assert returned["sysctls"]["net.ipv4.conf.rp_filter"] == "0" and returned["neighbours"] == []
    assert returned != state
    ok(run_plugin(plugin, "DEL", conf, netns=netns_path(pod)))
    wait_for_view(ifname, before)
    assert interface_state(ifname) == state
    assert state_records(tmp_path / "state") == []
