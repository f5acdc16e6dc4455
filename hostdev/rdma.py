"""RDMA devices over our own RDMA netlink (``NETLINK_RDMA``, device client ``RDMA_NL_NLDEV``).

An :class:`RdmaHandle` owns one RDMA netlink socket created *inside* its namespace. The kernel
lists and looks devices up in the socket's netns (in exclusive mode a device is visible only
there), and a move additionally requires the device to be in the *calling thread's* netns. So
:meth:`RdmaHandle.move_device` runs inside the handle's netns, and :func:`move_device_back`
does the whole return trip from inside the pod. Each method names the ``rdma`` command it equals.

A kernel without RDMA refuses the socket with EPROTONOSUPPORT: that is :class:`RdmaUnavailable`,
which :func:`rdma_available` / :meth:`RdmaHandle.open_if_available` turn into a plain answer.
"""

from __future__ import annotations

import errno

from hostdev._netlink.socket import SocketOwner
from hostdev._netlink.wire import NETLINK_RDMA
from hostdev.errors import NetlinkError
from hostdev.netns import NetNS, entered, socket_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    from hostdev._netlink.rdma_codec import NetnsModeName, RdmaDevice, RdmaPort, RdmaSystem
    from hostdev._netlink.socket import NetlinkSocket
else:
    from hostdev._record import NamedTuple


def rdma_available(netns: NetNS | None = None) -> bool:
    """Does this kernel have an RDMA subsystem? One socket() call (which may autoload ib_core).

    The RDMA codec is not imported for this: on a node without RDMA, which is where most CNI
    calls run, the answer costs one system call. (Hence the codec imports inside the methods
    below: they run once a handle exists, i.e. once RDMA is known to be there.)
    """
    try:
        socket_in(netns, NETLINK_RDMA).close()
    except OSError as exc:
        if exc.errno == errno.EPROTONOSUPPORT:
            return False
        raise
    return True


class NetdevRdma(NamedTuple):
    """The RDMA side of one netdev: the subsystem's netns mode (``exclusive``: an RDMA device is
    visible only in its own netns and must follow its netdev; ``shared``: visible everywhere)
    and the RDMA devices with a port bound to the netdev."""

    mode: str
    devices: tuple[str, ...]


def netdev_rdma(ifindex: int, netns: NetNS | None = None) -> NetdevRdma | None:
    """``rdma system show`` and ``rdma link show`` for the netdev ``ifindex`` of ``netns`` (None:
    the caller's); None when the kernel has no RDMA subsystem."""
    if not rdma_available(netns):
        return None
    with RdmaHandle(netns) as handle:
        mode = str(handle.system().netns_mode)
        return NetdevRdma(mode, tuple(d.name for d in rdma_devices_of_netdev(handle, ifindex=ifindex)))


def _open_socket(netns: NetNS | None) -> NetlinkSocket:
    """An RDMA netlink socket bound for life to ``netns`` (None: the calling thread's)."""
    try:
        return socket_in(netns, NETLINK_RDMA)
    except OSError as exc:
        if exc.errno == errno.EPROTONOSUPPORT:
            from hostdev.rdma_errors import RdmaUnavailable

            raise RdmaUnavailable(f"socket(AF_NETLINK, SOCK_RAW, NETLINK_RDMA): {exc.strerror}") from exc
        raise


