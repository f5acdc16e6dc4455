"""PCI function discovery against fabricated sysfs trees."""

from __future__ import annotations

import shutil

import os
from pathlib import Path

import pytest

from hostdev._sysfs.errors import (
    AmbiguousNetdev,
    DeviceNotFound,
    InvalidPciAddress,
    MalformedSysfs,
    NoNetdevFound,
    SysfsError,
    UserspaceDriverBound,
)
from hostdev._sysfs.pci_function import (
    VirtualFunctionSlot,
    netdev_of,
    read_pci_function,
    virtual_functions,
)
from tests.unit.sysfs_fixtures import FakeSysfs

PF = "0000:03:00.0"
VF0 = "0000:03:10.0"
VF1 = "0000:03:10.2"


@pytest.fixture
def fake(tmp_path: Path) -> FakeSysfs:
    return FakeSysfs(tmp_path / "sys")


@pytest.fixture
def sriov(fake: FakeSysfs) -> FakeSysfs:
    """igb PF with two VFs (as qemu's igb shows after `echo 2 > sriov_numvfs`)."""
    fake.add_pci_function(
        PF, driver="igb", netdevs=["enp3s0"], sriov_totalvfs=7, numa_node=1,
        vendor=0x8086, device=0x10C9, bridge="0000:00:1c.0",
    )
    fake.add_vf(PF, 0, VF0, netdevs=["enp3s0v0"])
    fake.add_vf(PF, 1, VF1, netdevs=["enp3s0v1"])
    return fake


def test_pf_with_vfs(sriov: FakeSysfs) -> None:
    pf = read_pci_function(PF, str(sriov.root))
    assert pf.address == PF
    assert (pf.vendor_id, pf.device_id) == (0x8086, 0x10C9)
    assert pf.driver == "igb" and not pf.userspace_driver
    assert pf.netdevs == ("enp3s0",)
    assert netdev_of(pf) == "enp3s0"
    assert pf.numa_node == 1
    assert pf.is_sriov_pf and not pf.is_vf
    assert (pf.pf_address, pf.vf_index, pf.pf_netdevs) == (None, None, ())
    assert pf.vfs == (VirtualFunctionSlot(0, VF0), VirtualFunctionSlot(1, VF1))
    assert (pf.sriov_numvfs, pf.sriov_totalvfs) == (2, 7)
    assert virtual_functions(PF, str(sriov.root)) == {0: VF0, 1: VF1}


def test_vf_knows_its_pf_and_index(sriov: FakeSysfs) -> None:
    vf = read_pci_function(VF1, str(sriov.root))
    assert vf.is_vf and not vf.is_sriov_pf
    assert (vf.pf_address, vf.vf_index) == (PF, 1)
    assert vf.pf_netdevs == ("enp3s0",)
    assert vf.driver == "igbvf"
    assert netdev_of(vf) == "enp3s0v1"
    assert vf.numa_node is None  # -1 in sysfs
    assert (vf.sriov_numvfs, vf.sriov_totalvfs, vf.vfs) == (None, None, ())
    assert virtual_functions(VF1, str(sriov.root)) == {}


def test_vf_indices_come_from_links_not_from_ordering(fake: FakeSysfs) -> None:
    fake.add_pci_function(PF, driver="ice", netdevs=["ens1f0"], sriov_totalvfs=64)
    fake.add_vf(PF, 10, "0000:03:01.2", driver="iavf")
    fake.add_vf(PF, 2, "0000:03:00.2", driver="iavf")
    assert virtual_functions(PF, str(fake.root)) == {2: "0000:03:00.2", 10: "0000:03:01.2"}
    assert read_pci_function("0000:03:01.2", str(fake.root)).vf_index == 10


def test_short_or_upper_case_address_is_normalised(sriov: FakeSysfs) -> None:
    assert read_pci_function("03:10.2", str(sriov.root)).address == VF1
    assert read_pci_function("0000:03:10.2".upper(), str(sriov.root)).vf_index == 1


def test_virtio_netdev_sits_below_the_virtio_device(fake: FakeSysfs) -> None:
    fake.add_pci_function("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"],
                          virtio=True, virtio_index=2, vendor=0x1AF4, device=0x1041)
    function = read_pci_function("0000:00:03.0", str(fake.root))
    assert function.netdevs == ("eth0",)
    assert function.driver == "virtio-pci"
    assert (function.vendor_id, function.device_id) == (0x1AF4, 0x1041)
    assert not function.is_vf and not function.is_sriov_pf
    assert function.virtio_devices == ("virtio2",)  # netlink's parent of eth0, in any netns
    fake.add_pci_function("0000:00:04.0", driver="e1000", netdevs=["eth1"])
    assert read_pci_function("0000:00:04.0", str(fake.root)).virtio_devices == ()


def test_virtio_device_is_listed_while_its_netdev_is_in_another_netns(fake: FakeSysfs) -> None:
    path = fake.add_pci_function("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"], virtio=True, virtio_index=0)
    for entry in (path / "virtio0" / "net").iterdir():  # what this netns's sysfs shows then
        entry.unlink() if entry.is_symlink() else shutil.rmtree(entry)
    function = read_pci_function("0000:00:03.0", str(fake.root))
    assert (function.netdevs, function.virtio_devices) == ((), ("virtio0",))


