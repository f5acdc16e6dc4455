"""Declarative attribute tables: the wire format as data.

A family's attributes are an :class:`AttrSet` of :class:`Attr` rows (number, name, kind), so
adding an attribute is one line. Decoding walks the attributes once and converts only the
numbers the caller asks for; everything else is skipped by length without being copied.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable, Mapping

from hostdev.errors import DecodeError
from hostdev._netlink.wire import ATTR_HEADER, NLA_F_NESTED, NLA_HDRLEN, decode_string, iter_attrs

Buffer = bytes | bytearray | memoryview


class Kind(IntEnum):
    U8 = 1
    U16 = 2
    U32 = 3
    S32 = 4
    U64 = 5
    UINT = 6  # 4 or 8 bytes, whichever the kernel chose (NLA_UINT)
    STRING = 7
    BINARY = 8
    NEST = 9
    FLAG = 10
    BE16 = 11  # network byte order (ports)
    PAD = 12  # alignment filler before u64 values; never decoded


_FIXED = {
    Kind.U8: struct.Struct("=B"),
    Kind.U16: struct.Struct("=H"),
    Kind.U32: struct.Struct("=I"),
    Kind.S32: struct.Struct("=i"),
    Kind.U64: struct.Struct("=Q"),
    Kind.BE16: struct.Struct("!H"),
}
_U32 = _FIXED[Kind.U32]
_U64 = _FIXED[Kind.U64]


@dataclass(frozen=True, slots=True)
class Attr:
    number: int
    name: str
    kind: Kind
    nested: AttrSet | None = None


class AttrSet:
    """The attributes of one family or nest, addressable by number and by name."""

    __slots__ = ("prefix", "by_number", "by_name")

    def __init__(self, prefix: str, attrs: Iterable[Attr]) -> None:
        self.prefix = prefix  # the C prefix, e.g. "IFLA_": prefix + name is the header's macro
        self.by_number: dict[int, Attr] = {}
        self.by_name: dict[str, Attr] = {}
        for attr in attrs:
            if attr.number in self.by_number or attr.name in self.by_name:
                raise ValueError(f"duplicate attribute {prefix}{attr.name} ({attr.number})")
            self.by_number[attr.number] = attr
            self.by_name[attr.name] = attr

    def __getitem__(self, name: str) -> int:
        return self.by_name[name].number

    def describe(self, number: int) -> str:
        attr = self.by_number.get(number)
        return f"{self.prefix}{attr.name}" if attr else f"{self.prefix}<{number}>"

    # --- decoding ---
    def decode(
        self, buf: Buffer, start: int, end: int, wanted: frozenset[int] | None = None
    ) -> dict[int, object]:
        """Attribute number -> decoded value, for the attributes in ``wanted`` (all known if None).

        Unknown numbers are skipped; a known attribute whose payload has the wrong size raises
        :class:`DecodeError` naming it.
        """
        values: dict[int, object] = {}
        by_number = self.by_number
        for number, vstart, vend in iter_attrs(buf, start, end):
            if wanted is not None and number not in wanted:
                continue
            attr = by_number.get(number)
            if attr is None:
                continue
            values[number] = self._decode_value(attr, buf, vstart, vend)
        return values

    def _decode_value(self, attr: Attr, buf: Buffer, start: int, end: int) -> object:
        kind = attr.kind
        size = end - start
        fixed = _FIXED.get(kind)
        if fixed is not None:
            if size < fixed.size:
                raise DecodeError(f"{self.prefix}{attr.name}: {size} bytes, expected {fixed.size}")
            return fixed.unpack_from(buf, start)[0]
        if kind is Kind.STRING:
            return decode_string(buf, start, end)
        if kind is Kind.BINARY:
            return bytes(buf[start:end])
        if kind is Kind.NEST:
            if attr.nested is None:
                return bytes(buf[start:end])
            return attr.nested.decode(buf, start, end)
        if kind is Kind.UINT:
            if size == 4:
                return _U32.unpack_from(buf, start)[0]
            if size == 8:
                return _U64.unpack_from(buf, start)[0]
            raise DecodeError(f"{self.prefix}{attr.name}: {size} bytes, expected 4 or 8")
        if kind is Kind.FLAG:
            return True
        return None  # Kind.PAD

    # --- encoding ---
    def encode(self, items: Iterable[tuple[str, object]] | Mapping[str, object]) -> bytes:
        """Encode ``(name, value)`` pairs in the given order (order matters to some kernels)."""
        pairs = items.items() if isinstance(items, Mapping) else items
        return b"".join(self.encode_one(name, value) for name, value in pairs)

    def encode_one(self, name: str, value: object) -> bytes:
        attr = self.by_name[name]
        # Nests go out without NLA_F_NESTED, as iproute2 sends them: every rtnetlink and RDMA
        # nest we use predates strict nest validation and old kernels compare the raw type.
        return encode_attr(attr.number, self._encode_value(attr, value))

    def _encode_value(self, attr: Attr, value: object) -> bytes:
        kind = attr.kind
        fixed = _FIXED.get(kind)
        if fixed is not None:
            try:
                return fixed.pack(value)
            except struct.error:  # out of range or not an int: a caller's mistake, not ours
                raise ValueError(f"{self.prefix}{attr.name}: {value!r} does not fit {kind.name}") from None
        if kind is Kind.STRING:
            if not isinstance(value, str):
                raise TypeError(f"{self.prefix}{attr.name} takes a str")
            return value.encode("utf-8", "surrogateescape") + b"\0"
        if kind is Kind.BINARY:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"{self.prefix}{attr.name} takes bytes")
            return bytes(value)
        if kind is Kind.NEST:
            if isinstance(value, (bytes, bytearray, memoryview)):
                return bytes(value)
            if attr.nested is None:
                raise TypeError(f"{self.prefix}{attr.name} has no table: pass encoded bytes")
            return attr.nested.encode(value)  # type: ignore[arg-type]
        if kind is Kind.UINT:
            if not isinstance(value, int) or not 0 <= value < 1 << 64:
                raise ValueError(f"{self.prefix}{attr.name}: {value!r} does not fit UINT")
            return _U32.pack(value) if value <= 0xFFFFFFFF else _U64.pack(value)
        if kind is Kind.FLAG:
            return b""
        raise TypeError(f"{self.prefix}{attr.name} cannot be encoded")


def encode_attr(number: int, payload: bytes, *, nested: bool = False) -> bytes:
    """One attribute: header, payload, zero padding to 4 bytes."""
    length = NLA_HDRLEN + len(payload)
    header = ATTR_HEADER.pack(length, number | (NLA_F_NESTED if nested else 0))
    return header + payload + b"\0" * ((-length) & 3)
