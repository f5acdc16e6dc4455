"""Netdev -> PCI function, from netlink parent attributes and from sysfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostdev._sysfs.errors import DeviceNotFound, InvalidNetdevName, MalformedSysfs
from hostdev._sysfs.netdev_lookup import pci_address_from_parent, pci_address_of_netdev
from tests.unit.sysfs_fixtures import FakeSysfs


@pytest.mark.parametrize(
    ("name", "bus", "expected"),
    [
        ("0000:44:00.0", "pci", "0000:44:00.0"),
        ("0000:3B:00.1", "pci", "0000:3b:00.1"),
        ("virtio0", "virtio", None),
        ("mlx5_core.sf.4", "auxiliary", None),
        (None, None, None),
        ("0000:44:00.0", None, None),
        (None, "pci", None),
        ("0000:44:00.0/../..", "pci", None),
        ("0000:44:00.0", "PCI", None),
    ],
)
def test_pci_address_from_parent(name: str | None, bus: str | None, expected: str | None) -> None:
    assert pci_address_from_parent(name, bus) == expected


@pytest.fixture
def fake(tmp_path: Path) -> FakeSysfs:
    fake = FakeSysfs(tmp_path / "sys")
    fake.add_pci_function("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"], virtio=True,
                          virtio_index=2)
    fake.add_pci_function("0000:03:00.0", driver="igb", netdevs=["enp3s0"], bridge="0000:00:1c.0")
    fake.add_vf("0000:03:00.0", 0, "0000:03:10.0", netdevs=["enp3s0v0"])
    fake.add_auxiliary("0000:03:00.0", "mlx5_core.sf.4", netdevs=["sf4"])
    fake.add_virtual_netdev("lo")
    return fake


@pytest.mark.parametrize(
    ("ifname", "expected"),
    [
        ("eth0", "0000:00:03.0"),  # virtio: walk up from virtio2
        ("enp3s0", "0000:03:00.0"),
        ("enp3s0v0", "0000:03:10.0"),
        ("lo", None),  # no device link
        ("sf4", None),  # parent is an auxiliary device, not a PCI function
    ],
)
def test_pci_address_of_netdev(fake: FakeSysfs, ifname: str, expected: str | None) -> None:
    assert pci_address_of_netdev(ifname, str(fake.root)) == expected


def test_netdev_in_another_netns_is_not_found(fake: FakeSysfs) -> None:
    fake.remove_netdev("enp3s0v0")
    with pytest.raises(DeviceNotFound, match="enp3s0v0"):
        pci_address_of_netdev("enp3s0v0", str(fake.root))


def test_usb_nic_is_not_attributed_to_its_host_controller(fake: FakeSysfs) -> None:
    xhci = fake.add_pci_function("0000:00:14.0", driver="xhci_hcd")
    fake.add_netdev(xhci / "usb1" / "1-1" / "1-1:1.0", "enx001122334455")
    assert pci_address_of_netdev("enx001122334455", str(fake.root)) is None


@pytest.mark.parametrize("ifname", ["", "..", "../../../etc", "eth0/device", "x" * 16, "eth 0"])
def test_invalid_names_are_rejected(fake: FakeSysfs, ifname: str) -> None:
    with pytest.raises(InvalidNetdevName):
        pci_address_of_netdev(ifname, str(fake.root))


def test_device_link_leaving_the_root_is_malformed(fake: FakeSysfs) -> None:
    device = fake.netdev_dir("enp3s0") / "device"
    device.unlink()
    device.symlink_to("../../../../../../../../../outside/0000:03:00.0")
    with pytest.raises(MalformedSysfs, match="leaves"):
        pci_address_of_netdev("enp3s0", str(fake.root))


def test_bdf_named_directory_that_is_not_that_pci_device_is_malformed(fake: FakeSysfs) -> None:
    impostor = fake.root / "devices/platform/0000:00:03.0"
    fake.add_netdev(impostor, "fake0")
    with pytest.raises(MalformedSysfs, match="not the PCI device"):
        pci_address_of_netdev("fake0", str(fake.root))
