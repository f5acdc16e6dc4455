"""Declarative tables: the wire format as data, after the kernel's YNL specs.

A family's attributes are an :class:`AttrSet` of :class:`Attr` rows (number, name, kind), so
adding an attribute is one line. Decoding walks the attributes once and converts only the
numbers the caller asks for; everything else is skipped by length without being copied. A
family's requests are :class:`Operation` rows (message type, name, fixed header, attribute set):
handles build requests from them, and a refusal is explained with them (the attribute the kernel
points at is named from the operation's set).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import struct
    from typing import Callable, Iterable, NamedTuple
else:  # struct.py only re-exports the C module: one module less per plugin exec
    import _struct as struct

    from hostdev._record import NamedTuple

from hostdev.errors import DecodeError
from hostdev._netlink.wire import ATTR_HEADER, NLA_HDRLEN, NLA_TYPE_MASK, decode_string

Buffer = bytes | bytearray | memoryview


class Kind:
    """How an attribute's payload is laid out. Plain ints, not an ``enum``: importing ``enum``
    (and the ``functools`` and ``collections`` it pulls in) costs the CNI binary ~5 ms a call."""

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


def value_names(values: type) -> dict[int, str]:
    """``{number: NAME}`` of a class of int constants: the codec's stand-in for an ``IntEnum``."""
    return {value: name for name, value in vars(values).items() if name.isupper() and isinstance(value, int)}


KIND_NAMES = value_names(Kind)

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


class Attr(NamedTuple):
    # A tuple, not a @record: the tables build ~170 of these at import, and a tuple is made
    # without running an __init__ (-0.1 ms per exec).
    number: int
    name: str
    kind: int  # a Kind
    nested: AttrSet | None = None
    multi: bool = False  # may repeat (YNL's multi-attr): decoded as a tuple of every value


class Attrs(dict[int, object]):
    """Decoded attributes by number, as :meth:`AttrSet.decode` returns them, read by type: a
    value of another type than the one asked for reads as absent, like a missing attribute, and
    an empty string as no string (the kernel sends unset names empty)."""

    __slots__ = ("table",)
    table: AttrSet  # set by decode(): an __init__ would cost every message a Python call

    def integer(self, number: int) -> int | None:
        value = self.get(number)
        return value if isinstance(value, int) else None

    def boolean(self, number: int) -> bool | None:
        value = self.get(number)
        return bool(value) if isinstance(value, int) else None

    def text(self, number: int) -> str | None:
        value = self.get(number)
        return value if isinstance(value, str) and value else None

    def texts(self, number: int) -> tuple[str, ...]:
        """Every string of a ``multi`` attribute, in the order the kernel sent them."""
        values = self.get(number, ())
        return tuple(v for v in values if isinstance(v, str)) if isinstance(values, tuple) else ()

    def binary(self, number: int) -> bytes | None:
        value = self.get(number)
        return value if isinstance(value, bytes) else None

    def nest(self, number: int) -> Attrs | None:
        value = self.get(number)
        return value if isinstance(value, Attrs) else None

    def required_integer(self, number: int, what: str) -> int:
        value = self.integer(number)
        if value is None:
            raise DecodeError(f"{what} without {self.table.describe(number)}")
        return value

    def required_text(self, number: int, what: str) -> str:
        value = self.get(number)
        if not isinstance(value, str):
            raise DecodeError(f"{what} without {self.table.describe(number)}")
        return value


class Request:
    """What was sent, kept only to explain a refusal: its name, family header size and table."""

    __slots__ = ("name", "header_size", "table")

    def __init__(self, name: str, header_size: int, table: AttrSet | None) -> None:
        self.name = name
        self.header_size = header_size
        self.table = table


class Operation(NamedTuple):
    """One request of a family, as YNL describes it: message type, name, the fixed family header
    (None: RDMA netlink has none) and the attribute set of its body."""

    type: int
    name: str
    header: struct.Struct | None
    attrs: AttrSet

    def request(self, detail: str = "") -> Request:
        """This operation on one object (``detail``, e.g. ``ifindex=7``), for error messages."""
        name = f"{self.name} {detail}" if detail else self.name
        return Request(name, self.header.size if self.header is not None else 0, self.attrs)


