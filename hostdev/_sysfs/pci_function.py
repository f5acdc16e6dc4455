"""What sysfs says about one PCI function: driver, netdevs, RDMA devices, SR-IOV role.

Layout read (``<root>/bus/pci/devices/<BDF>`` and below, nothing else):
``driver`` symlink (basename = driver name); ``net/<if>`` (e1000, igb, mlx5,
ionic) or ``virtio<N>/net/<if>`` (virtio-net: the netdev's parent is the virtio
device, one level below the PCI function); ``infiniband/<dev>``; a VF has a
``physfn`` link to its PF, a PF has ``virtfn<N>`` links to its VFs plus
``sriov_numvfs``/``sriov_totalvfs``; ``numa_node`` (-1 = none); ``vendor``/``device``.

**sysfs is network-namespace tagged.** ``net/`` and ``infiniband/`` (exclusive
RDMA netns mode) only list devices of the netns whose process mounted that
sysfs. A netdev moved into a pod disappears from the host's view -- the PCI
function then shows no netdev at all -- and a setns() into the pod does not
change what an already-mounted /sys shows. Never conclude from sysfs alone that
a device which may be in a pod does not exist; ask netlink in that netns.
"""

from __future__ import annotations

import os
from hostdev._record import record

from hostdev._sysfs import _fs
from hostdev._sysfs.errors import (
    AmbiguousNetdev,
    DeviceNotFound,
    MalformedSysfs,
    NoNetdevFound,
    UserspaceDriverBound,
    describe_input,
)
from hostdev._sysfs.pci_address import is_sysfs_pci_address, parse_pci_address

# Drivers that hand the function to userspace (DPDK and friends): never a netdev.
USERSPACE_DRIVERS = frozenset({"vfio-pci", "uio_pci_generic", "igb_uio"})
_VFIO_VARIANT_SUFFIX = "_vfio_pci"  # mlx5_vfio_pci, hisi_acc_vfio_pci, ...
_VIRTFN_PREFIX = "virtfn"
_VIRTIO_PREFIX = "virtio"


def is_userspace_driver(driver: str | None) -> bool:
    if driver is None:
        return False
    return driver in USERSPACE_DRIVERS or driver.endswith(_VFIO_VARIANT_SUFFIX)


@record
class VirtualFunctionSlot:
    """One ``virtfn<index>`` link of a PF."""

    index: int
    address: str


@record
class PciFunction:
    """A snapshot of one PCI function's sysfs entry.

    ``netdevs``/``rdma_devices`` are what this sysfs view shows: empty while they
    are in another netns. ``userspace_driver`` (a property) says the function is
    bound to vfio-pci/uio and so can have no netdev at all.
    """

    address: str
    vendor_id: int | None
    device_id: int | None
    driver: str | None
    netdevs: tuple[str, ...]
    rdma_devices: tuple[str, ...]
    numa_node: int | None
    pf_address: str | None  # set for a VF only
    vf_index: int | None  # set for a VF only
    pf_netdevs: tuple[str, ...]  # netdevs of this VF's PF (empty for a non-VF)
    vfs: tuple[VirtualFunctionSlot, ...]  # sorted by index
    sriov_numvfs: int | None
    sriov_totalvfs: int | None
    # virtio<N> devices below the function (virtio-net): netlink names one as its netdev's
    # parent, in whatever netns the netdev is. Unlike ``netdevs`` they are listed in every view.
    virtio_devices: tuple[str, ...] = ()

    @property
    def userspace_driver(self) -> bool:
        return is_userspace_driver(self.driver)

    @property
    def is_vf(self) -> bool:
        return self.pf_address is not None

    @property
    def is_sriov_pf(self) -> bool:
        return self.sriov_totalvfs is not None or bool(self.vfs)


def read_pci_function(address: str, sysfs_root: str = "/sys") -> PciFunction:
    """Describe the PCI function at ``address``; DeviceNotFound if sysfs has no such device."""
    bdf = parse_pci_address(address)
    path = existing_pci_device_path(sysfs_root, bdf)
    pf_address = _pci_link(path, "physfn")
    vf_index = None
    pf_netdevs: tuple[str, ...] = ()
    if pf_address is not None:
        pf_path = existing_pci_device_path(sysfs_root, pf_address)
        vf_index = _vf_index(pf_path, bdf)
        pf_netdevs = netdevs_below(pf_path)
    return PciFunction(
        address=bdf,
        vendor_id=_hex_attribute(_fs.child(path, "vendor")),
        device_id=_hex_attribute(_fs.child(path, "device")),
        driver=_fs.link_basename(_fs.child(path, "driver")),
        netdevs=netdevs_below(path),
        rdma_devices=_fs.list_entries(_fs.child(path, "infiniband")),
        numa_node=_numa_node(_fs.child(path, "numa_node")),
        pf_address=pf_address,
        vf_index=vf_index,
        pf_netdevs=pf_netdevs,
        vfs=_virtual_functions(path),
        sriov_numvfs=_decimal_attribute(_fs.child(path, "sriov_numvfs")),
        sriov_totalvfs=_decimal_attribute(_fs.child(path, "sriov_totalvfs")),
        virtio_devices=tuple(sorted(name for name in _fs.list_entries(path) if is_virtio_device_name(name))),
    )


