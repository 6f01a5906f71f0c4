"""Hostile model answers: no text may raise out of a reward, earn more through an error, or take more
than linear time (issue 15, points 1, 2, 6 and 13)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raif_rewards import compose
from raif_rewards.compose import split_sections
from raif_rewards.reward import DEFAULT_CONFIG, score_rule, worst_score
from raif_rewards.verl_plugin import compute_score

HUGE_STEP = "9" * 5000  # past Python's 4,300-digit int() limit

CHAIN = json.dumps({"style": "rule", "lang": "en", "tree": {"op": "chain", "marker": "Step", "steps": [
    {"op": "check", "id": "punctuation:no_comma"},
    {"op": "check", "id": "punctuation:no_comma"},
]}})


def test_huge_step_number_is_past_the_last_step():
    assert split_sections(f"Step 1: a\nStep {HUGE_STEP}: b\nStep 2: c", "Step", 2) == ["a", "c"]
    assert split_sections(f"Step {HUGE_STEP}", "Step", 2) == [None, None]


@pytest.mark.parametrize("answer,expected", [
    # a failing rollout (a comma in both steps) keeps its 1 - 2 = -1 whatever the digits say
    (f"Step 1: a, b\nStep 2: c, d\nStep {HUGE_STEP}: x", 1.0 - 2.0),
    (f"Step 1: a b\nStep 2: c d\nStep {HUGE_STEP}: x", 1.0 + 2.0),
])
def test_a_huge_step_line_earns_what_the_answer_earns(answer, expected):
    completion = f"<think>plan</think><answer>{answer}</answer>"
    out = compute_score("ifeval", completion, CHAIN)
    assert out["reward_error"] == 0.0
    assert out["score"] == pytest.approx(expected)
    assert score_rule(completion, CHAIN).score == pytest.approx(expected)  # the native scorer's path


def test_a_reward_error_is_the_lowest_reward(monkeypatch):
    from raif_rewards import dispatch

    def broken(*a, **k):
        raise ValueError("boom")

    monkeypatch.setattr(dispatch, "score_rule", broken)
    failing = compute_score("ifeval", "no tags at all", CHAIN)["score"]
    assert worst_score(DEFAULT_CONFIG) == -3.0
    assert failing == worst_score(DEFAULT_CONFIG)


def test_data_qc_verify_survives_a_huge_step_line():
    from raif_data.respond import verify

    assert verify(CHAIN, f"Step 1: a b\nStep 2: c\nStep {HUGE_STEP}") == (1.0, True)
    assert compose.score_tree(compose.parse_ground_truth(CHAIN), f"Step {HUGE_STEP}").satisfied == 0


# ------------------------------------------------------------------ linear time on every reward path

#: texts built to trip quadratic scans: repeated openers, long runs, deep brackets, many headers
HOSTILE = {
    "boxed": lambda n: "\\boxed{" * (n // 7),
    "boxed_spaced": lambda n: "\\boxed " * (n // 7),
    "letters": lambda n: "a" * n,
    "words": lambda n: "word " * (n // 5),
    "steps": lambda n: "Step 1\n" * (n // 7),
    "stars": lambda n: "*" * n,
    "brackets": lambda n: "{[(" * (n // 3),
    "dots": lambda n: ". " * (n // 2),
    "newlines": lambda n: "\n" * n,
    "headers": lambda n: "# a\n" * (n // 4),
    "commas": lambda n: "a, " * (n // 3),
    "spaces": lambda n: " " * (n - 1) + "x",
    "quotes": lambda n: '"' * n,
    "cjk": lambda n: "中文。" * (n // 3),
    "caps": lambda n: "ABC " * (n // 4),
    "bullets": lambda n: "* a\n" * (n // 4),
    "nested_json": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "digits": lambda n: "1" * n,
    "tags": lambda n: "<<a>" * (n // 4),
    "think_tags": lambda n: "<think><answer>" * (n // 15),
    "mixed": lambda n: "The P.S. Section 1 <<title>> *hi* 12, 3. " * (n // 40),
}
N = 4000
#: linear gives 8 at 8n, quadratic 64: the bound leaves room for a loaded machine, and times under
#: the floor (CPU seconds at 8n) are too small to tell anything apart
RATIO_BOUND, FLOOR = 24.0, 0.02


def _cpu(fn, text: str) -> float:
    """CPU seconds of ``fn(text)`` (process time: other processes' load does not count), best of 3."""
    import time

    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
    return best


def _assert_linear(fn, label: str) -> None:
    for name, make in HOSTILE.items():
        fn(make(64))  # imports and first-use tables outside the timing
        small, big = _cpu(fn, make(N)), _cpu(fn, make(8 * N))
        if big > FLOOR:
            assert big / max(small, 1e-4) < RATIO_BOUND, (label, name, small, big)
        assert big < 5.0, (label, name, big)


def _checkers():
    from raif_rewards import registry

    return registry.all_checkers()


@pytest.mark.parametrize("checker", _checkers(), ids=lambda c: c.id)
def test_every_checker_is_linear_in_the_answer_length(checker):
    import random

    from raif_rewards.text import Text

    kwargs = checker.sample(random.Random(0), "en") if checker.sampler is not None else {}
    for name in checker.prompt_kwargs:
        kwargs[name] = "Write a short poem about the sea. Use vivid images, and end with a question?"
    _assert_linear(lambda text: checker.fn(Text(text), **kwargs), checker.id)  # fresh Text: no cached features


MATH = json.dumps({"style": "math", "answer": "\\frac{3}{4}"})
RULE = json.dumps({"style": "rule", "lang": "en", "tree": {"op": "and", "children": [
    {"op": "check", "id": "punctuation:no_comma"},
    {"op": "check", "id": "keywords:existence", "kwargs": {"keywords": ["river", "P.S."]}},
    {"op": "check", "id": "detectable_format:multiple_sections",
     "kwargs": {"section_spliter": "Section", "num_sections": 2}},
]}})


@pytest.mark.parametrize("wrap", ["bare", "answer"])
@pytest.mark.parametrize("gt,loose", [(MATH, False), (RULE, False), (RULE, True), (CHAIN, False)],
                         ids=["math", "rule", "rule_loose", "chain"])
def test_every_reward_path_is_linear_in_the_answer_length(gt, loose, wrap):
    from raif_rewards import mathcheck
    from raif_rewards.reward import RewardConfig, score

    config = RewardConfig(loose=loose)

    def reward(text: str) -> None:
        mathcheck._cached_verdict.cache_clear()
        completion = text if wrap == "bare" else f"<think>r</think><answer>{text}</answer>"
        result = score(completion, gt, config)
        assert not result.reward_error

    _assert_linear(reward, f"{gt[:20]} loose={loose}")


def test_last_boxed_is_linear():
    from raif_rewards.mathcheck import last_boxed

    # 56 KB of openers took 23 s; now a few milliseconds
    _assert_linear(last_boxed, "last_boxed")
    assert last_boxed("\\boxed{" * 8000 + "\\boxed{7}") == "7"
    assert last_boxed("\\boxed{a\\{b} \\boxed{ } x") == "a\\{b"
    assert last_boxed("\\boxed{\\frac{1}{2}} \\boxed{") == "\\frac{1}{2}"


# ------------------------------------------------------------------ never raises on any text

_HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.builds(lambda d, t: f"Step {d}\n{t}", st.from_regex(r"[0-9]{1,6000}", fullmatch=True), st.text(max_size=30)),
    st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "}", "Step 1",
                              "Step 99999999999999999999", "\n", "P.S.", "\ud800", "**", "Section 2", "中"]),
             max_size=40).map("".join),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_HOSTILE_TEXT, gt=st.sampled_from([RULE, CHAIN, MATH]), fmt=st.sampled_from(["think_answer", "r1", "plain"]),
       loose=st.booleans())
