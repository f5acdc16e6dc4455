"""Validation of network interface names before they go into a sysfs path.

The kernel's own rule (:func:`hostdev._netlink.rtnl_link.ifname_problem`, ``dev_valid_name``):
1-15 bytes of UTF-8, not ``.`` or ``..``, no ``/``, ``:``, NUL or whitespace. Non-ASCII names
are legal for the kernel and counted in UTF-8 bytes; a name that is not valid UTF-8 (a lone
surrogate) or holds any whitespace (Python's wider notion: ``\x1f``, ``\x85``, U+2028) cannot
be a path component here.
"""

from __future__ import annotations

from hostdev._netlink.rtnl_link import ifname_problem
from hostdev._sysfs.errors import InvalidNetdevName


def parse_netdev_name(text: str) -> str:
    """Return ``text`` if it is a valid interface name; raise InvalidNetdevName otherwise."""
    if not isinstance(text, str):
        raise InvalidNetdevName(text, "not a string")
    problem = ifname_problem(text)
    if problem is None and any("\ud800" <= ch <= "\udfff" for ch in text):
        problem = "is not valid UTF-8"
    if problem is None and any(ch.isspace() for ch in text):
        problem = "contains whitespace"  # any kind, as Python sees it: never in a path we build
    if problem is not None:
        raise InvalidNetdevName(text, problem)
    return text
