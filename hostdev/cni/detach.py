"""DEL and GC: best effort, idempotent, nothing lost.

DEL of an attachment we have no record of (never added, already deleted, another container)
succeeds without touching anything. A corrupt record is set aside by the store and DEL falls
back to finding the device in the pod by the configuration's selector (see
:func:`recover_without_record`); so does every later DEL of that attachment while a set-aside
copy exists, so that a fallback which failed (e.g. the host name was taken) can be retried.
"""

from __future__ import annotations

import os

from hostdev.cni.attachment import Attachment, crash_point
from hostdev.cni.config import PluginConfig
from hostdev.cni.errors import STATE_UNREADABLE, TRY_AGAIN_LATER, CniError
from hostdev.cni.lock import DeviceLock, StoreLock
from hostdev.cni.log import Log
from hostdev.cni.protocol import CniEnv, GcAttachment
from hostdev.cni.record import AttachmentRecord, UserspaceRecord, record_from_dict
from hostdev.cni.state import CORRUPT_INFIX, AttachmentKey, CorruptState, StateStore
from hostdev.cni.steps import STEPS, check_name_free, move_rdma_back, name_taken
from hostdev.errors import NameTaken, NetnsError
from hostdev.handle import Handle
from hostdev.netns import NetNS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev import Link
    from hostdev.cni.attachment import Step
    from hostdev.cni.ipam import IpamPlugin


def delete(env: CniEnv, conf: PluginConfig, log: Log, ipam: IpamPlugin | None = None) -> None:
    """The attachment's steps undone in reverse. With IPAM, its DEL comes first and always: from
    the record's steps, or from the configuration alone when there is no usable record. An IPAM
    failure does not keep the device from its host; it is reported after (the runtime's retry
    of DEL releases again)."""
    assert env.container_id and env.ifname
    key = AttachmentKey(conf.name, env.container_id, env.ifname)
    store = StateStore(conf.state_dir)
    try:
        record = _load(store, key)
    except CorruptState as exc:
        log.error(f"state for {key.container_id}/{key.ifname} was corrupt and is set aside: {exc}")
        _release_and_recover(env, conf, store, log, ipam)
        return
    if record is None:
        if _has_set_aside_copy(store, key):
            log.warn(f"state for {key.container_id}/{key.ifname} was set aside earlier: looking for the device")
            _release_and_recover(env, conf, store, log, ipam)
        else:
            # Never added, already deleted — or the record was lost (deleted by hand, a disk that
            # lost it): the same safe fallback as for a corrupt one, quietly when nothing is found.
            log.info("no attachment recorded: looking for the configured device in the pod")
            _release_and_recover(env, conf, store, log, ipam, lost=False)
        return
    if isinstance(record, UserspaceRecord):
        _release_userspace(store, key, record, conf, log)
        return
    if record.ipam is not None and ipam is None:
        log.error(f"IPAM plugin {record.ipam} allocated for this attachment, but this configuration has no ipam: not released")
    with DeviceLock(store.root, record.device.id, conf.lock_timeout_seconds):
        crash_point("del:after-lock")
        try:
            record = _load(store, key)  # a concurrent DEL may have finished it meanwhile
        except CorruptState as exc:
            log.error(f"state for {key.container_id}/{key.ifname} was corrupt and is set aside: {exc}")
        else:
            if record is None:
                _release(ipam, log)
            elif isinstance(record, AttachmentRecord):
                steps = _steps(conf, ipam)
                _restore_and_forget(store, key, record, env.netns, conf, log, steps)
                _raise_ipam_failure(steps)
            return
    _release_and_recover(env, conf, store, log, ipam)  # outside the lock: it takes the device's own


def _steps(conf: PluginConfig, ipam: IpamPlugin | None, *, gc: bool = False) -> tuple[Step, ...]:
    if ipam is None:
        return STEPS
    from hostdev.cni.ipam_step import steps_for

    return steps_for(STEPS, ipam, conf, gc=gc)


def _release(ipam: IpamPlugin | None, log: Log) -> None:
    """IPAM DEL from the configuration alone (no record to undo); its failure is ours."""
    if ipam is not None:
        from hostdev.cni.ipam_step import release

        failure = release(ipam, log)
        if failure is not None:
            raise failure


def _release_and_recover(
    env: CniEnv, conf: PluginConfig, store: StateStore, log: Log, ipam: IpamPlugin | None, *, lost: bool = True
) -> None:
    failure = None
    if ipam is not None:
        from hostdev.cni.ipam_step import release

        failure = release(ipam, log)
    recover_without_record(env, conf, store, log, lost=lost)
    if failure is not None:
        raise failure


