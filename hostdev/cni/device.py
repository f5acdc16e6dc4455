"""From a device selector to one host netdev, and how to find that netdev again later.

ADD resolves the selector through sysfs and netlink in the host namespace. DEL, CHECK and GC
cannot rely on sysfs (a netdev in a pod vanishes from the host's sysfs view) nor on names (a
returned NIC may come back as ``dev<N>``, a pod may rename it) nor on the MAC (a pod may change
it). What proves a link is the device is what it cannot lose: its parent device (PCI function,
auxiliary device, virtio device) and its permanent MAC, as netlink reports them, recorded at ADD
— see :class:`DeviceIdentity`. Anything weaker is used only where it cannot pick up a stranger.
"""

from __future__ import annotations

from hostdev._record import asdict, optional, record, typed
from hostdev.cni.errors import INVALID_CONFIG, TRY_AGAIN_LATER, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

    from hostdev import Handle, Link
    from hostdev.discover import UserspaceFunction


@record
class DeviceIdentity:
    """Everything that identifies one NIC, recorded before it is touched.

    The rule (issue 16): a link is the device only if it is of the same kind (a bridge, veth,
    bond or vlan is never a NIC, and a NIC never a veth) and carries every strong mark the
    record holds — the parent device and the permanent MAC. On the host the ifindex is never
    evidence: ifindexes restart after a reboot and a netns move keeps one when it is free, so a
    host bridge or veth can sit at the number the device had. A record without strong marks
    proves nothing on the host: :meth:`find_on_host` then finds nothing, and
    :meth:`host_problem` says why. Virtual devices (test stand-ins; a configuration that names a
    veth) have no strong marks at all: for them the kind and the MAC they had at ADD are the
    identity. Inside the pod's own namespace (checked by st_dev/st_ino before it is used) the
    ifindex the device got there is evidence too.
    """

    id: str  # lock and state key: PCI address, auxiliary id, or "netdev-<name>"
    pci_address: str | None
    auxiliary_id: str | None
    perm_mac: str | None
    mac: str | None
    host_name: str
    host_index: int
    kind: str | None  # rtnl kind: set only for virtual devices (veth, macvlan); None for a NIC
    parent_bus: str | None = None  # the parent device as netlink reports it: "pci", "auxiliary", "virtio"
    parent_dev: str | None = None  # "0000:44:00.0", "mlx5_core.sf.2", "virtio3"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DeviceIdentity:
        if not isinstance(data, dict):
            raise ValueError("device identity is not an object")

        def text(key: str) -> str | None:
            return optional(data.get(key), str, f"device identity: {key}")

        return cls(
            id=typed(data.get("id"), str, "device identity: id"), pci_address=text("pci_address"),
            auxiliary_id=text("auxiliary_id"), perm_mac=text("perm_mac"), mac=text("mac"),
            host_name=typed(data.get("host_name"), str, "device identity: host_name"),
            host_index=typed(data.get("host_index"), int, "device identity: host_index"), kind=text("kind"),
            parent_bus=text("parent_bus"), parent_dev=text("parent_dev"),
        )  # fmt: skip

    @property
    def strong(self) -> bool:
        """Whether the record holds a mark that proves a link is the device anywhere."""
        return bool(self.parent_dev and self.parent_bus) or bool(self.perm_mac)

    def proven_by(self, link: Link) -> bool:
        """``link`` is of the device's kind and carries every strong mark recorded (at least one)."""
        if link.kind != self.kind or not self.strong:
            return False
        if self.parent_dev and (link.parent_bus_name, link.parent_dev_name) != (self.parent_bus, self.parent_dev):
            return False
        return not self.perm_mac or link.perm_mac == self.perm_mac

    def host_problem(self) -> str | None:
        """Why no host interface can ever be proven to be this device, or None."""
        if self.strong or self.kind is not None:
            return None
        return (
            f"the record of {self.id} holds no PCI or auxiliary parent and no permanent MAC: no host "
            "interface can be proven to be it, so none is touched"
        )

    def matches_on_host(self, link: Link) -> bool:
        """Proven by a strong mark; a virtual device by its kind and MAC. Never by ifindex or name."""
        if self.strong:
            return self.proven_by(link)
        return self.kind is not None and link.kind == self.kind and self.mac is not None and link.mac == self.mac

    def find_on_host(self, links: Iterable[Link]) -> Link | None:
        """The host link that is this device; None when none is proven; CniError(11) for two."""
        return self._one([l for l in links if self.matches_on_host(l)])

    def find_in_pod(self, links: Iterable[Link], *, pod_index: int | None, pod_name: str | None) -> Link | None:
        """The link in the pod's (verified) namespace that is this device: proven by a strong mark
        where the record has one; else of the same kind and at the recorded pod ifindex or, for a
        virtual device, with its MAC (the name only breaks ties)."""
        if self.strong:
            return self._one([l for l in links if self.proven_by(l)])
        scored = []
        for l in links:
            if l.kind != self.kind:
                continue
            score = (4 if pod_index is not None and l.index == pod_index else 0) + (
                2 if self.kind is not None and self.mac and l.mac == self.mac else 0
            )
            if score:
                scored.append((score + (1 if pod_name is not None and l.name == pod_name else 0), l))
        if not scored:
            return None
        top = max(score for score, _ in scored)
        return self._one([l for score, l in scored if score == top])

    def _one(self, candidates: list[Link]) -> Link | None:
        if len(candidates) > 1:
            raise CniError(
                TRY_AGAIN_LATER,
                f"device {self.id} is ambiguous",
                "several interfaces match it equally: " + ", ".join(f"{l.name}(#{l.index})" for l in candidates),
            )
        return candidates[0] if candidates else None


@record
class ResolvedDevice:
    identity: DeviceIdentity
    link: Link
    rdma_devices: tuple[str, ...]  # names from sysfs <BDF>/infiniband/ (host view)


def resolve(kind: str, value: str, host: Handle, sysfs_root: str = "/sys") -> ResolvedDevice | UserspaceFunction:
    """Find the selected device in the host namespace (ADD). CniError(7) when it is not there."""
    from hostdev import discover

    try:
        nic = discover.find_nic(host, kind, value, sysfs_root)
    except (discover.DiscoveryError, LookupError) as exc:
        raise CniError(INVALID_CONFIG, f"device {value} not found in the host namespace", str(exc)) from None
    if isinstance(nic, discover.UserspaceFunction):
        return nic
    link = nic.link
    identity = DeviceIdentity(
        id=nic.id, pci_address=nic.pci_address, auxiliary_id=nic.auxiliary_id, perm_mac=link.perm_mac,
        mac=link.mac, host_name=link.name, host_index=link.index, kind=link.kind,
        parent_bus=link.parent_bus_name if link.parent_dev_name else None,
        parent_dev=link.parent_dev_name if link.parent_bus_name else None,
    )  # fmt: skip
    return ResolvedDevice(identity, link, nic.rdma_devices)
