"""From a netdev to the PCI function behind it.

Netlink names the parent directly (``IFLA_PARENT_DEV_NAME`` = ``0000:44:00.0``
with ``IFLA_PARENT_DEV_BUS_NAME`` = ``pci``), except for virtio-net, whose
parent is the virtio device (``virtio0`` on bus ``virtio``) one level below the
PCI function. :func:`pci_address_from_parent` handles the first case without any
I/O; :func:`pci_address_of_netdev` asks sysfs, which covers virtio as well.

The sysfs answer is only as good as the sysfs view: ``/sys/class/net`` lists
the netdevs of the netns that mounted /sys, not of the netns the caller has
setns()'d into. A netdev in a pod is absent from the host's /sys (DeviceNotFound)
-- use the netlink attributes from inside that netns when you can.
"""

from __future__ import annotations

import os

from hostdev._sysfs import _fs
from hostdev._sysfs.errors import DeviceNotFound, MalformedSysfs
from hostdev._sysfs.netdev_name import parse_netdev_name
from hostdev._sysfs.pci_address import is_sysfs_pci_address
from hostdev._sysfs.pci_address import pci_address_from_parent as pci_address_from_parent
from hostdev._sysfs.pci_function import is_virtio_device_name


def pci_address_of_netdev(ifname: str, sysfs_root: str = "/sys") -> str | None:
    """PCI address of the function behind netdev ``ifname``, per sysfs.

    None if the netdev has no PCI parent (virtual devices, USB NICs, auxiliary
    sub-functions). Raises InvalidNetdevName before any I/O for a bad name and
    DeviceNotFound if this sysfs view has no such netdev (e.g. it is in a pod).
    """
    name = parse_netdev_name(ifname)
    entry = _fs.class_net_path(sysfs_root, name)
    netdev_dir = _fs.resolve_link(sysfs_root, entry, _fs.class_net_dir(sysfs_root))
    if netdev_dir is None:
        raise DeviceNotFound(name, _fs.class_net_dir(sysfs_root))
    device_link = _fs.child(entry, "device")
    device_dir = _fs.resolve_link(sysfs_root, device_link, netdev_dir)
    if device_dir is None:
        return None
    pci_dir = _enclosing_pci_function_dir(device_dir)
    if pci_dir is None:
        return None
    address = os.path.basename(pci_dir)
    if _fs.real_pci_device_dir(sysfs_root, address) != pci_dir:
        raise MalformedSysfs(device_link, f"{address} is not the PCI device of that name")
    return address


def _enclosing_pci_function_dir(device_dir: str) -> str | None:
    """``device_dir`` if it is a PCI function, its parent if it is a virtio device on one."""
    if is_sysfs_pci_address(os.path.basename(device_dir)):
        return device_dir
    parent = os.path.dirname(device_dir)
    if is_virtio_device_name(os.path.basename(device_dir)) and is_sysfs_pci_address(
        os.path.basename(parent)
    ):
        return parent
    return None