class AttrSet:
    """The attributes of one family or nest, addressable by number and by name."""

    __slots__ = ("prefix", "by_number", "by_name", "_decoders", "_multi")

    def __init__(self, prefix: str, attrs: Iterable[Attr]) -> None:
        self.prefix = prefix  # the C prefix, e.g. "IFLA_": prefix + name is the header's macro
        self.by_number: dict[int, Attr] = {}
        self.by_name: dict[str, Attr] = {}
        # One decoding function per attribute number, so that the hot loop does a dict lookup
        # and a call, never a comparison chain; built on the first decode, not at import: most
        # sets are never decoded in a given plugin exec.
        self._decoders: dict[int, Callable[[Buffer, int, int], object]] | None = None
        self._multi: dict[int, Callable[[Buffer, int, int], object]] = {}
        for attr in attrs:
            if attr.number in self.by_number or attr.name in self.by_name:
                raise ValueError(f"duplicate attribute {prefix}{attr.name} ({attr.number})")
            self.by_number[attr.number] = attr
            self.by_name[attr.name] = attr

    def _build_decoders(self) -> dict[int, Callable[[Buffer, int, int], object]]:
        # The repeating attributes get decoders of their own, looked at only when the main table
        # has none for a number: a single-valued attribute pays nothing for them.
        prefix = self.prefix
        built = {number: _value_decoder(f"{prefix}{attr.name}", attr) for number, attr in self.by_number.items()}
        self._multi = {number: built.pop(number) for number, attr in self.by_number.items() if attr.multi}
        self._decoders = built
        return built

    def __getitem__(self, name: str) -> int:
        return self.by_name[name].number

    def describe(self, number: int) -> str:
        attr = self.by_number.get(number)
        return f"{self.prefix}{attr.name}" if attr else f"{self.prefix}<{number}>"

    # --- decoding ---
    def decode(
        self, buf: Buffer, start: int, end: int, wanted: frozenset[int] | None = None
    ) -> Attrs:
        """Attribute number -> decoded value, for the attributes in ``wanted`` (all known if None);
        a ``multi`` attribute's values as a tuple.

        Unknown numbers are skipped by length, without copying; a known attribute whose payload
        has the wrong size raises :class:`DecodeError` naming it. (The walk is
        :func:`~hostdev._netlink.wire.iter_attrs` inlined: this loop runs for every attribute of
        every message, and a generator costs more than the work.)
        """
        values = Attrs()
        values.table = self
        decoders = self._decoders
        if decoders is None:
            decoders = self._build_decoders()
        multi = self._multi
        unpack_header = ATTR_HEADER.unpack_from
        offset = start
        while end - offset >= NLA_HDRLEN:
            length, number = unpack_header(buf, offset)
            if length < NLA_HDRLEN or offset + length > end:
                raise DecodeError(f"attribute at offset {offset} claims length {length}, {end - offset} bytes left")
            number &= NLA_TYPE_MASK
            if wanted is None or number in wanted:
                decoder = decoders.get(number)
                if decoder is not None:
                    values[number] = decoder(buf, offset + NLA_HDRLEN, offset + length)
                elif number in multi:
                    value = multi[number](buf, offset + NLA_HDRLEN, offset + length)
                    values[number] = values.get(number, ()) + (value,)  # type: ignore[operator]
            offset += (length + 3) & ~3
        return values


    # --- encoding ---
    def encode(self, items: Iterable[tuple[str, object]] | dict[str, object]) -> bytes:
        """Encode ``(name, value)`` pairs in the given order (order matters to some kernels)."""
        pairs = items.items() if isinstance(items, dict) else items
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
                raise ValueError(f"{self.prefix}{attr.name}: {value!r} does not fit {KIND_NAMES[kind]}") from None
        if kind == Kind.STRING:
            if not isinstance(value, str):
                raise TypeError(f"{self.prefix}{attr.name} takes a str")
            return value.encode("utf-8", "surrogateescape") + b"\0"
        if kind == Kind.BINARY:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"{self.prefix}{attr.name} takes bytes")
            return bytes(value)
        if kind == Kind.NEST:
            if isinstance(value, (bytes, bytearray, memoryview)):
                return bytes(value)
            if attr.nested is None:
                raise TypeError(f"{self.prefix}{attr.name} has no table: pass encoded bytes")
            return attr.nested.encode(value)  # type: ignore[arg-type]
        if kind == Kind.UINT:
            if not isinstance(value, int) or not 0 <= value < 1 << 64:
                raise ValueError(f"{self.prefix}{attr.name}: {value!r} does not fit UINT")
            return _U32.pack(value) if value <= 0xFFFFFFFF else _U64.pack(value)
        if kind == Kind.FLAG:
            return b""
        raise TypeError(f"{self.prefix}{attr.name} cannot be encoded")



def _value_decoder(name: str, attr: Attr) -> Callable[[Buffer, int, int], object]:
    """The decoding function for one attribute of a table."""
    kind = attr.kind
    fixed = _FIXED.get(kind)
    if fixed is not None:
        size, unpack = fixed.size, fixed.unpack_from

        def fixed_value(buf: Buffer, start: int, end: int) -> object:
            if end - start < size:
                raise DecodeError(f"{name}: {end - start} bytes, expected {size}")
            return unpack(buf, start)[0]

        return fixed_value
    if kind == Kind.STRING:
        return decode_string
    nested = attr.nested
    if kind == Kind.BINARY or (kind == Kind.NEST and nested is None):
        return lambda buf, start, end: bytes(buf[start:end])
    if kind == Kind.NEST:
        assert nested is not None
        return lambda buf, start, end: nested.decode(buf, start, end)
    if kind == Kind.UINT:

        def uint_value(buf: Buffer, start: int, end: int) -> object:
            if end - start == 4:
                return _U32.unpack_from(buf, start)[0]
            if end - start == 8:
                return _U64.unpack_from(buf, start)[0]
            raise DecodeError(f"{name}: {end - start} bytes, expected 4 or 8")

        return uint_value
    if kind == Kind.FLAG:
        return lambda buf, start, end: True
    return lambda buf, start, end: None  # Kind.PAD: alignment filler, its bytes mean nothing

def encode_attr(number: int, payload: bytes) -> bytes:
    """One attribute: header, payload, zero padding to 4 bytes. (``number`` may carry the
    ``NLA_F_NESTED`` flag, as the kernel sets it on some nests.)"""
    length = NLA_HDRLEN + len(payload)
    header = ATTR_HEADER.pack(length, number)
    return header + payload + b"\0" * ((-length) & 3)
