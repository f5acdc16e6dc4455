"""Which NIC is which: from the name a user gives a NIC to its netdev, PCI function and RDMA
devices, and back.

A NIC can be named by its PCI address (a PF or an SR-IOV VF, ``0000:44:00.0``), an
auxiliary-bus device (``mlx5_core.sf.4``), its interface name, its MAC, or its sysfs directory
(``/sys/devices/...``). :func:`find_nic` turns any of them into a :class:`Nic` of the host
namespace: the link (netlink), the PCI function or auxiliary device behind it, the RDMA devices
sysfs lists for it, and :attr:`Nic.id`, the one stable name to lock and record it under (see
:func:`device_id`). A PCI function bound to a userspace driver (vfio-pci, uio) has no netdev:
that is a :class:`UserspaceFunction`.

The reverse lookups work from what is left when the netdev is elsewhere: :func:`pci_address_of`
reads a link's PCI parent from netlink (right in any namespace), :func:`netdevs_of` the interface
names sysfs lists under a PCI function or auxiliary device. :func:`pci_function` describes one
function (driver, PF or VF, SR-IOV slots) and :func:`network_functions` lists the node's.

sysfs is network-namespace tagged: a netdev (and, in exclusive mode, an RDMA device) moved into
a pod vanishes from the host's sysfs. Never conclude from sysfs alone that such a device does not
exist; ask netlink in that netns. Names are validated before any file is touched; failures are a
:class:`DiscoveryError` (not found, ambiguous, malformed sysfs) or
:class:`~hostdev.errors.LinkNotFound`.
"""

from __future__ import annotations

from hostdev._sysfs.errors import InvalidAuxiliaryId as InvalidAuxiliaryId
from hostdev._sysfs.errors import InvalidPciAddress as InvalidPciAddress
from hostdev._sysfs.errors import SysfsError as DiscoveryError
from hostdev._sysfs.pci_address import parse_auxiliary_id as parse_auxiliary_id
from hostdev._sysfs.pci_address import parse_pci_address as parse_pci_address
from hostdev._sysfs.pci_address import pci_address_from_parent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    from hostdev._netlink.rtnl_link import Link
    from hostdev._sysfs.pci_function import PciFunction as PciFunction  # what pci_function returns
    from hostdev.handle import Handle
else:  # a tuple class costs the CNI binary's start-up a fifth of a @record
    from hostdev._record import NamedTuple

__all__ = [
    "DiscoveryError",
    "InvalidAuxiliaryId",
    "InvalidPciAddress",
    "Nic",
    "UserspaceFunction",
    "device_id",
    "find_nic",
    "netdevs_of",
    "network_functions",
    "parse_auxiliary_id",
    "parse_pci_address",
    "pci_address_of",
    "pci_function",
]

KINDS = ("pci", "auxiliary", "name", "hwaddr", "kernelpath")
NETWORK_CLASS = 0x02  # PCI base class "network controller"
_SYSFS_ROOT = "/sys"


def device_id(pci_address: str | None, netdev_name: str, auxiliary_id: str | None = None) -> str:
    """The stable name a NIC is locked and recorded under: its auxiliary device ID, else its
    PCI address, else ``netdev-<name>`` (a netdev with neither, e.g. a virtual stand-in)."""
    return auxiliary_id or pci_address or f"netdev-{netdev_name}"


class Nic(NamedTuple):
    """A NIC in the host namespace, and what it is behind its netdev."""

    id: str  # see device_id()
    link: Link
    pci_address: str | None
    auxiliary_id: str | None
    rdma_devices: tuple[str, ...]  # what sysfs lists under its PCI function or auxiliary device


class UserspaceFunction(NamedTuple):
    """A PCI function bound to vfio-pci, uio_pci_generic or igb_uio: it has no netdev."""

    pci_address: str
    driver: str


def find_nic(host: Handle, kind: str, value: str, sysfs_root: str = _SYSFS_ROOT) -> Nic | UserspaceFunction:
    """The NIC that ``value`` names in ``host``'s namespace; ``kind`` says what it is: ``pci``,
    ``auxiliary``, ``name``, ``hwaddr`` (a MAC) or ``kernelpath`` (its ``/sys/devices`` path).

    A PCI function's netdev must be the one whose PCI parent netlink names; an auxiliary
    device or sysfs path must have exactly one netdev.
    """
    if kind == "pci":
        return _by_pci(host, value, sysfs_root)
    if kind == "auxiliary":
        return _by_auxiliary(host, value, sysfs_root)
    if kind == "name":
        return _by_link(host.link(name=value), sysfs_root)
    if kind == "hwaddr":
        return _by_link(host.link(mac=value), sysfs_root)
    if kind == "kernelpath":
        return _by_kernelpath(host, value, sysfs_root)
    raise ValueError(f"find_nic: kind must be one of {', '.join(KINDS)}, not {kind!r}")