class RdmaHandle(SocketOwner):
    """RDMA netlink in one namespace: ``RdmaHandle()`` is the caller's, ``RdmaHandle(ns)`` another's.

    Raises :class:`RdmaUnavailable` when the kernel has no RDMA. Not thread-safe.
    """

    def __init__(self, netns: NetNS | None = None) -> None:
        self.netns = netns
        self.sock: NetlinkSocket = _open_socket(netns)

    @classmethod
    def open_if_available(cls, netns: NetNS | None = None) -> RdmaHandle | None:
        """A handle, or None when the kernel has no RDMA subsystem."""
        from hostdev.rdma_errors import RdmaUnavailable

        try:
            return cls(netns)
        except RdmaUnavailable:
            return None

    # --- devices ---
    def devices(self) -> list[RdmaDevice]:
        """``rdma dev show``: the devices visible from this handle's netns."""
        from hostdev._netlink import rdma_codec as codec

        return self.sock.dump(codec.DEV_GET.type, codec.dump_devices_body(), codec.DEV_GET.request("dump"), codec.decode_device)

    def device(self, *, index: int | None = None, name: str | None = None) -> RdmaDevice:
        """``rdma dev show DEV``, by index or name; RdmaDeviceNotFound if not visible here."""
        from hostdev import rdma_errors
        from hostdev._netlink import rdma_codec as codec

        if (index is None) == (name is None):
            raise ValueError("device(): give exactly one of index= or name=")
        if name is not None:
            # The kernel looks devices up by index only: find the name in a dump.
            for dev in self.devices():
                if dev.name == name:
                    return dev
            raise rdma_errors.RdmaDeviceNotFound(f"no RDMA device named {name!r} is visible from this network namespace")
        assert index is not None
        body = codec.get_device_body(index)
        try:
            found = self.sock.request(codec.DEV_GET.type, body, codec.DEV_GET.request(f"index={index}"), decode=codec.decode_device)
        except NetlinkError as exc:
            raise rdma_errors.explain_lookup_error(exc, index) from exc
        if not found:
            raise rdma_errors.RdmaDeviceNotFound(f"no reply for RDMA device index {index}")
        return found[0]

    def find_device(self, *, index: int | None = None, name: str | None = None) -> RdmaDevice | None:
        from hostdev import rdma_errors

        try:
            return self.device(index=index, name=name)
        except rdma_errors.RdmaDeviceNotFound:
            return None

    # --- ports ---
    def ports(self, dev_index: int | None = None) -> list[RdmaPort]:
        """``rdma link show`` (of one device, or of every device visible here)."""
        from hostdev import rdma_errors

        if dev_index is not None:
            return self._ports_of(dev_index)
        found: list[RdmaPort] = []
        for dev in self.devices():
            try:
                found += self._ports_of(dev.index)
            except rdma_errors.RdmaDeviceNotFound:
                continue  # moved or removed between the two dumps
        return found

    def port(self, dev_index: int, port_index: int) -> RdmaPort:
        """``rdma link show DEV/PORT``"""
        from hostdev import rdma_errors
        from hostdev._netlink import rdma_codec as codec

        body = codec.get_port_body(dev_index, port_index)
        what = codec.PORT_GET.request(f"index={dev_index} port={port_index}")
        try:
            found = self.sock.request(codec.PORT_GET.type, body, what, decode=codec.decode_port)
        except NetlinkError as exc:
            raise rdma_errors.explain_lookup_error(exc, dev_index) from exc
        if not found:
            raise rdma_errors.RdmaDeviceNotFound(f"no reply for RDMA device index {dev_index} port {port_index}")
        return found[0]

    def _ports_of(self, dev_index: int) -> list[RdmaPort]:
        from hostdev import rdma_errors
        from hostdev._netlink import rdma_codec as codec

        body = codec.dump_ports_body(dev_index)
        what = codec.PORT_GET.request(f"dump index={dev_index}")
        try:
            return self.sock.dump(codec.PORT_GET.type, body, what, codec.decode_port)
        except NetlinkError as exc:
            raise rdma_errors.explain_lookup_error(exc, dev_index) from exc

    # --- system ---
    def system(self) -> RdmaSystem:
        """``rdma system show``"""
        from hostdev._netlink import rdma_codec as codec

        found = self.sock.request(codec.SYS_GET.type, codec.sys_get_body(), codec.SYS_GET.request(), decode=codec.decode_system)
        if not found:
            raise NetlinkError(errno.ENODATA, "RDMA_NLDEV_CMD_SYS_GET", "the kernel sent no reply before its ACK")
        return found[0]

    def set_netns_mode(self, mode: NetnsModeName | int) -> None:
        """``rdma system set netns exclusive|shared``; RdmaNetnsModeBusy while other netns exist."""
        from hostdev import rdma_errors
        from hostdev._netlink import rdma_codec as codec

        body = codec.set_netns_mode_body(mode)
        what = codec.SYS_SET.request(f"netns={('exclusive', 'shared')[codec.netns_mode_value(mode)]}")  # 0, 1
        try:
            self.sock.request(codec.SYS_SET.type, body, what)
        except NetlinkError as exc:
            raise rdma_errors.explain_mode_error(exc) from exc

    # --- changes to one device ---
    def move_device(self, index: int, target: NetNS) -> None:
        """``rdma dev set DEV netns NS``: move device ``index`` from this handle's netns to ``target``.

        The calling thread enters this handle's netns for the request (the kernel wants the
        device in the caller's netns too). Index and name stay the same in the target.
        """
        from hostdev import rdma_errors
        from hostdev._netlink import rdma_codec as codec

        body = codec.move_device_body(index, target.fd)
        what = codec.DEV_SET.request(f"index={index} netns={target.path}")
        try:
            if self.netns is None:
                self.sock.request(codec.DEV_SET.type, body, what)
            else:
                with entered(self.netns):
                    self.sock.request(codec.DEV_SET.type, body, what)
        except NetlinkError as exc:
            raise rdma_errors.explain_move_error(exc, index) from exc

    def rename_device(self, index: int, name: str) -> None:
        """``rdma dev set DEV name NEW``"""
        from hostdev import rdma_errors
        from hostdev._netlink import rdma_codec as codec

        body = codec.rename_device_body(index, name)
        try:
            self.sock.request(codec.DEV_SET.type, body, codec.DEV_SET.request(f"index={index} name={name}"))
        except NetlinkError as exc:
            raise rdma_errors.explain_rename_error(exc, index) from exc


