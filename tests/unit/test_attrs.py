"""Declarative attribute tables (hostdev._netlink.attrs): every Kind round-trips, and no input
crashes the decoder with anything but DecodeError."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev.errors import DecodeError
from hostdev._netlink.attrs import KIND_NAMES, Attr, AttrSet, Kind, encode_attr
from hostdev._netlink.wire import NLA_F_NESTED, iter_attrs

EXAMPLES = settings(max_examples=200, deadline=None)

INNER = AttrSet("T_IN_", [
    Attr(1, "NAME", Kind.STRING),
    Attr(2, "VALUE", Kind.U32),
])  # fmt: skip

TABLE = AttrSet("T_", [
    Attr(1, "U8", Kind.U8),
    Attr(2, "U16", Kind.U16),
    Attr(3, "U32", Kind.U32),
    Attr(4, "S32", Kind.S32),
    Attr(5, "U64", Kind.U64),
    Attr(6, "UINT", Kind.UINT),
    Attr(7, "STRING", Kind.STRING),
    Attr(8, "BINARY", Kind.BINARY),
    Attr(9, "NEST", Kind.NEST, INNER),
    Attr(10, "FLAG", Kind.FLAG),
    Attr(11, "BE16", Kind.BE16),
    Attr(12, "PAD", Kind.PAD),
    Attr(13, "OPAQUE_NEST", Kind.NEST),
])  # fmt: skip

# A text that survives bytes -> str -> bytes: attribute strings are bytes without NUL.
attr_text = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"x").decode("utf-8", "surrogateescape"))

VALUES: dict[int, st.SearchStrategy[Any]] = {
    Kind.U8: st.integers(0, 0xFF),
    Kind.U16: st.integers(0, 0xFFFF),
    Kind.U32: st.integers(0, 0xFFFFFFFF),
    Kind.S32: st.integers(-(2**31), 2**31 - 1),
    Kind.U64: st.integers(0, 2**64 - 1),
    Kind.UINT: st.integers(0, 2**64 - 1),
    Kind.STRING: attr_text,
    Kind.BINARY: st.binary(max_size=40),
    Kind.FLAG: st.just(True),
    Kind.BE16: st.integers(0, 0xFFFF),
}
nested_value = st.fixed_dictionaries({}, optional={"NAME": attr_text, "VALUE": VALUES[Kind.U32]})


def value_for(attr: Attr) -> st.SearchStrategy[Any]:
    if attr.kind == Kind.NEST:
        return nested_value if attr.nested is not None else st.binary(max_size=40)
    return VALUES[attr.kind]


ENCODABLE = [a for a in TABLE.by_number.values() if a.kind != Kind.PAD]


@st.composite
def attribute_lists(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Some attributes of the table, each once, in any order, with values of their kind."""
    chosen = draw(st.lists(st.sampled_from(ENCODABLE), unique=True, max_size=8))
    return [(attr.name, draw(value_for(attr))) for attr in chosen]


def expected_decoded(name: str, value: Any) -> Any:
    attr = TABLE.by_name[name]
    if attr.kind == Kind.NEST and attr.nested is not None:
        return {INNER[k]: v for k, v in value.items()}
    return value


def test_every_kind_is_covered() -> None:
    assert {a.kind for a in TABLE.by_number.values()} == set(KIND_NAMES)


@settings(max_examples=100, deadline=None)  # rich composite values: dear to generate
@given(attribute_lists())
def test_every_kind_round_trips(pairs: list[tuple[str, Any]]) -> None:
    buf = TABLE.encode(pairs)
    assert len(buf) % 4 == 0
    assert [number for number, _s, _e in iter_attrs(buf, 0, len(buf))] == [TABLE[n] for n, _v in pairs]
    assert TABLE.decode(buf, 0, len(buf)) == {TABLE[n]: expected_decoded(n, v) for n, v in pairs}


@EXAMPLES
@given(st.integers(0, 2**64 - 1))
def test_uint_takes_the_smallest_of_4_or_8_bytes(value: int) -> None:
    buf = TABLE.encode_one("UINT", value)
    assert len(buf) == (8 if value <= 0xFFFFFFFF else 12)
    assert TABLE.decode(buf, 0, len(buf)) == {6: value}


def test_fixed_layouts_are_host_order_except_be16() -> None:
    assert TABLE.encode_one("U32", 0x01020304) == struct.pack("=HH", 8, 3) + struct.pack("=I", 0x01020304)
    assert TABLE.encode_one("BE16", 0x1234) == struct.pack("=HH", 6, 11) + b"\x12\x34\0\0"
    assert TABLE.encode_one("STRING", "lo") == struct.pack("=HH", 7, 7) + b"lo\0\0"
    assert TABLE.encode_one("FLAG", True) == struct.pack("=HH", 4, 10)


def test_decoding_skips_unknown_numbers_and_honours_wanted() -> None:
    buf = encode_attr(99, b"whatever") + TABLE.encode([("U32", 7), ("STRING", "x")]) + encode_attr(0x3FFF, b"")
    assert TABLE.decode(buf, 0, len(buf)) == {3: 7, 7: "x"}
    assert TABLE.decode(buf, 0, len(buf), frozenset({7})) == {7: "x"}


