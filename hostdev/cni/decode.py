"""Turning the configuration bytes from stdin into a JSON object, or a code-6 :class:`CniError`.

Stricter than ``json.loads`` in the ways that matter for input from another program:

- at most :data:`MAX_CONFIG_BYTES` bytes, strict UTF-8 (no BOM, no lone surrogates even when
  written as ``\\ud800`` escapes, since such text cannot be written back out as UTF-8);
- only real JSON, and only what can be written back as JSON: ``NaN``/``Infinity``, numbers
  that overflow a float, and integers longer than Python's digit limit are refused;
- nesting deeper than :data:`MAX_NESTING` is refused with a clean error (the C scanner's
  ``RecursionError`` on absurd depths is caught too, so no traceback can escape);
- the top level must be an object;
- a key repeated in one object with *different* values is refused, naming the key, because
  different JSON parsers keep different copies (Go's keeps the last, some keep the first) and
  the runtime and this plugin must not disagree about the configuration. A key repeated with an
  *equal* value (same JSON text after canonical re-encoding) is accepted: every parser reads it
  the same way;
- two keys of one object that differ only by case (``cniVersion`` and ``CNIVERSION``) are
  refused, whatever their values: Go's encoding/json (libcni, Multus) matches a struct field
  case-insensitively (Unicode simple folding, so the Kelvin sign is a ``k``) and may read the copy
  this plugin ignores. ``str.casefold`` folds at least as much as Go does.
"""

from __future__ import annotations

from hostdev import _json as json
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

from .errors import DECODE_FAILURE, CniError

MAX_CONFIG_BYTES = 1 << 20
"""1 MiB: a real configuration, prevResult included, is a few KiB."""

MAX_NESTING = 64
"""Deepest array/object nesting accepted; real configurations stay under 10."""


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _CaseDuplicateKeys(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(first, second)
        self.first = first
        self.second = second


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _object_from_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj: dict[str, object] = {}
    # Canonical text of values already compared, so many repeats of one key cost one
    # encoding of the kept value, not one per repeat.
    canonical: dict[str, str] = {}
    for key, value in pairs:
        if key in obj:
            if key not in canonical:
                canonical[key] = _canonical(obj[key])
            if canonical[key] != _canonical(value):
                raise _DuplicateKey(key)
            continue
        obj[key] = value
    # One set per object (a configuration has a few dozen keys); the pair is looked for only
    # when the set is short, which valid input never makes it.
    if len({key.casefold() for key in obj}) != len(obj):
        seen: dict[str, str] = {}
        for key in obj:
            first = seen.setdefault(key.casefold(), key)
            if first != key:
                raise _CaseDuplicateKeys(first, key)
    return obj


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON but overflows to inf, which json.dumps would write back as the
    # non-JSON token Infinity.
    number = float(text)
    if number - number != 0.0:
        raise ValueError(f"number {text[:40]} is out of range")
    return number


def _text_is_encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _structure_problem(root: dict[str, object]) -> str | None:
    # Iterative, because the point is to judge depth without recursing ourselves. Only
    # containers go on the stack; scalars are judged where they are found.
    stack: list[tuple[list[object] | dict[str, object], int]] = [(root, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"nested deeper than {MAX_NESTING} levels"
        if isinstance(container, dict):
            if not all(map(_text_is_encodable, container)):
                return "a key contains an unpaired surrogate escape"
            items: Iterable[object] = container.values()
        else:
            items = container
        for item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
            elif isinstance(item, str) and not _text_is_encodable(item):
                return "a string contains an unpaired surrogate escape"
    return None


def decode_config(raw: bytes) -> dict[str, object]:
    """Decode a CNI configuration; every failure is a :class:`CniError` with code 6."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise CniError(
            DECODE_FAILURE,
            "network configuration is too large",
            f"at most {MAX_CONFIG_BYTES} bytes accepted",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CniError(
            DECODE_FAILURE, "network configuration is not valid UTF-8", str(exc)
        ) from None
    if not text.strip():
        raise CniError(DECODE_FAILURE, "network configuration is empty")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_from_pairs,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except _DuplicateKey as exc:
        raise CniError(
            DECODE_FAILURE,
            f"network configuration repeats key {exc.key!r} with different values",
        ) from None
    except _CaseDuplicateKeys as exc:
        raise CniError(
            DECODE_FAILURE,
            f"network configuration has keys that differ only by case: {exc.first!r} and {exc.second!r}",
            "Go's JSON decoder (the runtime's) may read either one",
        ) from None
    except RecursionError:
        raise CniError(
            DECODE_FAILURE,
            "network configuration is not valid JSON",
            f"nested deeper than {MAX_NESTING} levels",
        ) from None
    except ValueError as exc:
        # json.JSONDecodeError, refused constants, and int() digit-limit errors.
        raise CniError(
            DECODE_FAILURE, "network configuration is not valid JSON", str(exc)
        ) from None
    if not isinstance(value, dict):
        raise CniError(
            DECODE_FAILURE,
            "network configuration must be a JSON object",
            f"top level is a JSON {_json_kind(value)}",
        )
    problem = _structure_problem(value)
    if problem is not None:
        raise CniError(DECODE_FAILURE, "network configuration is not acceptable JSON", problem)
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
