"""RAIF's reward on hand-written rollouts: parsing per format, the format gate, accuracy scales,
direct answers, stop strings, and the configuration object."""

from __future__ import annotations

import json

import pytest

from raif_rewards.reward import (
    RewardConfig,
    RewardConfigError,
    accuracy_score,
    cut_at_stop,
    parse_response,
    prompt_is_direct,
    score,
    score_math,
    score_rule,
)

R1 = RewardConfig(response_format="r1")
PLAIN = RewardConfig(response_format="plain")
# two constraints an English lowercase answer without commas satisfies
GT = json.dumps([{"id": "punctuation:no_comma", "kwargs": {}},
                 {"id": "keywords:existence", "kwargs": {"keywords": ["river"]}}])
GOOD = "the river runs quietly through the old town at night"
HALF = "the river runs, quietly"
NONE = "Mountains, everywhere"


# ------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "completion,ok,reasoning,answer",
    [
        ("<think>plan</think><answer>final</answer>", True, "plan", "final"),
        ("<think>\nplan\n</think>\n\n<answer>\nfinal\n</answer>\n", True, "plan", "final"),
        ("preamble <think>plan</think> between <answer>final</answer> trailer", True, "plan", "final"),
        ("<think>plan</think>final", False, "", ""),                      # r1 output under think_answer
        ("<answer>final</answer>", False, "", ""),                        # no think block
        ("<think>a</think><think>b</think><answer>x</answer>", False, "", ""),  # duplicated think
        ("<think>a</think><answer>x</answer><answer>y</answer>", False, "a", ""),  # duplicated answer
        ("</think>a<think><answer>x</answer>", False, "", ""),            # think tags reversed
        ("<think>a</think></answer>x<answer>", False, "a", ""),           # answer tags reversed
        ("<answer>x</answer><think>a</think>", False, "a", ""),           # answer before think
        ("<think>a<answer>x</answer></think>", False, "a", ""),           # answer inside think
        ("<think>a</think><answer>x", False, "a", ""),                    # unclosed answer
        ("<think></think><answer>x</answer>", True, "", "x"),             # empty reasoning: format ok
        ("<think>a</think><answer> </answer>", True, "a", ""),            # empty answer: format ok
    ],
)
def test_parse_think_answer(completion, ok, reasoning, answer):
    p = parse_response(completion)
    assert (p.format_ok, p.answer) == (ok, answer)
    assert bool(p.problem) == (not ok)
    if ok:
        assert p.reasoning == reasoning


@pytest.mark.parametrize(
    "completion,ok,reasoning,answer",
    [
        ("<think>plan</think>\nfinal answer", True, "plan", "final answer"),
        ("<think>plan</think><answer>x</answer>", True, "plan", "<answer>x</answer>"),
        ("plan</think>final", False, "", ""),
        ("<think>plan final", False, "", ""),
        ("<think>a</think>b</think>c", False, "", ""),
    ],
)
def test_parse_r1(completion, ok, reasoning, answer):
    p = parse_response(completion, R1)
    assert (p.format_ok, p.reasoning, p.answer) == (ok, reasoning, answer)


def test_r1_with_prefilled_think():
    cfg = RewardConfig(response_format="r1", think_prefilled=True)
    p = parse_response("plan</think>final", cfg)
    assert (p.format_ok, p.reasoning, p.answer) == (True, "plan", "final")
    assert not parse_response("<think>plan</think>final", cfg).format_ok  # a second <think>


def test_plain_mode_takes_everything():
    p = parse_response("  all of it <think> even this ", PLAIN)
    assert (p.format_ok, p.answer) == (True, "all of it <think> even this")


@pytest.mark.parametrize(
    "completion,ok,answer",
    [
        ("the answer directly", True, "the answer directly"),
        ("<answer>boxed in tags</answer>", True, "boxed in tags"),
        ("<think>I should not think</think><answer>x</answer>", False, ""),
        ("<answer>x</answer><answer>y</answer>", False, ""),
    ],
)
def test_parse_direct(completion, ok, answer):
    p = parse_response(completion, direct=True)
    assert (p.format_ok, p.answer) == (ok, answer)


