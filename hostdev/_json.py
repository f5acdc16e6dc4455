"""JSON through the interpreter's C accelerator (``_json``) without importing ``json``.

``import json`` compiles the regular expressions of ``json.decoder``/``json.encoder`` and so
imports ``re``: ~4 ms of every plugin exec (measured with ``-X importtime``). The parsing and
string escaping are ``_json``'s C code either way; this module only drives it. Output is
byte-identical to ``json.dumps`` with the same arguments (tested against it), and ``loads``
accepts what ``json.loads`` accepts, raising ``ValueError`` where it does.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Context:
    """The attributes ``_json.make_scanner`` reads from its context object."""

    __slots__ = ("strict", "object_hook", "object_pairs_hook", "parse_float", "parse_int", "parse_constant", "memo")

    def __init__(self, object_pairs_hook: Any, parse_float: Any, parse_constant: Any) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = object_pairs_hook
        self.parse_float = parse_float or float
        self.parse_int = int
        self.parse_constant = parse_constant or _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


def loads(
    text: str,
    *,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_float: Callable[[str], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    scan = _json.make_scanner(_Context(object_pairs_hook, parse_float, parse_constant))  # type: ignore[arg-type]  # typeshed types the context as the scanner itself
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"Expecting value: char {stop.value}") from None
    except SystemError:
        # The accelerator reports most syntax errors through json.decoder.JSONDecodeError and
        # fails this way while json.decoder is not loaded: let json itself say what is wrong
        # (the error path only; valid input never gets here).
        import json

        return json.loads(text, object_pairs_hook=object_pairs_hook, parse_float=parse_float, parse_constant=parse_constant)
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


def dumps(
    obj: Any,
    *,
    indent: int | None = None,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    ensure_ascii: bool = True,
    allow_nan: bool = True,
) -> str:
    if separators is None:
        separators = (", ", ": ") if indent is None else (",", ": ")
    encode = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    parts: list[str] = []
    _emit(obj, parts, 0, indent, sort_keys, separators, encode, allow_nan)
    return "".join(parts)


def _emit(
    obj: Any,
    out: list[str],
    level: int,
    indent: int | None,
    sort_keys: bool,
    separators: tuple[str, str],
    encode: Callable[[str], str],
    allow_nan: bool,
) -> None:
    if isinstance(obj, str):
        out.append(encode(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_float(obj, allow_nan))
    elif isinstance(obj, (list, tuple, dict)):
        if not obj:
            out.append("{}" if isinstance(obj, dict) else "[]")
            return
        opening, closing = ("{", "}") if isinstance(obj, dict) else ("[", "]")
        item_sep, key_sep = separators
        if indent is None:
            inner = item_sep
            first = last = ""
        else:
            first = "\n" + " " * (indent * (level + 1))
            last = "\n" + " " * (indent * level)
            inner = item_sep + first
        out.append(opening + first)
        if isinstance(obj, dict):
            items = sorted(obj.items()) if sort_keys else list(obj.items())
            for position, (key, value) in enumerate(items):
                if not isinstance(key, str):
                    raise TypeError(f"keys must be str, not {type(key).__name__}")
                if position:
                    out.append(inner)
                out.append(encode(key) + key_sep)
                _emit(value, out, level + 1, indent, sort_keys, separators, encode, allow_nan)
        else:
            for position, value in enumerate(obj):
                if position:
                    out.append(inner)
                _emit(value, out, level + 1, indent, sort_keys, separators, encode, allow_nan)
        out.append(last + closing)
    else:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _float(value: float, allow_nan: bool) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        if not allow_nan:
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return float.__repr__(value)
