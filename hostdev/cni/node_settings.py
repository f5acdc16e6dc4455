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
``apiServers`` (list of IP addresses; default none)
    The Kubernetes API server addresses this node talks to: the NIC that routes to one of them
    is never moved (see node_protection.py). The default route is protected either way.
``deny``, ``allow`` (objects of lists; default none)
    ``{"pci": ["0000:03:00.0"], "driver": ["e1000e"], "vendorDevice": ["8086:10d3"],
    "netdev": ["eno1"]}``: a device matching any ``deny`` entry is never moved; with an
    ``allow`` object, only a device matching one of its entries is.

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
_KEYS = ("stateDir", "logDir", "apiServers", "allow", "deny")
RULE_KINDS = ("pci", "driver", "vendorDevice", "netdev")


@record
class DeviceRules:
    """Devices named by PCI address, driver, vendor:device (lower-case hex) or netdev name."""

    pci: tuple[str, ...] = ()
    driver: tuple[str, ...] = ()
    vendor_device: tuple[str, ...] = ()
    netdev: tuple[str, ...] = ()


@record
class NodeSettings:
    path: str  # the file they came from (it may not exist: then these are the defaults)
    state_dir: str = DEFAULT_STATE_DIR
    log_dir: str | None = None
    api_servers: tuple[str, ...] = ()
    deny: DeviceRules = DeviceRules()
    allow: DeviceRules | None = None  # None: every device not denied


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
    allow = _rules(path, data, "allow")
    return NodeSettings(
        path, state_dir=state_dir, log_dir=_directory(path, data, "logDir"),
        api_servers=_addresses(path, data.get("apiServers")), deny=_rules(path, data, "deny") or DeviceRules(),
        allow=allow,
    )  # fmt: skip


def _strings(path: str, value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v and v.isprintable() for v in value):
        raise _refused(path, f"{what} must be a list of non-empty printable strings")
    return tuple(value)


def _addresses(path: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    import socket

    addresses = _strings(path, value, "apiServers")
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            socket.inet_pton(family, address)
        except OSError:
            raise _refused(path, f"apiServers: {shorten(address)} is not an IP address") from None
    return addresses


def _rules(path: str, data: dict[str, object], key: str) -> DeviceRules | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _refused(path, f"{key} must be an object with lists {', '.join(RULE_KINDS)}")
    unknown = sorted(k for k in value if k not in RULE_KINDS)
    if unknown:
        raise _refused(path, f"{key}: unknown kind(s) {', '.join(shorten(k) for k in unknown)}; known: {', '.join(RULE_KINDS)}")
    lists = {kind: _strings(path, value.get(kind, []), f"{key}.{kind}") for kind in RULE_KINDS}
    for entry in lists["vendorDevice"]:
        vendor, colon, device = entry.partition(":")
        if not colon or not all(len(part) == 4 and all(c in "0123456789abcdefABCDEF" for c in part) for part in (vendor, device)):
            raise _refused(path, f"{key}.vendorDevice: {shorten(entry)} is not VVVV:DDDD (hex)")
    return DeviceRules(
        pci=tuple(p.lower() for p in lists["pci"]), driver=lists["driver"],
        vendor_device=tuple(v.lower() for v in lists["vendorDevice"]), netdev=lists["netdev"],
    )  # fmt: skip


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