def test_no_text_makes_a_reward_raise(text, gt, fmt, loose):
    out = compute_score("ifeval", text, gt, {"response_format": fmt}, loose=loose)
    assert out["reward_error"] == 0.0
    assert out["score"] >= worst_score(DEFAULT_CONFIG)


# ------------------------------------------------------------------ keyword patterns (ReDoS)

#: backtracks without end under any engine: the search must be cut off
EVIL, EVIL_TEXT = "(x+x+)+y", "x" * 5000


@pytest.mark.parametrize("cid,kwargs", [
    ("keywords:existence", {"keywords": [EVIL]}),
    ("keywords:frequency", {"keyword": EVIL, "frequency": 1, "relation": "less than"}),
    ("keywords:forbidden_words", {"forbidden_words": [EVIL]}),
    ("detectable_content:postscript", {"postscript_marker": EVIL}),
    ("detectable_format:multiple_sections", {"section_spliter": EVIL, "num_sections": 1}),
])
def test_a_backtracking_keyword_is_bounded_in_time_and_never_credited(cid, kwargs):
    import time

    from raif_rewards.checkers import _common
    from raif_rewards.checking import check

    for loose in (False, True):
        start = time.monotonic()
        # unverifiable is not satisfied: "less than 1" and "no forbidden word" are not credited either
        assert check(cid, EVIL_TEXT, kwargs, loose=loose) is False
        assert time.monotonic() - start < 8 * 2 * _common.USER_REGEX_TIMEOUT + 2.0


