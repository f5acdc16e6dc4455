"""Persisted per-attachment state of the amd-host-device plugin.

DEL must work even when the pod's netns is gone or the runtime calls it twice, so ADD writes down
what it did (which device, its original name and settings) and DEL reads it back.

Layout under the state root (default ``/var/lib/cni/amd-host-device``)::

    <root>/                                  0700, owned by us
    <root>/networks/<network>/               0700, one directory per CNI network name
    <root>/networks/<network>/<containerid>:<ifname>.json     one file per attachment
    <root>/locks/                            lock files, see lock.py

The separator is ``:``: container IDs are ``[A-Za-z0-9][A-Za-z0-9_.-]*`` and interface names may not
contain ``:`` (the kernel forbids it), so ``<containerid>:<ifname>`` splits at its only colon.
Networks live under ``networks/`` so that no network name can collide with ``locks/``. Temp files
start with ``.`` (a container ID never does) and set-aside copies end in ``.corrupt-<ns>``
(never in ``.json``), so neither can be mistaken for a state file.

File content (indent=2, sorted keys)::

    {"attachment": {"container_id": ..., "ifname": ..., "network": ...},
     "record": {...plugin-defined..., "device": {"id": "<stable device identity>", ...}},
     "version": 1}

Contract with the plugin: a record is JSON data (dict with str keys) and must contain
``record["device"]["id"]``, the device's stable identity (PCI address, e.g. ``0000:03:00.0``), which
``find_by_device`` matches so the plugin can tell whether a device is held by another attachment.

Every directory and file is opened and checked through :mod:`hostdev.cni.securedir` (shared with
the locks): a symlink, a file not ours or one others can write is refused (UnsafePath), or set
aside (CorruptState) when it is a state file. The CNI spec forbids parallel operations for the same container, so per-attachment files need no
lock of their own; devices and whole-store scans are serialised by lock.py.
"""

from __future__ import annotations

import errno
from hostdev import _json as json
import os
import stat
import time
from hostdev.cni.names import container_id_problem, device_id_problem, interface_name_problem, network_name_problem
from hostdev.cni.securedir import InvalidName as InvalidName
from hostdev.cni.securedir import StateError as StateError
from hostdev.cni.securedir import UnsafePath as UnsafePath
from hostdev.cni.securedir import checked_name, normalize_root, open_secure_root, open_secure_subdir, unsafe_reason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import NamedTuple
else:
    from hostdev._record import NamedTuple

STATE_VERSION = 1
DEFAULT_STATE_DIR = "/var/lib/cni/amd-host-device"  # the plugin's stateDir unless configured
NETWORKS_DIR = "networks"
STATE_SUFFIX = ".json"
TEMP_PREFIX = ".tmp-"
CORRUPT_INFIX = ".corrupt-"
# A record is a few hundred bytes; anything this big is not ours.
MAX_STATE_FILE_BYTES = 1 << 20

# The names the store takes, and their lengths, are hostdev/cni/names.py's: the same limits the
# protocol checks up front, chosen so "<containerid>:<ifname>.json.corrupt-<19 digits>" fits NAME_MAX.


# --- errors -------------------------------------------------------------------------------------


class InvalidRecord(StateError, ValueError):
    """A record the store refuses to write (not JSON data, or no ``device.id``)."""


class UnsupportedStateVersion(StateError):
    """A state file written by a newer plugin; it is left in place untouched."""

    def __init__(self, path: str, version: int) -> None:
        super().__init__(
            f"state file {path} has version {version}, this plugin understands only up to "
            f"{STATE_VERSION}; was the plugin downgraded?",
            path,
        )
        self.version = version


class CorruptState(StateError):
    """A state file that could not be trusted; it was renamed to ``set_aside_path`` and kept.

    ``set_aside_path`` is None only if the file vanished before it could be moved (another
    process set it aside first). Either way the plugin must find the device by its identity.
    """

    def __init__(
        self, key: AttachmentKey, path: str, set_aside_path: str | None, reason: str
    ) -> None:
        where = f"set aside as {set_aside_path}" if set_aside_path else "vanished before set-aside"
        super().__init__(f"corrupt state file {path}: {reason} ({where})", path)
        self.key = key
        self.set_aside_path = set_aside_path
        self.reason = reason


# --- names --------------------------------------------------------------------------------------


def validate_network_name(name: object) -> str:
    """CNI network name (the spec's charset, as libcni checks it)."""
    return checked_name(name, network_name_problem, "network name")


