"""Network namespaces: open and verify them, enter them on this thread, make sockets in them.

``setns``/``unshare`` come from a cffi ABI-mode module generated at install time (Python 3.11 has
no ``os.setns``). Both act on the calling *thread* only, which is exactly what we want: a netlink
socket belongs for life to the netns it was created in, so we step in, create the socket, step
out, and use the socket from wherever we are.
"""

from __future__ import annotations

import errno
import fcntl
import os
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from hostdev.errors import NetnsError

if TYPE_CHECKING:
    from hostdev._netlink.socket import NetlinkSocket

CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3), linux/nsfs.h
THREAD_NETNS = "/proc/thread-self/ns/net"  # /proc/self/ns/net is the main thread's, not ours
NETNS_RUN_DIR = "/run/netns"

_lib: Any = None


def _libc() -> Any:
    global _lib
    if _lib is None:
        from hostdev._netns_ffi import ffi  # generated at build time: see _netns_build.py

        _lib = ffi.dlopen(None)
    return _lib


def _ffi_errno() -> int:
    from hostdev._netns_ffi import ffi

    return int(ffi.errno)


class NetNS:
    """An open handle (fd) on a network namespace. The namespace lives at least as long as it."""

    __slots__ = ("fd", "path", "dev", "ino")

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path
        st = os.fstat(fd)
        self.dev = st.st_dev
        self.ino = st.st_ino

    @classmethod
    def from_path(cls, path: str) -> NetNS:
        """Open ``path`` and prove it is a network namespace (``NS_GET_NSTYPE``), else NetnsError."""
        try:
            # O_NONBLOCK: a FIFO or device given as "netns" must be refused, not waited on.
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise NetnsError(exc.errno, f"cannot open network namespace {path!r}: {exc.strerror}") from None
        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOTTY, errno.EINVAL):
                raise NetnsError(errno.EINVAL, f"{path!r} is not a namespace") from None
            raise NetnsError(exc.errno, f"cannot inspect {path!r}: {exc.strerror}") from None
        if kind != CLONE_NEWNET:
            os.close(fd)
            raise NetnsError(errno.EINVAL, f"{path!r} is a namespace, but not a network namespace")
        return cls(fd, path)

    @classmethod
    def from_name(cls, name: str, run_dir: str = NETNS_RUN_DIR) -> NetNS:
        """A namespace named by ``ip netns add NAME``."""
        if not name or name in (".", "..") or "/" in name or "\0" in name or len(name) > 255:
            raise NetnsError(errno.EINVAL, f"invalid netns name {name[:64]!r}")
        return cls.from_path(os.path.join(run_dir, name))

    @classmethod
    def from_pid(cls, pid: int) -> NetNS:
        if pid <= 0:
            raise NetnsError(errno.EINVAL, f"invalid pid {pid}")
        return cls.from_path(f"/proc/{pid}/ns/net")

    @classmethod
    def current(cls) -> NetNS:
        """The calling thread's namespace."""
        return cls.from_path(THREAD_NETNS)

    def same_as(self, other: NetNS) -> bool:
        return (self.dev, self.ino) == (other.dev, other.ino)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> NetNS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NetNS({self.path!r}, ino={self.ino})"


def open_netns(spec: str | int) -> NetNS:
    """A path (contains ``/``), a name under /run/netns, or a pid."""
    if isinstance(spec, int):
        return NetNS.from_pid(spec)
    if "/" in spec:
        return NetNS.from_path(spec)
    return NetNS.from_name(spec)


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    if _libc().setns(fd, nstype) != 0:
        code = _ffi_errno()
        raise NetnsError(code, f"setns: {os.strerror(code)}")


def unshare(flags: int) -> None:
    if _libc().unshare(flags) != 0:
        code = _ffi_errno()
        raise NetnsError(code, f"unshare: {os.strerror(code)}")


def _return_or_die(home: NetNS) -> None:
    try:
        setns(home.fd)
    except BaseException as exc:
        # Carrying on would run the rest of the program against the wrong namespace's devices.
        os.write(2, f"hostdev: FATAL: cannot return to network namespace {home.path}: {exc}\n".encode())
        os.abort()


def entered(target: NetNS) -> _Entered:
    """``with entered(target):`` runs the block with the calling thread inside ``target`` and
    always comes back.

    If the thread cannot return (which only a kernel or descriptor fault can cause), the process
    aborts rather than continue in the wrong namespace.
    """
    return _Entered(target)


class _Entered:
    # A class rather than @contextlib.contextmanager: contextlib costs the plugin ~1 ms of imports.
    __slots__ = ("_target", "_home")

    def __init__(self, target: NetNS) -> None:
        self._target = target
        self._home: NetNS | None = None

    def __enter__(self) -> None:
        home = NetNS.current()
        try:
            if not home.same_as(self._target):
                setns(self._target.fd)
                self._home = home  # closed on the way back
                return
        except BaseException:
            home.close()
            raise
        home.close()

    def __exit__(self, *exc: object) -> None:
        home, self._home = self._home, None
        if home is not None:
            try:
                _return_or_die(home)
            finally:
                home.close()


def socket_in(target: NetNS | None, protocol: int, groups: int = 0) -> NetlinkSocket:
    """A netlink socket bound for life to ``target`` (None: the calling thread's netns),
    receiving the events of the multicast ``groups`` it is given."""
    from hostdev._netlink.socket import NetlinkSocket

    if target is None:
        return NetlinkSocket(protocol, groups)
    with entered(target):
        return NetlinkSocket(protocol, groups)


def new_netns() -> NetNS:
    """A fresh, anonymous network namespace, alive as long as the returned handle (or a socket in it)."""
    home = NetNS.current()
    try:
        unshare(CLONE_NEWNET)
        try:
            return NetNS.current()
        finally:
            _return_or_die(home)
    finally:
        home.close()