def _raise_ipam_failure(steps: tuple[Step, ...]) -> None:
    if len(steps) > len(STEPS):
        from hostdev.cni.ipam_step import failure_of

        failure = failure_of(steps)
        if failure is not None:
            raise failure


def _restore_and_forget(
    store: StateStore, key: AttachmentKey, record: AttachmentRecord, netns: str | None, conf: PluginConfig, log: Log,
    steps: tuple[Step, ...] = STEPS,
) -> None:
    """The attachment's steps undone in reverse (the record is deleted last); the record kept
    when the device has not come back yet."""
    with NetNS.current() as host_ns, Handle(host_ns) as host:
        with Attachment.resume(record, netns, key=key, store=store, host=host, conf=conf, log=log) as tx:
            done = tx.detach(steps)
    if not done:
        log.warn(
            f"device {record.device.id} has not returned to the host yet (its netns is still held); "
            "state kept: a later DEL or GC will finish"
        )
        return
    log.info(f"device {record.device.id} restored as {record.device.host_name}")


def _release_userspace(store: StateStore, key: AttachmentKey, record: UserspaceRecord, conf: PluginConfig, log: Log) -> None:
    """DPDK mode: nothing was moved, so nothing comes back; the function is free again."""
    with DeviceLock(store.root, record.device_id, conf.lock_timeout_seconds):
        if store.load(key) is not None:
            store.delete(key)
    log.info(f"{record.pci_address} released (DPDK mode: nothing to move back)")


def _load(store: StateStore, key: AttachmentKey) -> AttachmentRecord | UserspaceRecord | None:
    """The record, None if there is none; CorruptState (file set aside) if it is untrustworthy."""
    data = store.load(key)
    if data is None:
        return None
    try:
        return record_from_dict(data)
    except ValueError as exc:
        raise CniError(STATE_UNREADABLE, f"state of {key.container_id}/{key.ifname} is unusable", str(exc)) from None


TEMP_FILE_MAX_AGE_S = 60.0  # a save takes milliseconds: an older temp file's writer was killed


def garbage_collect(conf: PluginConfig, valid: frozenset[GcAttachment] | None, log: Log, ipam: IpamPlugin | None = None) -> None:
    """Undo every attachment the runtime no longer lists — its IPAM allocation released too (IPAM
    plugins without a GC of their own, host-local among them, would keep it forever) — then hand
    the GC to the IPAM plugin. Keep going on errors; an IPAM GC failure alone is reported as the
    IPAM plugin's own error. The scan runs under the exclusive store lock: every ADD holds the
    shared one from start to end, so none is half done (recorded, not yet valid) in the scan."""
    store = StateStore(conf.state_dir)
    failures: list[str] = []
    with StoreLock(store.root, conf.lock_timeout_seconds):
        scan = store.scan(conf.name)
        store.purge_temp_files(older_than_s=TEMP_FILE_MAX_AGE_S)
    for corrupt in scan.corrupt:
        log.error(f"GC: corrupt state set aside: {corrupt}")
    for stored in scan.records:
        key = stored.key
        if valid is not None and GcAttachment(key.container_id, key.ifname) in valid:
            continue
        try:
            record = record_from_dict(stored.record)
            if isinstance(record, UserspaceRecord):
                _release_userspace(store, key, record, conf, log)
                continue
            steps = _steps(conf, ipam if record.ipam is not None else None, gc=True)
            with DeviceLock(store.root, record.device.id, conf.lock_timeout_seconds):
                if store.load(key) is None:
                    continue
                _restore_and_forget(store, key, record, None, conf, log, steps)
            _raise_ipam_failure(steps)
        except Exception as exc:
            failures.append(f"{key.container_id}/{key.ifname}: {exc}")
            log.error(f"GC of {key.container_id}/{key.ifname} failed: {exc}")
    if ipam is not None:
        try:
            ipam.gc()
        except CniError as exc:
            log.error(f"IPAM {ipam.name} GC failed: {exc}")
            if not failures:
                raise
            failures.append(f"IPAM GC: {exc}")
    if failures:
        raise CniError(TRY_AGAIN_LATER, f"GC could not restore {len(failures)} attachment(s)", "; ".join(failures))


# --- DEL without a usable record -----------------------------------------------------------------


def _has_set_aside_copy(store: StateStore, key: AttachmentKey) -> bool:
    path = store.path_of(key)
    prefix = os.path.basename(path) + CORRUPT_INFIX
    try:
        return any(name.startswith(prefix) for name in os.listdir(os.path.dirname(path)))
    except OSError:
        return False


