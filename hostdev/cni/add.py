"""ADD: find the device, lock it, plan the attachment, run its steps.

Everything that can refuse the request does so before anything is touched: the device must be
on the host (or we say whose it is), the configuration's selectors must agree, under the
device's lock no record may hold it, and the pod must not have an interface of the target name.
Then the plan (snapshot, RDMA devices, names) becomes the attachment's record, and the steps of
:mod:`hostdev.cni.steps` run as one transaction: any failure undoes every step begun, so the
host ends exactly as it began.
"""

from __future__ import annotations

from hostdev.cni.attachment import Attachment, crash_point
from hostdev.cni.config import PluginConfig
from hostdev.cni.device import ResolvedDevice, resolve
from hostdev.cni.errors import DEVICE_BUSY, INVALID_CONFIG, INVALID_ENVIRONMENT, NAME_TAKEN_IN_POD, CniError
from hostdev.cni.lock import DeviceLock, StoreLock
from hostdev.cni.log import Log
from hostdev.cni.pod_interface import renames_to_ifname
from hostdev.cni.protocol import CniEnv
from hostdev.cni.record import AttachmentRecord, UserspaceRecord
from hostdev.cni.result_model import Interface, Result
from hostdev.cni.state import AttachmentKey, StateStore
from hostdev.cni.steps import STEPS, plan_rdma
from hostdev.errors import NetnsError
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import take_snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev.discover import UserspaceFunction
    from hostdev.cni.ipam import IpamPlugin


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


def add(env: CniEnv, conf: PluginConfig, log: Log, ipam: IpamPlugin | None = None) -> Result:
    """One ADD, from start to end under the shared store lock: a GC scans under the exclusive one,
    so it never sees an attachment half made (its record written, its result not yet given to the
    runtime, so in no list of valid attachments) and takes it for stale."""
    assert env.container_id and env.ifname and conf.device is not None
    store = StateStore(conf.state_dir)
    with StoreLock(store.root, conf.lock_timeout_seconds, shared=True):
        return _add(env, conf, log, ipam, store)


def _add(env: CniEnv, conf: PluginConfig, log: Log, ipam: IpamPlugin | None, store: StateStore) -> Result:
    assert env.container_id and env.ifname and conf.device is not None
    key = AttachmentKey(conf.name, env.container_id, env.ifname)
    with NetNS.current() as host_ns, open_target_netns(env.netns, host_ns) as pod, Handle(host_ns) as host:
        selector = conf.device.primary
        try:
            device = resolve(selector.kind, selector.value, host)
        except CniError:
            # A device in a pod is gone from the host's view: if it is ours or recorded by a live
            # pod, say "busy" (100), not "not found" (7). One that a gone pod left behind may be
            # back under another name: finish that attachment (11 while it is not back) and look again.
            _refuse_if_exists(store, key)
            if not _held(store, selector.value):
                raise
            from hostdev.cni.stale import finish_stale_unlocked

            if not finish_stale_unlocked(store, selector.value, host=host, conf=conf, log=log):
                raise
            device = resolve(selector.kind, selector.value, host)
        for check in conf.device.cross_checks:
            other = resolve(check.kind, check.value, host)
            if isinstance(device, ResolvedDevice) and (
                not isinstance(other, ResolvedDevice) or other.link.index != device.link.index
            ):
                raise CniError(INVALID_CONFIG, f"{check.source} and {selector.source} name different devices")
        if not isinstance(device, ResolvedDevice):
            return _attach_userspace(env, conf, log, key, store, host, pod, device, ipam)
        with DeviceLock(store.root, device.identity.id, conf.lock_timeout_seconds):
            crash_point("add:after-lock")
            _refuse_if_exists(store, key)  # before any scan of the store sets a corrupt copy aside
            if _held(store, device.identity.id):  # the check that counts: under the lock
                from hostdev.cni.stale import finish_stale, refuse_if_held

                if finish_stale(store, device.identity.id, host=host, conf=conf, log=log):
                    again = resolve(selector.kind, selector.value, host)  # restored: renamed, readdressed
                    if not isinstance(again, ResolvedDevice) or again.identity.id != device.identity.id:
                        raise CniError(INVALID_CONFIG, f"device {device.identity.id} changed while a stale attachment was finished")
                    device = again
                refuse_if_held(store, device.identity.id)
            with Handle(pod) as inside:
                record = _plan(env, conf, log, host, inside, pod, device, store)
                tx = Attachment(key=key, store=store, record=record, host=host, pod=pod, inside=inside, conf=conf, log=log)
                steps = STEPS
                if ipam is not None:
                    from hostdev.cni.ipam_step import steps_for

                    steps = steps_for(STEPS, ipam, conf)
                tx.run(steps)
                assert tx.result is not None
                return tx.result