def test_vfio_bound_vf_reports_userspace_driver(sriov: FakeSysfs) -> None:
    sriov.add_vf(PF, 2, "0000:03:10.4", driver="vfio-pci")
    vf = read_pci_function("0000:03:10.4", str(sriov.root))
    assert vf.userspace_driver and vf.driver == "vfio-pci"
    assert vf.netdevs == () and vf.vf_index == 2
    with pytest.raises(UserspaceDriverBound, match="0000:03:10.4.*vfio-pci") as info:
        netdev_of(vf)
    assert not isinstance(info.value, NoNetdevFound)


@pytest.mark.parametrize("driver", ["uio_pci_generic", "igb_uio", "mlx5_vfio_pci"])
def test_other_userspace_drivers(fake: FakeSysfs, driver: str) -> None:
    fake.add_pci_function(PF, driver=driver)
    with pytest.raises(UserspaceDriverBound):
        netdev_of(read_pci_function(PF, str(fake.root)))


def test_unbound_function_has_no_driver_and_no_netdev(fake: FakeSysfs) -> None:
    fake.add_pci_function(PF)
    function = read_pci_function(PF, str(fake.root))
    assert function.driver is None and not function.userspace_driver
    with pytest.raises(NoNetdevFound, match="not bound to any driver"):
        netdev_of(function)


def test_netdev_moved_to_a_pod_vanishes_from_the_view(sriov: FakeSysfs) -> None:
    sriov.remove_netdev("enp3s0v0")
    vf = read_pci_function(VF0, str(sriov.root))
    assert vf.netdevs == () and vf.driver == "igbvf"
    with pytest.raises(NoNetdevFound, match="another network namespace"):
        netdev_of(vf)


def test_rdma_device_and_several_ports(fake: FakeSysfs) -> None:
    fake.add_pci_function(PF, driver="mlx4_core", netdevs=["ens1", "ens1d1"], rdma=["mlx4_0"])
    function = read_pci_function(PF, str(fake.root))
    assert function.rdma_devices == ("mlx4_0",)
    with pytest.raises(AmbiguousNetdev, match="ens1, ens1d1"):
        netdev_of(function)


def test_vf_with_rdma(sriov: FakeSysfs) -> None:
    sriov.add_vf(PF, 3, "0000:03:10.6", driver="mlx5_core", netdevs=["ens1f0v3"], rdma=["mlx5_3"])
    vf = read_pci_function("0000:03:10.6", str(sriov.root))
    assert (vf.rdma_devices, vf.netdevs, vf.vf_index) == (("mlx5_3",), ("ens1f0v3",), 3)


def test_missing_device(sriov: FakeSysfs) -> None:
    with pytest.raises(DeviceNotFound, match="0000:03:00.1"):
        read_pci_function("0000:03:00.1", str(sriov.root))
    with pytest.raises(DeviceNotFound):
        virtual_functions("0000:03:00.1", str(sriov.root))


def test_invalid_address_raised_before_lookup(sriov: FakeSysfs) -> None:
    with pytest.raises(InvalidPciAddress):
        read_pci_function("../../../..", str(sriov.root))


def test_optional_attributes_absent(fake: FakeSysfs) -> None:
    fake.add_pci_function(PF, driver="e1000", netdevs=["ens3"], numa_node=None)
    for name in ("vendor", "device"):
        (fake.device_dir(PF) / name).unlink()
    function = read_pci_function(PF, str(fake.root))
    assert (function.vendor_id, function.device_id, function.numa_node) == (None, None, None)
    assert (function.sriov_numvfs, function.sriov_totalvfs) == (None, None)


@pytest.mark.parametrize(
    ("attribute", "content"),
    [("numa_node", "one\n"), ("vendor", "8086\n"), ("vendor", "0x\n"), ("sriov_numvfs", "\n"),
     ("numa_node", "\xff\n")],
)
def test_garbage_attribute_is_malformed(fake: FakeSysfs, attribute: str, content: str) -> None:
    path = fake.add_pci_function(PF, sriov_totalvfs=4) / attribute
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(MalformedSysfs, match=attribute):
        read_pci_function(PF, str(fake.root))


def test_physfn_not_naming_a_pci_function_is_malformed(fake: FakeSysfs) -> None:
    path = fake.add_pci_function(VF0, driver="igbvf")
    (path / "physfn").symlink_to("../../../../etc")
    with pytest.raises(MalformedSysfs, match="physfn"):
        read_pci_function(VF0, str(fake.root))


def test_vf_whose_pf_does_not_list_it_is_malformed(sriov: FakeSysfs) -> None:
    (sriov.device_dir(PF) / "virtfn1").unlink()
    with pytest.raises(MalformedSysfs, match=VF1):
        read_pci_function(VF1, str(sriov.root))


def test_attribute_symlink_is_not_followed(fake: FakeSysfs, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("0x1234\n")
    path = fake.add_pci_function(PF)
    (path / "vendor").unlink()
    (path / "vendor").symlink_to(secret)
    with pytest.raises(MalformedSysfs, match="symlink"):
        read_pci_function(PF, str(fake.root))


def test_fifo_attribute_does_not_hang(fake: FakeSysfs) -> None:
    path = fake.add_pci_function(PF)
    (path / "numa_node").unlink()
    os.mkfifo(path / "numa_node")
    with pytest.raises(MalformedSysfs):  # reads as empty text, which is not a number
        read_pci_function(PF, str(fake.root))


def test_every_error_is_a_sysfs_error() -> None:
    for error in (AmbiguousNetdev, DeviceNotFound, InvalidPciAddress, MalformedSysfs,
                  NoNetdevFound, UserspaceDriverBound):
        assert issubclass(error, SysfsError)
