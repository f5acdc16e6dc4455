"""Strict parsing of PCI addresses (BDFs) and auxiliary device ids.

Both parsers run before any file is touched: their output is the only thing the
rest of the package ever puts into a sysfs path, so they accept exactly the names
the kernel itself gives these devices and nothing else.

PCI address, as sysfs spells it: ``DDDD:BB:DD.F`` -- domain 4 hex digits, bus 2
hex digits, device 2 hex digits in 00-1f, function one digit 0-7. The short form
``BB:DD.F`` (what ``lspci`` prints) is accepted and means domain ``0000``.
Hex digits may be upper case; the result is always the full lower-case form.
Only ASCII characters count as digits (``str.isdigit`` would let fullwidth or
Arabic-Indic digits through). The 5-hex-digit domains of Intel VMD (``10000:...``)
are not accepted: no NIC sits behind a VMD controller.

Auxiliary device id: ``<module>.<name>.<id>`` as the auxiliary bus names them
(``mlx5_core.eth.0``, ``ionic.rdma.0``, ``mlx5_core.sf.4``, ``mlx5_core.eth-rep.0``):
module ``[A-Za-z0-9_]+``, name ``[A-Za-z0-9_-]+``, id a decimal u32 without
leading zeros, at most 64 characters in all. Returned unchanged (names are
case-sensitive, e.g. ``pds_core.vDPA.1``).
"""

from __future__ import annotations

from hostdev._sysfs.errors import InvalidAuxiliaryId, InvalidPciAddress

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DECIMAL_DIGITS = frozenset("0123456789")
_MODULE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_AUX_NAME_CHARS = _MODULE_CHARS | {"-"}

_FULL_FORM_LEN = len("0000:00:00.0")
_SHORT_FORM_LEN = len("00:00.0")
_MAX_PCI_DEVICE = 0x1F
_MAX_PCI_FUNCTION = 7
MAX_AUXILIARY_ID_LEN = 64
_MAX_U32 = 0xFFFFFFFF


def _is_hex(text: str) -> bool:
    return bool(text) and all(ch in _HEX_DIGITS for ch in text)


def _is_decimal(text: str) -> bool:
    return bool(text) and all(ch in _DECIMAL_DIGITS for ch in text)


def parse_pci_address(text: str) -> str:
    """Return ``text`` as a normalised ``dddd:bb:dd.f``; raise InvalidPciAddress otherwise."""
    if not isinstance(text, str):
        raise InvalidPciAddress(text, "not a string")
    if len(text) == _FULL_FORM_LEN:
        domain, separator, rest = text[:4], text[4], text[5:]
        if not _is_hex(domain) or separator != ":":
            raise InvalidPciAddress(text, "domain must be 4 hex digits followed by ':'")
    elif len(text) == _SHORT_FORM_LEN:
        domain, rest = "0000", text
    else:
        raise InvalidPciAddress(text, "expected DDDD:BB:DD.F or BB:DD.F")
    bus, device, function = rest[0:2], rest[3:5], rest[6]
    if rest[2] != ":" or rest[5] != ".":
        raise InvalidPciAddress(text, "expected DDDD:BB:DD.F or BB:DD.F")
    if not _is_hex(bus):
        raise InvalidPciAddress(text, "bus must be 2 hex digits")
    if not _is_hex(device) or int(device, 16) > _MAX_PCI_DEVICE:
        raise InvalidPciAddress(text, "device must be 2 hex digits in 00-1f")
    if not _is_decimal(function) or int(function) > _MAX_PCI_FUNCTION:
        raise InvalidPciAddress(text, "function must be a digit 0-7")
    return f"{domain}:{bus}:{device}.{function}".lower()


def is_sysfs_pci_address(name: str) -> bool:
    """True if ``name`` is a PCI address exactly as sysfs spells it (full, lower case).

    For names read from sysfs, where anything non-canonical means "not a PCI device".
    """
    try:
        return parse_pci_address(name) == name
    except InvalidPciAddress:
        return False


def parse_auxiliary_id(text: str) -> str:
    """Return ``text`` if it is a well-formed auxiliary device id, else raise InvalidAuxiliaryId."""
    if not isinstance(text, str):
        raise InvalidAuxiliaryId(text, "not a string")
    if len(text) > MAX_AUXILIARY_ID_LEN:
        raise InvalidAuxiliaryId(text, f"longer than {MAX_AUXILIARY_ID_LEN} characters")
    parts = text.split(".")
    if len(parts) != 3:
        raise InvalidAuxiliaryId(text, "expected <module>.<name>.<id>")
    module, name, instance = parts
    if not module or not all(ch in _MODULE_CHARS for ch in module):
        raise InvalidAuxiliaryId(text, "module must be letters, digits and '_'")
    if not name or not all(ch in _AUX_NAME_CHARS for ch in name):
        raise InvalidAuxiliaryId(text, "name must be letters, digits, '_' and '-'")
    if not _is_decimal(instance) or (instance != "0" and instance[0] == "0"):
        raise InvalidAuxiliaryId(text, "id must be a decimal number without leading zeros")
    if int(instance) > _MAX_U32:
        raise InvalidAuxiliaryId(text, "id does not fit in 32 bits")
    return text


def is_auxiliary_id(name: str) -> bool:
    """True if ``name`` (typically read from sysfs) is a well-formed auxiliary device id."""
    try:
        parse_auxiliary_id(name)
    except InvalidAuxiliaryId:
        return False
    return True


def pci_address_from_parent(parent_dev_name: str | None, parent_bus_name: str | None) -> str | None:
    """The PCI address netlink's parent attributes name, or None if they name no PCI function.

    None for a missing attribute, a non-PCI bus (``virtio``: fall back to
    :func:`~hostdev._sysfs.netdev_lookup.pci_address_of_netdev`), or a name that is not a valid PCI address.
    """
    if parent_bus_name != "pci" or parent_dev_name is None:
        return None
    try:
        return parse_pci_address(parent_dev_name)
    except InvalidPciAddress:
        return None
