"""Per-device and store-wide locks of the amd-host-device plugin (``flock`` on files).

Lock files live in ``<state root>/locks/``: ``<device id>.lock`` per device (``0000:03:00.0.lock``)
and ``.store.lock`` for the store (a device ID starts with a letter or digit, so the names cannot
collide). flock is tied to the open file, so a plugin process that dies, even by SIGKILL, releases
its locks with it, and two opens in one process exclude each other like two processes do. Lock
files are never deleted: unlinking a lock file while another process waits on it would let two
processes "hold" different inodes of the same name. There is one small file per device ever seen.

Lock files are never written to: they are opened read-only (flock needs no write access), never
truncated, never followed through a symlink, and refused when hard-linked, so no lock path can
ever damage another file. Who holds a lock is read from ``/proc/locks`` when a wait times out.

Locks are not reentrant: taking the same lock twice in one process waits for itself until the
timeout. A forked child shares its parent's held lock (same open file); exec drops it (O_CLOEXEC).

Use: ``with DeviceLock(root, "0000:03:00.0", timeout_s=10): ...`` around everything that looks at
or changes one device. GC takes ``StoreLock(root, t)`` (exclusive) while it scans the store; ADD
holds ``StoreLock(root, t, shared=True)`` from start to end, so a GC never scans while an ADD is
between writing its record and handing its result to the runtime (that attachment is in no list of
valid ones yet). DEL needs no store lock: it only undoes, under the device lock, and GC loads each
record again under that lock before it acts. Order: the store lock before any device lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

from .names import device_id_problem
from .securedir import StateError, UnsafePath, checked_name, normalize_root, open_secure_root, open_secure_subdir, unsafe_reason

class LockTimeout(StateError):
    """A lock was not acquired within its timeout; ``holder_pid`` is advisory (may be None)."""

    def __init__(
        self, what: str, path: str, waited_s: float, holder_pid: int | None,
        device_id: str | None = None,
    ) -> None:
        holder = f"held by pid {holder_pid}" if holder_pid is not None else "holder unknown"
        super().__init__(f"timed out after {waited_s:.3f}s waiting for {what} ({path}); {holder}", path)
        self.device_id = device_id
        self.waited_s = waited_s
        self.holder_pid = holder_pid


LOCKS_DIR = "locks"
LOCK_SUFFIX = ".lock"
STORE_LOCK_NAME = ".store.lock"

# Waiting is a LOCK_NB poll against a monotonic deadline, backing off from 1 ms to 10 ms. The
# alternative, a blocking flock cut short by SIGALRM, only works on the main thread, takes over the
# process-wide SIGALRM handler and interval timer (which a library must not touch), and races the
# timer against a flock that has just succeeded. The poll bounds the wait to the deadline plus at
# most one interval, works in any thread, and costs at most 10 ms of latency when a device is
# actually contended — rare, as a device belongs to one attachment at a time. It is not fair
# (no FIFO among waiters), which is fine for that level of contention.
_POLL_FIRST_S = 0.001
_POLL_MAX_S = 0.01


class _FileLock:
    """flock held on ``<root>/locks/<name>`` for the duration of a ``with`` block."""

    def __init__(
        self, root: str, name: str, what: str, timeout_s: float, *, exclusive: bool,
        device_id: str | None,
    ) -> None:
        if not (isinstance(timeout_s, (int, float)) and 0 <= timeout_s < float("inf")):  # NaN fails too
            raise ValueError(f"lock timeout must be a finite number >= 0, got {timeout_s!r}")
        self.root = normalize_root(root)
        self.path = os.path.join(self.root, LOCKS_DIR, name)
        self.timeout_s = float(timeout_s)
        self.exclusive = exclusive
        self._name = name
        self._what = what
        self._device_id = device_id
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> _FileLock:
        if self._fd is not None:
            raise RuntimeError(f"{self._what} is already held by this object")
        fd = self._open_lock_file()
        try:
            self._wait_for(fd)
        except BaseException:
            os.close(fd)  # releases the flock too, if it was taken
            raise
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # releases the flock

    def _open_lock_file(self) -> int:
        root_fd = open_secure_root(self.root, create=True)
        assert root_fd is not None
        try:
            locks_fd = open_secure_subdir(root_fd, self.root, LOCKS_DIR, create=True)
            assert locks_fd is not None
        finally:
            os.close(root_fd)
        flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self._name, flags, 0o600, dir_fd=locks_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePath(f"refusing lock file {self.path}: it is a symlink", self.path) from exc
            raise StateError(f"cannot open lock file {self.path}: {exc.strerror}", self.path) from exc
        finally:
            os.close(locks_fd)
        st = os.fstat(fd)
        problem = unsafe_reason(st, directory=False)
        if problem is None and st.st_nlink != 1:
            problem = f"hard-linked ({st.st_nlink} links)"
        if problem:
            os.close(fd)
            raise UnsafePath(f"refusing lock file {self.path}: it is {problem}", self.path)
        return fd

    def _wait_for(self, fd: int) -> None:
        operation = (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        start = time.monotonic()
        deadline = start + self.timeout_s
        interval = _POLL_FIRST_S
        while True:
            try:
                fcntl.flock(fd, operation)
                return
            except BlockingIOError:
                pass
            now = time.monotonic()
            if now >= deadline:
                raise LockTimeout(
                    self._what, self.path, now - start, _holder_pid(fd), self._device_id
                )
            time.sleep(min(interval, deadline - now))
            interval = min(interval * 2, _POLL_MAX_S)


def _holder_pid(fd: int) -> int | None:
    """A process holding a flock on ``fd``'s file, from /proc/locks (advisory, for messages)."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", "rb") as f:
            table = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:16039947 0 EOF": holder pid, then maj:min:inode
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        words = line.split()
        if len(words) >= 6 and words[1] == "FLOCK" and words[5] == wanted and words[4].isdigit():
            return int(words[4])
    return None


class DeviceLock(_FileLock):
    """Exclusive lock on one device, named by its stable identity (e.g. PCI ``0000:03:00.0``).

    Raises InvalidName for an ID ``device_id_problem`` refuses, UnsafePath for a
    symlinked/foreign lock directory or file, LockTimeout if not acquired within ``timeout_s``.
    """

    def __init__(self, root: str, device_id: str, timeout_s: float) -> None:
        checked_name(device_id, device_id_problem, "device ID")
        super().__init__(
            root, device_id + LOCK_SUFFIX, f"the lock on device {device_id}", timeout_s,
            exclusive=True, device_id=device_id,
        )
        self.device_id = device_id

    def __enter__(self) -> DeviceLock:
        super().__enter__()
        return self


class StoreLock(_FileLock):
    """Store-wide lock: exclusive for scans that must see a still store (GC), shared otherwise."""

    def __init__(
        self, root: str, timeout_s: float = 10.0, *, shared: bool = False
    ) -> None:
        what = "the shared store lock" if shared else "the exclusive store lock"
        super().__init__(root, STORE_LOCK_NAME, what, timeout_s, exclusive=not shared, device_id=None)

    def __enter__(self) -> StoreLock:
        super().__enter__()
        return self
