"""Typed configuration: mappings (parsed YAML/JSON, CLI flags) checked into nested dataclasses.

The one implementation behind every package's recipe; each package passes its error class and wording.
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "Rules",
    "build",
    "coerce",
    "override",
    "english_name",
    "python_name",
    "show_value",
    "show_type",
    "show_brief",
    "brief",
]

T = TypeVar("T", bound="DataclassInstance")  # every config class is a dataclass
_UNIONS = (typing.Union, types.UnionType)
_NONE = type(None)
# PyYAML follows YAML 1.1, whose floats need a dot and a signed exponent: `2e-6`, `1e3` and `1.0e6` stay
# strings there, while YAML 1.2, JSON and every user read them as numbers. Where a float is expected, such
# a string (only one with an exponent: plain "3" stays rejected) is taken as the number it spells.
_YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+")


# ------------------------------------------------------------------ wording


def english_name(tp: Any) -> str:
    """What a value of annotation ``tp`` must be, in words: "an integer", "true/false", "a mapping"."""
    return _name(tp, english=True)


def python_name(tp: Any) -> str:
    """What a value of annotation ``tp`` must be, as Python type names: "int", "a list of str"."""
    return _name(tp, english=False)


def _name(tp: Any, english: bool) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in _UNIONS:
        return " or ".join(_name(a, english) for a in args)
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is list and english:
        return "a list"  # its items are checked, and named, one by one
    if origin in (list, tuple):  # a tuple is checked as one value, so its item type is named here
        item = _PLURALS.get(args[0], _plain(args[0]) + " values") if english else _name(args[0], english)
        return f"a list of {item}"
    if english:
        return _ENGLISH.get(tp, _plain(tp))
    return "null" if tp is _NONE else _plain(tp)


_ENGLISH = {bool: "true/false", int: "an integer", float: "a number", str: "a string", _NONE: "null"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def _plain(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


#: the most characters of a rejected value an error message echoes
ECHO_LIMIT = 120


def brief(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, in time bounded by ``limit`` too: the first
    few items and levels only (a recipe's aliases can make a value of billions of items), and no
    ``repr`` of a huge integer (Python refuses over 4,300 digits)."""
    text = _BRIEF.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _BriefRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            return f"<an integer of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)


_BRIEF = _BriefRepr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxtuple, _BRIEF.maxdict, _BRIEF.maxset = 3, 6, 6, 6, 6
_BRIEF.maxstring, _BRIEF.maxother = ECHO_LIMIT, ECHO_LIMIT


def show_value(value: Any, tp: Any) -> str:
    """The rejected value itself (its repr, cut to :data:`ECHO_LIMIT` characters)."""
    return brief(value)


def show_type(value: Any, tp: Any) -> str:
    """Only the rejected value's type name."""
    return type(value).__name__


def show_brief(value: Any, tp: Any) -> str:
    """The value where a scalar was expected; its type name where a collection was (no long echo)."""
    collection = dataclasses.is_dataclass(tp) or typing.get_origin(tp) in (list, dict, tuple)
    return show_type(value, tp) if collection else brief(value)


@dataclass(frozen=True)
class Rules:
    """How one package checks its configuration and words what it rejects.

    A type error reads ``expected {expected(annotation)}, got {shown(value, annotation)}``.
    """

    #: (key path, message) -> the package's exception; raised for every rejected value
    error: Callable[[str, str], Exception]
    #: (the unknown key, the field names in declaration order) -> message
    unknown_key: Callable[[str, Sequence[str]], str]
    expected: Callable[[Any], str] = english_name
    shown: Callable[[Any, Any], str] = show_value
    #: YAML reads ``split: 2024`` as a number and ``name:`` as null; accept them where a string is
    #: expected (as "2024" and "") instead of making the user quote them
    scalar_strings: bool = False


# ------------------------------------------------------------------ checking


class _Rejected(Exception):
    """Internal: raised where a value fails, turned into the package's error at the public boundary
    (a union needs to catch a failed arm whatever the package's error class is)."""

    def __init__(self, key: str, message: str):
        super().__init__(key, message)
        self.key, self.message = key, message


