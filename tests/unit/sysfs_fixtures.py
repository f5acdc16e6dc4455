"""Fabricated sysfs trees shaped like the kernel's, for tests that cannot use the real /sys.

    fake = FakeSysfs(tmp_path)
    fake.add_pci_function("0000:03:00.0", driver="igb", netdevs=["enp3s0"], sriov_totalvfs=7)
    fake.add_vf("0000:03:00.0", 0, "0000:03:10.0", netdevs=["enp3s0v0"])
    fake.add_pci_function("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"], virtio=True)
    fake.add_auxiliary("0000:03:00.0", "mlx5_core.sf.4", driver="mlx5_core.sf", netdevs=["sf4"])
    read_pci_function("0000:03:10.0", sysfs_root=str(fake.root))

Layout, as on a real kernel (every link relative, like sysfs's):
- devices live in ``<root>/devices/pci<domain>:00/[<bridge>/]<BDF>``; VFs next to their PF;
- ``<root>/bus/pci/devices/<BDF>`` -> ``../../../devices/pci0000:00/.../<BDF>``;
- ``<BDF>/driver`` -> ``<root>/bus/pci/drivers/<name>``;
- ``<VF>/physfn`` -> ``../<PF>``, ``<PF>/virtfn<N>`` -> ``../<VF>``, and the PF's
  ``sriov_numvfs``/``sriov_totalvfs``;
- netdevs: ``<BDF>/net/<if>/`` or, for virtio, ``<BDF>/virtio<N>/net/<if>/``, each with a
  ``device`` link to its parent device, and ``<root>/class/net/<if>`` -> that directory;
- RDMA: ``<dev>/infiniband/<ib>/`` and ``<root>/class/infiniband/<ib>``;
- auxiliary: ``<parent dev>/<module>.<name>.<id>/`` and ``<root>/bus/auxiliary/devices/<id>``;
- attribute files (``vendor``, ``device``, ``numa_node``, ...) end with a newline.

Also here, for proving confinement: ``recorded_paths()`` records the path of every
``os``/``open`` call made inside its block; ``outside_allowed(root, paths)`` returns
those not below ``<root>/bus/pci/devices/<BDF>``, ``<root>/bus/auxiliary/devices/<id>``
or ``<root>/class/net/<ifname>`` (checked with its own regexes, not the package's).
"""

from __future__ import annotations

