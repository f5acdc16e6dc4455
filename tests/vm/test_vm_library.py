"""The hostdev library on real PCI NICs of a real kernel (e1000, virtio-net; igb in test_vm_sriov).

Discovery from the PCI address through sysfs (both layouts: the netdev directly under the
function, and one level lower under virtio<N>), back from netlink's parent attributes, and
the three primitives -- take_snapshot, move_link, apply_snapshot -- moving a NIC into a pod
and back, compared with everything `ip -j` shows before and after.
"""

from __future__ import annotations

import errno

import pytest

from hostdev import Handle, NetlinkError, NetNS, apply_snapshot, move_link, take_snapshot
from hostdev._sysfs.netdev_lookup import pci_address_from_parent, pci_address_of_netdev
from hostdev._sysfs.pci_function import netdev_of, read_pci_function
from tests.vm.guest_tools import (
    PCI_DEVICES,
    configure_rich,
    e1000_netdev,
    ip_json,
    netdev_exists,
    netdev_view,
    netlink_parent,
    network_namespace,
    rich_cidrs,
    run,
    virtio_netdev,
    wait_for_view,
)

BOTH_KERNELS = ["6.1", "6.12"]
# 6.1 refuses the clash without an extended ack; newer kernels say why. (No final period: ip(8)
# adds one when it prints the message.)
NAME_CLASH_EXTACK = "An interface with the same name exists in the target netns"


def library_round_trip(bdf: str, ifname: str, octet: int, *, dad: bool = False) -> None:
    """Snapshot, move into a pod, apply there, move back, apply on the host: the pod sees exactly
    what the host had, and the host ends exactly as it began."""
    before = configure_rich(ifname, octet, dad=dad)
    parent = netlink_parent(bdf)
    with network_namespace() as pod, NetNS.from_name(pod) as pod_ns, NetNS.current() as host_ns:
        with Handle() as host, Handle(pod_ns) as inside:
            snapshot = take_snapshot(host, ifname)
            assert (snapshot.parent_dev_name, snapshot.parent_bus_name) == parent
            assert {a.cidr for a in snapshot.addresses} == rich_cidrs(octet, dad=dad)
            moved = move_link(host, inside, host.link(name=ifname))
            assert moved.name == ifname and not moved.up
            assert (moved.parent_dev_name, moved.parent_bus_name) == parent  # netlink still names it
            assert not netdev_exists(ifname)
            assert read_pci_function(bdf).netdevs == ()  # the host's sysfs no longer shows it
            report = apply_snapshot(inside, moved, snapshot)
            assert report.failed_routes == ()
            wait_for_view(ifname, before, netns=pod)

            inside.set_link(moved.index, up=False)
            inside.move_link(moved.index, host_ns)
            back = host.link(name=ifname)
            assert apply_snapshot(host, back, snapshot).failed_routes == ()
    wait_for_view(ifname, before)
    assert read_pci_function(bdf).netdevs == (ifname,)


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_discovery_from_the_pci_address_and_back_from_netlink() -> None:
    e1000_bdf, e1000_if = e1000_netdev()
    virtio_bdf, virtio_if = virtio_netdev()

    e1000_function = read_pci_function(e1000_bdf)
    assert (e1000_function.driver, e1000_function.netdevs) == ("e1000", (e1000_if,))
    assert not e1000_function.is_vf and not e1000_function.is_sriov_pf and e1000_function.vfs == ()
    assert netdev_of(e1000_function) == e1000_if
    assert (PCI_DEVICES / e1000_bdf / "net" / e1000_if).is_dir()

    virtio_function = read_pci_function(virtio_bdf)
    assert (virtio_function.driver, virtio_function.netdevs) == ("virtio-pci", (virtio_if,))
    assert netdev_of(virtio_function) == virtio_if
    assert not (PCI_DEVICES / virtio_bdf / "net").exists()  # one level lower, under virtio<N>

    with Handle() as host:
        e1000_link = host.link(name=e1000_if)
        virtio_link = host.link(name=virtio_if)
    assert (e1000_link.parent_dev_name, e1000_link.parent_bus_name) == (e1000_bdf, "pci")
    assert pci_address_from_parent(e1000_link.parent_dev_name, e1000_link.parent_bus_name) == e1000_bdf
    virtio_device = netlink_parent(virtio_bdf)[0]
    assert (virtio_link.parent_dev_name, virtio_link.parent_bus_name) == (virtio_device, "virtio")
    assert (PCI_DEVICES / virtio_bdf / virtio_device / "net" / virtio_if).is_dir()
    assert pci_address_from_parent(virtio_link.parent_dev_name, virtio_link.parent_bus_name) is None
    assert pci_address_of_netdev(virtio_if) == virtio_bdf
    assert pci_address_of_netdev(e1000_if) == e1000_bdf
    # Our decoding agrees with ip(8)'s.
    for link in (e1000_link, virtio_link):
        (shown,) = ip_json("-d", "link", "show", "dev", link.name)
        assert (shown["parentdev"], shown["parentbus"], shown["address"]) == (link.parent_dev_name, link.parent_bus_name, link.mac)


# On 6.12 the plugin's ADD/DEL test (test_vm_plugin) covers the same primitives on both NICs.
@pytest.mark.vm(timeout_s=90)
def test_snapshot_move_into_a_pod_and_back_keeps_everything(nic: tuple[str, str]) -> None:
    bdf, ifname = nic
    library_round_trip(bdf, ifname, octet=1, dad=True)


@pytest.mark.vm(kernel=BOTH_KERNELS)
def test_name_clash_is_eexist_and_a_rename_in_the_same_request_avoids_it(e1000: tuple[str, str], vm_kernel: str) -> None:
    bdf, ifname = e1000
    with network_namespace() as pod, NetNS.from_name(pod) as pod_ns, NetNS.current() as host_ns:
        run("ip", "-n", pod, "link", "add", ifname, "type", "veth", "peer", "name", "hd-peer")
        before = netdev_view(ifname)
        with Handle() as host, Handle(pod_ns) as inside:
            index = host.link(name=ifname).index
            with pytest.raises(NetlinkError) as clash:
                host.move_link(index, pod_ns)
            assert clash.value.errno == errno.EEXIST
            if vm_kernel == "6.1":
                assert clash.value.extack is None
            else:
                assert clash.value.extack == NAME_CLASH_EXTACK
                assert NAME_CLASH_EXTACK in str(clash.value)
            assert netdev_view(ifname) == before  # refused: nothing changed

            host.move_link(index, pod_ns, name="hd-pod0")
            (moved,) = [link for link in inside.links() if link.name == "hd-pod0"]
            assert (moved.parent_dev_name, moved.mac) == (bdf, before["link"]["address"])
            assert not netdev_exists(ifname)

            inside.move_link(moved.index, host_ns, name=ifname)
            assert not netdev_exists("hd-pod0", pod)
        assert netdev_view(ifname) == before
        assert read_pci_function(bdf).netdevs == (ifname,)