def validate_container_id(container_id: object) -> str:
    """CNI container ID (same charset as the network name)."""
    return checked_name(container_id, container_id_problem, "container ID")


def validate_device_id(device_id: object) -> str:
    """Stable device identity (PCI address ``0000:03:00.0``, auxiliary device, ``netdev-<name>``)."""
    return checked_name(device_id, device_id_problem, "device ID")


def validate_ifname(ifname: object) -> str:
    """An interface name the plugin accepts (``CNI_IFNAME``'s rules)."""
    return checked_name(ifname, interface_name_problem, "interface name")


def _is_network_name(name: str) -> bool:
    return network_name_problem(name) is None


class AttachmentKey(NamedTuple):
    """Identity of one attachment: (CNI network name, container ID, interface name in the pod)."""

    network: str
    container_id: str
    ifname: str

    def validated(self) -> AttachmentKey:
        validate_network_name(self.network)
        validate_container_id(self.container_id)
        validate_ifname(self.ifname)
        return self

    def filename(self) -> str:
        """``<containerid>:<ifname>.json``, built only from validated parts."""
        self.validated()
        return f"{self.container_id}:{self.ifname}{STATE_SUFFIX}"

    @classmethod
    def from_filename(cls, network: str, name: str) -> AttachmentKey | None:
        """The key a state file name stands for, or None for anything else in the directory."""
        if not name.endswith(STATE_SUFFIX):
            return None
        container_id, colon, ifname = name[: -len(STATE_SUFFIX)].partition(":")
        if not colon:
            return None
        try:
            return cls(network, container_id, ifname).validated()
        except InvalidName:
            return None


class StoredRecord(NamedTuple):
    key: AttachmentKey
    record: dict[str, object]


class Scan(NamedTuple):
    """Everything readable in the store, plus the files found corrupt (already set aside)."""

    records: list[StoredRecord]
    corrupt: list[CorruptState]


# --- file content -------------------------------------------------------------------------------


class _Malformed(Exception):
    pass


def _device_id_of(record: object) -> str | None:
    device = record.get("device") if isinstance(record, dict) else None
    device_id = device.get("id") if isinstance(device, dict) else None
    return device_id if isinstance(device_id, str) else None


def _encode(key: AttachmentKey, record: dict[str, object]) -> bytes:
    if not isinstance(record, dict):
        raise InvalidRecord(f"record for {key} must be a dict, got {type(record).__name__}")
    device_id = _device_id_of(record)
    if device_id is None:
        raise InvalidRecord(f"record for {key} has no device.id string")
    try:
        validate_device_id(device_id)
    except InvalidName as exc:
        raise InvalidRecord(f"record for {key}: {exc}") from exc
    document = {"version": STATE_VERSION, "attachment": key._asdict(), "record": record}
    try:
        text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"record for {key} is not JSON data: {exc}") from exc
    return (text + "\n").encode("utf-8")


def _reject_constant(name: str) -> object:
    raise _Malformed(f"non-JSON number {name}")


