"""Give a device back to the host: the shared core of DEL, GC and ADD's rollback.

Where the device is depends on what happened since ADD: still in the live pod; back on the host
already (the pod's netns died and the kernel returned the NIC — under its pod-side name or
``dev<N>`` — or an earlier DEL got halfway); or on its way back (the netns is being torn down and
the kernel has not finished). We look in that order. On the host only a link proven to be the
device is touched (see DeviceIdentity): never one that merely has its name or old ifindex.
"""

from __future__ import annotations

import errno
import time
TYPE_CHECKING = False  # typing is not imported at run time: it costs the CNI binary start-up
if TYPE_CHECKING:
    from typing import Literal
    Outcome = Literal["restored", "pending"]

from hostdev._netlink.rtnl_link import Link
from hostdev._netlink.wire import NETLINK_ROUTE
from hostdev.cni import rdma_step
from hostdev.cni.errors import TRY_AGAIN_LATER, CniError
from hostdev.cni.faults import crash_point
from hostdev.cni.log import Log
from hostdev.cni.record import AttachmentRecord
from hostdev.errors import NetlinkError, NetnsError
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import apply_snapshot

RTMGRP_LINK = 1


def open_pod_netns(path: str | None, record: AttachmentRecord) -> NetNS | None:
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


def restore(
    record: AttachmentRecord,
    *,
    host_ns: NetNS,
    host: Handle,
    pod_path: str | None,
    return_timeout_s: float,
    state_dir: str,
    log: Log,
) -> Outcome:
    identity = record.device
    pod = open_pod_netns(pod_path, record)
    link = None
    try:
        if pod is not None:
            link = _bring_back_from_pod(record, pod, host_ns, host, state_dir, log)
    finally:
        if pod is not None:
            pod.close()
    if link is None:
        problem = identity.host_problem()
        if problem is not None:
            log.error(f"{problem}; state kept: restore {identity.host_name} by hand, then delete the record")
            return "pending"
        link = identity.find_on_host(host.links())
    if link is None:
        # Even a "prepared" record may have moved: a crash can fall between the move and the
        # state update that records it.
        log.info(f"waiting up to {return_timeout_s:g}s for {identity.id} to return to the host")
        link = wait_for_return(host, record, return_timeout_s)
    if link is None:
        return "pending"
    _restore_on_host(record, link, host, log)
    crash_point("del:after-addresses", state_dir)
    return "restored"


def _bring_back_from_pod(
    record: AttachmentRecord, pod: NetNS, host_ns: NetNS, host: Handle, state_dir: str, log: Log
) -> Link | None:
    """Move the device from the pod to the host; the host link it became (we moved it: that
    proves it), or None if it is not in the pod."""
    identity = record.device
    with Handle(pod) as inside:
        link = identity.find_in_pod(inside.links(), pod_index=record.pod_index, pod_name=record.pod_name)
        if link is None:
            return None  # not in the pod: back on the host already, or on its way
        _check_host_name_free(record, host)
        rdma_step.move_back(record.rdma.moved, pod, host_ns, log)
        crash_point("del:after-rdma-move", state_dir)
        new_name = identity.host_name if link.name != identity.host_name else None
        if link.up:
            inside.set_link(link.index, up=False)  # a rename needs the link down
        try:
            inside.move_link(link.index, host_ns, name=new_name)
        except NetlinkError as exc:
            if exc.errno == errno.EEXIST:
                raise CniError(
                    TRY_AGAIN_LATER,
                    f"cannot return {identity.id}: the name {identity.host_name} is taken on the host",
                    str(exc),
                ) from None
            raise
        log.info(f"moved {link.name} back to the host as {identity.host_name}")
        crash_point("del:after-netdev-move", state_dir)
        return host.link(name=new_name or link.name)


def _check_host_name_free(record: AttachmentRecord, host: Handle) -> None:
    identity = record.device
    holder = host.find_link(name=identity.host_name)
    if holder is not None and not identity.matches_on_host(holder):
        raise CniError(
            TRY_AGAIN_LATER,
            f"cannot return {identity.id}: interface {identity.host_name} (ifindex {holder.index}) now exists on the host",
            "the device stays in the pod; remove or rename that interface and retry DEL",
        )


def _restore_on_host(record: AttachmentRecord, link: Link, host: Handle, log: Log) -> None:
    identity = record.device
    if link.name != identity.host_name:
        _check_host_name_free(record, host)
        if link.up:
            host.set_link(link.index, up=False)
        host.set_link(link.index, name=identity.host_name)
        link = host.link(index=link.index)
        log.info(f"renamed returned device back to {identity.host_name}")
    report = apply_snapshot(host, link, record.snapshot)
    for route, why in report.failed_routes:
        log.warn(f"route {route.destination} not restored on {identity.host_name}: {why}")


def wait_for_return(host: Handle, record: AttachmentRecord, timeout_s: float) -> Link | None:
    """Wait (bounded) for the kernel to hand the device back after its netns died.

    The netns teardown runs asynchronously in the kernel (``cleanup_net``), so there is nothing to
    wait *on* but the device's arrival: we listen for link events and look again on each one.
    """
    import _socket  # the C module: socket.py imports selectors, enum and array
    import select  # both only here: a dead netns is the rare DEL

    identity = record.device
    deadline = time.monotonic() + timeout_s
    events = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        events.bind((0, RTMGRP_LINK))  # subscribe before looking, so no arrival can slip between
        while True:
            link = identity.find_on_host(host.links())
            remaining = deadline - time.monotonic()
            if link is not None or remaining <= 0:
                return link
            readable, _, _ = select.select([events], [], [], remaining)
            if readable:
                events.recv(65536)
    finally:
        events.close()
