"""hostdev._json must behave as the json module does for everything the plugin reads and writes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev import _json

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=25)


@settings(max_examples=300)
@given(documents, st.sampled_from([None, 2]), st.booleans(), st.booleans())
def test_dumps_is_byte_identical_to_json(doc: object, indent: int | None, sort_keys: bool, ensure_ascii: bool) -> None:
    assert _json.dumps(doc, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) == json.dumps(
        doc, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii
    )
    compact = (",", ":")
    assert _json.dumps(doc, separators=compact, sort_keys=True) == json.dumps(doc, separators=compact, sort_keys=True)


@settings(max_examples=300)
@given(documents)
def test_loads_reads_what_json_writes(doc: object) -> None:
    text = json.dumps(doc, indent=1)
    assert _json.loads("  " + text + "\n") == json.loads(text)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_loads_fails_exactly_where_json_fails(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            _json.loads(text)
    else:
        assert _json.loads(text) == expected or expected != expected


def test_hooks_and_non_finite() -> None:
    pairs: list[list[tuple[str, object]]] = []
    assert _json.loads('{"a": 1, "a": 2}', object_pairs_hook=lambda p: pairs.append(p) or dict(p)) == {"a": 2}
    assert pairs == [[("a", 1), ("a", 2)]]
    with pytest.raises(ValueError, match="not JSON"):
        _json.loads("[NaN]", parse_constant=lambda name: (_ for _ in ()).throw(ValueError("not JSON")))
    assert _json.loads("[1.5]", parse_float=lambda t: ("f", t)) == [("f", "1.5")]
    with pytest.raises(ValueError):
        _json.dumps(float("nan"), allow_nan=False)
    assert _json.dumps([float("inf")]) == json.dumps([float("inf")])


def test_syntax_errors_are_value_errors_in_a_fresh_interpreter() -> None:
    """Without json.decoder loaded, the C scanner cannot raise its own error type."""
    import subprocess
    import sys

    code = "import hostdev._json as j\ntry:\n    j.loads('{\"a\": }')\nexcept ValueError as e:\n    print('ValueError', e)\n"
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n" + code], capture_output=True, text=True)
    assert proc.stdout.startswith("ValueError Expecting value"), proc.stdout + proc.stderr
