"""Validation of network interface names before they go into a sysfs path.

Mirrors the kernel's ``dev_valid_name`` (net/core/dev.c): 1-15 bytes
(IFNAMSIZ - 1), not ``.`` or ``..``, no ``/``, ``:``, NUL or whitespace.
Non-ASCII names are legal for the kernel and counted in UTF-8 bytes.
"""

from __future__ import annotations

from hostdev._sysfs.errors import InvalidNetdevName

MAX_NETDEV_NAME_BYTES = 15
_FORBIDDEN_CHARS = frozenset("/:\0")


def parse_netdev_name(text: str) -> str:
    """Return ``text`` if it is a valid interface name; raise InvalidNetdevName otherwise."""
    if not isinstance(text, str):
        raise InvalidNetdevName(text, "not a string")
    if len(text) > MAX_NETDEV_NAME_BYTES:
        raise InvalidNetdevName(text, f"longer than {MAX_NETDEV_NAME_BYTES} bytes")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidNetdevName(text, "not valid UTF-8") from None
    if size == 0 or size > MAX_NETDEV_NAME_BYTES:
        raise InvalidNetdevName(text, f"must be 1-{MAX_NETDEV_NAME_BYTES} bytes")
    if text in (".", ".."):
        raise InvalidNetdevName(text, "'.' and '..' are not interface names")
    if any(ch in _FORBIDDEN_CHARS or ch.isspace() for ch in text):
        raise InvalidNetdevName(text, "contains '/', ':', NUL or whitespace")
    return text