import builtins
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class FakeSysfs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._devices: dict[str, Path] = {}  # BDF or auxiliary id -> real directory
        self._netdevs: dict[str, Path] = {}
        self._next_virtio_index = 0
        for sub in ("bus/pci/devices", "bus/auxiliary/devices", "class/net", "devices/virtual/net"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # -- PCI --------------------------------------------------------------

    def add_pci_function(
        self,
        address: str,
        *,
        driver: str | None = None,
        netdevs: Iterable[str] = (),
        virtio: bool = False,
        virtio_index: int | None = None,
        physfn: str | None = None,
        numa_node: int | None = -1,
        rdma: Iterable[str] = (),
        vendor: int = 0x8086,
        device: int = 0x10C9,
        bridge: str | None = None,
        sriov_totalvfs: int | None = None,
    ) -> Path:
        """Create a PCI function; returns its real directory.

        ``physfn``: PF address (makes this a VF placed next to the PF; prefer add_vf,
        which also adds the PF's virtfn link). ``virtio``: netdevs go under
        ``virtio<N>/net`` instead of ``net``. ``bridge``: place it below that
        (fabricated) bridge directory, as devices on non-root buses are.
        """
        if physfn is not None:
            parent = self._devices[physfn].parent
        else:
            domain = address.split(":")[0]
            parent = self.root / "devices" / f"pci{domain}:00"
            if bridge is not None:
                parent = parent / bridge
        path = parent / address
        path.mkdir(parents=True)
        self._devices[address] = path
        self._link(self.root / "bus/pci/devices" / address, path)
        self._write(path / "vendor", f"0x{vendor:04x}")
        self._write(path / "device", f"0x{device:04x}")
        self._write(path / "class", "0x020000")
        if numa_node is not None:
            self._write(path / "numa_node", str(numa_node))
        if driver is not None:
            self.bind(address, driver)
        if sriov_totalvfs is not None:
            self._write(path / "sriov_totalvfs", str(sriov_totalvfs))
            self._write(path / "sriov_numvfs", "0")
        if physfn is not None:
            self._link(path / "physfn", self._devices[physfn])
        netdev_parent = path
        if virtio:
            netdev_parent = self._add_virtio_device(path, virtio_index)
        for name in netdevs:
            self.add_netdev(netdev_parent, name)
        for name in rdma:
            self.add_rdma(path, name)
        return path

    def add_vf(
        self,
        pf_address: str,
        vf_index: int,
        vf_address: str,
        *,
        driver: str | None = "igbvf",
        netdevs: Iterable[str] = (),
        rdma: Iterable[str] = (),
        numa_node: int | None = -1,
    ) -> Path:
        """Create VF ``vf_index`` of the PF: its directory, ``physfn``, the PF's ``virtfn<N>``."""
        path = self.add_pci_function(
            vf_address,
            driver=driver,
            netdevs=netdevs,
            rdma=rdma,
            numa_node=numa_node,
            physfn=pf_address,
        )
        pf_dir = self._devices[pf_address]
        self._link(pf_dir / f"virtfn{vf_index}", path)
        count = sum(1 for entry in pf_dir.iterdir() if entry.name.startswith("virtfn"))
        self._write(pf_dir / "sriov_numvfs", str(count))
        if not (pf_dir / "sriov_totalvfs").exists():
            self._write(pf_dir / "sriov_totalvfs", "8")
        return path

    def bind(self, address: str, driver: str) -> None:
        """(Re)bind the function to ``driver`` (just the link; netdevs are not touched)."""
        self.unbind(address)
        driver_dir = self.root / "bus/pci/drivers" / driver
        driver_dir.mkdir(parents=True, exist_ok=True)
        self._link(self._devices[address] / "driver", driver_dir)

    def unbind(self, address: str) -> None:
        (self._devices[address] / "driver").unlink(missing_ok=True)

    # -- auxiliary ------------------------------------------------------------

    def add_auxiliary(
        self,
        parent: str,
        name: str,
        *,
        driver: str | None = None,
        netdevs: Iterable[str] = (),
        rdma: Iterable[str] = (),
    ) -> Path:
        """Create auxiliary device ``name`` below ``parent`` (a BDF or another auxiliary id)."""
        path = self._devices[parent] / name
        path.mkdir()
        self._devices[name] = path
        self._link(self.root / "bus/auxiliary/devices" / name, path)
        if driver is not None:
            driver_dir = self.root / "bus/auxiliary/drivers" / driver
            driver_dir.mkdir(parents=True, exist_ok=True)
            self._link(path / "driver", driver_dir)
        for ifname in netdevs:
            self.add_netdev(path, ifname)
        for ibname in rdma:
            self.add_rdma(path, ibname)
        return path

    # -- netdevs and RDMA devices -------------------------------------------

    def add_netdev(self, parent_dir: Path, name: str) -> Path:
        """``<parent_dir>/net/<name>`` with its ``device`` link and ``class/net`` entry."""
        path = parent_dir / "net" / name
        path.mkdir(parents=True)
        self._link(path / "device", parent_dir)
        self._link(path / "subsystem", self.root / "class/net")
        self._write(path / "uevent", f"INTERFACE={name}")
        self._link(self.root / "class/net" / name, path)
        self._netdevs[name] = path
        return path

    def add_virtual_netdev(self, name: str) -> Path:
        """A netdev without a parent device (lo, veth, dummy): no ``device`` link."""
        path = self.root / "devices/virtual/net" / name
        path.mkdir()
        self._link(self.root / "class/net" / name, path)
        self._netdevs[name] = path
        return path

    def remove_netdev(self, name: str) -> None:
        """Make ``name`` vanish, as it does from the host's sysfs when moved to a pod."""
        (self.root / "class/net" / name).unlink()
        shutil.rmtree(self._netdevs.pop(name))

    def add_rdma(self, parent_dir: Path, name: str) -> Path:
        path = parent_dir / "infiniband" / name
        path.mkdir(parents=True)
        self._link(path / "device", parent_dir)
        class_dir = self.root / "class/infiniband"
        class_dir.mkdir(parents=True, exist_ok=True)
        self._link(class_dir / name, path)
        return path

    # -- lookups ----------------------------------------------------------------

    def device_dir(self, name: str) -> Path:
        """Real directory of a PCI function or auxiliary device created here."""
        return self._devices[name]

    def netdev_dir(self, name: str) -> Path:
        return self._netdevs[name]

    # -- helpers ----------------------------------------------------------------

    def _add_virtio_device(self, pci_dir: Path, index: int | None) -> Path:
        if index is None:
            index = self._next_virtio_index
        self._next_virtio_index = max(self._next_virtio_index, index + 1)
        path = pci_dir / f"virtio{index}"
        path.mkdir()
        driver_dir = self.root / "bus/virtio/drivers/virtio_net"
        driver_dir.mkdir(parents=True, exist_ok=True)
        self._link(path / "driver", driver_dir)
        self._write(path / "device", "0x0001")  # a file here, unlike the PCI "device" link
        self._write(path / "vendor", "0x1af4")
        return path

    @staticmethod
    def _link(link: Path, target: Path) -> None:
        """Relative symlink ``link`` -> ``target``, spelled the way sysfs spells it.

        kernfs climbs to an ancestor of the target's *parent* and then names the
        target, so a netdev's ``device`` link reads ``../../../virtio2``, not ``../..``.
        """
        up_to_parent = os.path.relpath(target.parent, link.parent)
        link.symlink_to(os.path.normpath(os.path.join(up_to_parent, target.name)))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.write_text(text + "\n")


# -- recording filesystem access ------------------------------------------------

_WRAPPED_OS = ("open", "stat", "lstat", "readlink", "listdir", "scandir", "access")
_BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")
_AUX = re.compile(r"[A-Za-z0-9_]+\.[A-Za-z0-9_-]+\.[0-9]+")
_IFNAME = re.compile(r"[^/\s:\0]{1,15}")


@contextmanager
def recorded_paths() -> Iterator[list[str]]:
    """Record the path argument of every filesystem call made inside the block."""
    touched: list[str] = []

    def recording(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(path: Any = None, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(path, int):
                touched.append(os.fsdecode(path if path is not None else "."))
            return original(path, *args, **kwargs) if path is not None else original()
        return wrapper

    originals = {name: getattr(os, name) for name in _WRAPPED_OS}
    original_open = builtins.open
    try:
        for name, function in originals.items():
            setattr(os, name, recording(function))
        builtins.open = recording(original_open)
        yield touched
    finally:
        for name, function in originals.items():
            setattr(os, name, function)
        builtins.open = original_open


def outside_allowed(root: Path, touched: list[str]) -> list[str]:
    """The paths in ``touched`` that lie outside a device's own sysfs entry."""

    def allowed(path: str) -> bool:
        prefix = f"{root}/"
        if not path.startswith(prefix):
            return False
        parts = path[len(prefix):].split("/")
        if any(part in ("", ".", "..") for part in parts):
            return False
        if parts[:3] == ["bus", "pci", "devices"] and len(parts) > 3:
            return _BDF.fullmatch(parts[3]) is not None
        if parts[:3] == ["bus", "auxiliary", "devices"] and len(parts) > 3:
            return _AUX.fullmatch(parts[3]) is not None
        if parts[:2] == ["class", "net"] and len(parts) > 2:
            return _IFNAME.fullmatch(parts[2]) is not None and parts[2] not in (".", "..")
        return False

    return [path for path in touched if not allowed(path)]
