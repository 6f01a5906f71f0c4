"""Inference modes (I/O, CoT, SDC, self-consistency, self-refine) with a scripted chat function,
and the typed run settings (YAML recipe, unknown keys, wrong types, flag overrides)."""

from __future__ import annotations

import asyncio

import pytest

from raif_eval import config as cfgmod
from raif_eval.modes import COT_SUFFIX, SATISFIED, GenParams, generate
from raif_rewards.llm import ChatResult


class Script:
    """A fake ``LLMClient.chat``: answers by a rule on the request and records every call."""

    def __init__(self, rule):
        self.rule, self.calls = rule, []

    async def __call__(self, messages, **params):
        self.calls.append((messages, params))
        return ChatResult(
            text=self.rule(messages, params), usage={"prompt_tokens": 3, "completion_tokens": 2}
        )


def gen(mode, script, params=None, judge=None, messages=None):
    messages = messages or [{"role": "user", "content": "Write a haiku, no commas."}]
    return asyncio.run(generate("x", messages, mode, script, params or GenParams(), judge))


def test_io_is_one_greedy_call():
    s = Script(lambda m, p: "<think>hmm</think>an answer")
    r = gen("io", s)
    assert (r.answer, r.reasoning, r.calls, r.prompt_tokens, r.completion_tokens) == (
        "an answer",
        "hmm",
        1,
        3,
        2,
    )
    assert s.calls[0][1]["temperature"] == 0.0


def test_cot_asks_for_thinking_and_scores_only_the_answer():
    s = Script(lambda m, p: "<think>step 1, step 2</think>final")
    r = gen("cot", s)
    assert s.calls[0][0][-1]["content"].endswith(COT_SUFFIX)
    assert r.answer == "final" and "step 1" in r.reasoning


def test_sdc_decomposes_then_answers_with_the_decomposition():
    s = Script(
        lambda m, p: (
            "1. haiku\n2. no commas" if "Do not carry it out yet" in m[-1]["content"] else "the answer"
        )
    )
    r = gen(
        "sdc",
        s,
        messages=[
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Write a haiku, no commas."},
        ],
    )
    assert r.calls == 2 and r.answer == "the answer" and r.trace[0]["text"] == "1. haiku\n2. no commas"
    second = s.calls[1][0]
    assert second[:2] == [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "ok"},
    ]  # history kept
    assert (
        "1. haiku\n2. no commas" in second[-1]["content"]
        and "Write a haiku, no commas." in second[-1]["content"]
    )


def test_self_consistency_picks_by_agreement_with_distinct_seeds():
    answers = {0: "x y z", 1: "a b c", 2: "a b d"}
    s = Script(lambda m, p: answers[p["seed"]])
    r = gen("self-consistency", s, GenParams(k=3, sc_temperature=0.9))
    assert r.calls == 3 and r.answer == "a b c"
    assert sorted(p["seed"] for _, p in s.calls) == [0, 1, 2] and all(
        p["temperature"] == 0.9 for _, p in s.calls
    )


def test_self_consistency_by_judge_takes_the_first_yes_in_agreement_order():
    answers = {0: "x y z", 1: "a b c", 2: "a b d"}
    asked = []

    async def judge(messages):
        asked.append(messages[-1]["content"])
        return "a b d" in messages[-1]["content"]  # NO for the medoid "a b c", YES for "a b d"

    r = gen(
        "self-consistency", Script(lambda m, p: answers[p["seed"]]), GenParams(k=3, sc_select="judge"), judge
    )
    assert r.answer == "a b d" and len(asked) == 2 and r.trace[0]["by"] == "judge"


def test_self_refine_revises_until_the_critique_is_satisfied():
    def rule(m, p):
        content = m[-1]["content"]
        if content.startswith("Instruction:") and "Feedback on the draft" in content:
            return "revised answer"
        if content.startswith("Instruction:"):
            return SATISFIED if "revised answer" in content else "It has commas; remove them."
        return "draft, with commas"

    s = Script(rule)
    r = gen("self-refine", s, GenParams(refine_rounds=3))
    assert r.answer == "revised answer"
    assert r.calls == 4  # answer, critique, revise, critique (satisfied)
    assert [t["step"] for t in r.trace] == ["critique", "critique"]


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown mode"):
        gen("magic", Script(lambda m, p: ""))


# ------------------------------------------------------------------ settings
def test_yaml_recipe_is_typed_and_flags_override(tmp_path):
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(
        "output_dir: runs/a\nbenchmarks: [ifeval, cello]\nmode: cot\nmax_tokens: 512\ndata:\n  ifeval: x.jsonl\n"
    )
    cfg = cfgmod.load_yaml(recipe)
    assert (cfg.mode, cfg.max_tokens, cfg.data) == ("cot", 512, {"ifeval": "x.jsonl"})
    merged = cfgmod.merge(cfg, {"mode": "sdc", "max_tokens": None})
    assert (merged.mode, merged.max_tokens) == ("sdc", 512)
    assert merged.validate() is merged


def test_flag_values_are_type_checked_like_file_values():
    cfg = cfgmod.RunConfig(output_dir="o", benchmarks=["ifeval"])
    with pytest.raises(cfgmod.ConfigError, match="command line: temperature: expected"):
        cfgmod.merge(cfg, {"temperature": "hot"})
    with pytest.raises(cfgmod.ConfigError, match="command line: nope: unknown key"):
        cfgmod.merge(cfg, {"nope": 1})
    assert cfgmod.merge(cfg, {"temperature": 0}).temperature == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("output_dir: a\nbenchmark: [ifeval]\n", "benchmark: unknown key; did you mean benchmarks?"),
        ("output_dir: a\nmax_tokens: many\n", "max_tokens: expected an integer, got str"),
        ("output_dir: a\ndata:\n  ifeval: 3\n", "data.ifeval: expected a string, got int"),
        ("output_dir: a\nbenchmarks: [ifeval, 3]\n", "benchmarks[1]: expected a string, got int"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_bad_recipes_name_the_key(tmp_path, text, message):
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(text)
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.load_yaml(recipe)
    assert message in str(info.value) and str(recipe) in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"benchmarks": ["ifeval", "mmlu"]}, "benchmarks[1]: unknown benchmark 'mmlu'"),
        ({"mode": "tot"}, "mode: unknown mode 'tot'"),
        ({"k": 0}, "k: must be at least 1"),
        ({"benchmarks": []}, "benchmarks: give at least one"),
    ],
)
def test_bad_settings_fail_validation(fields, message):
    cfg = cfgmod.RunConfig(output_dir="o", benchmarks=["ifeval"])
    with pytest.raises(cfgmod.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        cfgmod.merge(cfg, fields).validate()
