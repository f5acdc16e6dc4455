"""Validation of every name, ID and path the plugin accepts: the one place for these rules.

Each check returns ``None`` when the text is acceptable, else a short English reason. Callers
turn the reason into the error that fits where the text came from: a
:class:`~hostdev.cni.errors.CniError` (environment variable: code 4; configuration field: code
7), naming the source, or the state store's ``InvalidName``.
"""

from __future__ import annotations

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_TAIL = _ALNUM | frozenset("_.-")

MAX_CONTAINER_ID_LEN = 200
"""The one limit for container IDs, checked up front by every command (runtimes use 64 hex
digits; SPEC.md sets none). The state store names a file after the ID, and its set-aside copy
``<containerid>:<ifname>.json.corrupt-<19 digits>`` must fit NAME_MAX (255): 200 + 1 + 15 + 5 +
9 + 19 = 249. A longer ID accepted here would fail later, in the store, with code 5."""

MAX_NETWORK_NAME_LEN = 200
"""The one limit for network names (a state directory is named after it), the container ID's."""

IFNAMSIZ = 16
"""The kernel's interface-name buffer, NUL included: names have at most 15 bytes."""

MAX_PATH_LEN = 4095
"""PATH_MAX less the terminating NUL."""


def _spec_identifier_problem(
    text: str, what: str, max_len: int, tail: frozenset[str] = _ID_TAIL, shown: str = "'_', '.' and '-'"
) -> str | None:
    # SPEC.md's charset for container IDs and network names: an ASCII alphanumeric first,
    # then alphanumerics, '_', '.' or '-'. No '/' can appear, so either is safe in a path.
    if not text:
        return f"{what} is empty"
    if len(text) > max_len:
        return f"{what} is longer than {max_len} characters"
    if text[0] not in _ALNUM:
        return f"{what} must start with an ASCII letter or digit"
    for char in text:
        if char not in tail:
            return f"{what} may contain only ASCII letters, digits, {shown}"
    return None


def container_id_problem(text: str) -> str | None:
    """Why ``text`` is not a valid container ID per SPEC.md (at most MAX_CONTAINER_ID_LEN), or ``None``."""
    return _spec_identifier_problem(text, "container ID", MAX_CONTAINER_ID_LEN)


def network_name_problem(text: str) -> str | None:
    """Why ``text`` is not a valid network name per SPEC.md (at most MAX_NETWORK_NAME_LEN), or ``None``."""
    return _spec_identifier_problem(text, "network name", MAX_NETWORK_NAME_LEN)


def interface_name_problem(text: str) -> str | None:
    """Why ``text`` cannot be a Linux interface name, or ``None``.

    SPEC.md's rules (not empty, under 16 characters, not ``.``/``..``, no ``/``, ``:`` or
    whitespace) narrowed to printable ASCII, and without ``%``: the kernel treats a name
    containing ``%`` as a template (``eth%d``) and would pick a different name than asked.
    """
    if not text:
        return "interface name is empty"
    if len(text) >= IFNAMSIZ:
        return f"interface name is longer than {IFNAMSIZ - 1} characters"
    if text in (".", ".."):
        return "interface name must not be '.' or '..'"
    for char in text:
        if not "!" <= char <= "~":
            return "interface name may contain only printable ASCII without whitespace"
        if char in "/:%":
            return f"interface name must not contain {char!r}"
    return None


MAX_DEVICE_ID_LEN = 64
"""PCI addresses, auxiliary device IDs (at most 64 characters themselves) and ``netdev-<ifname>``."""

_DEVICE_ID_TAIL = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset("/")


def device_id_problem(text: str) -> str | None:
    """Why ``text`` cannot be a device's stable ID (it names its lock file and is matched in
    state records), or ``None``: printable ASCII without ``/`` or whitespace, starting with a
    letter or digit (so never a hidden file, nor ``.store.lock``)."""
    return _spec_identifier_problem(text, "device ID", MAX_DEVICE_ID_LEN, _DEVICE_ID_TAIL, "punctuation but '/'")


MAX_PLUGIN_NAME_LEN = 255
"""NAME_MAX: a plugin is one file in a ``CNI_PATH`` directory."""

_PLUGIN_NAME_TAIL = _ALNUM | frozenset("_.+-")


def plugin_name_problem(text: str, what: str) -> str | None:
    """Why ``text`` cannot name a plugin binary in a ``CNI_PATH`` directory, or ``None``.

    A plain file name only: an ASCII letter or digit first (so never ``.``, ``..`` or a hidden
    file), then letters, digits, ``_``, ``.``, ``+`` or ``-`` — no ``/`` or ``\\``, no
    whitespace, no control characters. Every IPAM plugin in use (host-local, static, dhcp,
    whereabouts, calico-ipam, ...) fits; a name that climbs out of ``CNI_PATH`` cannot.
    """
    return _spec_identifier_problem(
        text, what, MAX_PLUGIN_NAME_LEN, _PLUGIN_NAME_TAIL, "'_', '.', '+' and '-' (a plain file name in CNI_PATH)"
    )


def path_problem(text: str, what: str) -> str | None:
    """Why ``text`` is not an absolute path we are willing to use, or ``None``.

    Rejected: empty, relative, longer than PATH_MAX, a non-printable character (see
    :func:`unprintable_problem`), and ``..`` components (a configured path must not climb out
    of where it claims to be).
    """
    if not text:
        return f"{what} is empty"
    if len(text) > MAX_PATH_LEN:
        return f"{what} is longer than {MAX_PATH_LEN} characters"
    if not text.startswith("/"):
        return f"{what} must be an absolute path"
    problem = unprintable_problem(text)
    if problem is not None:
        return f"{what} {problem}"
    if ".." in text.split("/"):
        return f"{what} must not contain '..' components"
    return None


def unprintable_problem(text: str) -> str | None:
    """``contains the non-printable character U+XXXX`` for the first such character, or ``None``.

    The rule for every path, name and ID the plugin accepts: each character satisfies
    ``str.isprintable()``. That refuses controls (C0, DEL, C1 such as U+0085), format characters
    (U+200B, U+202E which reverses what follows), separators other than the ASCII space
    (U+00A0, U+2028), private-use and unassigned code points, and surrogates: a non-UTF-8 byte
    in the environment arrives as one and could not be written back to a state record, a log
    line or a JSON reply. Whether the ASCII space is allowed is up to each caller's own rules.
    """
    if text.isprintable():
        return None
    char = next(char for char in text if not char.isprintable())
    return f"contains the non-printable character U+{ord(char):04X}"


def shorten(text: str, limit: int = 80) -> str:
    """``repr`` of ``text`` cut to about ``limit`` characters, for error details."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"