def test_stop_strings_cut_the_completion():
    assert cut_at_stop("abc<|im_end|>junk</s>more") == "abc"
    p = parse_response("<think>a</think><answer>x</answer><|im_end|><answer>y</answer>")
    assert (p.format_ok, p.answer) == (True, "x")
    custom = RewardConfig(stop=("###",))
    assert parse_response("<think>a</think><answer>x</answer>###<think>", custom).format_ok


def test_prompt_is_direct():
    assert prompt_is_direct("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not prompt_is_direct("<|im_start|>assistant\n<think>\n")


# ------------------------------------------------------------------------------------------ accuracy


@pytest.mark.parametrize(
    "k,n,raif,fraction",
    [(3, 3, 2.0, 1.0), (0, 3, -2.0, 0.0), (1, 3, 1 / 3, 1 / 3), (2, 4, 0.5, 0.5), (1, 1, 2.0, 1.0), (0, 1, -2.0, 0.0)],
)
def test_accuracy_scales(k, n, raif, fraction):
    assert accuracy_score(k, n) == pytest.approx(raif)
    assert accuracy_score(k, n, RewardConfig(accuracy="fraction")) == pytest.approx(fraction)


# ------------------------------------------------------------------------------------------ full reward


@pytest.mark.parametrize(
    "completion,expected,answered",
    [
        (f"<think>plan</think><answer>{GOOD}</answer>", 2 + 1, True),
        (f"<think>plan</think><answer>{HALF}</answer>", 0.5 + 1, True),
        (f"<think>plan</think><answer>{NONE}</answer>", -2 + 1, True),
        (f"<think></think><answer>{GOOD}</answer>", -2 + 1, False),     # empty reasoning
        ("<think>plan</think><answer></answer>", -2 + 1, False),         # empty answer
        (f"<think>plan</think>{GOOD}", -2 - 1, False),                   # bad tags
        (f"<answer>{GOOD}</answer>", -2 - 1, False),                     # no think block
        (f"<think>x</think><think>y</think><answer>{GOOD}</answer>", -2 - 1, False),  # duplicated tags
    ],
)
def test_rule_reward(completion, expected, answered):
    r = score_rule(completion, GT)
    assert r.score == pytest.approx(expected)
    assert r.answered is answered
    assert r.format_score + (r.answer_score or 0) == pytest.approx(r.score)


def test_perfect_response_gets_plus_three_and_argument_order_matters():
    # RAIF scored every IFEval sample -2 by swapping (response, kwargs): guard the order end to end
    r = score_rule(f"<think>plan</think><answer>{GOOD}</answer>", GT)
    assert (r.answer_score, r.format_score, r.score) == (2.0, 1.0, 3.0)
    assert (r.satisfied, r.total) == (2, 2)
    assert [v.id for v in r.verdicts] == ["punctuation:no_comma", "keywords:existence"]


def test_reasoning_is_never_checked():
    # the reasoning breaks both constraints; only the answer is checked
    r = score_rule(f"<think>Mountains, hills, valleys</think><answer>{GOOD}</answer>", GT)
    assert r.score == 3.0
    # and constraints met only in the reasoning do not count
    r = score_rule(f"<think>{GOOD}</think><answer>{NONE}</answer>", GT)
    assert r.satisfied == 0


def test_direct_answer_is_scored_on_its_answer():
    # RAIF's direct-answer samples could never pass the gate; here they are scored by the same checker
    good = score_rule(GOOD, GT, direct=True)
    bad = score_rule(NONE, GT, direct=True)
    assert (good.score, bad.score) == (3.0, -1.0)
    assert good.direct and good.answered
    assert score_rule(f"<answer>{HALF}</answer>", GT, direct=True).score == pytest.approx(1.5)
    # a direct sample that still emits think tags breaks the format
    assert score_rule(f"<think>x</think><answer>{GOOD}</answer>", GT, direct=True).score == -3.0


def test_r1_and_plain_rewards():
    assert score_rule(f"<think>plan</think>{GOOD}", GT, R1).score == 3.0
    assert score_rule(f"<think></think>{GOOD}", GT, R1).score == -1.0
    assert score_rule(GOOD, GT, PLAIN).score == 3.0
    assert score_rule("", GT, PLAIN).score == -1.0  # empty answer


def test_fraction_mode_and_custom_weights():
    cfg = RewardConfig(accuracy="fraction", format_ok=0.5, format_bad=0.0, invalid_answer=-1.0)
    assert score_rule(f"<think>p</think><answer>{HALF}</answer>", GT, cfg).score == pytest.approx(1.0)
    assert score_rule(f"<think>p</think><answer>{GOOD}</answer>", GT, cfg).score == pytest.approx(1.5)
    assert score_rule(f"<answer>{GOOD}</answer>", GT, cfg).score == pytest.approx(-1.0)


def test_score_routes_rule_and_math():
    assert score(f"<think>p</think><answer>{GOOD}</answer>", GT).style == "rule"
    m = score("<think>p</think><answer>so \\boxed{\\frac{1}{2}}</answer>", {"style": "math", "answer": "0.5"})
    assert (m.style, m.math, m.score) == ("math", "correct", 3.0)
    with pytest.raises(TypeError, match="judge"):
        score("x", {"style": "judge", "questions": ["ok?"]})


@pytest.mark.parametrize(
    "answer,verdict,expected",
    [
        ("the result is \\boxed{42}", "correct", 2 + 1),
        ("the result is \\boxed{41}", "wrong", -1.5 + 1),
        ("the result is 42", "no_boxed", -2 + 1),
    ],
)
def test_math_reward(answer, verdict, expected):
    r = score_math(f"<think>work</think><answer>{answer}</answer>", "42")
    assert (r.math, r.score) == (verdict, expected)


def test_math_boxed_only_in_reasoning_does_not_count():
    r = score_math("<think>\\boxed{42}</think><answer>I am not sure</answer>", "42")
    assert r.math == "no_boxed"


# ------------------------------------------------------------------------------------------ config


def test_config_from_mapping():
    cfg = RewardConfig.from_mapping({"response_format": "r1", "all_satisfied": 3, "stop": ["</s>"]})
    assert (cfg.response_format, cfg.all_satisfied, cfg.stop) == ("r1", 3.0, ("</s>",))
    assert RewardConfig.from_mapping(None) == RewardConfig()


@pytest.mark.parametrize(
    "data,path",
    [
        ({"formt_ok": 1}, "reward.formt_ok"),
        ({"format_ok": "high"}, "reward.format_ok"),
        ({"loose": 1}, "reward.loose"),
        ({"stop": "</s>"}, "reward.stop"),
        ({"response_format": "xml"}, "reward.response_format"),
        ({"accuracy": "exact"}, "reward.accuracy"),
    ],
)
def test_config_errors_name_the_key(data, path):
    with pytest.raises(RewardConfigError) as info:
        RewardConfig.from_mapping(data)
    assert str(info.value).startswith(path)


# ------------------------------------------------------------------------------------------ properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_pieces = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "<|im_end|>", "river", ", ", "\n",
                           "Step 1", "the", " ", "\\boxed{1}"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_pieces, max_size=12).map("".join), st.booleans(), st.sampled_from(["think_answer", "r1", "plain"]))
def test_reward_never_raises_and_stays_on_the_scale(completion, direct, fmt):
    cfg = RewardConfig(response_format=fmt)
    r = score_rule(completion, GT, cfg, direct=direct)
    assert -3.0 <= r.score <= 3.0
    assert r.score == pytest.approx(r.format_score + r.answer_score)
    # the answer is checked only through the gate, and then against every applicable constraint
    if r.answered:
        assert len(r.verdicts) == r.total == 2 and r.problem == ""
    else:
        assert r.answer_score == -2.0 and r.verdicts == () and r.problem
    m = score_math(completion, "1", cfg, direct=direct)
    assert -3.0 <= m.score <= 3.0
