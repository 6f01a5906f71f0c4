"""The veRL entry points and the dispatcher: routing by style and data_source, fixed metric keys,
the process-pool batch (order kept, same results as one process), and failures that never crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raif_rewards import dispatch
from raif_rewards.compose import GroundTruthError
from raif_rewards.dispatch import METRIC_KEYS, Sample, score_batch
from raif_rewards.reward import RewardConfigError
from raif_rewards.verl_plugin import compute_score, compute_score_batch

RULE = json.dumps({"style": "rule", "lang": "en", "tree": {"op": "and", "children": [
    {"op": "check", "id": "punctuation:no_comma"},
    {"op": "check", "id": "keywords:existence", "kwargs": {"keywords": ["river"]}},
    {"op": "check", "id": "length_constraints:number_words", "kwargs": {"num_words": 5, "relation": "at least"}},
]}})
MATH = json.dumps({"style": "math", "answer": "\\frac{3}{4}"})
GOOD = "<think>plan</think><answer>the river runs quietly through town</answer>"


@pytest.mark.parametrize(
    "data_source,solution,gt,extra,score",
    [
        ("ifeval", GOOD, RULE, None, 3.0),
        ("ifeval", GOOD, json.loads(RULE), None, 3.0),                       # dict ground truth
        ("ifeval", GOOD, [{"id": "punctuation:no_comma", "kwargs": {}}], None, 3.0),  # list shorthand
        ("ifeval", "<think>p</think><answer>the river, runs</answer>", RULE, None, 1 / 3 + 1),
        ("ifeval", "the river runs quietly through town", RULE, {"direct_answer": True}, 3.0),
        ("ifeval", "the river runs quietly through town", RULE, None, -3.0),
        ("ifeval", "<think>p</think>the river runs quietly through town", RULE, {"response_format": "r1"}, 3.0),
        ("whatever", "<think>p</think><answer>\\boxed{0.75}</answer>", MATH, None, 3.0),
        ("deepscaler", "<think>p</think><answer>\\boxed{0.75}</answer>", "\\frac{3}{4}", None, 3.0),  # bare answer
        ("openai/gsm8k", "<think>p</think><answer>\\boxed{18}</answer>", "18", None, 3.0),
        ("openai/gsm8k", "<think>p</think><answer>\\boxed{17}</answer>", 18, None, -0.5),
    ],
)
def test_compute_score(data_source, solution, gt, extra, score):
    out = compute_score(data_source, solution, gt, extra)
    assert out["score"] == pytest.approx(score)
    assert tuple(out) == METRIC_KEYS


def test_metric_keys_are_identical_across_styles_and_failures():
    outs = [
        compute_score("ifeval", GOOD, RULE),
        compute_score("ifeval", "garbage", RULE),
        compute_score("math", "<think>p</think><answer>no box</answer>", MATH),
    ]
    assert all(tuple(o) == METRIC_KEYS for o in outs)
    assert all(isinstance(v, float) for o in outs for v in o.values())


def test_metrics_explain_the_reward():
    out = compute_score("ifeval", "<think>p</think><answer>the river, runs</answer>", RULE)
    assert (out["format_ok"], out["answered"], out["constraints_satisfied"], out["constraints_total"]) == (1, 1, 1, 3)
    assert (out["lexical_satisfied"], out["lexical_total"]) == (1, 1)
    assert (out["punctuation_satisfied"], out["punctuation_total"]) == (0, 1)
    assert (out["length_satisfied"], out["length_total"]) == (0, 1)
    assert out["style_rule"] == 1.0 and out["style_math"] == 0.0
    m = compute_score("math", "<think>p</think><answer>no box</answer>", MATH)
    assert (m["math_no_boxed"], m["answer_score"], m["style_math"]) == (1.0, -2.0, 1.0)


@pytest.mark.parametrize(
    "gt,field",
    [
        ('{"style": "rule", "tree": {"op": "check", "id": "punctuation:no_coma"}}', "tree.id"),
        ('{"style": "rule", "tree": {"op": "and"}}', "tree.children"),
        ("not json at all", "(root)"),
    ],
)
def test_bad_ground_truth_raises_naming_the_field(gt, field):
    with pytest.raises(GroundTruthError, match=field.replace("(", r"\(").replace(")", r"\)")):
        compute_score("ifeval", GOOD, gt)
    with pytest.raises(GroundTruthError):
        compute_score_batch(["ifeval"], [GOOD], [gt])


def test_unknown_reward_kwarg_raises():
    with pytest.raises(RewardConfigError, match="reward_kwargs.formt_ok"):
        compute_score("ifeval", GOOD, RULE, formt_ok=1.0)


def test_reward_kwargs_set_the_config():
    out = compute_score("ifeval", "<think>p</think><answer>the river, runs</answer>", RULE, accuracy="fraction",
                        format_ok=0.0)
    assert out["score"] == pytest.approx(1 / 3)


def test_checker_exception_is_a_flagged_zero_credit_verdict(monkeypatch):
    import dataclasses

    from raif_rewards import registry

    checker = registry.get("keywords:existence")

    def boom(text, **kw):
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(registry._REGISTRY, checker.id, dataclasses.replace(checker, fn=boom))
    out = compute_score("ifeval", GOOD, RULE)
    assert out["checker_errors"] == 1.0
    assert (out["constraints_satisfied"], out["constraints_total"]) == (2.0, 3.0)


def test_unexpected_failure_is_flagged_not_raised(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(dispatch, "score_rule", broken)
    out = compute_score("ifeval", GOOD, RULE)
    # the lowest reward there is (worst format + worst answer), never more than a bad answer earns
    assert (out["score"], out["reward_error"]) == (-3.0, 1.0)


def _rollouts(n):
    answers = ["the river runs quietly through town", "the river, runs", "Mountains, hills", ""]
    sols, gts, srcs, infos = [], [], [], []
    for i in range(n):
        if i % 5 == 4:
            sols.append(f"<think>p</think><answer>\\boxed{{{i % 3}/4}}</answer>")
            gts.append(MATH)
            srcs.append("math")
        else:
            sols.append(f"<think>step {i}</think><answer>{answers[i % 4]}</answer>")
            gts.append(RULE)
            srcs.append("ifeval")
        infos.append({"direct_answer": False, "index": i})
    return srcs, sols, gts, infos


def test_batch_in_a_process_pool_matches_one_process_and_keeps_order():
    srcs, sols, gts, infos = _rollouts(120)
    single = [compute_score(s, x, g, e) for s, x, g, e in zip(srcs, sols, gts, infos, strict=True)]
    try:
        pooled = compute_score_batch(srcs, sols, gts, infos, num_workers=2)
    finally:
        dispatch.shutdown_pool()
    assert pooled == single
    assert len({o["score"] for o in pooled}) > 3


def test_pool_returns_the_same_reward_results_as_inline():
    srcs, sols, gts, infos = _rollouts(70)
    samples = [Sample(x, g, s, e) for s, x, g, e in zip(srcs, sols, gts, infos, strict=True)]
    try:
        pooled = score_batch(samples, workers=2)
    finally:
        dispatch.shutdown_pool()
    assert pooled == score_batch(samples, workers=1)
    assert any(r.verdicts for r in pooled)


def test_score_batch_inline_when_small():
    samples = [Sample(GOOD, RULE), Sample("<think>p</think><answer>\\boxed{3/4}</answer>", MATH)]
    out = score_batch(samples, workers=4)  # below min_pool_batch: no pool is started
    assert [r.score for r in out] == [3.0, 3.0]
    assert dispatch._POOL is None


def test_batch_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="lengths differ"):
        compute_score_batch(["a"], [GOOD, GOOD], [RULE, RULE])


def test_plugin_loads_by_path_like_verl_and_imports_no_http_client():
    path = Path(__file__).resolve().parent.parent / "raif_rewards" / "verl_plugin.py"
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('custom_module', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"out = mod.compute_score('ifeval', {GOOD!r}, {RULE!r})\n"
        "print(json.dumps([out['score'], 'aiohttp' in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [3.0, False]
