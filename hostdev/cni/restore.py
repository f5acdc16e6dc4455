"""Give a device back to the host: the shared core of DEL, GC and ADD's rollback.

Where the device is depends on what happened since ADD: still in the live pod; back on the host
already (the pod's netns died and the kernel returned the NIC — under its pod-side name or
``dev<N>`` — or an earlier DEL got halfway); or on its way back (the netns is being torn down and
the kernel has not finished). We look in that order. On the host only a link proven to be the
device is touched (see DeviceIdentity): never one that merely has its name or old ifindex. The
link found goes home through the library's one way back, :func:`hostdev.snapshot.return_link`.
"""

from __future__ import annotations

from hostdev.cni import rdma_step
from hostdev.cni.errors import TRY_AGAIN_LATER, CniError
from hostdev.cni.faults import crash_point
from hostdev.cni.log import Log
from hostdev.cni.record import AttachmentRecord
from hostdev.errors import NameTaken, NetnsError
from hostdev.handle import Handle
from hostdev.netns import NetNS
from hostdev.snapshot import ApplyReport, return_link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Literal

    from hostdev import Link

    Outcome = Literal["restored", "pending"]


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


def restore(record: AttachmentRecord, *, host: Handle, pod_path: str | None, return_timeout_s: float, state_dir: str, log: Log) -> Outcome:
    """Bring the recorded device home (its RDMA devices first), wherever it is; "pending" when it
    has not arrived within ``return_timeout_s``, or no host interface can be proven to be it.
    ``host`` is bound to the host's :class:`NetNS` (RDMA devices are moved toward it)."""
    identity = record.device
    pod = open_pod_netns(pod_path, record)
    if pod is not None:
        with pod, Handle(pod) as inside:
            link = identity.find_in_pod(inside.links(), pod_index=record.pod_index, pod_name=record.pod_name)
            if link is not None:
                check_name_free(host, identity.host_name, identity.id, identity.matches_on_host)
                assert host.netns is not None
                rdma_step.move_back(record.rdma.moved, pod, host.netns, log)
                crash_point("del:after-rdma-move", state_dir)
                return_device(record, host, link, inside, log, state_dir)
                return "restored"
    # Not in the pod: back on the host already, or on its way.
    problem = identity.host_problem()
    if problem is not None:
        log.error(f"{problem}; state kept: restore {identity.host_name} by hand, then delete the record")
        return "pending"
    link = identity.find_on_host(host.links())
    if link is None:
        # Even a "prepared" record may have moved: a crash can fall between the move and the
        # state update that records it.
        log.info(f"waiting up to {return_timeout_s:g}s for {identity.id} to return to the host")
        link = host.wait_for_link(identity.find_on_host, return_timeout_s)
    if link is None:
        return "pending"
    return_device(record, host, link, None, log, state_dir)
    return "restored"


def check_name_free(host: Handle, name: str, what: str, is_it: Callable[[Link], bool] | None = None) -> None:
    """Refuse (code 11) to start giving back ``what`` when another interface holds ``name``
    (``is_it`` tells the device itself, which may hold it already)."""
    holder = host.find_link(name=name)
    if holder is not None and not (is_it is not None and is_it(holder)):
        raise name_taken(what, NameTaken(name, holder.index))


def return_device(record: AttachmentRecord, host: Handle, link: Link, inside: Handle | None, log: Log, state_dir: str) -> None:
    """The netdev home under its host name, with everything the snapshot recorded: moved out
    of the pod when ``inside`` (the pod's handle) is given, else renamed on the host if need be."""
    identity = record.device

    def moved(back: Link) -> None:
        log.info(f"moved {link.name} back to the host as {back.name}")
        crash_point("del:after-netdev-move", state_dir)

    if inside is None and link.name != identity.host_name:
        check_name_free(host, identity.host_name, identity.id, identity.matches_on_host)
    try:
        report = return_link(host, link, record.snapshot, pod=inside, name=identity.host_name, after_move=moved if inside else None)
    except NameTaken as exc:
        raise name_taken(identity.id, exc) from None
    if inside is None and link.name != identity.host_name:
        log.info(f"renamed returned device back to {identity.host_name}")
    log_failed_routes(report, identity.host_name, log)
    crash_point("del:after-addresses", state_dir)


def name_taken(what: str, exc: NameTaken) -> CniError:
    holder = f" (ifindex {exc.holder_index})" if exc.holder_index is not None else ""
    return CniError(
        TRY_AGAIN_LATER,
        f"cannot return {what}: interface {exc.name}{holder} now exists on the host",
        "the device stays in the pod; remove or rename that interface and retry DEL",
    )


def log_failed_routes(report: ApplyReport, where: str, log: Log) -> None:
    """The routes the kernel refused (e.g. a gateway no longer reachable); all else applied."""
    for route, why in report.failed_routes:
        log.warn(f"route {route.destination} not restored on {where}: {why}")