def _attach_userspace(
    env: CniEnv, conf: PluginConfig, log: Log, key: AttachmentKey, store: StateStore, host: Handle, pod: NetNS,
    device: UserspaceFunction,
    ipam: IpamPlugin | None,
) -> Result:
    """DPDK mode: nothing moves, but the attachment is recorded (one pod per function; CHECK,
    DEL and GC know it). IPAM is not called: there is no interface to put its addresses on, and
    an allocation nobody configures would only leak; the result says so."""
    assert env.netns and env.ifname
    with DeviceLock(store.root, device.pci_address, conf.lock_timeout_seconds):
        _refuse_if_exists(store, key)
        if _held(store, device.pci_address):
            from hostdev.cni.stale import finish_stale, refuse_if_held

            finish_stale(store, device.pci_address, host=host, conf=conf, log=log)  # a gone pod's record
            refuse_if_held(store, device.pci_address)
        record = UserspaceRecord(device.pci_address, device.driver, env.netns, (pod.dev, pod.ino), env.ifname)
        store.save(key, record.to_dict())
    log.info(f"{device.pci_address} is bound to {device.driver}: nothing to move (DPDK mode)")
    skipped = None
    if ipam is not None:
        skipped = f"{device.pci_address} is bound to {device.driver} (DPDK mode): no netdev to give addresses to"
        log.warn(f"IPAM plugin {ipam.name} not called: {skipped}")
    iface = Interface(name=env.ifname, sandbox=env.netns, pci_id=device.pci_address)
    return Result(interfaces=(iface,), ipam_skipped=skipped)


def _plan(
    env: CniEnv, conf: PluginConfig, log: Log, host: Handle, inside: Handle, pod: NetNS, device: ResolvedDevice,
    store: StateStore,
) -> AttachmentRecord:
    """What the attachment will do, checked against the device as it is now that we hold its
    lock: the record written before anything is touched."""
    assert env.netns and env.ifname
    identity = device.identity
    link = host.link(index=identity.host_index)  # under the lock: the one we resolved, as it is now
    if link.name != identity.host_name or link.kind != identity.kind or (identity.strong and not identity.proven_by(link)):
        raise CniError(INVALID_CONFIG, f"device {identity.id} changed while we waited for its lock")
    from hostdev.cni.node_protection import refuse_if_protected

    refuse_if_protected(link, identity.pci_address, host, conf.node, store)
    problem = identity.host_problem()
    if problem is not None:
        log.warn(f"{problem} if the pod's netns dies before DEL; the device is attached all the same")
    target_name = env.ifname if renames_to_ifname(conf, env) else link.name
    if inside.find_link(name=target_name) is not None:
        raise CniError(NAME_TAKEN_IN_POD, f"the pod already has an interface named {target_name}")
    return AttachmentRecord(
        device=identity, snapshot=take_snapshot(host, link), netns=env.netns, netns_id=(pod.dev, pod.ino),
        pod_name=target_name, rdma=plan_rdma(conf.rdma, device.rdma_devices, link.index, log),
    )  # fmt: skip


def _refuse_if_exists(store: StateStore, key: AttachmentKey) -> None:
    """Code 100 when this attachment exists already (5 when its record is corrupt)."""
    if store.load(key) is not None:
        raise CniError(DEVICE_BUSY, f"attachment {key.container_id}/{key.ifname} already exists", "run DEL first")


def _held(store: StateStore, device_id: str) -> bool:
    """Whether any record names the device (a live attachment, or one of a pod that is gone)."""
    from hostdev.cni.state import InvalidName

    try:
        return bool(store.find_by_device(device_id))
    except InvalidName:  # not a device ID (a selector's value): nothing can be recorded under it
        return False
