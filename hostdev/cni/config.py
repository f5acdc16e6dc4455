"""The ``amd-host-device`` plugin configuration, parsed strictly from the decoded JSON object.

Keys the protocol defines:

``cniVersion`` (string, required)
    Checked with :func:`hostdev.cni.protocol.check_version` for the command at hand (code 1).
``name`` (string, required)
    The network name; SPEC.md's charset (ASCII alphanumeric first, then alphanumerics, ``_``,
    ``.``, ``-``), at most 200 characters (``hostdev.cni.names.MAX_NETWORK_NAME_LEN``).
``type`` (string, required)
    The plugin binary's name; must not contain ``/`` or ``\\``.
``prevResult`` (object)
    Kept raw; read with :func:`hostdev.cni.results.parse_prev_result` when needed.
``runtimeConfig`` (object)
    Only ``deviceID`` is read from it; other capabilities are ignored.
``ipam`` (object)
    With a ``type``, the IPAM plugin of that name (a plain file name, found in ``CNI_PATH``) is
    run as SPEC.md section 4 says (see :mod:`hostdev.cni.ipam`) and the pod's interface gets
    its addresses and routes instead of the host's (``keepHostAddresses`` keeps both). The rest
    of the object is the IPAM plugin's business. Without a ``type`` (or an empty object) the
    device keeps the addresses it has on the host, as without ``ipam``.

Device selection (``runtimeConfig.deviceID``, ``deviceID``, ``pciBusID``, ``device``,
``hwaddr``, ``kernelpath``): see :mod:`hostdev.cni.device_selection`. ADD and CHECK need one;
DEL, GC and STATUS accept a configuration without (DEL works from saved state), but any key
present is validated for every command.

Plugin options (all optional):

``renameToIfname`` (bool; default: unset)
    ``false`` keeps the host's interface name inside the pod (the seed behaviour, "Interface
    Name Retention"); ``true`` renames it to ``CNI_IFNAME`` in the pod and back on DEL. Unset:
    rename only when the plugin provides a Kubernetes pod's own interface (``eth0`` with
    ``K8S_POD_INFRA_CONTAINER_ID`` in ``CNI_ARGS``), keep the name everywhere else; see
    :mod:`hostdev.cni.pod_interface` for why.
``rdma`` (``"auto"`` | ``"required"`` | ``"skip"``, default ``"auto"``)
    ``auto``: when the RDMA subsystem is in exclusive network-namespace mode and the netdev
    has an RDMA device, move that device with it; if that move fails, the ADD fails and is
    undone. Without an RDMA device, or in shared mode (where every namespace already sees it),
    proceed without moving one. ``required``: as ``auto``, but the ADD also fails when the
    netdev has no RDMA device. ``skip``: never touch RDMA devices.
``stateDir`` (absolute path)
    Not the configuration's to choose: state and device locks live where the node's settings
    say (:mod:`hostdev.cni.node_settings`). A value equal to the node's is accepted (older NADs
    carried the default); any other is refused by ADD (code 7) and ignored, with a warning, by
    the other commands, so that a DEL can always give the device back.
``logLevel`` (``"error"`` | ``"warn"`` | ``"info"`` | ``"debug"``, default ``"warn"``)
``logFile`` (a file name, or an absolute path, directly in the node's ``logDir``; default none)
    Lines always go to stderr too. A file outside the node's log directory (or any, when the
    node has none) is refused by ADD (code 7) and ignored, with a warning, by the other
    commands.
``lockTimeoutSeconds`` (number, 0 < n <= 50, default 10)
    How long to wait for the state lock before failing with code 11 (try again later). Kept
    well under the minute runtimes commonly allow a plugin.
``returnTimeoutSeconds`` (number, 0 <= n <= 30, default 5)
    How long DEL waits for the device to reappear in the host namespace when the pod's
    namespace is being torn down.
``ipamTimeoutSeconds`` (number, 0 < n <= 50, default 20)
    How long one call of the IPAM plugin may take before it is killed and the call fails with
    code 11 (an ADD is then undone, IPAM DEL included). The default leaves an ADD whose IPAM
    plugin hangs (plus the IPAM DEL of its rollback, plus a lock wait) inside the 60 s CRI-O
    gives a CNI call, the tightest of the common runtimes.
``keepHostAddresses`` (bool, default ``false``)
    With ``ipam``: ``false`` gives the pod only the IPAM plugin's addresses and routes (what
    upstream host-device and AMD's plugin do with a user's IPAM); ``true`` keeps the host's
    addresses and routes on the interface as well. Either way DEL gives the host exactly what
    it had, and nothing from IPAM.

Any other key is ignored: a runtime passes through keys meant for other plugins and
conventions. A known key with a value of the wrong type is an error (code 7) naming the key;
JSON ``null`` counts as the key being absent.
"""

from __future__ import annotations

import os