def test_the_issue_s_keyword_gets_its_true_verdict_fast():
    import time

    from raif_rewards.checking import check

    start = time.monotonic()
    text = "a" * 26 + "!"  # (a+)+$ took 11 s here under stdlib re
    assert check("keywords:existence", text, {"keywords": ["(a+)+$"]}) is False
    assert check("keywords:forbidden_words", text, {"forbidden_words": ["(a+)+$"]}) is True
    assert check("keywords:existence", "b aaaa", {"keywords": ["(a+)+$"]}) is True
    assert time.monotonic() - start < 3.0


@pytest.mark.parametrize("pattern,text,found", [
    ("river", "The River bends", True),        # plain words: stdlib re, IFEval's verdicts
    ("P.S.", "p.s. see you", True),
    ("colou?r", "what colour", True),            # "?" is bounded: stdlib re
    ("a+b", "xxaaab", True),                    # repetition: the bounded engine, same verdict
    ("(ab)+c", "ababab", False),
    ("C++", "I like C++", True),                # does not compile: matched literally
    ("\\bcat\\b", "concatenate", False),
])
def test_keyword_patterns_keep_their_regex_verdicts(pattern, text, found):
    import re

    from raif_rewards.checkers._common import user_regex
    from raif_rewards.checking import check

    try:
        reference = re.search(pattern, text, re.IGNORECASE) is not None
    except re.error:
        reference = pattern.lower() in text.lower()
    assert reference is found  # what IFEval's re.search says
    assert (user_regex(pattern).search(text) is not None) is found
    assert check("keywords:existence", text, {"keywords": [pattern]}) is found


def test_which_patterns_run_under_stdlib_re():
    from raif_rewards.checkers._common import _linear

    for pattern in ("river", "P.P.S", "colou?r", "(cat|dog)s?", "\\bword\\b", "e-mail", "Dr. Smith's"):
        assert _linear(pattern, 0), pattern
    for pattern in ("(a+)+$", "a*b", ".*x", "(a|aa){2,}", "(a)\\1", "(?=a)", "(ab|a)" * 10):
        assert not _linear(pattern, 0), pattern


# ------------------------------------------------------------------ library errors (point 13)


