"""The steps of an attachment, in the order ADD runs them (see :mod:`hostdev.cni.attachment`),
and the way back they share with DEL's fallback for a device without a record.

Each step persists what it did before the next one starts; each undo starts from where things
are. The netdev goes home through the library's one way back, :func:`hostdev.return_link`.
"""

from __future__ import annotations

from hostdev.cni.attachment import Attachment, Step
from hostdev.cni.errors import RDMA_FAILED, TRY_AGAIN_LATER, CniError
from hostdev.cni.record import RdmaRecord
from hostdev.errors import NameTaken
from hostdev.snapshot import apply_interface_conf, apply_snapshot, move_link, return_link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from hostdev import ApplyReport, Handle, Link, NetNS, RefusedSetting
    from hostdev.cni.log import Log


class SaveRecord(Step):
    """The record, written before anything is touched: which device, its snapshot, where it goes."""

    name = "record"
    done_point = "add:after-state"
    undo_only_when_the_rest_is_undone = True

    def do(self, tx: Attachment) -> None:
        tx.store.save(tx.key, tx.record.to_dict())

    def undo(self, tx: Attachment) -> bool:
        tx.crash_point("del:before-state-delete")
        tx.store.delete(tx.key)
        return True


class MoveNetdev(Step):
    """The netdev into the pod, renamed in the same request when asked; home again on undo,
    from wherever it is by then: the pod, the host (the kernel returns a NIC whose netns died),
    or on its way."""

    name = "netdev"
    done_point = "add:after-netdev-move"

    def do(self, tx: Attachment) -> None:
        assert tx.inside is not None
        record = tx.record
        link = tx.host.link(index=record.device.host_index)
        moved = move_link(tx.host, tx.inside, link, name=record.pod_name if record.pod_name != link.name else None)
        tx.note(pod_index=moved.index, phase="moved")  # not written now: DEL finds it by its identity (find_in_pod)
        tx.log.info(f"moved {link.name} into the pod as {moved.name} (ifindex {moved.index})")

    def check_undo(self, tx: Attachment) -> None:
        identity = tx.record.device
        if tx.device_in_pod() is not None:
            check_name_free(tx.host, identity.host_name, identity.id, identity.matches_on_host)

    def undo(self, tx: Attachment) -> bool:
        tx.crash_point("undo:netdev")
        identity = tx.record.device
        link = tx.device_in_pod()
        if link is not None:
            self._home(tx, link, tx.inside)
            return True
        problem = identity.host_problem()
        if problem is not None:
            tx.log.error(f"{problem}; state kept: restore {identity.host_name} by hand, then delete the record")
            return False
        link = identity.find_on_host(tx.host.links())
        if link is None:
            # Even a "prepared" record may have moved: a crash can fall between the move and the
            # state update that records it.
            timeout = tx.conf.return_timeout_seconds
            tx.log.info(f"waiting up to {timeout:g}s for {identity.id} to return to the host")
            link = tx.host.wait_for_link(identity.find_on_host, timeout)
        if link is None:
            return False
        if link.name != identity.host_name:
            check_name_free(tx.host, identity.host_name, identity.id, identity.matches_on_host)
            tx.log.info(f"renaming the returned {link.name} back to {identity.host_name}")
        self._home(tx, link, None)
        return True

    def _home(self, tx: Attachment, link: Link, inside: Handle | None) -> None:
        identity = tx.record.device

        def moved(back: Link) -> None:
            tx.log.info(f"moved {link.name} back to the host as {back.name}")
            tx.crash_point("del:after-netdev-move")

        try:
            report = return_link(tx.host, link, tx.record.snapshot, pod=inside, name=identity.host_name, after_move=moved if inside else None)
        except NameTaken as exc:
            raise name_taken(identity.id, exc) from None
        log_report(report, identity.host_name, tx.log)
        tx.crash_point("del:after-addresses")


class MoveRdma(Step):
    """In RDMA exclusive netns mode, the netdev's RDMA devices follow it into the pod (each one
    recorded as it moves); back on undo, from inside the pod, as the kernel requires. A dead
    pod netns gives them back by itself."""

    name = "rdma"
    done_point = "add:after-rdma-move"

    def do(self, tx: Attachment) -> None:
        plan = tx.record.rdma
        if plan.mode != "exclusive" or not plan.devices:
            return
        assert tx.pod is not None
        from hostdev import rdma

        moved: list[str] = []
        with rdma.RdmaHandle() as handle:
            for name in plan.devices:
                device = handle.device(name=name)
                try:
                    handle.move_device(device.index, tx.pod)
                except Exception as exc:
                    raise CniError(RDMA_FAILED, f"cannot move RDMA device {name} into the pod", str(exc)) from exc
                moved.append(name)
                tx.log.info(f"moved RDMA device {name} into the pod")
                tx.advance(rdma=RdmaRecord(plan.mode, plan.devices, tuple(moved)))

    def undo(self, tx: Attachment) -> bool:
        if tx.pod is not None:
            move_rdma_back(tx.record.rdma.moved, tx.pod, tx.host_ns, tx.log)
        tx.crash_point("del:after-rdma-move")
        return True


