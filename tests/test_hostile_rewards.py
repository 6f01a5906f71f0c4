"""Hostile model answers: no text may raise out of a reward, earn more through an error, or take more
than linear time (issue 15, points 1, 2, 6 and 13)."""

from __future__ import annotations

import json

import pytest

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