def test_non_mapping_kwargs_are_a_kwargs_error_naming_the_id():
    from raif_rewards.checking import check, check_all
    from raif_rewards.errors import ConstraintKwargsError

    with pytest.raises(ConstraintKwargsError, match="punctuation:no_comma.*kwargs.*list"):
        check("punctuation:no_comma", "text", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConstraintKwargsError, match="keywords:existence.*'kwargs'.*str"):
        check_all([{"id": "keywords:existence", "kwargs": "abc"}], "text")


def test_a_deep_tree_is_a_ground_truth_error():
    from raif_rewards.compose import MAX_TREE_DEPTH, GroundTruthError, parse_ground_truth

    leaf = '{"op": "check", "id": "punctuation:no_comma"}'
    deep = '{"style": "rule", "tree": ' + '{"op": "and", "children": [' * 1000 + leaf + "]}" * 1000 + "}"
    with pytest.raises(GroundTruthError, match=f"deeper than {MAX_TREE_DEPTH}"):
        parse_ground_truth(deep)
    with pytest.raises(GroundTruthError, match="deeper"):
        parse_ground_truth("[" * 100_000 + "]" * 100_000)  # json.loads itself would recurse too deep
    shallow: dict = {"op": "check", "id": "punctuation:no_comma"}
    for _ in range(MAX_TREE_DEPTH - 1):
        shallow = {"op": "and", "children": [shallow]}
    parse_ground_truth({"style": "rule", "tree": shallow})  # the limit itself is fine


def test_a_huge_kwarg_gives_a_short_error():
    from raif_rewards.errors import ConstraintKwargsError
    from raif_rewards.registry import validate_kwargs

    with pytest.raises(ConstraintKwargsError) as info:
        # a list where a string belongs: the validator's message quotes the whole list
        validate_kwargs("keywords:frequency", {"keyword": list(range(100_000)), "frequency": 1,
                                               "relation": "at least"})
    assert len(str(info.value)) < 1000 and "keywords:frequency" in str(info.value)


@pytest.mark.parametrize("value,direct", [
    (True, True), (False, False), ("false", False), ("False", False), ("true", True), ("0", False), (1, True),
    (None, False),
])
def test_direct_answer_flags_are_read_as_what_they_say(value, direct):
    from raif_rewards.dispatch import _flag

    assert _flag(value, "extra_info.direct_answer") is direct


def test_a_string_false_direct_answer_is_not_a_direct_answer():
    # a think-less answer scored as direct would escape the format gate
    completion = "no think block"
    rule = json.dumps({"style": "rule", "tree": {"op": "check", "id": "punctuation:no_comma"}})
    as_false = compute_score("ifeval", completion, rule, {"direct_answer": "false"})
    assert as_false["direct_answer"] == 0.0 and as_false["score"] == -3.0
    with pytest.raises(ValueError, match="direct_answer"):
        compute_score("ifeval", completion, rule, {"direct_answer": "perhaps"})


@pytest.mark.parametrize("field", ["format_ok", "invalid_answer", "math_correct"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_reward_weights_must_be_finite(field, value):
    from raif_rewards.reward import RewardConfig, RewardConfigError

    with pytest.raises(RewardConfigError, match=f"{field}: must be a finite number"):
        RewardConfig.from_mapping({field: value})


def test_a_malformed_tagger_model_is_a_tagger_model_error():
    import pickle

    from raif_rewards.checkers.ifbench_shared import TaggerModelError, _verified, load_tagger_model

    good = pickle.dumps(({}, {}, {"VB"}), protocol=2)
    for bad in (b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02e\x85R.",  # AttributeError: APPENDS on a dict
                b"\x80\x02cbuiltins\nset\nK\x05\x85R.",  # TypeError: set(5)
                good.replace(b"\x85", b"\x86")):  # TypeError: a dict called
        with pytest.raises(TaggerModelError, match="not a readable tagger model"):
            load_tagger_model(bad, "m.pickle")
    with pytest.raises(TaggerModelError, match="sha256"):
        _verified(good, "m.pickle")  # checked before anything is unpickled
