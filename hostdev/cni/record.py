"""The per-attachment record persisted in the state store (its schema, not its storage).

Written before the device is touched (phase ``prepared``), updated before the IPAM plugin is
called (naming it), after each RDMA move and when everything is applied (``attached``), so a DEL
or GC after a crash at any point knows what to undo. ``moved`` (the pod-side ifindex known) is
written with the first update after the netdev move, not on its own: DEL finds the device in the
pod by its identity, so a ``prepared`` record whose device moved is undone all the same.
"""

from __future__ import annotations

from hostdev._record import field, optional, record, replace, typed
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from hostdev.cni.device import DeviceIdentity
from hostdev.snapshot import LinkSnapshot

PHASES = ("prepared", "moved", "attached")


@record
class RdmaRecord:
    mode: str  # "exclusive", "shared" or "none" (no RDMA subsystem / not asked)
    devices: tuple[str, ...] = ()  # RDMA devices of the netdev at ADD
    moved: tuple[str, ...] = ()  # those moved into the pod (exclusive mode)


@record
class AttachmentRecord:
    device: DeviceIdentity
    snapshot: LinkSnapshot
    netns: str  # CNI_NETNS at ADD
    netns_id: tuple[int, int]  # (st_dev, st_ino) of that namespace: a reused path is not it
    pod_name: str  # the interface's name inside the pod
    pod_index: int | None = None  # its ifindex inside the pod, once moved
    phase: str = "prepared"
    rdma: RdmaRecord = field(default_factory=lambda: RdmaRecord("none"))
    result: dict[str, Any] | None = None  # the ADD result, for CHECK
    ipam: str | None = None  # the IPAM plugin called for it: set before the call, so DEL releases

    def advanced(self, **changes: Any) -> AttachmentRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return {
            "device": self.device.to_dict(),
            "snapshot": self.snapshot.to_dict(),
            "netns": self.netns,
            "netnsId": list(self.netns_id),
            "podName": self.pod_name,
            "podIndex": self.pod_index,
            "phase": self.phase,
            "rdma": {"mode": self.rdma.mode, "devices": list(self.rdma.devices), "moved": list(self.rdma.moved)},
            "result": self.result,
            "ipam": self.ipam,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AttachmentRecord:
        """ValueError for anything that is not a record this plugin wrote."""
        try:
            rdma = data.get("rdma") or {}
            if not isinstance(rdma, dict):
                raise ValueError("rdma is not an object")
            netns_id = data["netnsId"]
            if not (isinstance(netns_id, list) and len(netns_id) == 2 and all(isinstance(v, int) for v in netns_id)):
                raise ValueError("netnsId is not [dev, ino]")
            snapshot = data["snapshot"]
            if not isinstance(snapshot, dict):
                raise ValueError("snapshot is not an object")
            device = DeviceIdentity.from_dict(data["device"])
            link = LinkSnapshot.from_dict(snapshot)
            if device.parent_dev is None and link.parent_dev_name and link.parent_bus_name:
                # written before the identity kept the parent: the snapshot has it, from the same moment
                device = replace(device, parent_bus=link.parent_bus_name, parent_dev=link.parent_dev_name)
            record = cls(
                device=device,
                snapshot=link,
                netns=typed(data["netns"], str),
                netns_id=(netns_id[0], netns_id[1]),
                pod_name=typed(data["podName"], str),
                pod_index=optional(data.get("podIndex"), int),
                phase=typed(data.get("phase", "prepared"), str),
                rdma=RdmaRecord(
                    typed(rdma.get("mode", "none"), str),
                    tuple(typed(n, str) for n in rdma.get("devices", [])),
                    tuple(typed(n, str) for n in rdma.get("moved", [])),
                ),
                result=optional(data.get("result"), dict),
                ipam=optional(data.get("ipam"), str),
            )
        except KeyError as exc:
            raise ValueError(f"record lacks {exc}") from None
        if record.phase not in PHASES:
            raise ValueError(f"unknown phase {record.phase!r}")
        return record


@record
class UserspaceRecord:
    """A DPDK attachment: a function bound to a userspace driver (vfio-pci & co.) has no netdev,
    so nothing moves; the record says which pod holds it, for CHECK, DEL and GC, and keeps a
    second pod from claiming it."""

    pci_address: str
    driver: str
    netns: str  # CNI_NETNS at ADD
    netns_id: tuple[int, int]  # (st_dev, st_ino) of that namespace
    pod_name: str  # CNI_IFNAME

    KIND = "userspace"

    @property
    def device_id(self) -> str:
        return self.pci_address

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.KIND,
            "device": {"id": self.pci_address},  # where the store looks for the device's holder
            "driver": self.driver,
            "netns": self.netns,
            "netnsId": list(self.netns_id),
            "podName": self.pod_name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> UserspaceRecord:
        try:
            device = data["device"]
            netns_id = data["netnsId"]
            if not isinstance(device, dict):
                raise ValueError("device is not an object")
            if not (isinstance(netns_id, list) and len(netns_id) == 2 and all(isinstance(v, int) for v in netns_id)):
                raise ValueError("netnsId is not [dev, ino]")
            return cls(
                pci_address=typed(device.get("id"), str), driver=typed(data["driver"], str), netns=typed(data["netns"], str),
                netns_id=(netns_id[0], netns_id[1]), pod_name=typed(data["podName"], str),
            )  # fmt: skip
        except KeyError as exc:
            raise ValueError(f"record lacks {exc}") from None


def record_from_dict(data: dict[str, object]) -> AttachmentRecord | UserspaceRecord:
    """The record a state file holds, of either kind; ValueError if it is neither."""
    if data.get("kind") == UserspaceRecord.KIND:
        return UserspaceRecord.from_dict(data)
    return AttachmentRecord.from_dict(data)
