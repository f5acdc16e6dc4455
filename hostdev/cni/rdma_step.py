"""The RDMA part of an attachment: decide, move in, move back.

In ``exclusive`` netns mode an RDMA device is visible only in its own netns, so it must follow
its netdev into the pod for ``rdma link`` / ``ibv_devices`` there to show it. In ``shared`` mode
every netns sees every device and there is nothing to move. A kernel without RDMA is normal
(mode ``none``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs the CNI binary start-up
if TYPE_CHECKING:
    from typing import Callable

from hostdev.cni.errors import CniError
from hostdev.cni.log import Log
from hostdev.cni.record import RdmaRecord
from hostdev.netns import NetNS

RDMA_FAILED = 110  # plugin-specific code: the RDMA device could not follow its netdev


def plan(policy: str, sysfs_devices: tuple[str, ...], netdev_index: int, log: Log) -> RdmaRecord:
    """What RDMA devices go with this netdev, and whether they must move (host view, at ADD)."""
    if policy == "skip":
        return RdmaRecord("none")
    from hostdev import rdma

    found = rdma.netdev_rdma(netdev_index)
    if found is None:
        if policy == "required":
            raise CniError(RDMA_FAILED, "rdma is required but this kernel has no RDMA subsystem")
        return RdmaRecord("none")
    mode, bound = found.mode, found.devices
    soft = [name for name in bound if name not in sysfs_devices]
    if soft:
        # Soft-RoCE (rxe) hangs off the netdev, not a PCI function: the kernel destroys it when
        # the netdev changes netns, and it cannot follow (no netns support). Refuse rather than
        # lose it; "rdma": "skip" proceeds knowingly.
        raise CniError(
            RDMA_FAILED,
            f"RDMA device(s) {', '.join(soft)} on this netdev would be destroyed by the move",
            "soft RDMA devices (rxe) are deleted by the kernel when their netdev changes netns and "
            'cannot move with it; set "rdma": "skip" to attach the netdev without them',
        )
    devices = tuple(dict.fromkeys(sysfs_devices + bound))
    if policy == "required" and not devices:
        raise CniError(RDMA_FAILED, "rdma is required but the device has no RDMA device")
    log.debug(f"rdma: mode {mode}, devices {', '.join(devices) or 'none'}")
    return RdmaRecord(mode, devices)


def move_in(record: RdmaRecord, pod: NetNS, log: Log, after_each: Callable[[tuple[str, ...]], None]) -> tuple[str, ...]:
    """Move the record's devices into ``pod`` (exclusive mode only); ``after_each`` is told the
    names moved so far, so the caller can persist them before the next step."""
    if record.mode != "exclusive" or not record.devices:
        return ()
    from hostdev import rdma

    moved: list[str] = []
    with rdma.RdmaHandle() as handle:
        for name in record.devices:
            device = handle.device(name=name)
            try:
                handle.move_device(device.index, pod)
            except Exception as exc:
                raise CniError(RDMA_FAILED, f"cannot move RDMA device {name} into the pod", str(exc)) from exc
            moved.append(name)
            log.info(f"moved RDMA device {name} into the pod")
            after_each(tuple(moved))
    return tuple(moved)


def move_back(names: tuple[str, ...], pod: NetNS, host_ns: NetNS, log: Log) -> None:
    """From inside the pod toward the host (the kernel looks the device up in the caller's netns)."""
    if not names:
        return
    from hostdev import rdma
    from hostdev.rdma_errors import RdmaDeviceNotFound

    for name in names:
        try:
            rdma.move_device_back(name, pod, host_ns)
        except RdmaDeviceNotFound:
            log.info(f"RDMA device {name} is not in the pod (already back)")
            continue
        log.info(f"moved RDMA device {name} back to the host")