def _by_pci(host: Handle, bdf: str, sysfs_root: str) -> Nic | UserspaceFunction:
    from hostdev._sysfs.pci_function import netdev_of, read_pci_function

    function = read_pci_function(bdf, sysfs_root)
    if function.userspace_driver:
        return UserspaceFunction(function.address, function.driver or "")
    link = host.link(name=netdev_of(function))
    if link.parent_bus_name == "pci" and link.parent_dev_name and pci_address_of(link) != function.address:
        raise DiscoveryError(
            f"sysfs and netlink disagree about {function.address}: netdev {link.name} has PCI parent {link.parent_dev_name}"
        )
    return Nic(device_id(function.address, link.name), link, function.address, None, function.rdma_devices)


def _by_auxiliary(host: Handle, aux_id: str, sysfs_root: str) -> Nic:
    from hostdev._sysfs.auxiliary import read_auxiliary_device

    aux = read_auxiliary_device(aux_id, sysfs_root)
    if len(aux.netdevs) != 1:
        raise DiscoveryError(f"auxiliary device {aux_id} has {len(aux.netdevs)} netdevs, expected one")
    link = host.link(name=aux.netdevs[0])
    return Nic(device_id(aux.pci_address, link.name, aux_id), link, aux.pci_address, aux_id, aux.rdma_devices)


def _by_kernelpath(host: Handle, path: str, sysfs_root: str) -> Nic:
    import os

    try:
        names = sorted(os.listdir(os.path.join(path, "net")))
    except OSError as exc:
        raise DiscoveryError(f"kernelpath {path} has no net/ directory: {exc.strerror}") from None
    if len(names) != 1:
        raise DiscoveryError(f"kernelpath {path} has {len(names)} netdevs, expected one")
    return _by_link(host.link(name=names[0]), sysfs_root)


def _by_link(link: Link, sysfs_root: str) -> Nic:
    bdf = pci_address_of(link)
    if bdf is None and link.kind is None:  # virtio-net: its parent is the virtio device
        from hostdev._sysfs.netdev_lookup import pci_address_of_netdev

        bdf = pci_address_of_netdev(link.name, sysfs_root)
    rdma = pci_function(bdf, sysfs_root).rdma_devices if bdf is not None else ()
    return Nic(device_id(bdf, link.name), link, bdf, None, rdma)


# --- reverse lookups -----------------------------------------------------------------------------


def pci_address_of(link: Link) -> str | None:
    """The PCI function netlink names as ``link``'s parent, in any namespace; None when its
    parent is on another bus (virtio-net's is its virtio device) or it has none."""
    return pci_address_from_parent(link.parent_dev_name, link.parent_bus_name)


def netdevs_of(kind: str, value: str, sysfs_root: str = _SYSFS_ROOT) -> tuple[str, ...]:
    """The interface names sysfs lists under a PCI function (``kind`` ``pci``) or auxiliary
    device (``auxiliary``): the host's view only, so empty while they are in a pod."""
    try:
        if kind == "pci":
            return pci_function(value, sysfs_root).netdevs
        if kind == "auxiliary":
            from hostdev._sysfs.auxiliary import read_auxiliary_device

            return read_auxiliary_device(value, sysfs_root).netdevs
    except DiscoveryError:
        return ()
    raise ValueError(f"netdevs_of: kind must be 'pci' or 'auxiliary', not {kind!r}")


def pci_function(bdf: str, sysfs_root: str = _SYSFS_ROOT) -> PciFunction:
    """What sysfs says about one PCI function: driver, netdevs, RDMA devices, PF or VF (with
    its index and PF), SR-IOV slots, NUMA node."""
    from hostdev._sysfs.pci_function import read_pci_function

    return read_pci_function(bdf, sysfs_root)


def network_functions(sysfs_root: str = _SYSFS_ROOT) -> list[str]:
    """The PCI addresses of the node's network-class functions (``lspci -d ::02xx``), sorted."""
    import os

    from hostdev._sysfs.pci_address import is_sysfs_pci_address

    base = os.path.join(sysfs_root, "bus", "pci", "devices")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for name in names:
        if not is_sysfs_pci_address(name):
            continue
        try:
            with open(os.path.join(base, name, "class")) as f:
                if int(f.read().strip(), 16) >> 16 == NETWORK_CLASS:
                    found.append(name)
        except (OSError, ValueError):
            continue
    return found