def recover_without_record(env: CniEnv, conf: PluginConfig, store: StateStore, log: Log, *, lost: bool = True) -> None:
    """Give the device back when there is no usable record: the device the configuration names,
    found inside the runtime's CNI_NETNS by its PCI or auxiliary parent (nothing else proves which
    interface in a pod it is: a pod can give any interface any name, MAC or ifindex) and not
    recorded for any other attachment. It comes home with its name and MTU, down, and nothing of
    the pod's: no address, route, MAC or altname, which a pod with NET_ADMIN could have planted.
    ``lost``: a record was there and is unusable (corrupt), so the misses are worth a warning;
    without any record most DELs find nothing (never added, deleted twice), said at info level."""
    say = log.error if lost else log.info
    selector = conf.device.primary if conf.device is not None else None
    if selector is None or selector.kind not in ("pci", "auxiliary"):
        how = f"by {selector.kind}" if selector is not None else "not at all"
        say(
            "cannot look for the device without a record: only its PCI or auxiliary parent proves which "
            f"interface in a pod it is, and the configuration names it {how}"
        )
        return
    if not env.netns:
        say("cannot look for the device without a record: no CNI_NETNS (a NIC returns to the host bare when its netns dies)")
        return
    try:
        pod = NetNS.from_path(env.netns)
    except NetnsError as exc:
        say(f"cannot look for the device without a record: {exc} (a NIC returns to the host bare when its netns dies)")
        return
    with pod, NetNS.current() as host_ns:
        if pod.same_as(host_ns):
            say("cannot look for the device without a record: CNI_NETNS is the plugin's own namespace")
            return
        with Handle(pod) as inside:
            link = _find_by_parent(inside.links(), selector.kind, selector.value)
        if link is None:
            say(
                f"no interface in the pod has the PCI or auxiliary parent {selector.value}: nothing is touched "
                "(a name, MAC or ifindex proves nothing inside a pod; a virtual interface has no parent)"
            )
            return
        from hostdev import discover

        listed = discover.netdevs_of(selector.kind, selector.value)
        host_name = listed[0] if len(listed) == 1 else link.name
        with DeviceLock(store.root, selector.value, conf.lock_timeout_seconds):
            holders = store.find_by_device(selector.value)
            if holders:
                log.warn(f"{link.name} in the pod is not ours to take: {selector.value} is recorded for {holders[0].key.container_id}")
                return
            _return_unrecorded(link, host_name, pod, host_ns, log)


def _find_by_parent(links: list[Link], kind: str, value: str) -> Link | None:
    """The one physical interface whose parent, as netlink reports it, is the selected device
    (on its own bus: virtio-net's parent is its virtio device, one level below the PCI function,
    which sysfs lists there while the netdev is in the pod)."""
    bus = "pci" if kind == "pci" else "auxiliary"
    parents = {(bus, value)} | {("virtio", name) for name in _virtio_devices_of(kind, value)}
    found = [l for l in links if l.kind is None and (l.parent_bus_name, l.parent_dev_name) in parents]
    return found[0] if len(found) == 1 else None


def _virtio_devices_of(kind: str, value: str) -> tuple[str, ...]:
    from hostdev import discover

    if kind != "pci":
        return ()
    try:
        return discover.pci_function(value).virtio_devices
    except discover.DiscoveryError:
        return ()


def _return_unrecorded(found: Link, host_name: str, pod: NetNS, host_ns: NetNS, log: Log) -> None:
    from hostdev.snapshot import LinkSnapshot, return_link

    with Handle(pod) as inside, Handle(host_ns) as host:
        link = inside.find_link(index=found.index)  # as it is now that we hold the lock
        if link is None or (link.parent_bus_name, link.parent_dev_name) != (found.parent_bus_name, found.parent_dev_name):
            log.warn(f"{found.name} left the pod meanwhile: nothing to restore")
            return
        check_name_free(host, host_name, link.name)
        # What the kernel gives a NIC whose netns dies — its name and MTU, down, bare — and its
        # own permanent MAC; nothing the pod set.
        bare = LinkSnapshot(
            name=host_name, index=link.index, mac=link.perm_mac, perm_mac=link.perm_mac, mtu=link.mtu, up=False,
            alias=None, altnames=(), addresses=(), routes=(), kind=link.kind,
        )  # fmt: skip
        move_rdma_back(_rdma_bound_to(pod, link.index), pod, host_ns, log)
        try:
            return_link(host, link, bare, pod=inside, name=host_name)
        except NameTaken as exc:
            raise name_taken(link.name, exc) from None
    log.warn(
        f"restored {host_name} without a state record: its name and MTU only, down; no address, route, MAC or "
        "altname is taken from the pod, which could have planted them"
    )


def _rdma_bound_to(pod: NetNS, ifindex: int) -> tuple[str, ...]:
    """RDMA devices in the pod bound to the netdev (exclusive mode moves them with it)."""
    from hostdev import rdma

    found = rdma.netdev_rdma(ifindex, pod)
    return found.devices if found is not None and found.mode == "exclusive" else ()