def test_nest_with_or_without_the_nested_flag_decodes_the_same() -> None:
    inner = INNER.encode([("NAME", "veth"), ("VALUE", 5)])
    plain = encode_attr(9, inner)
    flagged = encode_attr(9 | NLA_F_NESTED, inner)
    assert struct.unpack_from("=H", flagged, 2)[0] == 9 | NLA_F_NESTED
    for buf in (plain, flagged):
        assert TABLE.decode(buf, 0, len(buf)) == {9: {1: "veth", 2: 5}}
    opaque = encode_attr(13, inner)
    assert TABLE.decode(opaque, 0, len(opaque)) == {13: inner}


def test_pad_is_recognised_and_never_decoded() -> None:
    buf = encode_attr(12, b"\0" * 4) + TABLE.encode_one("U64", 1 << 40)
    assert TABLE.decode(buf, 0, len(buf)) == {12: None, 5: 1 << 40}
    with pytest.raises(TypeError):
        TABLE.encode_one("PAD", None)


@pytest.mark.parametrize(
    ("number", "payload"),
    [(1, b""), (2, b"\0"), (3, b"\0\0\0"), (4, b"\0\0"), (5, b"\0" * 7), (6, b"\0" * 5), (11, b"\0")],
)
def test_short_fixed_payload_is_a_decode_error_naming_the_attribute(number: int, payload: bytes) -> None:
    buf = encode_attr(number, payload)
    with pytest.raises(DecodeError, match=TABLE.describe(number)):
        TABLE.decode(buf, 0, len(buf))


@pytest.mark.parametrize(
    ("name", "value"),
    [("U8", 256), ("U16", -1), ("U32", 2**32), ("S32", 2**31), ("U64", -1), ("UINT", -1), ("BE16", 1 << 16), ("U32", "7")],
)
def test_values_that_do_not_fit_are_value_errors(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"T_{name}"):
        TABLE.encode_one(name, value)


def test_wrong_python_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        TABLE.encode_one("STRING", b"bytes")
    with pytest.raises(TypeError):
        TABLE.encode_one("BINARY", "text")
    with pytest.raises(TypeError):
        TABLE.encode_one("OPAQUE_NEST", {"NAME": "x"})


def test_table_lookups_and_duplicates() -> None:
    assert TABLE["NEST"] == 9
    assert TABLE.describe(7) == "T_STRING"
    assert TABLE.describe(77) == "T_<77>"
    with pytest.raises(ValueError, match="duplicate"):
        AttrSet("D_", [Attr(1, "A", Kind.U8), Attr(1, "B", Kind.U8)])
    with pytest.raises(ValueError, match="duplicate"):
        AttrSet("D_", [Attr(1, "A", Kind.U8), Attr(2, "A", Kind.U8)])


@EXAMPLES
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_decode_error(buf: bytes) -> None:
    try:
        values = TABLE.decode(buf, 0, len(buf))
    except DecodeError:
        return
    assert set(values) <= set(TABLE.by_number)


@EXAMPLES
@given(st.lists(st.tuples(st.sampled_from(sorted(TABLE.by_number)), st.binary(max_size=24)), max_size=8))
def test_well_framed_attributes_with_arbitrary_payloads_only_raise_decode_error(
    attrs: list[tuple[int, bytes]],
) -> None:
    # Framing is right, payloads are not: the size checks (not struct) must catch them.
    buf = b"".join(encode_attr(number, payload) for number, payload in attrs)
    try:
        TABLE.decode(buf, 0, len(buf))
    except DecodeError:
        pass


# --- repeated attributes and typed reads ---
REPEATED = AttrSet("T_R_", [Attr(1, "NAME", Kind.STRING, multi=True), Attr(2, "ONE", Kind.U32)])


def test_a_multi_attribute_keeps_every_value_in_order() -> None:
    body = REPEATED.encode([("NAME", "b0"), ("ONE", 7), ("NAME", "a0"), ("NAME", "c0")])
    attrs = REPEATED.decode(body, 0, len(body))
    assert attrs.texts(1) == ("b0", "a0", "c0") and attrs.integer(2) == 7
    assert REPEATED.decode(b"", 0, 0).texts(1) == ()


def test_typed_reads_treat_a_value_of_another_type_as_absent() -> None:
    body = TABLE.encode([("U32", 5), ("STRING", "x"), ("BINARY", b"\x01"), ("NEST", [("NAME", "in")]), ("FLAG", True)])
    attrs = TABLE.decode(body, 0, len(body))
    assert (attrs.integer(3), attrs.text(7), attrs.binary(8), attrs.boolean(10)) == (5, "x", b"\x01", True)
    nest = attrs.nest(9)
    assert nest is not None and nest.text(1) == "in"
    assert (attrs.integer(7), attrs.text(3), attrs.binary(3), attrs.nest(7), attrs.integer(99)) == (None, None, None, None, None)
    assert attrs.required_integer(3, "test") == 5 and attrs.required_text(7, "test") == "x"
    with pytest.raises(DecodeError, match="test without T_U8"):
        attrs.required_integer(1, "test")
    empty = TABLE.encode([("STRING", "")])
    assert TABLE.decode(empty, 0, len(empty)).text(7) is None  # an empty name is no name
