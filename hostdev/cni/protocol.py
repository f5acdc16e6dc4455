"""The CNI execution protocol: spec versions, commands, and the ``CNI_*`` environment.

Everything here is pure: callers hand in the environment mapping and the decoded
configuration; failures are :class:`~hostdev.cni.errors.CniError` with the spec's codes.

Version rules (SPEC.md and libcni's skel, which runtimes are tested against): the
configuration's ``cniVersion`` must be one of :data:`SUPPORTED_VERSIONS`, exactly as written;
CHECK needs 0.4.0 or later, GC and STATUS need 1.1.0 or later; ADD, DEL and VERSION exist in
every version. A configuration without ``cniVersion`` is refused (code 1) rather than read as
0.1.0: every runtime of the last years inserts it, and guessing the oldest result shape for a
hand-written configuration would hide the mistake.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
from hostdev._record import record

from .decode import MAX_CONFIG_BYTES, MAX_NESTING, decode_config
from .versions import LATEST_VERSION, SUPPORTED_VERSIONS, peek_cni_version, reply_version, version_result
from .errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, INVALID_ENVIRONMENT, CniError
from .names import (
    MAX_PATH_LEN,
    container_id_problem,
    interface_name_problem,
    shorten,
    unprintable_problem,
)

__all__ = [
    "COMMANDS",
    "LATEST_VERSION",
    "MAX_CONFIG_BYTES",
    "MAX_NESTING",
    "SUPPORTED_VERSIONS",
    "CniEnv",
    "GcAttachment",
    "allowed_commands",
    "check_version",
    "decode_config",
    "parse_env",
    "parse_valid_attachments",
    "peek_cni_version",
    "reply_version",
    "version_result",
]


COMMANDS: tuple[str, ...] = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")

# Index into SUPPORTED_VERSIONS of the first version that knows each command.
_FIRST_VERSION_INDEX = {
    "ADD": 0,
    "DEL": 0,
    "VERSION": 0,
    "CHECK": SUPPORTED_VERSIONS.index("0.4.0"),
    "GC": SUPPORTED_VERSIONS.index("1.1.0"),
    "STATUS": SUPPORTED_VERSIONS.index("1.1.0"),
}

_ATTACHMENT_COMMANDS = frozenset({"ADD", "DEL", "CHECK"})

# Variables each command cannot do without (SPEC.md section 2, "Input" of each operation).
_REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
    "VERSION": (),
}

MAX_ARGS_LEN = 65536
_ARG_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def allowed_commands(version: str) -> frozenset[str]:
    """The commands a configuration of spec ``version`` may be used with (empty if unknown)."""
    if version not in SUPPORTED_VERSIONS:
        return frozenset()
    index = SUPPORTED_VERSIONS.index(version)
    return frozenset(cmd for cmd, first in _FIRST_VERSION_INDEX.items() if index >= first)


def check_version(conf_version: object, command: str) -> str:
    """Return ``conf_version`` if this plugin speaks it and it allows ``command``.

    Raises code 1 for a missing, non-string or unsupported version and for a command the
    version does not know (CHECK before 0.4.0, GC/STATUS before 1.1.0). VERSION itself needs
    no check: answer it with :func:`version_result` whatever the configuration says.
    """
    if conf_version is None or conf_version == "":
        raise CniError(
            INCOMPATIBLE_VERSION,
            "network configuration has no cniVersion",
            f"this plugin supports {', '.join(SUPPORTED_VERSIONS)}",
        )
    if not isinstance(conf_version, str) or conf_version not in SUPPORTED_VERSIONS:
        shown = (
            shorten(conf_version) if isinstance(conf_version, str) else type(conf_version).__name__
        )
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"config is {shown}, plugin supports {', '.join(SUPPORTED_VERSIONS)}",
        )
    if command not in allowed_commands(conf_version):
        first = SUPPORTED_VERSIONS[_FIRST_VERSION_INDEX[command]] if command in COMMANDS else "?"
        raise CniError(
            INCOMPATIBLE_VERSION,
            f"config version does not allow {command}",
            f"config is {conf_version}; {command} needs cniVersion {first} or later",
        )
    return conf_version


@record
class CniEnv:
    """The validated ``CNI_*`` parameters of one invocation.

    ``container_id`` and ``ifname`` are set for ADD, DEL and CHECK; ``netns`` for ADD and
    CHECK, and for DEL when the runtime gave one. ``args`` holds the ``CNI_ARGS`` pairs in
    order; ``path`` the non-empty ``CNI_PATH`` entries. Variables a command does not use are
    neither read nor validated.
    """

    command: str
    container_id: str | None
    netns: str | None
    ifname: str | None
    args: tuple[tuple[str, str], ...]
    path: tuple[str, ...]


def _invalid(variable: str, reason: str, value: str | None = None) -> CniError:
    details = reason if value is None else f"{reason}: {shorten(value)}"
    return CniError(INVALID_ENVIRONMENT, f"invalid {variable}", details)


def parse_env(environ: Mapping[str, str]) -> CniEnv:
    """Read and validate the ``CNI_*`` variables; every failure is code 4 naming the variable."""
    command = environ.get("CNI_COMMAND", "")
    if not command:
        raise CniError(INVALID_ENVIRONMENT, "required environment variables missing: CNI_COMMAND")
    if command not in _REQUIRED:
        raise _invalid(
            "CNI_COMMAND", f"unknown command; expected one of {', '.join(COMMANDS)}", command
        )

    missing = [name for name in _REQUIRED[command] if not environ.get(name)]
    if missing:
        raise CniError(
            INVALID_ENVIRONMENT,
            f"required environment variables missing: {', '.join(missing)}",
            f"CNI_COMMAND={command} needs {', '.join(_REQUIRED[command])}",
        )

    container_id = ifname = netns = None
    args: tuple[tuple[str, str], ...] = ()
    if command in _ATTACHMENT_COMMANDS:
        container_id = environ["CNI_CONTAINERID"]
        problem = container_id_problem(container_id)
        if problem is not None:
            raise _invalid("CNI_CONTAINERID", problem, container_id)
        ifname = environ["CNI_IFNAME"]
        problem = interface_name_problem(ifname)
        if problem is not None:
            raise _invalid("CNI_IFNAME", problem, ifname)
        netns = environ.get("CNI_NETNS") or None
        if netns is not None:
            _check_netns(netns)
        args = parse_cni_args(environ.get("CNI_ARGS", ""))

    path: tuple[str, ...] = ()
    if command != "VERSION":
        path = _parse_cni_path(environ.get("CNI_PATH", ""))
        if command == "GC" and not path:
            raise _invalid("CNI_PATH", "no directories listed", environ.get("CNI_PATH", ""))

    return CniEnv(command, container_id, netns, ifname, args, path)


def _check_netns(netns: str) -> None:
    # This plugin only works with network namespaces, so the "isolation domain reference"
    # must be a path it can open regardless of its working directory.
    if len(netns) > MAX_PATH_LEN:
        raise _invalid("CNI_NETNS", f"longer than {MAX_PATH_LEN} characters", netns)
    if not netns.startswith("/"):
        raise _invalid("CNI_NETNS", "must be an absolute path", netns)
    problem = unprintable_problem(netns)
    if problem is not None:
        raise _invalid("CNI_NETNS", problem, netns)


def parse_cni_args(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``CNI_ARGS`` (``K=V;K2=V2``) strictly; failures are code 4 naming CNI_ARGS.

    Keys are ASCII letters, digits, ``_``, ``.`` or ``-`` (SPEC.md says alphanumeric; real
    runtimes send ``K8S_POD_NAME`` and friends). Values may be empty and may not contain
    ``;``, ``=`` or non-printable characters (libcni likewise refuses a second ``=``). Empty pairs
    (``A=B;;C=D``, a trailing ``;``) are refused. A key given twice must carry the same value.
    """
    if not text:
        return ()
    if len(text) > MAX_ARGS_LEN:
        raise _invalid("CNI_ARGS", f"longer than {MAX_ARGS_LEN} characters", text)
    pairs: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for pair in text.split(";"):
        key, sep, value = pair.partition("=")
        if not sep:
            raise _invalid("CNI_ARGS", "pair without '='", pair)
        if not key or any(char not in _ARG_KEY_CHARS for char in key):
            raise _invalid("CNI_ARGS", "key must be ASCII letters, digits, '_', '.' or '-'", pair)
        if "=" in value:
            raise _invalid("CNI_ARGS", "value contains '='", pair)
        problem = unprintable_problem(value)
        if problem is not None:
            raise _invalid("CNI_ARGS", f"value {problem}", pair)
        if key in seen:
            if seen[key] != value:
                raise _invalid("CNI_ARGS", f"key {key} given twice with different values", text)
            continue
        seen[key] = value
        pairs.append((key, value))
    return tuple(pairs)