def _decode(key: AttachmentKey, path: str, data: bytes) -> dict[str, object]:
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise _Malformed(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except (ValueError, RecursionError) as exc:
        raise _Malformed(f"not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise _Malformed(f"top level is a {type(document).__name__}, not an object")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Malformed(f"missing or invalid version {version!r}")
    if version > STATE_VERSION:
        raise UnsupportedStateVersion(path, version)
    if set(document) != {"version", "attachment", "record"}:
        raise _Malformed(f"unexpected top-level fields {sorted(document)}")
    if document["attachment"] != key._asdict():
        raise _Malformed(f"attachment {document['attachment']!r} does not match the file name")
    record = document["record"]
    device_id = _device_id_of(record)
    if device_id is None:
        raise _Malformed("record has no device.id string")
    try:
        validate_device_id(device_id)
    except InvalidName as exc:
        raise _Malformed(str(exc)) from exc
    assert isinstance(record, dict)
    return record


def _file_problem(st: os.stat_result) -> str | None:
    problem = unsafe_reason(st, directory=False)
    if problem:
        return problem
    if st.st_size > MAX_STATE_FILE_BYTES:
        return f"too large ({st.st_size} bytes)"
    return None


def _read_all(fd: int, limit: int) -> bytes:
    chunks = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fs_error(action: str, path: str, exc: OSError) -> StateError:
    return StateError(f"cannot {action} {path}: {exc.strerror}", path)


# --- the store ----------------------------------------------------------------------------------


class StateStore:
    """One JSON file per attachment under ``root``; see the module docstring for layout and rules."""

    __slots__ = ("root",)

    def __init__(self, root: str = DEFAULT_STATE_DIR) -> None:
        self.root = normalize_root(root)

    def path_of(self, key: AttachmentKey) -> str:
        return os.path.join(self.root, NETWORKS_DIR, key.network, key.filename())

    def _networks_dir(self, *, create: bool) -> int | None:
        root_fd = open_secure_root(self.root, create=create)
        if root_fd is None:
            return None
        try:
            return open_secure_subdir(root_fd, self.root, NETWORKS_DIR, create=create)
        finally:
            os.close(root_fd)

    def _network_dir(self, network: str, *, create: bool) -> int | None:
        networks_fd = self._networks_dir(create=create)
        if networks_fd is None:
            return None
        try:
            networks_path = os.path.join(self.root, NETWORKS_DIR)
            return open_secure_subdir(networks_fd, networks_path, network, create=create)
        finally:
            os.close(networks_fd)

    def save(self, key: AttachmentKey, record: dict[str, object], *, sync_dir: bool = True) -> str:
        """Atomically replace the attachment's state; returns the file's path.

        Temp file (O_EXCL|O_NOFOLLOW, 0600) → write → fsync → rename over the target → fsync dir:
        a reader sees the old content or the new, never a mix, even across a crash. A symlink at
        the target is replaced, never written through.

        ``sync_dir=False`` leaves out the directory's fsync, for an update of a record that is
        already durable: the new content is on disk before the rename, so a power loss that
        loses the rename leaves the previous record, whole (what a crash just before this save
        would have left, which recovery handles); a process crash loses nothing either way.
        """
        name = key.filename()
        data = _encode(key, record)
        path = self.path_of(key)
        dir_fd = self._network_dir(key.network, create=True)
        assert dir_fd is not None
        temp = f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(temp, flags, 0o600, dir_fd=dir_fd)
            except OSError as exc:
                raise _fs_error("create a temp file for", path, exc) from exc
            try:
                os.fchmod(fd, 0o600)  # independent of the caller's umask
                _write_all(fd, data)
                os.fsync(fd)
            except OSError as exc:
                raise _fs_error("write", path, exc) from exc
            finally:
                os.close(fd)
            try:
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                if sync_dir:
                    os.fsync(dir_fd)
            except OSError as exc:
                raise _fs_error("rename a temp file over", path, exc) from exc
        except BaseException:
            try:
                os.unlink(temp, dir_fd=dir_fd)
            except OSError:
                pass  # already renamed, or never created
            raise
        finally:
            os.close(dir_fd)
        return path

    def load(self, key: AttachmentKey) -> dict[str, object] | None:
        """The attachment's record, or None if there is none.

        Raises CorruptState (after setting the file aside) for anything untrustworthy, and
        UnsupportedStateVersion (file left in place) for a file from a newer plugin.
        """
        name = key.filename()
        dir_fd = self._network_dir(key.network, create=False)
        if dir_fd is None:
            return None
        try:
            return self._load_in(dir_fd, key, name)
        finally:
            os.close(dir_fd)

    def _load_in(self, dir_fd: int, key: AttachmentKey, name: str) -> dict[str, object] | None:
        path = self.path_of(key)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: FIFOs
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._set_aside(dir_fd, key, name, "is a symlink") from exc
            if exc.errno == errno.ENXIO:
                raise self._set_aside(dir_fd, key, name, "is a socket") from exc
            raise _fs_error("open", path, exc) from exc
        try:
            problem = _file_problem(os.fstat(fd))
            data = b"" if problem else _read_all(fd, MAX_STATE_FILE_BYTES)
        except OSError as exc:
            raise _fs_error("read", path, exc) from exc
        finally:
            os.close(fd)
        if problem is None and len(data) > MAX_STATE_FILE_BYTES:
            problem = "grew beyond the size limit while being read"
        if problem:
            raise self._set_aside(dir_fd, key, name, problem)
        try:
            return _decode(key, path, data)
        except _Malformed as exc:
            raise self._set_aside(dir_fd, key, name, str(exc)) from exc

    def _set_aside(self, dir_fd: int, key: AttachmentKey, name: str, reason: str) -> CorruptState:
        path = self.path_of(key)
        aside = f"{name}{CORRUPT_INFIX}{time.time_ns()}"
        try:
            # rename moves a symlink itself, never its target
            os.rename(name, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        except FileNotFoundError:
            return CorruptState(key, path, None, reason)
        except OSError as exc:
            raise StateError(
                f"corrupt state file {path} ({reason}) could not be set aside: {exc.strerror}", path
            ) from exc
        return CorruptState(key, path, os.path.join(os.path.dirname(path), aside), reason)

    def delete(self, key: AttachmentKey) -> bool:
        """Remove the attachment's state; True if a file was removed, False if there was none."""
        name = key.filename()
        dir_fd = self._network_dir(key.network, create=False)
        if dir_fd is None:
            return False
        try:
            os.unlink(name, dir_fd=dir_fd)  # removes a symlink itself, never its target
            os.fsync(dir_fd)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _fs_error("delete", self.path_of(key), exc) from exc
        finally:
            os.close(dir_fd)
        return True

    def _network_dirs(self, network: str | None) -> Iterator[tuple[str, int]]:
        """(name, fd) of each network directory, or of just ``network``; stray entries skipped."""
        networks_fd = self._networks_dir(create=False)
        if networks_fd is None:
            return
        networks_path = os.path.join(self.root, NETWORKS_DIR)
        try:
            if network is not None:
                names = [validate_network_name(network)]
            else:
                names = sorted(n for n in os.listdir(networks_fd) if _is_network_name(n))
            for net in names:
                try:
                    mode = os.stat(net, dir_fd=networks_fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if not (stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                    continue  # stray file; a symlink is refused by open_secure_subdir
                net_fd = open_secure_subdir(networks_fd, networks_path, net, create=False)
                if net_fd is None:
                    continue
                try:
                    yield net, net_fd
                finally:
                    os.close(net_fd)
        finally:
            os.close(networks_fd)

    def keys(self, network: str | None = None) -> list[AttachmentKey]:
        """Keys of all state files (of one network if given), sorted. Temp files, set-aside
        copies and other names are ignored; no content is read."""
        keys = []
        for net, net_fd in self._network_dirs(network):
            for name in os.listdir(net_fd):
                key = AttachmentKey.from_filename(net, name)
                if key is not None:
                    keys.append(key)
        return sorted(keys)

    def scan(self, network: str | None = None) -> Scan:
        """Load every record; corrupt files are set aside and reported in ``Scan.corrupt``.

        UnsupportedStateVersion propagates: a downgraded plugin must not act on (e.g. garbage-
        collect) state it cannot read.
        """
        records: list[StoredRecord] = []
        corrupt: list[CorruptState] = []
        # Each record is read in the network directory opened (and checked) once for all of them:
        # ``load`` per key would open the root, networks and network directories again per record.
        for net, net_fd in self._network_dirs(network):
            found = (AttachmentKey.from_filename(net, name) for name in os.listdir(net_fd))
            for key in sorted(key for key in found if key is not None):
                try:
                    record = self._load_in(net_fd, key, key.filename())
                except CorruptState as exc:
                    corrupt.append(exc)
                    continue
                if record is not None:  # None: deleted since the directory was listed
                    records.append(StoredRecord(key, record))
        return Scan(records, corrupt)

    def find_by_device(self, device_id: str) -> list[StoredRecord]:
        """Records whose ``device.id`` equals ``device_id``. Corrupt files met on the way are set
        aside and skipped; the caller must check the device itself anyway (see ``scan``)."""
        validate_device_id(device_id)
        return self.by_device().get(device_id, [])

    def by_device(self) -> dict[str, list[StoredRecord]]:
        """Every readable record by its ``device.id``, from one scan: for a caller with many
        devices to ask about (a PF's VFs), each ``find_by_device`` would read the whole store."""
        grouped: dict[str, list[StoredRecord]] = {}
        for found in self.scan().records:
            device_id = _device_id_of(found.record)
            if device_id is not None:
                grouped.setdefault(device_id, []).append(found)
        return grouped

    def purge_temp_files(self, older_than_s: float) -> int:
        """Remove temp files left by writers killed mid-save, if older than ``older_than_s`` (so
        that a save in flight is never disturbed); returns how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for _net, net_fd in self._network_dirs(None):
            for name in os.listdir(net_fd):
                if not name.startswith(TEMP_PREFIX):
                    continue
                try:
                    if os.stat(name, dir_fd=net_fd, follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(name, dir_fd=net_fd)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed
