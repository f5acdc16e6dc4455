"""Per-interface IP sysctls — ``net/ipv4/conf/<if>/`` and ``net/ipv6/conf/<if>/`` — in any netns.

Why procfs and not netlink, family by family (neighbour-table parameters, the third per-interface
family, go over netlink: see :mod:`hostdev._netlink.rtnl_neigh`):

* **IPv6** has no choice: ``inet6_set_link_af`` (net/ipv6/addrconf.c) accepts only
  ``IFLA_INET6_TOKEN`` and ``IFLA_INET6_ADDR_GEN_MODE``. Its read side, ``IFLA_INET6_CONF`` in a
  link dump, reports times in ms where the files count seconds, and leaves ``stable_secret``
  out — reading the files keeps what we read and what we write the same thing.
* **IPv4** could be written with ``IFLA_AF_SPEC``/``AF_INET``/``IFLA_INET_CONF`` in an
  ``RTM_NEWLINK``: ``inet_validate_link_af`` only checks each id is within
  ``1..IPV4_DEVCONF_MAX`` and 4 bytes long, then ``inet_set_link_af`` stores each value raw
  (``ipv4_devconf_set``). That skips everything ``sysctl -w`` does through
  ``devinet_conf_proc``/``devinet_sysctl_forward``: ``forwarding`` turning off LRO on the device
  and announcing ``RTM_NEWNETCONF``; the netconf announcements of ``rp_filter``,
  ``proxy_arp``… that routing daemons listen for; the route-cache flush of ``accept_local``,
  ``route_localnet`` and ``bc_forwarding``; and it would write ``mc_forwarding``, which is
  read-only to everyone else (the multicast router owns it). The files also name every
  writable value the running kernel has — no table of ``IPV4_DEVCONF_*`` names that could fall
  behind it (``ARPFILTER`` is ``arp_filter``, ``NOXFRM`` is ``disable_xfrm``…).

``/proc/sys/net`` shows the network namespace of the thread that opens the file (the lookup
uses ``current->nsproxy->net_ns``), so a namespace other than the caller's is read and written
from inside it, on this thread, through :func:`hostdev.netns.entered`. A file opened there keeps
pointing into that namespace.

Values are kept as the kernel prints them (without the newline) and written back as such.
"""

from __future__ import annotations

import errno
import os

from hostdev._record import record
from hostdev.netns import NetNS, entered

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

FAMILIES = ("ipv4", "ipv6")
PROC_SYS_NET = "/proc/sys/net"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_READ_LIMIT = 4096
_S_IWUSR = 0o200


@record
class RefusedSetting:
    """A value the kernel would not take (or not keep): the setting in ``sysctl`` spelling,
    the value we wanted, and why."""

    setting: str  # e.g. "net.ipv4.conf.eth1.rp_filter"
    value: str
    reason: str


def sysctl_name(family: str, ifname: str, name: str, kind: str = "conf") -> str:
    """``net.ipv4.conf.eth1.rp_filter``; a dot in an interface name is ``/`` to sysctl(8)."""
    return f"net.{family}.{kind}.{ifname.replace('.', '/')}.{name}"


def _conf_dir(family: str, ifname: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown sysctl family {family!r} (expected one of {FAMILIES})")
    raw = ifname.encode("utf-8", "surrogateescape")
    if not raw or len(raw) >= 16 or ifname in (".", "..") or "/" in ifname or "\0" in ifname:
        raise ValueError(f"invalid interface name {ifname[:32]!r}")
    return f"{PROC_SYS_NET}/{family}/conf/{ifname}"


def _check_setting(name: str) -> None:
    # Names come from the kernel's own directory listing or a record we wrote; checked anyway, so
    # that a name can never step out of the interface's directory.
    if not name or not _NAME_CHARS.issuperset(name):
        raise ValueError(f"invalid sysctl name {name[:64]!r}")


def interface_sysctls(
    family: str, ifname: str, netns: NetNS | None = None, names: Iterable[str] | None = None
) -> dict[str, str]:
    """``sysctl net.ipv4.conf.IF`` (or ``net.ipv6.conf.IF``): every *writable* value of the
    interface, by file name, as the kernel prints it.

    ``{}`` when the interface has no such configuration: no interface of that name, or none of
    that family (IPv6 is absent below 1280 bytes of MTU, IPv4 below 68). A value that cannot be
    read is left out: ``stable_secret`` answers EIO until one is set. ``netns``: None is the
    calling thread's namespace. ``names``: only these (``sysctl net.ipv6.conf.IF.mtu``).
    """
    path = _conf_dir(family, ifname)
    wanted = None if names is None else list(names)
    for name in wanted or ():
        _check_setting(name)
    if netns is None:
        return _read_dir(path, wanted)
    with entered(netns):
        return _read_dir(path, wanted)


def _read_dir(path: str, names: list[str] | None) -> dict[str, str]:
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    try:
        for name in os.listdir(dir_fd) if names is None else names:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
            except OSError:
                continue  # gone, or not readable: nothing of it to keep
            try:
                if not os.fstat(fd).st_mode & _S_IWUSR:
                    continue  # read-only (mc_forwarding): the kernel's, not a setting
                text = os.read(fd, _READ_LIMIT)
            except OSError:
                continue  # EIO: stable_secret not set
            finally:
                os.close(fd)
            values[name] = text.decode("utf-8", "surrogateescape").rstrip("\n")
    finally:
        os.close(dir_fd)
    return values


def set_interface_sysctls(
    family: str, ifname: str, values: Iterable[tuple[str, str]], netns: NetNS | None = None
) -> list[RefusedSetting]:
    """``sysctl -w net.ipv4.conf.IF.NAME=VALUE …``, one write per value, in the given order.

    A write the kernel refuses does not stop the others: it is returned, with the kernel's
    reason. ``netns``: None is the calling thread's namespace.
    """
    path = _conf_dir(family, ifname)
    pairs = list(values)
    for name, _value in pairs:
        _check_setting(name)
    if netns is None:
        return _write_values(path, family, ifname, pairs)
    with entered(netns):
        return _write_values(path, family, ifname, pairs)


def _write_values(path: str, family: str, ifname: str, pairs: list[tuple[str, str]]) -> list[RefusedSetting]:
    refused: list[RefusedSetting] = []
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        reason = f"no {path}" if exc.errno == errno.ENOENT else (exc.strerror or str(exc))
        return [RefusedSetting(sysctl_name(family, ifname, n), v, reason) for n, v in pairs]
    try:
        for name, value in pairs:
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=dir_fd)
                try:
                    os.write(fd, value.encode("utf-8", "surrogateescape"))
                finally:
                    os.close(fd)
            except OSError as exc:
                refused.append(RefusedSetting(sysctl_name(family, ifname, name), value, exc.strerror or str(exc)))
    finally:
        os.close(dir_fd)
    return refused
