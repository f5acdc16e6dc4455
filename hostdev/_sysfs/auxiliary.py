"""Auxiliary-bus devices: the per-function sub-devices of mlx5, ionic, ice, ...

``<root>/bus/auxiliary/devices/<module>.<name>.<id>`` is a symlink into the
parent PCI function's directory, e.g. ``../../../devices/pci0000:00/0000:00:02.0/
0000:08:00.0/mlx5_core.sf.4``; auxiliary devices can nest (an SF's own
``mlx5_core.eth.4`` sits inside ``mlx5_core.sf.4``). A driver that parents its
netdev or RDMA device on the auxiliary device shows them in ``net/`` and
``infiniband/`` there. The network-namespace caveat of
:mod:`hostdev._sysfs.pci_function` applies here too: a netdev or RDMA device in
a pod is not listed in the host's sysfs.
"""

from __future__ import annotations

import os
from hostdev._record import record

from hostdev._sysfs import _fs
from hostdev._sysfs.errors import DeviceNotFound, MalformedSysfs, describe_input
from hostdev._sysfs.pci_address import is_auxiliary_id, is_sysfs_pci_address
from hostdev._sysfs.pci_address import parse_auxiliary_id, parse_pci_address
from hostdev._sysfs.pci_function import existing_pci_device_path, netdevs_below

# Auxiliary devices seen in the wild nest at most two deep below the PCI
# function (function -> SF -> SF's eth/rdma); do not scan any deeper.
_MAX_NESTING = 2


@record
class AuxiliaryDevice:
    """A snapshot of ``<root>/bus/auxiliary/devices/<name>`` and where it sits."""

    name: str
    pci_address: str  # the PCI function the device hangs off
    parent_auxiliary: str | None  # the enclosing auxiliary device, if nested
    driver: str | None
    netdevs: tuple[str, ...]
    rdma_devices: tuple[str, ...]


def read_auxiliary_device(aux_id: str, sysfs_root: str = "/sys") -> AuxiliaryDevice:
    """Describe ``<root>/bus/auxiliary/devices/<aux_id>``; DeviceNotFound if absent."""
    name = parse_auxiliary_id(aux_id)
    path = _fs.auxiliary_device_path(sysfs_root, name)
    real = _fs.resolve_link(sysfs_root, path, _fs.auxiliary_devices_dir(sysfs_root))
    if real is None:
        raise DeviceNotFound(name, _fs.auxiliary_devices_dir(sysfs_root))
    pci_address, parent_auxiliary = _placement(sysfs_root, path, real, name)
    return AuxiliaryDevice(
        name=name,
        pci_address=pci_address,
        parent_auxiliary=parent_auxiliary,
        driver=_fs.link_basename(_fs.child(path, "driver")),
        netdevs=netdevs_below(path),
        rdma_devices=_fs.list_entries(_fs.child(path, "infiniband")),
    )


def auxiliary_devices_of(pci_address: str, sysfs_root: str = "/sys") -> tuple[AuxiliaryDevice, ...]:
    """Auxiliary devices below the PCI function at ``pci_address``, nested ones included."""
    bdf = parse_pci_address(pci_address)
    path = existing_pci_device_path(sysfs_root, bdf)
    devices = []
    for name in _auxiliary_children(path, _MAX_NESTING):
        device = read_auxiliary_device(name, sysfs_root)
        if device.pci_address != bdf:
            raise MalformedSysfs(path, f"{name} lies below it but belongs to {device.pci_address}")
        devices.append(device)
    return tuple(devices)


def _auxiliary_children(path: str, depth: int) -> list[str]:
    names = []
    for name in _fs.list_entries(path):
        if is_auxiliary_id(name):
            names.append(name)
            if depth > 1:
                names.extend(_auxiliary_children(_fs.child(path, name), depth - 1))
    return names


def _placement(root: str, link: str, real: str, name: str) -> tuple[str, str | None]:
    """(PCI function, enclosing auxiliary device) of the device whose real dir is ``real``."""
    parent_dir, leaf = os.path.split(real)
    if leaf != name:
        raise MalformedSysfs(link, f"link points to {describe_input(leaf)}, not to {name}")
    enclosing: list[str] = []
    while is_auxiliary_id(os.path.basename(parent_dir)):
        enclosing.append(os.path.basename(parent_dir))
        parent_dir = os.path.dirname(parent_dir)
    pci_address = os.path.basename(parent_dir)
    if not is_sysfs_pci_address(pci_address):
        raise MalformedSysfs(link, "auxiliary device does not sit below a PCI function")
    if _fs.real_pci_device_dir(root, pci_address) != parent_dir:
        raise MalformedSysfs(link, f"parent {pci_address} is not the PCI device of that name")
    return pci_address, (enclosing[0] if enclosing else None)
