"""ADD: one process, one transaction.

lock the device → check the request → snapshot → persist state → move netdev → move RDMA →
apply → result. Every kernel change registers its undo at once; any failure runs the undo
stack in reverse, restores the host from the snapshot and drops the state, so the host ends
exactly as it began.
"""

from __future__ import annotations

from hostdev.cni import rdma_step
from hostdev.cni.config import PluginConfig
from hostdev.cni.device import ResolvedDevice, resolve
from hostdev.cni.errors import INVALID_CONFIG, INVALID_ENVIRONMENT, CniError
from hostdev.cni.faults import crash_point
from hostdev.cni.lock import DeviceLock
from hostdev.cni.pod_interface import renames_to_ifname
from hostdev.cni.log import Log
from hostdev.cni.protocol import CniEnv
from hostdev.cni.record import AttachmentRecord, RdmaRecord
from hostdev.cni.restore import log_failed_routes, restore
from hostdev.cni.result_model import Interface, Result
from hostdev.cni.results import ip_config_for
from hostdev.cni.state import AttachmentKey, StateStore
from hostdev.errors import NetnsError
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import LinkSnapshot, apply_snapshot, move_link, take_snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from hostdev import Link

DEVICE_BUSY = 100  # plugin-specific: the device belongs to another attachment
NAME_TAKEN_IN_POD = 101  # plugin-specific: the pod already has an interface of the target name


def open_target_netns(path: str | None, host_ns: NetNS) -> NetNS:
    if not path:
        raise CniError(INVALID_ENVIRONMENT, "required environment variables missing: CNI_NETNS")

    try:
        pod = NetNS.from_path(path)
    except NetnsError as exc:
        raise CniError(INVALID_ENVIRONMENT, "invalid CNI_NETNS", str(exc)) from None
    if pod.same_as(host_ns):
        pod.close()
        raise CniError(INVALID_ENVIRONMENT, "invalid CNI_NETNS", f"{path} is the plugin's own network namespace")
    return pod


def add(env: CniEnv, conf: PluginConfig, log: Log) -> Result:
    assert env.container_id and env.ifname and conf.device is not None
    key = AttachmentKey(conf.name, env.container_id, env.ifname)
    store = StateStore(conf.state_dir)
    with NetNS.current() as host_ns, open_target_netns(env.netns, host_ns) as pod, Handle(host_ns) as host:
        selector = conf.device.primary
        if store.load(key) is not None:
            raise CniError(DEVICE_BUSY, f"attachment {env.container_id}/{env.ifname} already exists", "run DEL first")
        try:
            device = resolve(selector.kind, selector.value, host)
        except CniError:
            _refuse_if_held(store, selector.value)  # a device in a pod is gone from the host's view
            raise
        for check in conf.device.cross_checks:
            other = resolve(check.kind, check.value, host)
            if isinstance(device, ResolvedDevice) and (
                not isinstance(other, ResolvedDevice) or other.link.index != device.link.index
            ):
                raise CniError(INVALID_CONFIG, f"{check.source} and {selector.source} name different devices")
        if not isinstance(device, ResolvedDevice):
            log.info(f"{device.pci_address} is bound to {device.driver}: nothing to move (DPDK mode)")
            return Result(interfaces=(Interface(name=env.ifname, sandbox=env.netns, pci_id=device.pci_address),))
        with DeviceLock(store.root, device.identity.id, conf.lock_timeout_seconds):
            crash_point("add:after-lock", conf.state_dir)
            return _attach_locked(env, conf, log, key, store, host_ns, pod, host, device)


