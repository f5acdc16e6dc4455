"""Frozen, slotted value classes without the ``dataclasses`` module.

The CNI binary starts on every pod event. ``import dataclasses`` pulls in ``inspect`` (and with
it ``ast``, ``dis``, ``tokenize``), and each ``@dataclass`` compiles half a dozen generated
methods with ``exec``: together about 1 ms per class, ~30 ms per plugin exec for the classes on
the ADD path (measured in benchmarks/cni). ``@record`` builds the same kind of class — frozen,
``__slots__``, positional-or-keyword ``__init__`` with defaults, ``__eq__``, ``__hash__``,
``__repr__``, pickling — from closures, compiling nothing. Type checkers see it as a dataclass
(PEP 681 ``dataclass_transform``).

Limits, by design: no inheritance between records, no ``super()`` in their methods (the class
is rebuilt with ``__slots__``), fields declared with annotations only.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs: object) -> object:
        return lambda decorated: decorated


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a record."""


class _Field:
    __slots__ = ("default", "default_factory", "compare", "hash")

    def __init__(self, default: object, default_factory: object, compare: bool, hash: bool | None) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.hash = compare if hash is None else hash


_MISSING = object()


def field(
    *, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True, hash: bool | None = None
) -> Any:
    """A field with a default or a default factory, or left out of ``==`` and/or ``hash``."""
    return _Field(default, default_factory, compare, hash)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults: dict[str, object] = {}
    factories: dict[str, Callable[[], object]] = {}
    compared: list[str] = []
    hashed: list[str] = []
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    for name in names:
        spec = namespace.pop(name, _MISSING)
        compare = hashable = True
        if isinstance(spec, _Field):
            compare, hashable = spec.compare, spec.hash
            if spec.default_factory is not _MISSING:
                factories[name] = spec.default_factory  # type: ignore[assignment]
            elif spec.default is not _MISSING:
                defaults[name] = spec.default
        elif spec is not _MISSING:
            defaults[name] = spec
        if compare:
            compared.append(name)
        if hashable:
            hashed.append(name)
    namespace["__slots__"] = names
    namespace["__record_fields__"] = names
    namespace["__match_args__"] = names
    new_cls: Any = type(cls.__name__, cls.__bases__, namespace)
    setters = tuple(getattr(new_cls, name).__set__ for name in names)
    getters = tuple(getattr(new_cls, name).__get__ for name in names)
    compared_getters = tuple(getattr(new_cls, name).__get__ for name in compared)
    hashed_getters = tuple(getattr(new_cls, name).__get__ for name in hashed)
    _install(new_cls, names, defaults, factories, setters, getters, compared_getters, hashed_getters)
    built: type[T] = new_cls
    return built


def _install(
    cls: type[Any],
    names: tuple[str, ...],
    defaults: dict[str, object],
    factories: dict[str, Callable[[], object]],
    setters: tuple[Callable[[object, object], None], ...],
    getters: tuple[Callable[[object], object], ...],
    compared_getters: tuple[Callable[[object], object], ...],
    hashed_getters: tuple[Callable[[object], object], ...],
) -> None:
    qualname = cls.__qualname__

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        for setter, value in zip(setters, _arguments(qualname, names, args, kwargs, defaults, factories)):
            setter(self, value)

    def values_of(self: object) -> tuple[object, ...]:
        return tuple(get(self) for get in getters)

    def compared_values(self: object) -> tuple[object, ...]:
        return tuple(get(self) for get in compared_getters)

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compared_values(self) == compared_values(other)

    def __hash__(self: object) -> int:
        return hash(tuple(get(self) for get in hashed_getters))

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(names, values_of(self)))
        return f"{qualname}({inner})"

    def __setattr__(self: object, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r} of {qualname}")

    def __delattr__(self: object, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r} of {qualname}")

    def __reduce__(self: object) -> tuple[object, ...]:
        return (cls, values_of(self))

    for method in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__, __reduce__):
        method.__qualname__ = f"{qualname}.{method.__name__}"
        setattr(cls, method.__name__, method)