from hostdev._record import field, record
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Literal, TypeVar
    RdmaMode = Literal["auto", "required", "skip"]
    LogLevel = Literal["error", "warn", "info", "debug"]
    _Choice = TypeVar("_Choice", bound=str)
    _T = TypeVar("_T")

from .device_selection import DeviceSelection, DeviceSelector, select_device
from .errors import INVALID_CONFIG, CniError
from .names import network_name_problem, path_problem, plugin_name_problem, shorten, unprintable_problem
from .node_settings import DEFAULT_SETTINGS_FILE, NodeSettings, log_file_in
from .protocol import check_version
from .state import DEFAULT_STATE_DIR

__all__ = [
    "DEFAULT_IPAM_TIMEOUT_SECONDS",
    "DEFAULT_LOCK_TIMEOUT_SECONDS",
    "DEFAULT_RETURN_TIMEOUT_SECONDS",
    "DEFAULT_STATE_DIR",
    "LOG_LEVELS",
    "MAX_IPAM_TIMEOUT_SECONDS",
    "MAX_LOCK_TIMEOUT_SECONDS",
    "MAX_RETURN_TIMEOUT_SECONDS",
    "RDMA_MODES",
    "DeviceSelection",
    "DeviceSelector",
    "PluginConfig",
    "parse_plugin_config",
]


RDMA_MODES: tuple[RdmaMode, ...] = ("auto", "required", "skip")
LOG_LEVELS: tuple[LogLevel, ...] = ("error", "warn", "info", "debug")
DEFAULT_LOCK_TIMEOUT_SECONDS = 10.0
MAX_LOCK_TIMEOUT_SECONDS = 50.0
DEFAULT_RETURN_TIMEOUT_SECONDS = 5.0
MAX_RETURN_TIMEOUT_SECONDS = 30.0
DEFAULT_IPAM_TIMEOUT_SECONDS = 20.0
MAX_IPAM_TIMEOUT_SECONDS = 50.0

_COMMANDS_NEEDING_DEVICE = frozenset({"ADD", "CHECK"})



@record
class PluginConfig:
    """A validated configuration; see the module docstring for each key's meaning."""

    cni_version: str
    name: str
    type: str
    device: DeviceSelection | None
    rename_to_ifname: bool | None = None
    rdma: RdmaMode = "auto"
    state_dir: str = DEFAULT_STATE_DIR  # the node's (node_settings), never the NAD's
    log_level: LogLevel = "warn"
    log_file: str | None = None  # inside the node's log directory
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
    return_timeout_seconds: float = DEFAULT_RETURN_TIMEOUT_SECONDS
    ipam_type: str | None = None
    ipam_timeout_seconds: float = DEFAULT_IPAM_TIMEOUT_SECONDS
    keep_host_addresses: bool = False
    prev_result: Mapping[str, object] | None = field(default=None, hash=False)
    ignored: tuple[str, ...] = ()  # node-only keys the configuration set and this command ignores
    node: NodeSettings = field(default=NodeSettings(DEFAULT_SETTINGS_FILE), compare=False)


def _type_error(key: str, expected: str, value: object) -> CniError:
    return CniError(INVALID_CONFIG, f"{key} must be {expected}", f"got {_describe(value)}")


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f"string {shorten(value)}"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r:.40}"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _required_string(conf: Mapping[str, object], key: str) -> str:
    value = conf.get(key)
    if value is None:
        raise CniError(INVALID_CONFIG, f"network configuration has no {key}")
    if not isinstance(value, str):
        raise _type_error(key, "a string", value)
    return value


def _optional(conf: Mapping[str, object], key: str, kind: type[_T], expected: str) -> _T | None:
    value = conf.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise _type_error(key, expected, value)
    return value


