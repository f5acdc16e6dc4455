"""Small, strict parsing of IP address and CIDR text, without importing ``ipaddress``.

Used to validate the addresses in results and to find the peer of a point-to-point address.
IPv4 is parsed by hand (dotted decimal only: no leading zeros, no ``inet_aton`` shorthands
such as ``10.1``); IPv6 goes through ``_socket.inet_pton``, imported on first use.
"""

from __future__ import annotations

IPV4_BITS = 32
IPV6_BITS = 128


def parse_ip(text: str) -> tuple[int, int]:
    """``(family, value)`` of an IP address, family 4 or 6; ``ValueError`` if not one."""
    if ":" in text:
        return 6, _parse_ipv6(text)
    return 4, _parse_ipv4(text)


def parse_cidr(text: str) -> tuple[int, int, int]:
    """``(family, address value, prefix length)`` of ``"addr/len"`` text; ``ValueError`` if not.

    The address keeps its host bits (``10.1.0.5/16`` is an interface address, not a network).
    """
    address, sep, prefix_text = text.partition("/")
    if not sep:
        raise ValueError(f"{text!r} has no prefix length")
    family, value = parse_ip(address)
    if not prefix_text.isascii() or not prefix_text.isdigit() or len(prefix_text) > 3:
        raise ValueError(f"{text!r} has a malformed prefix length")
    if len(prefix_text) > 1 and prefix_text[0] == "0":
        raise ValueError(f"{text!r} has a prefix length with leading zeros")
    prefix = int(prefix_text)
    if prefix > (IPV4_BITS if family == 4 else IPV6_BITS):
        raise ValueError(f"{text!r} has a prefix length beyond the address size")
    return family, value, prefix


def format_ip(family: int, value: int) -> str:
    """Text of an address: dotted decimal, or RFC 5952 compressed lower-case IPv6."""
    if family == 4:
        return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))
    import _socket

    return _socket.inet_ntop(_socket.AF_INET6, value.to_bytes(16, "big"))


def family_of(text: str) -> int:
    """4 or 6 for an address or CIDR text; ``ValueError`` if it is neither."""
    if "/" in text:
        return parse_cidr(text)[0]
    return parse_ip(text)[0]


def _parse_ipv4(text: str) -> int:
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"{text!r} is not a dotted-decimal IPv4 address")
    value = 0
    for part in parts:
        if not part.isascii() or not part.isdigit() or len(part) > 3:
            raise ValueError(f"{text!r} is not a dotted-decimal IPv4 address")
        if len(part) > 1 and part[0] == "0":
            raise ValueError(f"{text!r} has an octet with leading zeros")
        octet = int(part)
        if octet > 255:
            raise ValueError(f"{text!r} has an octet above 255")
        value = (value << 8) | octet
    return value


def _parse_ipv6(text: str) -> int:
    import _socket

    if not text.isascii() or "%" in text:
        raise ValueError(f"{text!r} is not an IPv6 address")
    try:
        packed = _socket.inet_pton(_socket.AF_INET6, text)
    except OSError:
        raise ValueError(f"{text!r} is not an IPv6 address") from None
    return int.from_bytes(packed, "big")
