"""One attachment as a transaction: ADD runs its steps, DEL undoes them in reverse.

An ADD is a sequence of steps (:data:`hostdev.cni.steps.STEPS`), each a pair: ``do`` makes one
change and records it in the attachment's state file before the next step starts (unless DEL
finds it again without: where the netdev went is proven by its identity); ``undo`` takes it back. A step's undo is registered as its ``do`` starts, so a step that fails halfway is undone
too: every ``undo`` looks at where things are (the device in the pod, on the host, on its way)
rather than trusting how far its ``do`` got. That also makes DEL the same steps in reverse, after
any crash, in any phase; GC is DEL for the attachments the runtime no longer lists::

    ADD   record → netdev into the pod → sysctls → RDMA devices → apply → result [→ IPAM]
    DEL   [IPAM DEL ←] result ← apply ← RDMA devices back ← sysctls ← netdev home ← record deleted

A new kind of work in an attachment is one more :class:`Step` in that sequence, as IPAM is
(:class:`hostdev.cni.ipam_step.Ipam`, there when the configuration has an ``ipam`` section).
"""

from __future__ import annotations

import os

from hostdev.errors import NetnsError
from hostdev.handle import Handle
from hostdev.netns import NetNS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

    from hostdev import Link
    from hostdev.cni.config import PluginConfig
    from hostdev.cni.log import Log
    from hostdev.cni.record import AttachmentRecord, UserspaceRecord
    from hostdev.cni.result_model import Result
    from hostdev.cni.state import AttachmentKey, StateStore


FAULT_ENV = "HOSTDEV_TEST_FAULT"


def crash_point(point: str) -> None:
    """A test crash point at a step boundary of ADD or DEL: nothing unless ``HOSTDEV_TEST_FAULT``
    is set; then the test-only :mod:`hostdev.cni.fault_injection` decides (its marker at a fixed
    root-owned path must be there too). The node bundle ships without that module, so there no
    point ever fires. The common path costs one environment lookup (and no module of its own)."""
    spec = os.environ.get(FAULT_ENV)
    if spec:
        try:
            from hostdev.cni import fault_injection
        except ImportError:  # the node bundle: built without it
            return
        fault_injection.fire(point, spec)


class Step:
    """One step of an attachment. ``done_point`` is the test crash point once ``do`` returned."""

    name = ""
    done_point = ""
    # Undone only when every later step's undo went through: the record must outlive a device
    # that may still be in the pod, or no later DEL would know it is the host's.
    undo_only_when_the_rest_is_undone = False

    def do(self, tx: Attachment) -> None:
        raise NotImplementedError

    def check_undo(self, tx: Attachment) -> None:
        """Before DEL undoes anything: refuse (CniError) if this step's undo cannot go through,
        so that nothing is given back halfway."""

    def undo(self, tx: Attachment) -> bool:
        """Take the step back, from whatever state it is in; False if that has to wait (DEL
        then keeps the record for a later DEL or GC)."""
        return True