def move_device_back(device: int | str, pod: NetNS, host: NetNS) -> None:
    """Return an RDMA device (index or name, as seen in the pod) from ``pod`` to ``host``.

    Done from inside the pod: this thread enters ``pod``, opens the socket there, looks the
    device up there and asks for the move toward ``host``'s fd, then comes back.
    """
    if isinstance(device, bool) or not isinstance(device, (int, str)):
        raise TypeError(f"device must be an index or a name, not {device!r}")
    with entered(pod):
        with RdmaHandle() as inside:
            index = device if isinstance(device, int) else inside.device(name=device).index
            inside.move_device(index, host)


def rdma_devices_of_pci(bdf: str, sysfs_root: str = "/sys") -> tuple[str, ...]:
    """Names in ``<sysfs_root>/bus/pci/devices/<BDF>/infiniband/``, sorted.

    sysfs is netns-tagged: in exclusive mode this lists only the devices in the netns of the
    process that mounted that sysfs. Soft devices (rxe, siw) have no PCI parent: use
    :func:`rdma_devices_of_netdev`. Raises the ``hostdev._sysfs`` errors (no such function).
    """
    from hostdev._sysfs.pci_function import read_pci_function

    return read_pci_function(bdf, sysfs_root).rdma_devices


def rdma_devices_of_netdev(handle: RdmaHandle, *, ifindex: int | None = None, name: str | None = None) -> list[RdmaDevice]:
    """RDMA devices with a port bound to the netdev ``ifindex`` or ``name`` of ``handle``'s netns.

    Uses the port's netdev binding (``RDMA_NLDEV_ATTR_NDEV_INDEX``), which the kernel reports
    only when that netdev is in the handle's netns.
    """
    from hostdev import rdma_errors

    if (ifindex is None) == (name is None):
        raise ValueError("rdma_devices_of_netdev(): give exactly one of ifindex= or name=")
    matches: list[RdmaDevice] = []
    for dev in handle.devices():
        try:
            ports = handle.ports(dev.index)
        except rdma_errors.RdmaDeviceNotFound:
            continue  # moved or removed since the dump
        if any((p.netdev_index == ifindex) if ifindex is not None else (p.netdev_name == name) for p in ports):
            matches.append(dev)
    return matches