def _attach_locked(
    env: CniEnv,
    conf: PluginConfig,
    log: Log,
    key: AttachmentKey,
    store: StateStore,
    host_ns: NetNS,
    pod: NetNS,
    host: Handle,
    device: ResolvedDevice,
) -> Result:
    assert env.ifname and env.netns
    identity = device.identity
    if store.load(key) is not None:
        raise CniError(DEVICE_BUSY, f"attachment {env.container_id}/{env.ifname} already exists", "run DEL first")
    _refuse_if_held(store, identity.id)
    link = host.link(index=identity.host_index)  # under the lock: the one we resolved, as it is now
    if link.name != identity.host_name or link.kind != identity.kind or (identity.strong and not identity.proven_by(link)):
        raise CniError(INVALID_CONFIG, f"device {identity.id} changed while we waited for its lock")
    problem = identity.host_problem()
    if problem is not None:
        log.warn(f"{problem} if the pod's netns dies before DEL; the device is attached all the same")
    target_name = env.ifname if renames_to_ifname(conf, env) else link.name
    with Handle(pod) as inside:
        taken = inside.find_link(name=target_name)
        if taken is not None:
            raise CniError(NAME_TAKEN_IN_POD, f"the pod already has an interface named {target_name}")
        snapshot = take_snapshot(host, link)
        rdma = rdma_step.plan(conf.rdma, device.rdma_devices, link.index, log)
        record = AttachmentRecord(
            device=identity, snapshot=snapshot, netns=env.netns, netns_id=(pod.dev, pod.ino),
            pod_name=target_name, rdma=rdma,
        )  # fmt: skip
        store.save(key, record.to_dict())
        undo: list[Callable[[], object]] = [lambda: store.delete(key)]
        try:
            crash_point("add:after-state", conf.state_dir)
            moved = move_link(host, inside, link, name=target_name if target_name != link.name else None)
            undo.append(lambda: _return_netdev(record, env.netns, host, conf, log))
            record = record.advanced(pod_index=moved.index, phase="moved")
            store.save(key, record.to_dict())
            log.info(f"moved {link.name} into the pod as {moved.name} (ifindex {moved.index})")
            crash_point("add:after-netdev-move", conf.state_dir)

            def persist_rdma(names: tuple[str, ...]) -> None:
                nonlocal record
                record = record.advanced(rdma=RdmaRecord(rdma.mode, rdma.devices, names))
                store.save(key, record.to_dict())

            rdma_step.move_in(rdma, pod, log, persist_rdma)
            crash_point("add:after-rdma-move", conf.state_dir)
            report = apply_snapshot(inside, moved, snapshot)
            log_failed_routes(report, f"{moved.name} in the pod", log)
            crash_point("add:after-addresses", conf.state_dir)
            result = _result(env, inside.link(index=moved.index), snapshot, identity.pci_address)
            from hostdev.cni.result_json import format_result

            record = record.advanced(phase="attached", result=format_result("1.1.0", result))
            store.save(key, record.to_dict())
            crash_point("add:before-result", conf.state_dir)
            return result
        except BaseException as exc:
            log.error(f"ADD failed ({exc}); rolling back")
            _unwind(undo, log)
            raise


def _refuse_if_held(store: StateStore, device_id: str) -> None:
    from hostdev.cni.state import InvalidName

    try:
        holders = store.find_by_device(device_id)
    except InvalidName:
        return
    if holders:
        held = holders[0].key
        raise CniError(DEVICE_BUSY, f"device {device_id} is attached to container {held.container_id} ({held.ifname})")


def _return_netdev(record: AttachmentRecord, pod_path: str | None, host: Handle, conf: PluginConfig, log: Log) -> None:
    """Undo of the moves: the device (and its RDMA devices) home, wherever it is now."""
    if restore(record, host=host, pod_path=pod_path, return_timeout_s=conf.return_timeout_seconds, state_dir=conf.state_dir, log=log) == "pending":
        raise RuntimeError(f"{record.device.id} has not come back to the host yet")
    log.info(f"rolled back: {record.device.host_name} is on the host with its addresses")


def _unwind(undo: list[Callable[[], object]], log: Log) -> None:
    for step in reversed(undo):
        try:
            step()
        except Exception as exc:  # keep undoing: every later step makes the host more whole
            log.error(f"rollback step failed: {exc}")


def _result(env: CniEnv, link: Link, snapshot: LinkSnapshot, pci: str | None) -> Result:
    iface = Interface(name=link.name, mac=link.mac, mtu=link.mtu, sandbox=env.netns, pci_id=pci)
    ips = tuple(ip_config_for(a.cidr, 0) for a in snapshot.addresses)
    return Result(interfaces=(iface,), ips=ips)
