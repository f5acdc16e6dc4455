"""Exceptions of the RDMA operations, each saying what the kernel's answer means and what fixes it.

Kernel refusals stay :class:`~hostdev.errors.NetlinkError` (``errno``, ``request``, ``extack``,
``attribute`` unchanged): :class:`RdmaNetlinkError` subclasses it and adds ``hint``. Lookups that
fail are :class:`RdmaDeviceNotFound`, chained to the kernel's error when there was one.
"""

from __future__ import annotations

import errno

from hostdev.errors import HostdevError, NetlinkError

SHARED_MODE_REMEDY = (
    "switch RDMA to exclusive netns mode: `rdma system set netns exclusive` before any other "
    "network namespace exists, or load ib_core with `netns_mode=0` (e.g. "
    "`options ib_core netns_mode=0` in /etc/modprobe.d/)"
)
DRIVER_REMEDY = (
    "the device's driver must support moving between namespaces (it needs "
    "disassociate_ucontext: mlx5, mlx4, bnxt_re, hns, erdma, ionic have it; rxe/siw soft "
    "devices on most kernels do not)"
)
BUSY_REMEDY = (
    "the kernel refuses to change the RDMA netns mode while any network namespace other than "
    "the initial one exists: set it before pods exist (early in boot), or boot with "
    "`ib_core netns_mode=0` for exclusive mode"
)


class RdmaError(HostdevError):
    """Base of the RDMA-specific errors."""


class RdmaUnavailable(RdmaError, OSError):
    """This kernel has no RDMA subsystem: ``socket(AF_NETLINK, SOCK_RAW, NETLINK_RDMA)`` failed
    with EPROTONOSUPPORT (ib_core is neither built in nor loadable)."""

    def __init__(self, detail: str = "") -> None:
        text = "no RDMA subsystem in this kernel (NETLINK_RDMA is not supported: ib_core is not loaded)"
        super().__init__(errno.EPROTONOSUPPORT, f"{text}: {detail}" if detail else text)
        self.detail = detail

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.detail,))


class RdmaDeviceNotFound(RdmaError, LookupError):
    """No RDMA device with that index or name is visible from the namespace asked (in
    exclusive mode a device is visible only in the netns it lives in)."""


class RdmaNetlinkError(NetlinkError):
    """A kernel refusal of an RDMA request, with a ``hint`` on what it means and what fixes it."""

    def __init__(self, refusal: NetlinkError, hint: str = "") -> None:
        super().__init__(refusal.errno or 0, refusal.request, refusal.extack, refusal.attribute, refusal.missing)
        self.hint = hint
        if hint:
            self.strerror = f"{self.strerror}: {hint}"

    def __reduce__(self) -> tuple[object, ...]:
        refusal = NetlinkError(self.errno or 0, self.request, self.extack, self.attribute, self.missing)
        return (type(self), (refusal, self.hint))


class RdmaNetnsNotSupported(RdmaNetlinkError):
    """EOPNOTSUPP on a move: RDMA is in shared netns mode, or the driver cannot change netns."""


class RdmaDeviceNotInCallerNetns(RdmaNetlinkError):
    """ENODEV on a move: the device is not in the calling thread's netns (the kernel requires it
    there as well as in the socket's netns)."""


class RdmaNetnsModeBusy(RdmaNetlinkError):
    """EBUSY on a netns mode change: another network namespace exists."""


def explain_move_error(exc: NetlinkError, index: int) -> Exception:
    """The exception to raise for a refused ``SET DEV_INDEX + NET_NS_FD``."""
    code = exc.errno
    if code == errno.EOPNOTSUPP:
        hint = f"RDMA netns mode is shared, or the driver cannot move; {SHARED_MODE_REMEDY}; {DRIVER_REMEDY}"
        return RdmaNetnsNotSupported(exc, hint)
    if code == errno.ENODEV:
        hint = (
            "the kernel moves a device only when it is in the calling thread's netns as well as "
            "the socket's; to move one out of a pod, run the move from inside the pod "
            "(hostdev.rdma.move_device_back)"
        )
        return RdmaDeviceNotInCallerNetns(exc, hint)
    if code == errno.EINVAL:
        return _not_found(exc, index)
    if code == errno.EPERM:
        hint = "needs CAP_NET_ADMIN over the user namespace that owns the target netns"
        return RdmaNetlinkError(exc, hint)
    if code == errno.EEXIST:
        return RdmaNetlinkError(exc, "a device with this name already exists in the target netns")
    if code == errno.EBADF:
        return RdmaNetlinkError(exc, "the target netns fd is not open in this process")
    return RdmaNetlinkError(exc, "")


def explain_rename_error(exc: NetlinkError, index: int) -> Exception:
    if exc.errno == errno.EINVAL:
        return _not_found(exc, index)
    if exc.errno == errno.EEXIST:
        return RdmaNetlinkError(exc, "another RDMA device already has this name")
    return RdmaNetlinkError(exc, "")


def explain_mode_error(exc: NetlinkError) -> Exception:
    if exc.errno == errno.EBUSY:
        return RdmaNetnsModeBusy(exc, BUSY_REMEDY)
    return RdmaNetlinkError(exc, "")


def explain_lookup_error(exc: NetlinkError, index: int) -> Exception:
    """GET/PORT_GET by index: EINVAL is the kernel's answer for "no such device here"."""
    if exc.errno == errno.EINVAL:
        return _not_found(exc, index)
    return RdmaNetlinkError(exc, "")


def _not_found(exc: NetlinkError, index: int) -> Exception:
    return RdmaDeviceNotFound(
        f"no RDMA device with index {index} is visible from this network namespace "
        f"(kernel: {exc.strerror})"
    )