def build(cls: type[T], data: Any, rules: Rules, prefix: str = "") -> T:
    """An instance of dataclass ``cls`` from mapping ``data``; missing keys keep their defaults.

    Keys are checked in the mapping's order and the first problem is raised through ``rules.error``
    with its key path (``prefix.section.key``, ``list_key[2]``; ``<root>`` when ``data`` itself is
    not a mapping). Exceptions raised by the dataclass itself (``__post_init__``) pass through.
    """
    try:
        return _build(cls, data, rules, prefix)
    except _Rejected as bad:
        raise rules.error(bad.key, bad.message) from None


def coerce(value: Any, tp: Any, rules: Rules, key: str) -> Any:
    """``value`` checked against annotation ``tp`` (ints are accepted as floats); ``key`` names it in errors.

    Supported: bool, int, float, str, None, Any, Literal, unions (Optional), list[X], dict[str, X],
    tuple[X, ...] and nested dataclasses. Nothing else is converted: "3" is not an int; the one
    exception is a float in exponent form ("2e-6"), a number in YAML 1.2 that PyYAML leaves a string.
    """
    try:
        return _coerce(value, tp, rules, key)
    except _Rejected as bad:
        raise rules.error(bad.key, bad.message) from None


def override(instance: T, dotted: Mapping[str, Any], rules: Rules) -> T:
    """A copy of dataclass ``instance`` with fields set by dotted name (``{"seeds.path": "x"}``).

    Values are checked like YAML values; None means "not given" (an unset CLI flag) and is skipped.
    """
    data = dataclasses.asdict(instance)
    for key, value in dotted.items():
        if value is None:
            continue
        node = data
        *sections, leaf = key.split(".")
        for depth, part in enumerate(sections):
            # a missing section is left for build() to report as an unknown key, with the known ones
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                where = ".".join(sections[: depth + 1])
                raise rules.error(key, f"{where!r} has no sub-keys")
        node[leaf] = value
    return build(type(instance), data, rules)


def _build(cls: type[T], data: Any, rules: Rules, prefix: str) -> T:
    if not isinstance(data, dict):
        raise _Rejected(prefix or "<root>", _expected(data, cls, rules))
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            # a key is echoed, and compared with the known ones, only in part: it may be huge
            text = key if isinstance(key, str) else brief(key)
            text = text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 3] + "..."
            raise _Rejected(f"{prefix}.{text}" if prefix else text, rules.unknown_key(text, names))
        path = f"{prefix}.{key}" if prefix else str(key)
        kwargs[key] = _coerce(value, hints[key], rules, path)
    return cls(**kwargs)


def _expected(value: Any, tp: Any, rules: Rules) -> str:
    return f"expected {rules.expected(tp)}, got {rules.shown(value, tp)}"


def _coerce(value: Any, tp: Any, rules: Rules, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in _UNIONS:
        arms = [a for a in args if a is not _NONE]
        if value is None and len(arms) < len(args):
            return None
        if len(arms) == 1:  # Optional[X]: X's own, more precise message
            return _coerce(value, arms[0], rules, key)
        for arm in arms:
            try:
                return _coerce(value, arm, rules, key)
            except _Rejected:
                pass
    elif origin is Literal:
        if value in args:
            return value
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, rules, key)
    elif origin is list:
        if isinstance(value, list):
            return [_coerce(v, args[0], rules, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):  # YAML may read a key as a number; config keys are names
            return {str(k): _coerce(v, args[1], rules, f"{key}.{k}") for k, v in value.items()}
    elif origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{key}: only tuple[X, ...] is supported, not {tp!r}")
        if isinstance(value, (list, tuple)):
            try:
                return tuple(_coerce(v, args[0], rules, key) for v in value)
            except _Rejected:
                pass  # reported on the whole value, as its expectation names the item type
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _YAML12_FLOAT.fullmatch(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if rules.scalar_strings and value is None:
            return ""
        if rules.scalar_strings and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    elif tp is _NONE:
        if value is None:
            return None
    else:
        raise TypeError(f"{key}: unsupported annotation {tp!r}")
    raise _Rejected(key, _expected(value, tp, rules))
