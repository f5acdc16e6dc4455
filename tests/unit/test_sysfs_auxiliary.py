"""Auxiliary-bus devices against fabricated sysfs trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostdev._sysfs.auxiliary import AuxiliaryDevice, auxiliary_devices_of, read_auxiliary_device
from hostdev._sysfs.errors import DeviceNotFound, InvalidAuxiliaryId, MalformedSysfs
from tests.unit.sysfs_fixtures import FakeSysfs

PF = "0000:08:00.0"


@pytest.fixture
def mlx5(tmp_path: Path) -> FakeSysfs:
    """A ConnectX PF below a bridge, with its auxiliary devices and one SF."""
    fake = FakeSysfs(tmp_path / "sys")
    fake.add_pci_function(PF, driver="mlx5_core", netdevs=["ens1f0np0"], rdma=["mlx5_0"],
                          bridge="0000:00:02.0", sriov_totalvfs=8)
    fake.add_auxiliary(PF, "mlx5_core.eth.0", driver="mlx5_core.eth")
    fake.add_auxiliary(PF, "mlx5_core.rdma.0", driver="mlx5_ib.rdma")
    fake.add_auxiliary(PF, "mlx5_core.sf.4", driver="mlx5_core.sf", netdevs=["enp8s0f0s4"],
                       rdma=["mlx5_2"])
    fake.add_auxiliary("mlx5_core.sf.4", "mlx5_core.eth.4", driver="mlx5_core.eth")
    fake.add_pci_function("0000:08:00.1", driver="mlx5_core", bridge="0000:00:02.0")
    fake.add_auxiliary("0000:08:00.1", "mlx5_core.eth.1")
    return fake


def test_sub_function_with_netdev_and_rdma(mlx5: FakeSysfs) -> None:
    device = read_auxiliary_device("mlx5_core.sf.4", str(mlx5.root))
    assert device == AuxiliaryDevice(
        name="mlx5_core.sf.4", pci_address=PF, parent_auxiliary=None, driver="mlx5_core.sf",
        netdevs=("enp8s0f0s4",), rdma_devices=("mlx5_2",),
    )


def test_nested_auxiliary_device_names_its_parents(mlx5: FakeSysfs) -> None:
    device = read_auxiliary_device("mlx5_core.eth.4", str(mlx5.root))
    assert (device.pci_address, device.parent_auxiliary) == (PF, "mlx5_core.sf.4")
    assert device.netdevs == () and device.driver == "mlx5_core.eth"


def test_ionic_rdma_auxiliary_device(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path / "sys")
    fake.add_pci_function("0000:b3:00.0", driver="ionic", netdevs=["enp179s0np0"])
    fake.add_auxiliary("0000:b3:00.0", "ionic.rdma.0", driver="ionic_rdma.rdma", rdma=["ionic_0"])
    device = read_auxiliary_device("ionic.rdma.0", str(fake.root))
    assert (device.pci_address, device.rdma_devices, device.netdevs) == (
        "0000:b3:00.0", ("ionic_0",), ())
    assert device.driver == "ionic_rdma.rdma"


def test_auxiliary_devices_of_a_function(mlx5: FakeSysfs) -> None:
    names = [device.name for device in auxiliary_devices_of(PF, str(mlx5.root))]
    assert sorted(names) == ["mlx5_core.eth.0", "mlx5_core.eth.4", "mlx5_core.rdma.0",
                             "mlx5_core.sf.4"]
    others = auxiliary_devices_of("08:00.1", str(mlx5.root))
    assert [(device.name, device.pci_address) for device in others] == [
        ("mlx5_core.eth.1", "0000:08:00.1")]


def test_function_without_auxiliary_devices(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path / "sys")
    fake.add_pci_function("0000:00:03.0", driver="e1000", netdevs=["ens3"])
    assert auxiliary_devices_of("0000:00:03.0", str(fake.root)) == ()


def test_missing_auxiliary_device_and_function(mlx5: FakeSysfs) -> None:
    with pytest.raises(DeviceNotFound, match="mlx5_core.eth.9"):
        read_auxiliary_device("mlx5_core.eth.9", str(mlx5.root))
    with pytest.raises(DeviceNotFound, match="0000:08:00.2"):
        auxiliary_devices_of("0000:08:00.2", str(mlx5.root))


@pytest.mark.parametrize("name", ["../../../etc", "mlx5_core.eth.0/..", "mlx5_core.eth.0\n"])
def test_invalid_id_is_rejected(mlx5: FakeSysfs, name: str) -> None:
    with pytest.raises(InvalidAuxiliaryId):
        read_auxiliary_device(name, str(mlx5.root))


def test_auxiliary_link_leaving_the_root_is_malformed(mlx5: FakeSysfs) -> None:
    link = mlx5.root / "bus/auxiliary/devices/evil.eth.0"
    link.symlink_to("../../../../outside/0000:08:00.0/evil.eth.0")
    with pytest.raises(MalformedSysfs, match="leaves"):
        read_auxiliary_device("evil.eth.0", str(mlx5.root))


def test_auxiliary_device_not_below_a_pci_function_is_malformed(mlx5: FakeSysfs) -> None:
    (mlx5.root / "devices/platform/evil.eth.0").mkdir(parents=True)
    (mlx5.root / "bus/auxiliary/devices/evil.eth.0").symlink_to(
        "../../../devices/platform/evil.eth.0")
    with pytest.raises(MalformedSysfs, match="below a PCI function"):
        read_auxiliary_device("evil.eth.0", str(mlx5.root))


def test_auxiliary_device_below_a_fake_pci_directory_is_malformed(mlx5: FakeSysfs) -> None:
    """A directory merely named like a BDF is not the PCI function of that name."""
    (mlx5.root / "devices/platform/0000:08:00.0/evil.eth.0").mkdir(parents=True)
    (mlx5.root / "bus/auxiliary/devices/evil.eth.0").symlink_to(
        "../../../devices/platform/0000:08:00.0/evil.eth.0")
    with pytest.raises(MalformedSysfs, match="not the PCI device"):
        read_auxiliary_device("evil.eth.0", str(mlx5.root))