class Attachment:
    """One attachment: its record (persisted as it advances), its device's host and pod sides,
    and the steps that connect them."""

    def __init__(
        self,
        *,
        key: AttachmentKey,
        store: StateStore,
        record: AttachmentRecord,
        host: Handle,
        pod: NetNS | None,
        inside: Handle | None = None,
        conf: PluginConfig,
        log: Log,
    ) -> None:
        assert host.netns is not None, "the host handle is bound to the host's NetNS"
        self.key = key
        self.store = store
        self.record = record
        self.host = host
        self.host_ns: NetNS = host.netns
        self.pod = pod  # None: the pod's netns is gone (or is not the one the device went into)
        self._opened: list[Handle | NetNS] = []
        if inside is None and pod is not None:
            inside = Handle(pod)
            self._opened.append(inside)
        self.inside = inside  # a handle in the pod's netns
        self.conf = conf
        self.log = log
        self.result: Result | None = None  # ADD's, once its last step ran

    @classmethod
    def resume(
        cls, record: AttachmentRecord, pod_path: str | None, *, key: AttachmentKey, store: StateStore,
        host: Handle, conf: PluginConfig, log: Log,
    ) -> Attachment:  # fmt: skip
        """The attachment a record describes (DEL, GC): its pod netns opened if it still lives."""
        pod = open_pod_netns(pod_path, record)
        tx = cls(key=key, store=store, record=record, host=host, pod=pod, conf=conf, log=log)
        if pod is not None:
            tx._opened.append(pod)
        return tx

    def close(self) -> None:
        """Close what this attachment opened (the pod's handle; the pod's netns if it opened it)."""
        for opened in self._opened:
            opened.close()

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, *, durable: bool = False, **changes: Any) -> None:
        """Change the record and persist it before anything else happens.

        The record written before the move was made durable (file and directory fsynced), so an
        update need not fsync the directory again: a power loss can only lose the update and
        leave the record before it, which DEL handles like a crash just before this point.
        ``durable`` when the next step reaches beyond this host (IPAM), where the update must
        survive even that."""
        self.record = self.record.advanced(**changes)
        self.store.save(self.key, self.record.to_dict(), sync_dir=durable)

    def note(self, **changes: Any) -> None:
        """Change the record in memory only: for what DEL finds again without it (where the
        device went is proven by its identity), written with the next ``advance``."""
        self.record = self.record.advanced(**changes)

    def crash_point(self, point: str) -> None:
        crash_point(point)

    def device_in_pod(self) -> Link | None:
        """The device among the pod's links, if the pod lives and it is there."""
        if self.inside is None:
            return None
        record = self.record
        return record.device.find_in_pod(self.inside.links(), pod_index=record.pod_index, pod_name=record.pod_name)

    # --- ADD ---
    def run(self, steps: Sequence[Step]) -> None:
        """Every step in order; on any failure, the steps begun so far undone in reverse."""
        begun: list[Step] = []
        try:
            for step in steps:
                begun.append(step)
                step.do(self)
                self.crash_point(step.done_point)
        except BaseException as exc:
            self.log.error(f"ADD failed ({exc}); rolling back")
            if self.unwind(begun):
                # The line the README tells admins to look for after "rolling back".
                self.log.warn(f"rolled back: {self.record.device.host_name} is on the host with its addresses")
            else:
                self._keep_record()
            raise

    def _keep_record(self) -> None:
        """The record a rollback could not finish stays for DEL: with all that is known by now."""
        try:
            self.store.save(self.key, self.record.to_dict())
        except Exception as exc:  # the record on disk (the one before the move, or later) still holds
            self.log.error(f"the kept record could not be brought up to date: {exc}")

    def unwind(self, steps: Sequence[Step]) -> bool:
        """Undo ``steps`` in reverse, going on past failures; True when every undo went through."""
        complete = True
        for step in reversed(steps):
            if step.undo_only_when_the_rest_is_undone and not complete:
                self.log.error(f"{step.name} kept: the rollback could not finish, the runtime's DEL will")
                continue
            try:
                if not step.undo(self):
                    complete = False
                    self.log.error(f"rollback of {step.name} could not finish")
            except Exception as exc:  # keep undoing: every later step makes the host more whole
                complete = False
                self.log.error(f"rollback of {step.name} failed: {exc}")
        return complete

    # --- DEL, GC ---
    def detach(self, steps: Sequence[Step]) -> bool:
        """Every step undone in reverse, once each has said its undo can go through. False when
        one has to wait (the device has not come back yet): the record is kept."""
        for step in steps:
            step.check_undo(self)
        for step in reversed(steps):
            if not step.undo(self):
                return False
        return True


def open_pod_netns(path: str | None, record: AttachmentRecord | UserspaceRecord) -> NetNS | None:
    """The pod's netns if it is still the one the device went into; None if gone or replaced."""
    for candidate in (path, record.netns):
        if not candidate:
            continue
        try:
            ns = NetNS.from_path(candidate)
        except NetnsError:
            continue
        if (ns.dev, ns.ino) == record.netns_id:
            return ns
        ns.close()  # a path reused by another namespace: not ours to touch
    return None
