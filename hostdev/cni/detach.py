"""DEL and GC: best effort, idempotent, nothing lost.

DEL of an attachment we have no record of (never added, already deleted, another container)
succeeds without touching anything. A corrupt record is set aside by the store and DEL falls
back to finding the device in the pod by the configuration's selector.
"""

from __future__ import annotations

from hostdev.cni.config import PluginConfig
from hostdev.cni.device import DeviceIdentity
from hostdev.cni.errors import CniError
from hostdev.cni.faults import crash_point
from hostdev.cni.lock import DeviceLock, StoreLock
from hostdev.cni.log import Log
from hostdev.cni.protocol import CniEnv, GcAttachment
from hostdev.cni.record import AttachmentRecord
from hostdev.cni.restore import restore
from hostdev.cni.state import AttachmentKey, CorruptState, StateStore
from hostdev.handle import Handle
from hostdev.netns import NetNS

STATE_UNREADABLE = 102  # plugin-specific: a state record this plugin cannot use


def delete(env: CniEnv, conf: PluginConfig, log: Log) -> None:
    assert env.container_id and env.ifname
    key = AttachmentKey(conf.name, env.container_id, env.ifname)
    store = StateStore(conf.state_dir)
    record = _load(store, key, log)
    if record is None:
        log.info("no attachment recorded: nothing to do")
        return
    with DeviceLock(store.root, record.device.id, conf.lock_timeout_seconds):
        crash_point("del:after-lock", conf.state_dir)
        record = _load(store, key, log)  # a concurrent DEL may have finished it meanwhile
        if record is None:
            return
        _restore_and_forget(store, key, record, env.netns, conf, log)


def _restore_and_forget(
    store: StateStore, key: AttachmentKey, record: AttachmentRecord, netns: str | None, conf: PluginConfig, log: Log
) -> None:
    with NetNS.current() as host_ns, Handle() as host:
        outcome = restore(
            record, host_ns=host_ns, host=host, pod_path=netns,
            return_timeout_s=conf.return_timeout_seconds, state_dir=conf.state_dir, log=log,
        )  # fmt: skip
    if outcome == "pending":
        log.warn(
            f"device {record.device.id} has not returned to the host yet (its netns is still held); "
            "state kept: a later DEL or GC will finish"
        )
        return
    crash_point("del:before-state-delete", conf.state_dir)
    store.delete(key)
    log.info(f"device {record.device.id} restored as {record.device.host_name}")


def _load(store: StateStore, key: AttachmentKey, log: Log) -> AttachmentRecord | None:
    try:
        data = store.load(key)
    except CorruptState as exc:
        log.error(f"state for {key.container_id}/{key.ifname} was corrupt and is set aside: {exc}")
        return None
    if data is None:
        return None
    try:
        return AttachmentRecord.from_dict(data)
    except ValueError as exc:
        raise CniError(STATE_UNREADABLE, f"state of {key.container_id}/{key.ifname} is unusable", str(exc)) from None


def garbage_collect(conf: PluginConfig, valid: frozenset[GcAttachment] | None, log: Log) -> None:
    """Restore every device whose attachment the runtime no longer lists; keep going on errors."""
    store = StateStore(conf.state_dir)
    failures: list[str] = []
    with StoreLock(store.root, conf.lock_timeout_seconds):
        scan = store.scan(conf.name)
    for corrupt in scan.corrupt:
        log.error(f"GC: corrupt state set aside: {corrupt}")
    for stored in scan.records:
        key = stored.key
        if valid is not None and GcAttachment(key.container_id, key.ifname) in valid:
            continue
        try:
            record = AttachmentRecord.from_dict(stored.record)
            with DeviceLock(store.root, record.device.id, conf.lock_timeout_seconds):
                if store.load(key) is None:
                    continue
                _restore_and_forget(store, key, record, None, conf, log)
        except Exception as exc:
            failures.append(f"{key.container_id}/{key.ifname}: {exc}")
            log.error(f"GC of {key.container_id}/{key.ifname} failed: {exc}")
    if failures:
        raise CniError(11, f"GC could not restore {len(failures)} attachment(s)", "; ".join(failures))


def identity_of(record: dict[str, object]) -> DeviceIdentity:
    return DeviceIdentity.from_dict(record.get("device"))
