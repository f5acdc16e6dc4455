"""The node's own settings: where the plugin keeps state and may write logs.

The plugin runs as root, and the network configuration on stdin comes from a
NetworkAttachmentDefinition that a tenant may have written. So where files go is not the
configuration's to say: it is decided by the node's admin in one root-owned file, by default
``/etc/cni/amd-host-device.conf`` (``hostdev install --settings PATH`` bakes another path into
the launcher). The file is JSON::

    {"stateDir": "/var/lib/cni/amd-host-device", "logDir": "/var/log/amd-host-device"}

``stateDir`` (absolute; default ``/var/lib/cni/amd-host-device``)
    Attachment records and device locks, one node-wide place whatever a NAD says.
``logDir`` (absolute; default none)
    The one directory a NAD's ``logFile`` may name a file in. Without it a NAD cannot have a
    log file (lines still go to stderr, which the runtime keeps).

No file means the defaults. A file that is not a regular file owned by root (a symlink, a FIFO),
that others may write, that is not a JSON object, or that has an unknown key (a typo must not
silently mean "default") is refused: every command then fails with code 7 naming the file.
"""

from __future__ import annotations

import errno
import os
import stat

from hostdev._record import record

from .errors import INVALID_CONFIG, CniError
from .names import path_problem, shorten
from .state import DEFAULT_STATE_DIR

DEFAULT_SETTINGS_FILE = "/etc/cni/amd-host-device.conf"
MAX_SETTINGS_BYTES = 64 * 1024
_KEYS = ("stateDir", "logDir")


@record
class NodeSettings:
    path: str  # the file they came from (it may not exist: then these are the defaults)
    state_dir: str = DEFAULT_STATE_DIR
    log_dir: str | None = None


def load_node_settings(path: str = DEFAULT_SETTINGS_FILE) -> NodeSettings:
    """The settings in ``path``, the defaults if there is no such file; CniError(7) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return NodeSettings(path)
    except OSError as exc:
        reason = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise _refused(path, reason) from None
    try:
        st = os.fstat(fd)
        problem = _file_problem(st)
        if problem:
            raise _refused(path, problem)
        raw = os.read(fd, MAX_SETTINGS_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_SETTINGS_BYTES:
        raise _refused(path, f"it is larger than {MAX_SETTINGS_BYTES} bytes")
    return _parse(path, raw)


def _file_problem(st: os.stat_result) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid != 0:
        return f"it is owned by uid {st.st_uid}, not root"
    if st.st_mode & 0o022:
        return f"it is group- or world-writable (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _parse(path: str, raw: bytes) -> NodeSettings:
    from hostdev import _json as json

    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _refused(path, f"it is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _refused(path, "it is not a JSON object")
    unknown = sorted(k for k in data if k not in _KEYS)
    if unknown:
        raise _refused(path, f"unknown key(s) {', '.join(shorten(k) for k in unknown)}; known: {', '.join(_KEYS)}")
    state_dir = _directory(path, data, "stateDir") or DEFAULT_STATE_DIR
    return NodeSettings(path, state_dir=state_dir, log_dir=_directory(path, data, "logDir"))


def _directory(path: str, data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _refused(path, f"{key} must be a string")
    problem = path_problem(value, key)
    if problem is not None:
        raise _refused(path, f"{problem}: {shorten(value)}")
    normalized = os.path.normpath(value)
    if normalized == "/":
        raise _refused(path, f"{key} cannot be /")
    return normalized


def _refused(path: str, reason: str) -> CniError:
    return CniError(INVALID_CONFIG, f"node settings {path} refused", reason)


def log_file_in(settings: NodeSettings, requested: str) -> str | None:
    """The path of the NAD's ``logFile`` if it names a file directly in the node's log
    directory (as an absolute path or a bare file name), else None."""
    if settings.log_dir is None or len(requested) > 4095 or ".." in requested.split("/"):
        return None
    directory, name = os.path.split(requested)
    if directory and not directory.startswith("/"):
        return None  # relative with a directory part: not directly in the log directory
    if directory and os.path.normpath(directory) != settings.log_dir:
        return None
    if name in ("", ".", ".."):
        return None
    return os.path.join(settings.log_dir, name)
