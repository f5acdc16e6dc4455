"""Exceptions raised by sysfs discovery; every one names the device it is about."""

from __future__ import annotations

_SHOWN_CHARS = 32


def describe_input(value: object) -> str:
    """Render untrusted input for an error message: ASCII-escaped and truncated.

    ``ascii()`` rather than ``repr()`` so control, bidi and look-alike characters
    show up as escapes in logs instead of being interpreted by a terminal.
    """
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    if len(value) <= _SHOWN_CHARS:
        return ascii(value)
    return f"{ascii(value[:_SHOWN_CHARS])}... ({len(value)} chars)"


class SysfsError(Exception):
    """Base class of everything this package raises."""


class InvalidName(SysfsError, ValueError):
    """A caller-supplied name failed validation; nothing was read."""

    kind = "name"

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {self.kind} {describe_input(value)}: {reason}")


class InvalidPciAddress(InvalidName):
    kind = "PCI address"


class InvalidAuxiliaryId(InvalidName):
    kind = "auxiliary device id"


class InvalidNetdevName(InvalidName):
    kind = "network interface name"


class DeviceNotFound(SysfsError):
    """The device does not exist in this sysfs view.

    For a netdev this also happens when it lives in another network namespace:
    sysfs only shows devices of the netns that mounted it.
    """

    def __init__(self, device: str, where: str) -> None:
        self.device = device
        self.where = where
        super().__init__(f"{device!r} not found under {where}")


class NoNetdevFound(SysfsError):
    """The PCI function exists but shows no netdev (unbound, or netdev in another netns)."""

    def __init__(self, device: str, driver: str | None) -> None:
        self.device = device
        self.driver = driver
        bound = f"bound to {driver!r}" if driver else "not bound to any driver"
        super().__init__(
            f"PCI function {device!r} ({bound}) shows no network interface in this "
            "sysfs view; it may have been moved to another network namespace"
        )


class UserspaceDriverBound(SysfsError):
    """The PCI function is bound to a userspace I/O driver (vfio-pci, uio): it has no netdev."""

    def __init__(self, device: str, driver: str) -> None:
        self.device = device
        self.driver = driver
        super().__init__(
            f"PCI function {device!r} is bound to userspace driver {driver!r} "
            "and has no network interface"
        )


class AmbiguousNetdev(SysfsError):
    """The PCI function has more than one netdev, so "its netdev" is not defined."""

    def __init__(self, device: str, netdevs: tuple[str, ...]) -> None:
        self.device = device
        self.netdevs = netdevs
        super().__init__(
            f"PCI function {device!r} has several network interfaces: {', '.join(netdevs)}"
        )


class MalformedSysfs(SysfsError):
    """sysfs does not look the way the kernel lays it out (or a link leaves the root)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"unexpected sysfs content at {path!r}: {detail}")
