"""The exceptions of hostdev.

Kernel refusals stay :class:`NetlinkError` all the way up (an ``OSError`` whose ``errno`` is the
kernel's), so callers can branch on ``errno`` and still read the kernel's own words.
"""

from __future__ import annotations

import os


class HostdevError(Exception):
    """Base of every error hostdev raises on purpose."""


class DecodeError(HostdevError, ValueError):
    """Bytes that are not a well-formed netlink message (truncated, mis-aligned, lying lengths)."""


class NetlinkError(HostdevError, OSError):
    """The kernel refused a request.

    ``errno`` is the kernel's error number; ``request`` names the request (e.g.
    ``"RTM_NEWLINK ifindex=7 IFLA_NET_NS_FD"``); ``extack`` is the kernel's extended-ack text
    (``None`` when it gave none), ``attribute`` the name of the request attribute the kernel
    pointed at (``NLMSGERR_ATTR_OFFS``) and ``missing`` the one it said the request lacks
    (``NLMSGERR_ATTR_MISS_TYPE``), when it did.
    """

    def __init__(
        self,
        errno_: int,
        request: str,
        extack: str | None = None,
        attribute: str | None = None,
        missing: str | None = None,
    ) -> None:
        text = os.strerror(errno_)
        detail = f"{request}: {text}"
        if extack:
            detail += f" ({extack})"
        if attribute:
            detail += f" [attribute {attribute}]"
        if missing:
            detail += f" [missing attribute {missing}]"
        super().__init__(errno_, detail)
        self.request = request
        self.extack = extack
        self.attribute = attribute
        self.missing = missing

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errno, self.request, self.extack, self.attribute, self.missing))


class DumpInterrupted(HostdevError):
    """A dump kept changing under us (``NLM_F_DUMP_INTR``) more times than we retry."""


class LinkNotFound(HostdevError, LookupError):
    """No link matched a lookup (by name, index, MAC or alternative name)."""


class NetnsError(HostdevError, OSError):
    """A path, name or pid that does not lead to a usable network namespace."""


class NameTaken(HostdevError):
    """Another link holds the name a link was to be given back under (``holder_index`` is its
    ifindex; None when the kernel refused the move itself with EEXIST)."""

    def __init__(self, name: str, holder_index: int | None) -> None:
        where = f" (ifindex {holder_index})" if holder_index is not None else ""
        super().__init__(f"interface {name}{where} exists on the host")
        self.name = name
        self.holder_index = holder_index