def _parse_cni_path(text: str) -> tuple[str, ...]:
    # The plugin delegates to no other plugin, so entries are kept as given (only checked to
    # be representable) rather than judged as directories.
    if len(text) > MAX_ARGS_LEN:
        raise _invalid("CNI_PATH", f"longer than {MAX_ARGS_LEN} characters", text)
    problem = unprintable_problem(text)
    if problem is not None:
        raise _invalid("CNI_PATH", problem, text)
    return tuple(entry for entry in text.split(":") if entry)


@record
class GcAttachment:
    """One still-valid attachment named by a GC request."""

    container_id: str
    ifname: str


_ATTACHMENTS_KEY = "cni.dev/valid-attachments"
# libcni also sends the name an early draft of the spec used (containernetworking/cni#1101).
_LEGACY_ATTACHMENTS_KEY = "cni.dev/attachments"


def parse_valid_attachments(conf: Mapping[str, object]) -> frozenset[GcAttachment] | None:
    """The attachments a GC request says are still valid; failures are code 7.

    Returns ``None`` when the request carries no list at all (neither the spec's key nor
    libcni's legacy ``cni.dev/attachments``): the caller then knows nothing is provably stale
    and must remove nothing. JSON ``null`` is what libcni sends for an empty Go slice and
    means "no attachment is valid". Every entry must be an object with a valid ``containerID``
    and ``ifname``; one malformed entry fails the whole request, because silently dropping it
    would make its attachment look stale and get it removed.
    """
    key = _ATTACHMENTS_KEY if _ATTACHMENTS_KEY in conf else _LEGACY_ATTACHMENTS_KEY
    if key not in conf:
        return None
    entries = conf[key]
    if entries is None:
        return frozenset()
    if not isinstance(entries, list):
        raise CniError(INVALID_CONFIG, f"{key} must be a list", f"got {type(entries).__name__}")
    found: set[GcAttachment] = set()
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict):
            raise CniError(
                INVALID_CONFIG, f"{where} must be an object", f"got {type(entry).__name__}"
            )
        container_id = entry.get("containerID")
        ifname = entry.get("ifname")
        if not isinstance(container_id, str):
            raise CniError(INVALID_CONFIG, f"{where}.containerID must be a string")
        if not isinstance(ifname, str):
            raise CniError(INVALID_CONFIG, f"{where}.ifname must be a string")
        problem = container_id_problem(container_id)
        if problem is not None:
            raise CniError(
                INVALID_CONFIG,
                f"invalid {where}.containerID",
                f"{problem}: {shorten(container_id)}",
            )
        problem = interface_name_problem(ifname)
        if problem is not None:
            raise CniError(
                INVALID_CONFIG, f"invalid {where}.ifname", f"{problem}: {shorten(ifname)}"
            )
        found.add(GcAttachment(container_id, ifname))
    return frozenset(found)