class ApplySysctls(Step):
    """The host's per-interface sysctls and neighbour-table parameters on the netdev in the pod,
    right after the move (the kernel rebuilt them from the pod's defaults) and before any
    address, so that disable_ipv6, addr_gen_mode and accept_dad govern the addresses to come.

    A value the pod's kernel refuses is logged and the attachment goes on: the interface works
    without it, and what must hold fails loudly where it matters (an IPv6 address refused with
    IPv6 disabled fails ADD in the next step). Nothing to undo of its own: the way home moves the
    netdev back, which rebuilds them from the host's defaults, and applies the host's snapshot.
    """

    name = "sysctls"
    done_point = "add:after-sysctls"

    def do(self, tx: Attachment) -> None:
        assert tx.inside is not None and tx.record.pod_index is not None
        refused = apply_interface_conf(tx.inside, tx.record.pod_index, tx.record.snapshot)
        log_refused_settings(refused, f"{tx.record.pod_name} in the pod", tx.log)


class ApplyInPod(Step):
    """The host's addresses, MTU, up state, routes and permanent neighbours (the rest of the
    snapshot) on the netdev in the pod. Its undo is the way home: that applies the host's
    snapshot over the pod's."""

    name = "apply"
    done_point = "add:after-addresses"

    def do(self, tx: Attachment) -> None:
        assert tx.inside is not None and tx.record.pod_index is not None
        report = apply_snapshot(tx.inside, tx.record.pod_index, tx.record.snapshot, conf=False)
        log_report(report, f"{tx.record.pod_name} in the pod", tx.log)


class Complete(Step):
    """The CNI result, kept in the record (CHECK compares against it)."""

    name = "result"
    done_point = "add:before-result"

    def do(self, tx: Attachment) -> None:
        assert tx.inside is not None and tx.record.pod_index is not None
        from hostdev.cni.result_json import format_result
        from hostdev.cni.result_model import Interface, Result
        from hostdev.cni.results import ip_config_for

        record = tx.record
        link = tx.inside.link(index=record.pod_index)
        iface = Interface(name=link.name, mac=link.mac, mtu=link.mtu, sandbox=record.netns, pci_id=record.device.pci_address)
        result = Result(interfaces=(iface,), ips=tuple(ip_config_for(a.cidr, 0) for a in record.snapshot.addresses))
        tx.advance(phase="attached", result=format_result("1.1.0", result))
        tx.result = result


STEPS: tuple[Step, ...] = (SaveRecord(), MoveNetdev(), ApplySysctls(), MoveRdma(), ApplyInPod(), Complete())


# --- what the steps (and DEL without a record) share ---------------------------------------------


def plan_rdma(policy: str, sysfs_devices: tuple[str, ...], netdev_index: int, log: Log) -> RdmaRecord:
    """Which RDMA devices go with the netdev and whether they must move (host view, at ADD).

    In ``exclusive`` netns mode an RDMA device is visible only in its own netns, so it must follow
    its netdev for ``rdma link`` / ``ibv_devices`` in the pod to show it; in ``shared`` mode every
    netns sees every device. A kernel without RDMA is normal (mode ``none``).
    """
    if policy == "skip":
        return RdmaRecord("none")
    from hostdev import rdma

    found = rdma.netdev_rdma(netdev_index)
    if found is None:
        if policy == "required":
            raise CniError(RDMA_FAILED, "rdma is required but this kernel has no RDMA subsystem")
        return RdmaRecord("none")
    soft = [name for name in found.devices if name not in sysfs_devices]
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
    devices = tuple(dict.fromkeys(sysfs_devices + found.devices))
    if policy == "required" and not devices:
        raise CniError(RDMA_FAILED, "rdma is required but the device has no RDMA device")
    log.debug(f"rdma: mode {found.mode}, devices {', '.join(devices) or 'none'}")
    return RdmaRecord(found.mode, devices)


def move_rdma_back(names: tuple[str, ...], pod: NetNS, host_ns: NetNS, log: Log) -> None:
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


def check_name_free(host: Handle, name: str, what: str, is_it: Callable[[Link], bool] | None = None) -> None:
    """Refuse (code 11) to start giving back ``what`` when another interface holds ``name``
    (``is_it`` tells the device itself, which may hold it already)."""
    holder = host.find_link(name=name)
    if holder is not None and not (is_it is not None and is_it(holder)):
        raise name_taken(what, NameTaken(name, holder.index))


def name_taken(what: str, exc: NameTaken) -> CniError:
    holder = f" (ifindex {exc.holder_index})" if exc.holder_index is not None else ""
    return CniError(
        TRY_AGAIN_LATER,
        f"cannot return {what}: interface {exc.name}{holder} now exists on the host",
        "the device stays in the pod; remove or rename that interface and retry DEL",
    )


def log_report(report: ApplyReport, where: str, log: Log) -> None:
    """What the kernel refused of a snapshot (a route whose gateway is gone, a sysctl value it
    will not take, a neighbour); all else applied."""
    for route, why in report.failed_routes:
        log.warn(f"route {route.destination} not restored on {where}: {why}")
    log_refused_settings(report.refused_settings, where, log)
    for neigh, why in report.failed_neighbours:
        log.warn(f"neighbour {neigh.address}{' (proxy)' if neigh.proxy else ''} not restored on {where}: {why}")
    for altname, why in report.failed_altnames:
        log.warn(f"altname {altname} not restored on {where}: {why}")


def log_refused_settings(refused: tuple[RefusedSetting, ...], where: str, log: Log) -> None:
    for setting in refused:
        log.warn(f"{setting.setting}={setting.value} not applied on {where}: {setting.reason}")
