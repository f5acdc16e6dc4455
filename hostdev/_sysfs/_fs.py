"""The only module of the package that touches the filesystem.

Every path starts at one of three entry points built from a validated name --
``<root>/bus/pci/devices/<BDF>``, ``<root>/bus/auxiliary/devices/<id>``,
``<root>/class/net/<ifname>`` -- and goes below it only through :func:`child`,
which refuses separators and dot components. Symlinks are interpreted from
their text (:func:`resolve_link`) instead of being chased with ``realpath``, so
finding out where a device sits never touches anything else, and a link that
would leave the sysfs root is reported instead of followed.

Missing files mean "absent" (``None`` / empty); other ``OSError``\\ s (EIO, EACCES)
propagate unchanged.
"""

from __future__ import annotations

import errno
import os

from hostdev._sysfs.errors import (
    InvalidAuxiliaryId,
    InvalidNetdevName,
    InvalidPciAddress,
    MalformedSysfs,
    describe_input,
)
from hostdev._sysfs.netdev_name import parse_netdev_name
from hostdev._sysfs.pci_address import is_auxiliary_id, is_sysfs_pci_address

_MAX_ATTRIBUTE_BYTES = 4096
_ABSENT = (FileNotFoundError, NotADirectoryError)


def pci_devices_dir(root: str) -> str:
    return os.path.join(root, "bus", "pci", "devices")


def auxiliary_devices_dir(root: str) -> str:
    return os.path.join(root, "bus", "auxiliary", "devices")


def class_net_dir(root: str) -> str:
    return os.path.join(root, "class", "net")


def pci_device_path(root: str, address: str) -> str:
    """``<root>/bus/pci/devices/<address>``; ``address`` must already be canonical."""
    if not is_sysfs_pci_address(address):
        raise InvalidPciAddress(address, "not in canonical dddd:bb:dd.f form")
    return os.path.join(pci_devices_dir(root), address)


def auxiliary_device_path(root: str, name: str) -> str:
    if not is_auxiliary_id(name):
        raise InvalidAuxiliaryId(name, "not a valid auxiliary device id")
    return os.path.join(auxiliary_devices_dir(root), name)


def class_net_path(root: str, ifname: str) -> str:
    if parse_netdev_name(ifname) != ifname:
        raise InvalidNetdevName(ifname, "not a valid interface name")
    return os.path.join(class_net_dir(root), ifname)


def child(path: str, *names: str) -> str:
    """``path/names...``, refusing any component that could climb or branch out."""
    for name in names:
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise MalformedSysfs(path, f"refusing path component {describe_input(name)}")
    return os.path.join(path, *names)


def is_directory(path: str) -> bool:
    return os.path.isdir(path)


def read_attribute(path: str) -> str | None:
    """Text of a small attribute file without its trailing newline; None if absent."""
    # O_NOFOLLOW: an attribute is never a symlink; O_NONBLOCK: a FIFO in a
    # fabricated tree must not hang us.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except _ABSENT:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise MalformedSysfs(path, "attribute is a symlink") from None
        raise
    try:
        data = os.read(fd, _MAX_ATTRIBUTE_BYTES)
    finally:
        os.close(fd)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedSysfs(path, "attribute is not ASCII text") from None
    return text.removesuffix("\n")


def read_link(path: str) -> str | None:
    """Target text of the symlink at ``path``; None if there is nothing there."""
    try:
        return os.readlink(path)
    except _ABSENT:
        return None
    except OSError as error:
        if error.errno == errno.EINVAL:
            raise MalformedSysfs(path, "expected a symlink") from None
        raise


def link_basename(path: str) -> str | None:
    """Last component of the symlink's target (a driver's or device's name)."""
    target = read_link(path)
    if target is None:
        return None
    name = os.path.basename(target.rstrip("/"))
    if not name or name in (".", ".."):
        raise MalformedSysfs(path, f"link target {describe_input(target)} names nothing")
    return name


def list_entries(path: str) -> tuple[str, ...]:
    """Sorted names in the directory ``path``; empty if it does not exist."""
    try:
        return tuple(sorted(os.listdir(path)))
    except _ABSENT:
        return ()


def resolve_link(root: str, link_path: str, link_dir: str) -> str | None:
    """Where the symlink at ``link_path`` points, as a normalised path under ``root``.

    ``link_dir`` is the real (symlink-free below ``root``) directory holding the
    link; relative targets are taken from there, as the kernel does. Nothing but
    the link itself is read. None if the link does not exist.
    """
    target = read_link(link_path)
    if target is None:
        return None
    resolved = os.path.normpath(os.path.join(link_dir, target))
    top = os.path.normpath(root)
    try:
        inside = os.path.commonpath([top, resolved]) == top
    except ValueError:  # one absolute, one relative
        inside = False
    if not inside:
        raise MalformedSysfs(link_path, f"link {describe_input(target)} leaves {top}")
    return resolved


def real_pci_device_dir(root: str, address: str) -> str | None:
    """Real directory of a PCI function (``<root>/devices/pci.../<address>``), or None."""
    return resolve_link(root, pci_device_path(root, address), pci_devices_dir(root))