def netdev_of(function: PciFunction) -> str:
    """The one netdev of ``function`` visible in this sysfs view.

    Raises UserspaceDriverBound (vfio-pci/uio: DPDK territory), NoNetdevFound
    (unbound, or the netdev is in another netns), AmbiguousNetdev (several ports).
    """
    if function.driver is not None and function.userspace_driver:
        raise UserspaceDriverBound(function.address, function.driver)
    if not function.netdevs:
        raise NoNetdevFound(function.address, function.driver)
    if len(function.netdevs) > 1:
        raise AmbiguousNetdev(function.address, function.netdevs)
    return function.netdevs[0]


def virtual_functions(pf_address: str, sysfs_root: str = "/sys") -> dict[int, str]:
    """VF index -> VF PCI address for the PF at ``pf_address`` (empty if it has none)."""
    path = existing_pci_device_path(sysfs_root, parse_pci_address(pf_address))
    return {slot.index: slot.address for slot in _virtual_functions(path)}


def netdevs_below(device_path: str) -> tuple[str, ...]:
    """Netdevs in ``<device>/net/`` and ``<device>/virtio<N>/net/``, sorted."""
    found = list(_fs.list_entries(_fs.child(device_path, "net")))
    for name in _fs.list_entries(device_path):
        if is_virtio_device_name(name):
            found.extend(_fs.list_entries(_fs.child(device_path, name, "net")))
    return tuple(sorted(found))


def is_virtio_device_name(name: str) -> bool:
    return _has_index_suffix(name, _VIRTIO_PREFIX)


def existing_pci_device_path(root: str, bdf: str) -> str:
    """``<root>/bus/pci/devices/<bdf>``, once its link is known to stay below the root."""
    path = _fs.pci_device_path(root, bdf)
    real = _fs.real_pci_device_dir(root, bdf)
    if real is None or not _fs.is_directory(path):
        raise DeviceNotFound(bdf, _fs.pci_devices_dir(root))
    if os.path.basename(real) != bdf:
        raise MalformedSysfs(path, f"link points to {describe_input(os.path.basename(real))}")
    return path


def _pci_link(device_path: str, name: str) -> str | None:
    """PCI address named by the symlink ``<device>/<name>`` (physfn, virtfnN)."""
    link = _fs.child(device_path, name)
    target = _fs.link_basename(link)
    if target is not None and not is_sysfs_pci_address(target):
        detail = f"link does not point to a PCI function: {describe_input(target)}"
        raise MalformedSysfs(link, detail)
    return target


def _virtual_functions(pf_path: str) -> tuple[VirtualFunctionSlot, ...]:
    slots = []
    for name in _fs.list_entries(pf_path):
        if _has_index_suffix(name, _VIRTFN_PREFIX):
            address = _pci_link(pf_path, name)
            if address is not None:
                slots.append(VirtualFunctionSlot(int(name[len(_VIRTFN_PREFIX) :]), address))
    return tuple(sorted(slots, key=lambda slot: slot.index))


def _vf_index(pf_path: str, vf_address: str) -> int:
    for slot in _virtual_functions(pf_path):
        if slot.address == vf_address:
            return slot.index
    raise MalformedSysfs(pf_path, f"PF lists no virtfn link to its VF {vf_address}")


def _has_index_suffix(name: str, prefix: str) -> bool:
    """``name`` is ``prefix`` followed by a decimal index as the kernel prints it."""
    if not name.startswith(prefix):
        return False
    digits = name[len(prefix) :]
    return (
        bool(digits)
        and all("0" <= ch <= "9" for ch in digits)
        and (digits == "0" or digits[0] != "0")
    )


def _decimal_attribute(path: str) -> int | None:
    text = _fs.read_attribute(path)
    if text is None:
        return None
    body = text.removeprefix("-")
    if not body or not all("0" <= ch <= "9" for ch in body):
        raise MalformedSysfs(path, f"expected a decimal number, got {describe_input(text)}")
    return int(text)


def _hex_attribute(path: str) -> int | None:
    text = _fs.read_attribute(path)
    if text is None:
        return None
    digits = text.removeprefix("0x")
    if digits == text or not digits or not all(ch in "0123456789abcdef" for ch in digits):
        raise MalformedSysfs(path, f"expected a 0x-prefixed hex number, got {describe_input(text)}")
    return int(digits, 16)


def _numa_node(path: str) -> int | None:
    node = _decimal_attribute(path)
    return None if node is None or node < 0 else node