def _optional_object(conf: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    return _optional(conf, key, dict, "an object")


def _optional_bool(conf: Mapping[str, object], key: str) -> bool | None:
    return _optional(conf, key, bool, "true or false")


def _choice(
    conf: Mapping[str, object], key: str, choices: tuple[_Choice, ...], default: _Choice
) -> _Choice:
    value = conf.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or value not in choices:
        raise _type_error(key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
    # Hand back the member itself so the Literal type survives.
    return choices[choices.index(value)]


def _path(conf: Mapping[str, object], key: str, default: str | None) -> str | None:
    value = conf.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _type_error(key, "a string", value)
    problem = path_problem(value, key)
    if problem is not None:
        raise CniError(INVALID_CONFIG, f"invalid {key}", f"{problem}: {shorten(value)}")
    return value


def _seconds(
    conf: Mapping[str, object], key: str, default: float, low: float, high: float, low_open: bool
) -> float:
    value = conf.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(key, "a number of seconds", value)
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = f"{'>' if low_open else '>='} {low:g} and <= {high:g}"
        raise CniError(INVALID_CONFIG, f"{key} is out of range", f"{value!r:.40} is not {bound}")
    return float(value)


def _ipam_type(conf: Mapping[str, object], plugin_type: str) -> str | None:
    ipam = _optional_object(conf, "ipam")
    value = None if ipam is None else ipam.get("type")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _type_error("ipam.type", "a string", value)
    problem = plugin_name_problem(value, "ipam.type")
    if problem is not None:
        raise CniError(INVALID_CONFIG, "invalid ipam.type", f"{problem}: {shorten(value)}")
    if value == plugin_type:
        raise CniError(INVALID_CONFIG, "invalid ipam.type", f"{shorten(value)} is this plugin, not an IPAM plugin")
    return value


def _node_paths(
    conf: Mapping[str, object], command: str, node: NodeSettings
) -> tuple[str, str | None, tuple[str, ...]]:
    """(state dir, log file, warnings): the node decides; a NAD's different stateDir or a
    logFile outside the node's log directory fails an ADD and is ignored by the rest."""
    ignored: list[str] = []
    wanted = _path(conf, "stateDir", None)
    if wanted is not None and os.path.normpath(wanted) != node.state_dir:
        why = f"stateDir is the node's setting ({node.state_dir}, from {node.path}), not the network configuration's"
        if command == "ADD":
            raise CniError(INVALID_CONFIG, "stateDir refused", f"{why}: {shorten(wanted)}")
        ignored.append(f"ignoring the configuration's stateDir {shorten(wanted)}: {why}")
    log_file = None
    requested = conf.get("logFile")
    if requested is not None:
        if not isinstance(requested, str):
            raise _type_error("logFile", "a string", requested)
        problem = unprintable_problem(requested)
        if problem is not None:
            raise CniError(INVALID_CONFIG, "invalid logFile", f"logFile {problem}: {shorten(requested)}")
        log_file = log_file_in(node, requested)
        if log_file is None:
            where = f"in {node.log_dir}" if node.log_dir else f"at all: {node.path} sets no logDir"
            why = f"this node allows log files only {where}"
            if command == "ADD":
                raise CniError(INVALID_CONFIG, "logFile refused", f"{why}: {shorten(requested)}")
            ignored.append(f"ignoring the configuration's logFile {shorten(requested)}: {why}")
    return node.state_dir, log_file, tuple(ignored)


def parse_plugin_config(conf: Mapping[str, object], command: str, node: NodeSettings | None = None) -> PluginConfig:
    """Validate the decoded configuration for ``command`` (ADD, DEL, CHECK, GC or STATUS).

    Code 1 for version problems, code 7 for everything else, each naming the offending key.
    """
    cni_version = check_version(conf.get("cniVersion"), command)
    name = _required_string(conf, "name")
    problem = network_name_problem(name)
    if problem is not None:
        raise CniError(INVALID_CONFIG, "invalid name", f"{problem}: {shorten(name)}")
    plugin_type = _required_string(conf, "type")
    if not plugin_type or any(char in plugin_type for char in "/\\") or unprintable_problem(plugin_type):
        raise CniError(
            INVALID_CONFIG, "invalid type", f"must be a printable file name: {shorten(plugin_type)}"
        )
    ipam_type = _ipam_type(conf, plugin_type)

    node = node or NodeSettings(DEFAULT_SETTINGS_FILE)
    state_dir, log_file, ignored = _node_paths(conf, command, node)
    runtime_config = _optional_object(conf, "runtimeConfig") or {}
    device = select_device(conf, runtime_config)
    if device is None and command in _COMMANDS_NEEDING_DEVICE:
        raise CniError(
            INVALID_CONFIG,
            "network configuration names no device",
            "set one of runtimeConfig.deviceID, deviceID, pciBusID, device, hwaddr or kernelpath",
        )

    return PluginConfig(
        cni_version=cni_version,
        name=name,
        type=plugin_type,
        device=device,
        rename_to_ifname=_optional_bool(conf, "renameToIfname"),
        rdma=_choice(conf, "rdma", RDMA_MODES, "auto"),
        state_dir=state_dir,
        log_level=_choice(conf, "logLevel", LOG_LEVELS, "warn"),
        log_file=log_file,
        ignored=ignored,
        node=node,
        lock_timeout_seconds=_seconds(
            conf,
            "lockTimeoutSeconds",
            DEFAULT_LOCK_TIMEOUT_SECONDS,
            0.0,
            MAX_LOCK_TIMEOUT_SECONDS,
            True,
        ),
        return_timeout_seconds=_seconds(
            conf,
            "returnTimeoutSeconds",
            DEFAULT_RETURN_TIMEOUT_SECONDS,
            0.0,
            MAX_RETURN_TIMEOUT_SECONDS,
            False,
        ),
        ipam_type=ipam_type,
        ipam_timeout_seconds=_seconds(
            conf,
            "ipamTimeoutSeconds",
            DEFAULT_IPAM_TIMEOUT_SECONDS,
            0.0,
            MAX_IPAM_TIMEOUT_SECONDS,
            True,
        ),
        keep_host_addresses=_optional_bool(conf, "keepHostAddresses") or False,
        prev_result=_optional_object(conf, "prevResult"),
    )
