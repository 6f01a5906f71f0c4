"""The shared typed-configuration helper: each annotation kind, key paths, unknown keys, wording, overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pytest

from raif_rewards import typedconfig as tc


class BadConfig(ValueError):
    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


def _unknown(key, known):
    return f"unknown key {key!r} (known: {', '.join(known)})"


ENGLISH = tc.Rules(error=BadConfig, unknown_key=_unknown)
PYTHON = tc.Rules(error=BadConfig, unknown_key=_unknown, expected=tc.python_name)
LENIENT = tc.Rules(error=BadConfig, unknown_key=_unknown, scalar_strings=True)


@dataclass
class Inner:
    n: int = 1
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    zeta: float = 0.5
    inner: Inner = field(default_factory=Inner)
    weights: dict[str, float] = field(default_factory=dict)
    mode: Literal["a", "b"] = "a"
    label: str | None = None


@pytest.mark.parametrize(
    "tp, value, expected",
    [
        (bool, True, True),
        (int, 3, 3),
        (float, 3, 3.0),
        (float, 2.5, 2.5),
        (str, "x", "x"),
        (type(None), None, None),
        (Any, {"free": [1]}, {"free": [1]}),
        (list[int], [1, 2], [1, 2]),
        (list[float], [1], [1.0]),
        (dict[str, float], {"a": 1, 2: 2.5}, {"a": 1.0, "2": 2.5}),
        (tuple[str, ...], ["a", "b"], ("a", "b")),
        (tuple[str, ...], ("a",), ("a",)),
        (tuple[float, ...], [1], (1.0,)),
        (Optional[int], None, None),  # noqa: UP045 - both spellings of a union must work
        (int | None, 4, 4),
        (int | str, "x", "x"),
        (Literal["a", "b"], "b", "b"),
        (Inner, {"n": 2}, Inner(n=2)),
        # exponent forms PyYAML (YAML 1.1) leaves strings: `lr: 2e-6`, `--set lr=1e3`
        (float, "2e-6", 2e-6),
        (float, "1E3", 1000.0),
        (float, "-1.5e+2", -150.0),
        (float, ".5e1", 5.0),
    ],
)
def test_accepted_values(tp, value, expected):
    got = tc.coerce(value, tp, ENGLISH, "k")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "tp, value, key, message",
    [
        (bool, 1, "k", "expected true/false, got 1"),
        (bool, "yes", "k", "expected true/false, got 'yes'"),
        (int, True, "k", "expected an integer, got True"),
        (int, 1.5, "k", "expected an integer, got 1.5"),
        (int, "3", "k", "expected an integer, got '3'"),
        (float, "x", "k", "expected a number, got 'x'"),
        (float, "3", "k", "expected a number, got '3'"),  # only the exponent form YAML 1.1 misses
        (float, "2e", "k", "expected a number, got '2e'"),
        (int, "1e3", "k", "expected an integer, got '1e3'"),
        (float, False, "k", "expected a number, got False"),
        (str, 3, "k", "expected a string, got 3"),
        (str, None, "k", "expected a string, got None"),
        (type(None), 0, "k", "expected null, got 0"),
        (list[int], "x", "k", "expected a list, got 'x'"),
        (list[int], [1, "a"], "k[1]", "expected an integer, got 'a'"),
        (list[list[int]], [[1], [2, None]], "k[1][1]", "expected an integer, got None"),
        (dict[str, int], [1], "k", "expected a mapping, got [1]"),
        (dict[str, int], {"a": 1, "b": "c"}, "k.b", "expected an integer, got 'c'"),
        (tuple[str, ...], "ab", "k", "expected a list of strings, got 'ab'"),
        (tuple[str, ...], ["a", 1], "k", "expected a list of strings, got ['a', 1]"),
        (Literal["a", "b"], "c", "k", "expected one of 'a', 'b', got 'c'"),
        (int | str, [1], "k", "expected an integer or a string, got [1]"),
        (Optional[int], "x", "k", "expected an integer, got 'x'"),  # noqa: UP045 - X's own message
        (Inner, 3, "k", "expected a mapping, got 3"),
        (Inner, {"n": "x"}, "k.n", "expected an integer, got 'x'"),
        (Inner, {"names": ["a", 2]}, "k.names[1]", "expected a string, got 2"),
    ],
)
def test_rejected_values_name_key_and_expectation(tp, value, key, message):
    with pytest.raises(BadConfig) as info:
        tc.coerce(value, tp, ENGLISH, "k")
    assert (info.value.key, info.value.message) == (key, message)


@pytest.mark.parametrize(
    "tp, value, message",
    [
        (int, "x", "expected int, got 'x'"),
        (float, "x", "expected float, got 'x'"),
        (bool, 0, "expected bool, got 0"),
        (str, 1, "expected str, got 1"),
        (list[str], "x", "expected a list of str, got 'x'"),
        (str | int, [], "expected str or int, got []"),
        (Optional[str], 1, "expected str, got 1"),  # noqa: UP045
        (Literal["x"], "y", "expected one of 'x', got 'y'"),
        (Inner, [1], "expected a mapping, got [1]"),
    ],
)
def test_python_wording(tp, value, message):
    with pytest.raises(BadConfig, match="^k: " + message.replace("[", r"\[").replace("]", r"\]") + "$"):
        tc.coerce(value, tp, PYTHON, "k")


@pytest.mark.parametrize(
    "shown, tp, value, message",
    [
        (tc.show_type, int, "x", "expected an integer, got str"),
        (tc.show_type, list[int], {"a": 1}, "expected a list, got dict"),
        (tc.show_brief, int, "x", "expected an integer, got 'x'"),
        (tc.show_brief, list[int], "x", "expected a list, got str"),
        (tc.show_brief, dict[str, int], [1, 2], "expected a mapping, got list"),
        (tc.show_brief, Inner, 5, "expected a mapping, got int"),
    ],
)
def test_shown_value_wording(shown, tp, value, message):
    rules = dataclasses.replace(ENGLISH, shown=shown)
    with pytest.raises(BadConfig) as info:
        tc.coerce(value, tp, rules, "k")
    assert info.value.message == message


@pytest.mark.parametrize(
    "value, lenient, strict",
    [
        (2024, "2024", "expected a string, got 2024"),
        (1.5, "1.5", "expected a string, got 1.5"),
        (None, "", "expected a string, got None"),
        (True, "expected a string, got True", "expected a string, got True"),
        ([1], "expected a string, got [1]", "expected a string, got [1]"),
    ],
)
def test_scalar_strings(value, lenient, strict):
    for rules, want in ((LENIENT, lenient), (ENGLISH, strict)):
        if want.startswith("expected"):
            with pytest.raises(BadConfig) as info:
                tc.coerce(value, str, rules, "k")
            assert info.value.message == want
        else:
            assert tc.coerce(value, str, rules, "k") == want


def test_build_keeps_defaults_and_nests():
    got = tc.build(Outer, {"inner": {"names": ["x"]}, "mode": "b", "weights": {"w": 2}}, ENGLISH)
    assert got == Outer(inner=Inner(n=1, names=["x"]), mode="b", weights={"w": 2.0})
    assert isinstance(got.inner, Inner) and tc.build(Outer, {}, ENGLISH) == Outer()


@pytest.mark.parametrize(
    "data, prefix, key, message",
    [
        ({"inner": {"n": 1, "nn": 2}}, "", "inner.nn", "unknown key 'nn' (known: n, names)"),
        ({"zz": 1}, "", "zz", "unknown key 'zz' (known: zeta, inner, weights, mode, label)"),
        ({7: 1}, "", "7", "unknown key '7' (known: zeta, inner, weights, mode, label)"),
        ({"zz": 1}, "reward", "reward.zz", "unknown key 'zz' (known: zeta, inner, weights, mode, label)"),
        ({"inner": {"n": "x"}}, "cfg", "cfg.inner.n", "expected an integer, got 'x'"),
        ({"inner": [1]}, "", "inner", "expected a mapping, got [1]"),
        ({"mode": "c"}, "", "mode", "expected one of 'a', 'b', got 'c'"),
        ({"label": 3}, "", "label", "expected a string, got 3"),
        ([1], "", "<root>", "expected a mapping, got [1]"),
        ("x", "top", "top", "expected a mapping, got 'x'"),
        # the first problem in the mapping's order is the one reported
        ({"zeta": "x", "zz": 1}, "", "zeta", "expected a number, got 'x'"),
        ({"zz": 1, "zeta": "x"}, "", "zz", "unknown key 'zz' (known: zeta, inner, weights, mode, label)"),
    ],
)
def test_build_errors(data, prefix, key, message):
    with pytest.raises(BadConfig) as info:
        tc.build(Outer, data, ENGLISH, prefix)
    assert (info.value.key, info.value.message) == (key, message)


def test_errors_come_from_the_package_factory():
    class OtherError(RuntimeError):
        pass

    rules = tc.Rules(error=lambda key, msg: OtherError(f"[{key}] {msg}"), unknown_key=_unknown)
    with pytest.raises(OtherError, match=r"^\[inner\.n\] expected an integer, got 'x'$"):
        tc.build(Outer, {"inner": {"n": "x"}}, rules)
    with pytest.raises(OtherError, match=r"^\[k\] expected one of 'a', got 'b'$"):
        tc.coerce("b", Literal["a"], rules, "k")


def test_post_init_errors_pass_through():
    @dataclass
    class Checked:
        n: int = 1

        def __post_init__(self):
            if self.n < 0:
                raise KeyError("negative")

    with pytest.raises(KeyError, match="negative"):
        tc.build(Checked, {"n": -1}, ENGLISH)


def test_override_by_dotted_name():
    base = Outer(inner=Inner(n=5))
    got = tc.override(base, {"inner.n": 7, "zeta": 1, "label": None, "weights.w": 3}, ENGLISH)
    assert got == Outer(zeta=1.0, inner=Inner(n=7), weights={"w": 3.0})
    assert base == Outer(inner=Inner(n=5))  # a copy: the input is untouched


@pytest.mark.parametrize(
    "dotted, key, message",
    [
        ({"inner.n": "7"}, "inner.n", "expected an integer, got '7'"),
        ({"inner.zz": 1}, "inner.zz", "unknown key 'zz' (known: n, names)"),
        ({"nope.n": 1}, "nope", "unknown key 'nope' (known: zeta, inner, weights, mode, label)"),
        ({"zeta.x": 1}, "zeta.x", "'zeta' has no sub-keys"),
        ({"mode": "z"}, "mode", "expected one of 'a', 'b', got 'z'"),
    ],
)
def test_override_errors(dotted, key, message):
    with pytest.raises(BadConfig) as info:
        tc.override(Outer(), dotted, ENGLISH)
    assert (info.value.key, info.value.message) == (key, message)


@pytest.mark.parametrize("tp", [set[int], tuple[int, str], complex])
def test_unsupported_annotations_are_programming_errors(tp):
    with pytest.raises(TypeError, match="k: "):
        tc.coerce(1, tp, ENGLISH, "k")
