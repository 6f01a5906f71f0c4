"""The registry contract: lookup, kwargs validation errors, registration rules."""

from __future__ import annotations

import random

import pytest

from raif_rewards import check, registry
from raif_rewards.checkers._common import IFEVAL_IDS
from raif_rewards.errors import ConstraintKwargsError, UnknownConstraintError


def test_all_ifeval_ids_and_xml_registered():
    ids = set(registry.ids())
    assert set(IFEVAL_IDS) <= ids
    assert "detectable_format:xml_format" in ids
    assert {c.id for c in registry.all_checkers("ifeval")} == set(IFEVAL_IDS)


def test_unknown_id_suggests_close_match():
    with pytest.raises(UnknownConstraintError, match="did you mean keywords:frequency"):
        registry.get("keywords:frequncy")


def test_missing_relation_is_a_clear_schema_error():
    # RAIF's released code crashed here (KeyError on 'relation').
    with pytest.raises(ConstraintKwargsError) as info:
        check("length_constraints:number_words", "some words", {"num_words": 5})
    assert info.value.checker_id == "length_constraints:number_words"
    assert info.value.field == "relation"
    assert "至少" in str(info.value)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"num_words": "five", "relation": "at least"}, "num_words"),
        ({"num_words": 5, "relation": "at most"}, "relation"),
        ({"num_words": 5, "relation": "at least", "extra": 1}, "(kwargs)"),
    ],
)
def test_bad_kwargs_name_the_field(kwargs, field):
    with pytest.raises(ConstraintKwargsError) as info:
        registry.validate_kwargs("length_constraints:number_words", kwargs)
    assert info.value.field == field


def test_null_kwargs_count_as_absent():
    kw = registry.validate_kwargs("punctuation:no_comma", {"include_fullwidth": None})
    assert kw == {}


def test_registering_an_id_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("punctuation:no_comma", group="punctuation", templates={"en": ("x",)})(lambda t: True)


def test_register_rejects_unknown_group():
    with pytest.raises(ValueError, match="unknown group"):
        registry.register("x:y", group="nonsense", templates={"en": ("x",)})


def test_conflicts_are_symmetric_and_reflexive():
    for c in registry.all_checkers():
        assert c.id in c.conflicts
        for other in c.conflicts:
            assert c.id in registry.conflicts_of(other)


def test_sampling_is_seeded():
    c = registry.get("length_constraints:number_words")
    assert c.sample(random.Random(7)) == c.sample(random.Random(7))
    text_a = c.render(c.sample(random.Random(7)), "en", 1)
    assert text_a == c.render(c.sample(random.Random(7)), "en", 1)


def test_chinese_sampling_uses_chinese_relation_and_counts_characters():
    c = registry.get("length_constraints:number_words")
    kw = c.sample(random.Random(3), "zh")
    assert kw["relation"] in ("至少", "少于")
    assert "字" in c.render(kw, "zh")


# The quick acceptance path must never accept what jsonschema rejects.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 600) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(registry.ids())), st.dictionaries(st.text(max_size=16), _json_values, max_size=3), st.data())
def test_quick_acceptance_agrees_with_jsonschema(cid, random_kwargs, data):
    checker = registry.get(cid)
    props = list(checker.schema.get("properties", {}))
    kwargs = dict(random_kwargs)
    if props:  # also mutate real field names, the interesting case
        for name in data.draw(st.lists(st.sampled_from(props), max_size=len(props))):
            kwargs[name] = data.draw(_json_values)
    if registry._surely_valid(checker.schema, kwargs):
        assert checker._validator.is_valid(kwargs)
