"""Ground-truth trees: parsing (JSON string, dict, list shorthand), errors naming fields, the JSON
Schema agreeing with the parser, serialisation round trips, and scoring of And/Chain/Selection."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_rewards import compose as C
from raif_rewards.compose import GroundTruthError, parse_ground_truth, score_tree, split_sections, to_json

NO_COMMA = {"op": "check", "id": "punctuation:no_comma"}
LOWER = {"op": "check", "id": "change_case:english_lowercase"}
CAT = {"op": "check", "id": "keywords:existence", "kwargs": {"keywords": ["cat"]}}
WORDS_5 = {"op": "check", "id": "length_constraints:number_words", "kwargs": {"num_words": 5, "relation": "at least"}}


def rule(tree):
    return json.dumps({"style": "rule", "lang": "en", "tree": tree})


# ------------------------------------------------------------------------------------------ parsing


def test_string_dict_and_list_shorthand_parse_to_the_same_truth():
    as_string = parse_ground_truth(rule({"op": "and", "children": [NO_COMMA, CAT]}))
    as_dict = parse_ground_truth(json.loads(rule({"op": "and", "children": [NO_COMMA, CAT]})))
    shorthand = parse_ground_truth([{"id": "punctuation:no_comma", "kwargs": {}},
                                    {"id": "keywords:existence", "kwargs": {"keywords": ["cat"]}}])
    assert as_string == as_dict
    assert to_json(as_string) == to_json(shorthand)


def test_shorthand_accepts_ifeval_instruction_id_and_null_kwargs():
    gt = parse_ground_truth([{"instruction_id": "punctuation:no_comma", "kwargs": None}])
    assert gt.tree.children[0].id == "punctuation:no_comma"


def test_math_and_judge_forms():
    m = parse_ground_truth('{"style": "math", "answer": "\\\\frac{1}{2}"}')
    assert isinstance(m, C.MathTruth) and m.answer == "\\frac{1}{2}"
    j = parse_ground_truth({"style": "judge", "questions": ["Is it polite?"], "tree": NO_COMMA})
    assert isinstance(j, C.JudgeTruth) and j.questions == ("Is it polite?",) and j.tree.id == "punctuation:no_comma"


@pytest.mark.parametrize(
    "gt,field",
    [
        ('{"style": "rule", "tree": {"op": "check", "id": "nope:nope"}}', "tree.id"),
        (rule({"op": "and", "children": [NO_COMMA, {"op": "check", "id": "length_constraints:number_words",
                                                    "kwargs": {"num_words": "many", "relation": "at least"}}]}),
         "tree.children[1].kwargs.num_words"),
        (rule({"op": "and", "children": []}), "tree.children"),
        (rule({"op": "or", "children": [NO_COMMA]}), "tree.op"),
        (rule({"op": "selection", "active": 2, "branches": [NO_COMMA, LOWER]}), "tree.active"),
        (rule({"op": "selection", "active": True, "branches": [NO_COMMA, LOWER]}), "tree.active"),
        (rule({"op": "chain", "steps": [NO_COMMA], "marker": ""}), "tree.marker"),
        (rule({"op": "chain", "marker": "Step"}), "tree.steps"),
        (rule({"op": "check", "id": "punctuation:no_comma", "extra": 1}), "tree.extra"),
        ('{"style": "rule"}', "tree"),
        ('{"style": "rules", "tree": {}}', "style"),
        ('{"style": "math", "answer": ""}', "answer"),
        ('{"style": "math", "answer": "1", "tree": {}}', "tree"),
        ('{"style": "judge", "questions": []}', "questions"),
        ('{"style": "judge", "questions": ["ok?", ""]}', "questions[1]"),
        ('{"style": "rule", "lang": "", "tree": {"op": "check", "id": "punctuation:no_comma"}}', "lang"),
        ("[]", "(root)"),
        ('[{"id": "punctuation:no_comma", "kwargs": [1]}]', "[0].kwargs"),
        ("not json", "(root)"),
        ("42", "(root)"),
    ],
)
def test_bad_ground_truth_names_the_field(gt, field):
    with pytest.raises(GroundTruthError) as info:
        parse_ground_truth(gt)
    assert info.value.field == field
    assert field in str(info.value)


def test_parse_is_cached_by_string():
    text = rule({"op": "and", "children": [NO_COMMA, CAT]})
    assert parse_ground_truth(text) is parse_ground_truth(text)


def test_parsed_kwargs_are_read_only():
    gt = parse_ground_truth(rule(CAT))
    with pytest.raises(TypeError):
        gt.tree.kwargs["keywords"] = ["dog"]


# --------------------------------------------------------------------------- schema agreement + serialisation

_leaf = st.sampled_from([NO_COMMA, LOWER, CAT, WORDS_5])
_trees = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(lambda c: {"op": "and", "children": c}),
        st.lists(kids, min_size=1, max_size=3).map(lambda s: {"op": "chain", "marker": "Step", "steps": s}),
        st.lists(kids, min_size=1, max_size=3).flatmap(
            lambda b: st.integers(0, len(b) - 1).map(
                lambda a: {"op": "selection", "condition": "if x", "active": a, "branches": b})),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(_trees)
def test_valid_trees_validate_against_schema_and_round_trip(tree):
    doc = {"style": "rule", "lang": "en", "tree": tree}
    C.validate_against_schema(doc)
    gt = parse_ground_truth(json.dumps(doc))
    again = parse_ground_truth(to_json(gt))
    assert again == gt
    jsonschema.validate(json.loads(to_json(gt)), C.schema())


@pytest.mark.parametrize(
    "doc",
    [
        {"style": "rule", "tree": {"op": "and", "children": []}},
        {"style": "rule", "tree": {"op": "selection", "branches": [NO_COMMA]}},
        {"style": "math"},
        {"style": "judge", "questions": []},
        {"style": "rule", "tree": {"op": "check"}},
    ],
)
def test_schema_rejects_what_the_parser_rejects(doc):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, C.schema())
    with pytest.raises(GroundTruthError):
        C.validate_against_schema(doc)
    with pytest.raises(GroundTruthError):
        parse_ground_truth(doc)


def test_builders_make_the_same_tree_as_json():
    built = C.RuleTruth(C.chain(C.check("punctuation:no_comma"),
                                C.selection(C.check("change_case:english_lowercase"),
                                            C.check("keywords:existence", keywords=["cat"]), active=1)))
    parsed = parse_ground_truth(rule({"op": "chain", "marker": "Step", "steps": [
        NO_COMMA, {"op": "selection", "condition": "", "active": 1, "branches": [LOWER, CAT]}]}))
    assert to_json(built) == to_json(parsed)


# ------------------------------------------------------------------------------------------ scoring


@pytest.mark.parametrize(
    "tree,answer,satisfied,applicable",
    [
        (NO_COMMA, "no commas at all", 1, 1),
        (NO_COMMA, "a, b", 0, 1),
        ({"op": "and", "children": [NO_COMMA, LOWER, CAT]}, "the cat sat", 3, 3),
        ({"op": "and", "children": [NO_COMMA, LOWER, CAT]}, "The cat, sat", 1, 3),
        ({"op": "and", "children": [NO_COMMA, LOWER, CAT]}, "The dog, sat", 0, 3),
        # selection: the inactive branch is not applicable even when it would fail
        ({"op": "selection", "active": 0, "branches": [NO_COMMA, LOWER]}, "Upper case, comma", 0, 1),
        ({"op": "selection", "active": 1, "branches": [NO_COMMA, LOWER]}, "lower case, comma", 1, 1),
        ({"op": "selection", "active": 1, "branches": [NO_COMMA, {"op": "and", "children": [LOWER, CAT]}]},
         "a cat, here", 2, 2),
        # chain: each step is checked on its own section only
        ({"op": "chain", "marker": "Step", "steps": [NO_COMMA, LOWER]}, "Step 1: Hello there\nStep 2: this step is written in lower case, with a comma", 2, 2),
        ({"op": "chain", "marker": "Step", "steps": [NO_COMMA, LOWER]}, "Step 1: Hello, there\nStep 2: A b", 0, 2),
        # chain with a missing section: its constraints fail
        ({"op": "chain", "marker": "Step", "steps": [NO_COMMA, LOWER]}, "Step 1: hello there", 1, 2),
        ({"op": "chain", "marker": "Step", "steps": [NO_COMMA, LOWER]}, "no steps at all", 0, 2),
        # nested: an and of a chain and a check on the whole answer
        ({"op": "and", "children": [CAT, {"op": "chain", "marker": "Part",
                                          "steps": [{"op": "and", "children": [NO_COMMA, LOWER]}, CAT]}]},
         "Part 1: the little cat sleeps all day long in the warm sun\nPart 2: two big dogs", 3, 4),
        ({"op": "chain", "marker": "Step", "steps": [
            {"op": "selection", "active": 1, "branches": [CAT, WORDS_5]}, NO_COMMA]},
         "**Step 1:** one two three four five\n\n**Step 2:** done", 2, 2),
    ],
)
def test_score_tree(tree, answer, satisfied, applicable):
    result = score_tree(parse_ground_truth(rule(tree)), answer)
    assert (result.satisfied, result.applicable) == (satisfied, applicable)
    assert len(result.verdicts) == applicable


def test_verdict_paths_and_groups():
    tree = parse_ground_truth(rule({"op": "selection", "active": 1, "branches": [
        NO_COMMA, {"op": "and", "children": [LOWER, CAT]}]}))
    verdicts = score_tree(tree, "the cat is sleeping on the warm mat today").verdicts
    assert [(v.path, v.group, v.passed) for v in verdicts] == [
        ("tree.branches[1].children[0]", "case", True),
        ("tree.branches[1].children[1]", "lexical", True),
    ]


def test_tree_score_unpacks_as_a_triple():
    satisfied, applicable, verdicts = score_tree(parse_ground_truth(rule(NO_COMMA)), "a, b")
    assert (satisfied, applicable, [v.passed for v in verdicts]) == (0, 1, [False])


def test_blank_answer_satisfies_nothing():
    tree = parse_ground_truth(rule({"op": "and", "children": [NO_COMMA, LOWER]}))
    assert score_tree(tree, "   ").satisfied == 0


def test_loose_accepts_what_strict_rejects():
    tree = parse_ground_truth(rule(LOWER))
    answer = "Sure! Here it is:\nall lower case text"
    assert score_tree(tree, answer).satisfied == 0
    assert score_tree(tree, answer, loose=True).satisfied == 1


def test_checker_exception_is_a_failed_verdict_not_a_crash(monkeypatch):
    from raif_rewards import registry

    checker = registry.get("punctuation:no_comma")

    def boom(text, **kw):
        raise RuntimeError("checker bug")

    monkeypatch.setitem(registry._REGISTRY, checker.id, _replace_fn(checker, boom))
    result = score_tree(parse_ground_truth(rule({"op": "and", "children": [NO_COMMA, LOWER]})), "fine text")
    assert (result.satisfied, result.applicable, result.errors) == (1, 2, 1)
    assert "checker bug" in result.verdicts[0].error


def _replace_fn(checker, fn):
    import dataclasses

    return dataclasses.replace(checker, fn=fn)


@pytest.mark.parametrize(
    "text,marker,n,expected",
    [
        ("Step 1: a\nStep 2: b", "Step", 2, ["a", "b"]),
        ("intro\n## Step 1\nbody one\n\n**Step 2.** body two\nmore", "Step", 2, ["body one", "body two\nmore"]),
        ("Step 2: b\nStep 1: a", "Step", 2, [None, "b"]),  # out of order: step 1 comes too late
        ("Step 1: a\nStep 3: c", "Step", 3, ["a", None, "c"]),
        ("Step 1: a\nStep 1: again\nStep 2: b", "Step", 2, ["a", "b"]),
        ("I took Step 1 yesterday", "Step", 1, [None]),  # the marker must start a line
        ("步骤1：甲\n步骤2：乙", "步骤", 2, ["甲", "乙"]),
    ],
)
def test_split_sections(text, marker, n, expected):
    assert split_sections(text, marker, n) == expected