def _arguments(
    qualname: str, names: tuple[str, ...], args: tuple[object, ...], kwargs: dict[str, object],
    defaults: dict[str, object], factories: dict[str, Callable[[], object]],
) -> list[object]:  # fmt: skip
    """The value of each field, in order, from a call's arguments and the fields' defaults."""
    if len(args) > len(names):
        raise TypeError(f"{qualname}() takes {len(names)} arguments, {len(args)} given")
    values = list(args)
    for name in names[len(args):]:
        if name in kwargs:
            values.append(kwargs.pop(name))
        elif name in defaults:
            values.append(defaults[name])
        elif name in factories:
            values.append(factories[name]())
        else:
            raise TypeError(f"{qualname}() missing argument {name!r}")
    if kwargs:
        raise TypeError(f"{qualname}() got unexpected or repeated arguments {sorted(kwargs)}")
    return values


def fields(obj_or_cls: object) -> tuple[str, ...]:
    """The field names of a record (instance or class), in declaration order."""
    names: tuple[str, ...] = getattr(obj_or_cls, "__record_fields__")
    return names


def replace(obj: T, **changes: object) -> T:
    """A copy of ``obj`` with some fields changed."""
    values = {name: getattr(obj, name) for name in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def asdict(obj: object) -> dict[str, object]:
    """Field name -> value; nested records (also inside lists and tuples) become dicts too."""
    return {name: _plain(getattr(obj, name)) for name in fields(obj)}


def _plain(value: object) -> object:
    if hasattr(value, "__record_fields__") and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def typed(value: object, kind: type[T], what: str = "") -> T:
    """``value`` if it is a ``kind`` (a bool is no int), for reading a record back from JSON;
    ValueError naming ``what`` otherwise."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        prefix = f"{what}: " if what else ""
        raise ValueError(f"{prefix}expected {kind.__name__}, got {type(value).__name__}")
    return value


def optional(value: object, kind: type[T], what: str = "") -> T | None:
    """:func:`typed`, with None (JSON null, or a key left out) read as absent."""
    return None if value is None else typed(value, kind, what)


class _NamedTupleMeta(type):
    """``class X(NamedTuple): a: int`` as a tuple subclass with one property per field, without
    ``typing`` nor ``collections`` (``collections.namedtuple`` imports seven modules and compiles
    each class's ``__new__`` with ``eval``: both cost the CNI binary start-up time)."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if namespace.get("_is_namedtuple_root"):
            return super().__new__(mcls, name, bases, namespace)
        names = tuple(namespace.get("__annotations__", {}))
        defaults = {n: namespace[n] for n in names if n in namespace}
        if list(defaults) != list(names[len(names) - len(defaults):]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        members = {key: value for key, value in namespace.items() if key not in names and key != "__annotations__"}
        members.update(
            __slots__=(), _fields=names, _field_defaults=defaults, __match_args__=names,
            __new__=_tuple_new(name, names, defaults), __repr__=_tuple_repr, __getnewargs__=lambda self: tuple(self),
            _asdict=lambda self: dict(zip(names, self)), _replace=lambda self, **changes: type(self)(**{**dict(zip(names, self)), **changes}),
        )  # fmt: skip
        for index, field_name in enumerate(names):
            members[field_name] = _field(index, field_name)
        return type(name, (tuple,), members)


def _field(index: int, name: str) -> property:
    def get(self: tuple[object, ...]) -> object:
        return tuple.__getitem__(self, index)

    return property(get, doc=f"field {index}: {name}")


def _tuple_new(name: str, names: tuple[str, ...], defaults: dict[str, object]) -> Callable[..., Any]:
    count = len(names)
    tail = tuple(defaults.values())  # the defaults of the last fields, in order
    first_default = count - len(tail)

    def __new__(cls: type, *args: object, **kwargs: object) -> Any:
        if not kwargs and first_default <= len(args) <= count:  # positional only: no loop
            return tuple.__new__(cls, args + tail[len(args) - first_default:])
        return tuple.__new__(cls, _arguments(name, names, args, kwargs, defaults, {}))

    return __new__


def _tuple_repr(self: Any) -> str:
    return f"{type(self).__name__}(" + ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self)) + ")"


class NamedTuple(metaclass=_NamedTupleMeta):
    """Runtime stand-in for ``typing.NamedTuple`` (import ``typing.NamedTuple`` under
    TYPE_CHECKING for the type checker, this one otherwise)."""

    _is_namedtuple_root = True
