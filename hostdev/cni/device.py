"""From a device selector to one host netdev, and how to find that netdev again later.

ADD resolves the selector through sysfs and netlink in the host namespace. DEL, CHECK and GC
cannot rely on sysfs (a netdev in a pod vanishes from the host's sysfs view) nor on names (a
returned NIC may come back as ``dev<N>``, a pod may rename it) nor on the MAC (a pod may change
it): they match on the most stable identity recorded at ADD — PCI parent from netlink, then the
permanent MAC, then the ifindex the device had in the pod — see :meth:`DeviceIdentity.matches`.
"""

from __future__ import annotations

from hostdev._record import asdict, record
TYPE_CHECKING = False  # typing is not imported at run time: it costs the CNI binary start-up
if TYPE_CHECKING:
    from typing import Any, Iterable

from hostdev._netlink.rtnl_link import Link
from hostdev.cni.errors import INVALID_CONFIG, TRY_AGAIN_LATER, CniError
from hostdev.handle import Handle


@record
class DeviceIdentity:
    """Everything that identifies one NIC, recorded before it is touched."""

    id: str  # lock and state key: PCI address, auxiliary id, or "netdev-<name>"
    pci_address: str | None
    auxiliary_id: str | None
    perm_mac: str | None
    mac: str | None
    host_name: str
    host_index: int
    kind: str | None  # rtnl kind: set only for virtual stand-ins (veth, macvlan)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DeviceIdentity:
        if not isinstance(data, dict):
            raise ValueError("device identity is not an object")
        def text(key: str, optional: bool = True) -> Any:
            value = data.get(key)
            if (value is None and optional) or isinstance(value, str):
                return value
            raise ValueError(f"device identity: {key} is not a string")

        index = data.get("host_index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError("device identity: host_index is not an integer")
        return cls(
            id=text("id", False), pci_address=text("pci_address"), auxiliary_id=text("auxiliary_id"),
            perm_mac=text("perm_mac"), mac=text("mac"), host_name=text("host_name", False),
            host_index=index, kind=text("kind"),
        )  # fmt: skip

    def score(self, link: Link, *, pod_index: int | None = None, pod_name: str | None = None) -> int:
        """How surely ``link`` is this device: 0 = not it. A PCI parent or permanent MAC, where
        both sides have one, decides alone; otherwise ifindex, MAC and name add up (each can
        change: the ifindex on a netns move, the MAC and name inside a pod)."""
        # Only a parent on the PCI bus names a PCI function: virtio-net's parent is its virtio
        # device ("virtio3", bus "virtio"), one level below the function.
        if self.pci_address and link.parent_dev_name and link.parent_bus_name == "pci":
            return 100 if link.parent_dev_name == self.pci_address else 0
        if self.perm_mac and link.perm_mac:
            return 100 if link.perm_mac == self.perm_mac else 0
        if self.kind is not None and link.kind != self.kind:
            return 0
        return (
            (4 if pod_index is not None and link.index == pod_index else 0)
            + (2 if self.mac and link.mac == self.mac else 0)
            + (1 if pod_name is not None and link.name == pod_name else 0)
        )

    def find(self, links: Iterable[Link], *, pod_index: int | None = None, pod_name: str | None = None) -> Link | None:
        """The link that is this device; CniError(11) if two are equally likely."""
        scored = sorted(
            ((self.score(l, pod_index=pod_index, pod_name=pod_name), l) for l in links),
            key=lambda pair: -pair[0],
        )
        if not scored or scored[0][0] == 0:
            return None
        best = [l for score, l in scored if score == scored[0][0]]
        if len(best) > 1:
            raise CniError(
                TRY_AGAIN_LATER,
                f"device {self.id} is ambiguous",
                "several interfaces match it equally: " + ", ".join(f"{l.name}(#{l.index})" for l in best),
            )
        return best[0]


@record
class ResolvedDevice:
    identity: DeviceIdentity
    link: Link
    rdma_devices: tuple[str, ...]  # names from sysfs <BDF>/infiniband/ (host view)


@record
class UserspaceDevice:
    """A function bound to vfio-pci & co.: no netdev to move (DPDK mode)."""

    pci_address: str
    driver: str


def resolve(kind: str, value: str, host: Handle, sysfs_root: str = "/sys") -> ResolvedDevice | UserspaceDevice:
    """Find the selected device in the host namespace (ADD). CniError(7) when it is not there."""
    from hostdev._sysfs import errors as sysfs_errors

    try:
        if kind == "pci":
            return _resolve_pci(value, host, sysfs_root)
        if kind == "auxiliary":
            return _resolve_auxiliary(value, host, sysfs_root)
        if kind == "name":
            return _resolved(host.link(name=value), host, sysfs_root)
        if kind == "hwaddr":
            return _resolved(host.link(mac=value), host, sysfs_root)
        if kind == "kernelpath":
            return _resolve_kernelpath(value, host)
    except sysfs_errors.UserspaceDriverBound as exc:
        return UserspaceDevice(value, str(getattr(exc, "driver", "")) or "userspace")
    except (sysfs_errors.SysfsError, LookupError) as exc:
        raise CniError(INVALID_CONFIG, f"device {value} not found in the host namespace", str(exc)) from None
    raise CniError(INVALID_CONFIG, f"unknown device selector {kind!r}")


def _resolve_pci(bdf: str, host: Handle, sysfs_root: str) -> ResolvedDevice | UserspaceDevice:
    from hostdev._sysfs.pci_function import is_userspace_driver, netdev_of, read_pci_function

    function = read_pci_function(bdf, sysfs_root)
    if is_userspace_driver(function.driver):
        return UserspaceDevice(function.address, function.driver or "")
    link = host.link(name=netdev_of(function))
    if link.parent_dev_name and link.parent_bus_name == "pci" and link.parent_dev_name != function.address:
        raise CniError(
            INVALID_CONFIG,
            f"sysfs and netlink disagree about {function.address}",
            f"netdev {link.name} has PCI parent {link.parent_dev_name}",
        )
    return ResolvedDevice(_identity(link, function.address, None, function.address), link, function.rdma_devices)


def _resolve_auxiliary(aux_id: str, host: Handle, sysfs_root: str) -> ResolvedDevice:
    from hostdev._sysfs.auxiliary import read_auxiliary_device

    aux = read_auxiliary_device(aux_id, sysfs_root)
    if len(aux.netdevs) != 1:
        raise CniError(INVALID_CONFIG, f"auxiliary device {aux_id} has {len(aux.netdevs)} netdevs, expected one")
    link = host.link(name=aux.netdevs[0])
    return ResolvedDevice(_identity(link, aux_id, aux_id, aux.pci_address), link, aux.rdma_devices)


def _resolve_kernelpath(path: str, host: Handle) -> ResolvedDevice:
    import os

    net_dir = os.path.join(path, "net")
    try:
        names = sorted(os.listdir(net_dir))
    except OSError as exc:
        raise CniError(INVALID_CONFIG, f"kernelpath {path} has no net/ directory", exc.strerror or "") from None
    if len(names) != 1:
        raise CniError(INVALID_CONFIG, f"kernelpath {path} has {len(names)} netdevs, expected one")
    return _resolved(host.link(name=names[0]), host, "/sys")


def _resolved(link: Link, host: Handle, sysfs_root: str) -> ResolvedDevice:
    from hostdev._sysfs.netdev_lookup import pci_address_from_parent, pci_address_of_netdev

    bdf = pci_address_from_parent(link.parent_dev_name, link.parent_bus_name)
    if bdf is None and link.kind is None:
        bdf = pci_address_of_netdev(link.name, sysfs_root)
    rdma: tuple[str, ...] = ()
    if bdf is not None:
        from hostdev._sysfs.pci_function import read_pci_function

        rdma = read_pci_function(bdf, sysfs_root).rdma_devices
    return ResolvedDevice(_identity(link, bdf or f"netdev-{link.name}", None, bdf), link, rdma)


def _identity(link: Link, device_id: str, aux_id: str | None, bdf: str | None) -> DeviceIdentity:
    return DeviceIdentity(
        id=device_id,
        pci_address=bdf,
        auxiliary_id=aux_id,
        perm_mac=link.perm_mac,
        mac=link.mac,
        host_name=link.name,
        host_index=link.index,
        kind=link.kind,
    )
