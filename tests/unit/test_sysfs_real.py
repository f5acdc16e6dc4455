"""Read-only checks against this machine's real /sys (nothing here writes to it).

The answers of the package are compared with what ``readlink -f`` and ``ls``
report for the same devices, so the fabricated trees of the other tests are
checked against the real layout too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hostdev._sysfs.auxiliary import auxiliary_devices_of
from hostdev._sysfs.netdev_lookup import pci_address_of_netdev
from hostdev._sysfs.pci_address import is_sysfs_pci_address
from hostdev._sysfs.pci_function import read_pci_function
from tests.unit.sysfs_fixtures import FakeSysfs, outside_allowed, recorded_paths

SYS = Path("/sys")


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def _ls(path: Path) -> list[str]:
    return _run("ls", "-1", str(path)).split()


def _pci_netdevs() -> list[tuple[str, str, str]]:
    """(ifname, PCI address, device dir per readlink -f) for netdevs with a PCI parent."""
    found = []
    for ifname in sorted(os.listdir(SYS / "class/net")):
        if not (SYS / "class/net" / ifname / "device").exists():
            continue
        device = _run("readlink", "-f", str(SYS / "class/net" / ifname / "device"))
        leaf, parent = os.path.basename(device), os.path.basename(os.path.dirname(device))
        if is_sysfs_pci_address(leaf):
            found.append((ifname, leaf, device))
        elif leaf.startswith("virtio") and is_sysfs_pci_address(parent):
            found.append((ifname, parent, device))
    return found


PCI_NETDEVS = _pci_netdevs() if (SYS / "class/net").is_dir() else []
needs_pci_netdev = pytest.mark.skipif(not PCI_NETDEVS, reason="no PCI-backed netdev in /sys")


@needs_pci_netdev
@pytest.mark.parametrize(("ifname", "address", "device_dir"), PCI_NETDEVS)
def test_netdev_to_pci_function_agrees_with_readlink(ifname: str, address: str,
                                                     device_dir: str) -> None:
    assert pci_address_of_netdev(ifname) == address
    function = read_pci_function(address)
    assert ifname in function.netdevs
    assert function.netdevs == tuple(sorted(_ls(Path(device_dir) / "net")))
    driver = _run("readlink", "-f", f"/sys/bus/pci/devices/{address}/driver")
    assert function.driver == os.path.basename(driver)
    assert function.vendor_id == int((SYS / "bus/pci/devices" / address / "vendor").read_text(), 16)
    numa = int((SYS / "bus/pci/devices" / address / "numa_node").read_text())
    assert function.numa_node == (None if numa < 0 else numa)


@needs_pci_netdev
def test_virtual_netdevs_have_no_pci_function() -> None:
    virtual = [name for name in os.listdir(SYS / "class/net")
               if not (SYS / "class/net" / name / "device").exists()]
    assert "lo" in virtual
    for name in virtual:
        assert pci_address_of_netdev(name) is None


@pytest.mark.skipif(not (SYS / "bus/pci/devices").is_dir(), reason="no PCI bus in /sys")
def test_every_pci_function_reads_like_ls_and_readlink_show() -> None:
    addresses = _ls(SYS / "bus/pci/devices")
    assert addresses
    for address in addresses:
        with recorded_paths() as touched:
            function = read_pci_function(address)
            auxiliary = auxiliary_devices_of(address)
        assert outside_allowed(SYS, touched) == []
        path = SYS / "bus/pci/devices" / address
        entries = _ls(path)
        driver = _run("readlink", "-f", str(path / "driver")) if "driver" in entries else None
        assert function.driver == (os.path.basename(driver) if driver else None)
        assert function.is_vf == ("physfn" in entries)
        assert len(function.vfs) == sum(1 for e in entries if e.startswith("virtfn"))
        assert function.rdma_devices == tuple(
            sorted(_ls(path / "infiniband")) if "infiniband" in entries else [])
        assert [device.name for device in auxiliary] == [
            e for e in entries if e.count(".") == 2 and not e.startswith(".")]


@needs_pci_netdev
def test_fake_tree_links_match_the_real_ones(tmp_path: Path) -> None:
    """FakeSysfs writes the same link texts the kernel does, for the real NIC's shape."""
    ifname, address, device_dir = PCI_NETDEVS[0]
    real_pci_dir = SYS / "bus/pci/devices" / address
    if os.readlink(real_pci_dir) != f"../../../devices/pci{address[:4]}:00/{address}":
        pytest.skip("NIC is behind a bridge; FakeSysfs's bridge naming is test-chosen")
    virtio_dirs = [e for e in _ls(real_pci_dir) if e.startswith("virtio")]
    fake = FakeSysfs(tmp_path / "sys")
    fake.add_pci_function(
        address, driver=os.path.basename(os.readlink(real_pci_dir / "driver")),
        netdevs=[ifname], virtio=bool(virtio_dirs),
        virtio_index=int(virtio_dirs[0][len("virtio"):]) if virtio_dirs else None,
    )
    for relative in (f"bus/pci/devices/{address}", f"bus/pci/devices/{address}/driver",
                     f"class/net/{ifname}", f"class/net/{ifname}/device"):
        assert os.readlink(fake.root / relative) == os.readlink(SYS / relative), relative
    assert pci_address_of_netdev(ifname, str(fake.root)) == address
