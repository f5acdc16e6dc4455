"""hostdev._record.NamedTuple: the run-time stand-in for typing.NamedTuple behaves like a
collections.namedtuple where the code relies on it, without importing collections."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from hostdev._record import NamedTuple


class Point(NamedTuple):
    x: int
    y: int
    label: str = "p"

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


def test_fields_positional_keyword_and_defaults() -> None:
    p = Point(1, 2)
    assert (p.x, p.y, p.label) == (1, 2, "p") and p == (1, 2, "p") and tuple(p) == (1, 2, "p")
    assert Point(y=2, x=1, label="q") == Point(1, 2, "q") and Point(1, y=2) == p
    assert p.norm1() == 3 and p[1] == 2 and len(p) == 3
    x, y, label = p
    assert (x, y, label) == (1, 2, "p")
    assert hash(p) == hash((1, 2, "p")) and isinstance(p, tuple)


def test_helpers_repr_and_pickle() -> None:
    p = Point(1, 2)
    assert p._asdict() == {"x": 1, "y": 2, "label": "p"}
    assert p._replace(y=5) == Point(1, 5) and p == Point(1, 2)
    assert repr(p) == "Point(x=1, y=2, label='p')" and Point._fields == ("x", "y", "label")
    assert pickle.loads(pickle.dumps(p)) == p


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, 2, "a", 4), {}), ((1, 2), {"z": 3}), ((1, 2), {"x": 1})])
def test_wrong_arguments_raise_type_error(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        Point(*args, **kwargs)


def test_fields_are_read_only() -> None:
    with pytest.raises(AttributeError):
        Point(1, 2).x = 3  # type: ignore[misc]


def test_defining_one_imports_neither_typing_nor_collections() -> None:
    code = ("import sys\nfrom hostdev._record import NamedTuple\nclass T(NamedTuple):\n    a: int\n"
            "print(sorted({'typing', 'collections'} & set(sys.modules)))")  # fmt: skip
    done = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n{code}"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_a_field_without_default_after_one_with_a_default_is_refused() -> None:
    with pytest.raises(TypeError):

        class Bad(NamedTuple):  # noqa: F841
            a: int = 0
            b: int
