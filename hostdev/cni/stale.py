"""Records of pods that are gone: ADD finishes them instead of calling the device busy forever.

A DEL whose device has not come back yet (its pod's netns still held by some process) succeeds
and keeps the record, and the runtime sends no further DEL; GC needs CNI 1.1.0, which many NADs
do not use. So the next ADD of that device meets the record. The record is *stale* when the
namespace it names is gone: its path (the runtime's ``CNI_NETNS`` at ADD) no longer leads to a
namespace with the recorded st_dev/st_ino. A live namespace means a live attachment: the device
is busy (code 100), as before. For a stale record, ADD — holding the device lock — restores the
device on the host from the record once it is back, drops the record and goes on; while it is
not back, ADD answers code 11 (try again later) and says why.
"""

from __future__ import annotations

from hostdev._record import replace
from hostdev.cni.attachment import Attachment, open_pod_netns
from hostdev.cni.config import PluginConfig
from hostdev.cni.errors import DEVICE_BUSY, TRY_AGAIN_LATER, CniError
from hostdev.cni.log import Log
from hostdev.cni.record import AttachmentRecord, UserspaceRecord, record_from_dict
from hostdev.cni.state import InvalidName, StateStore, StoredRecord
from hostdev.handle import Handle


def refuse_if_held(store: StateStore, device_id: str) -> None:
    """Code 100 if a live attachment holds the device."""
    for held in _holders(store, device_id):
        record = _record(held)
        if record is None or _pod_alive(record):
            key = held.key
            raise CniError(DEVICE_BUSY, f"device {device_id} is attached to container {key.container_id} ({key.ifname})")


def finish_stale_unlocked(store: StateStore, device_id: str, *, host: Handle, conf: PluginConfig, log: Log) -> bool:
    """For an ADD that did not find the device on the host: if only records of gone pods hold
    it, take its lock and finish them (see finish_stale); False if there were none. Code 100
    for a live holder, 11 while the device is not back."""
    from hostdev.cni.lock import DeviceLock

    refuse_if_held(store, device_id)
    if not _holders(store, device_id):
        return False
    with DeviceLock(store.root, device_id, conf.lock_timeout_seconds):
        return finish_stale(store, device_id, host=host, conf=conf, log=log)


def finish_stale(store: StateStore, device_id: str, *, host: Handle, conf: PluginConfig, log: Log) -> bool:
    """Under the device lock: DEL, as the runtime would have, every attachment of ``device_id``
    whose pod is gone and whose device is back; True if one was finished. CniError(11) if the
    device is not back (nothing waits for it: the runtime retries the ADD)."""
    from hostdev.cni.steps import STEPS

    finished = False
    no_wait = replace(conf, return_timeout_seconds=0.0)
    for held in _holders(store, device_id):
        record = _record(held)
        if record is None or _pod_alive(record):
            continue  # a live attachment: the caller answers "busy"
        if isinstance(record, UserspaceRecord):  # DPDK mode: nothing moved, nothing to give back
            store.delete(held.key)
            log.warn(f"dropped the stale DPDK attachment of container {held.key.container_id}: its pod's netns is gone")
            finished = True
            continue
        with Attachment.resume(record, None, key=held.key, store=store, host=host, conf=no_wait, log=log) as tx:
            if not tx.detach(STEPS):
                raise _not_back(device_id, held)
        finished = True
        log.warn(
            f"finished the stale attachment of container {held.key.container_id} ({held.key.ifname}): its pod's "
            f"netns is gone, {record.device.host_name} is restored on the host"
        )
    return finished


def _holders(store: StateStore, device_id: str) -> list[StoredRecord]:
    try:
        return store.find_by_device(device_id)
    except InvalidName:
        return []


def _record(held: StoredRecord) -> AttachmentRecord | UserspaceRecord | None:
    try:
        return record_from_dict(held.record)
    except ValueError:
        return None  # unusable: never finished by an ADD; DEL's fallback deals with it


def _pod_alive(record: AttachmentRecord | UserspaceRecord) -> bool:
    pod = open_pod_netns(None, record)
    if pod is None:
        return False
    pod.close()
    return True


def _not_back(device_id: str, held: StoredRecord) -> CniError:
    key = held.key
    return CniError(
        TRY_AGAIN_LATER,
        f"device {device_id} is still recorded for container {key.container_id} ({key.ifname}), whose pod is gone",
        "the device has not returned to the host yet (a process still holds that pod's network namespace); "
        "retry later: the next ADD restores it and goes on",
    )
