"""Model-judged quality control against the loopback stub: instruction judges, answer judges and soft
questions, each scripted to pass, fail, answer neither YES nor NO, or be down (nothing silently kept)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from raif_data import pipeline
from raif_data import recipe as recipe_mod
from raif_data.judges import (
    ANSWER_QUESTIONS,
    INSTRUCTION_QUESTIONS,
    JUDGE_SYSTEM,
    gate,
    passes,
    share_yes,
)
from raif_rewards.errors import EndpointError
from raif_rewards.judge import JudgeVerdict
from tests.openai_stub import OpenAIStub

NAME_OF = {q: n for n, q in {**INSTRUCTION_QUESTIONS, **ANSWER_QUESTIONS}.items()}
SOFT_Q = "Is the tone of the answer warm?"


def judged_text(request: dict) -> tuple[str, str]:
    """(the judged text, the question's name) of a judge request."""
    user = request["messages"][-1]["content"]
    body, _, question = user.rpartition("\n\nQuestion: ")
    question = question.removesuffix("\nAnswer YES or NO.")
    if "[Response]" not in body:  # an instruction judge: the instruction alone
        body = body.removeprefix("[Instruction]\n").removesuffix("\n[End of instruction]")
    return body, NAME_OF.get(question, "soft" if question == SOFT_Q else question)


def yes(p: float) -> dict:
    """A judge reply whose first token puts ``p`` of the YES/NO mass on YES."""
    import math

    return {"content": "YES" if p >= 0.5 else "NO",
            "top_logprobs": [{"YES": math.log(max(p, 1e-9)), "NO": math.log(max(1 - p, 1e-9))}]}


def odd(text: str) -> bool:
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 1


class Model:
    """Base model, expert and judge in one stub. ``judge(text, name) -> reply`` scripts the judge;
    every judge question is recorded with its answer."""

    def __init__(self, judge: Callable[[str, str], object], expert: str = "<<Expert Title>>\nA careful answer."):
        self.judge, self.expert = judge, expert
        self.asked: list[tuple[str, str, object]] = []

    def __call__(self, request: dict):
        msgs = request["messages"]
        if msgs[0]["role"] == "system" and msgs[0]["content"] == JUDGE_SYSTEM:
            text, name = judged_text(request)
            reply = self.judge(text, name)
            self.asked.append((text, name, reply))
            return reply
        last = msgs[-1]["content"]
        if msgs[-1]["role"] == "assistant":
            return "plain direct answer"
        if "soft requirements" in last:
            return json.dumps({"constraints": ["Keep a warm tone."], "questions": [SOFT_Q]})
        if request.get("model") == "expert":
            return {"content": self.expert, "reasoning_content": "expert plan"}
        return {"content": "<<Base Title>>\nAn answer.", "reasoning_content": "let me think"}


def recipe(out: Path, url: str, **kw) -> recipe_mod.Recipe:
    data: dict[str, Any] = {
        "output_dir": str(out), "num_prompts": 16,
        "instruct": {"include_ids": ["detectable_format:title"], "compositions": {"and": 1.0}, "max_constraints": 1},
        "respond": {"samples": 2, "direct_samples": 1, "expert": {"model": "expert", "samples": 1}},
        "llm": {"base_url": url, "model": "base", "timeout": 2.0, "max_retries": 2, "concurrency": 8},
        "output": {"chunk_size": 8, "validation_fraction": 0.0},
    }
    for key, value in kw.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe_mod.from_dict(data)


def rows(out: Path, folder: str) -> list[dict]:
    return [row for p in sorted((out / folder).glob("part-*.parquet")) for row in pq.read_table(p).to_pylist()]


def test_share_and_gate():
    assert share_yes(JudgeVerdict(True, 0.6, 0.2)) == pytest.approx(0.75)
    assert share_yes(JudgeVerdict(None, error="x")) is None
    assert passes(JudgeVerdict(True, 0.6, 0.2), 0.8) is False and passes(JudgeVerdict(True, 0.6, 0.2), 0.7)
    g = gate([JudgeVerdict(True, 0.9, 0.1), JudgeVerdict(False, 0.1, 0.9), JudgeVerdict(None)],
             ["a", "b", "c"], {"a": 0.5, "b": 0.5, "c": 0.5})
    assert g.reasons == ["b", "c_unscored"] and not g.ok


def test_recipe_checks_judge_names_and_thresholds():
    with pytest.raises(recipe_mod.RecipeError, match="quality.instruction_judges.clear"):
        recipe_mod.from_dict({"quality": {"instruction_judges": {"clear": 0.5}}})
    with pytest.raises(recipe_mod.RecipeError, match="quality.answer_judges.task_done"):
        recipe_mod.from_dict({"quality": {"answer_judges": {"task_done": 1.5}}})


def test_instruction_judges_reject_and_count_per_reason(tmp_path):
    # "consistent" fails for some prompts, "relevant" cannot be scored for others; "well_defined" passes
    def judge(text, name):
        if name == "consistent":
            return yes(0.2 if odd(text) else 0.9)
        if name == "relevant" and odd(text + "r"):
            return "maybe"  # neither YES nor NO, no logprobs for them
        return yes(0.95)

    model = Model(judge)
    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        thresholds = {"well_defined": 0.5, "consistent": 0.5, "relevant": 0.5}
        m = pipeline.evolve(recipe(out, stub.base_url, respond={"enabled": False},
                                   quality={"instruction_judges": thresholds}))
    asked = {(t, n): r for t, n, r in model.asked}
    prompts = {t for t, _ in asked}
    inconsistent = {t for t in prompts if odd(t)}
    unscored = {t for t in prompts if odd(t + "r")}
    assert inconsistent and unscored and prompts - inconsistent - unscored  # the script hit every branch
    kept = {row["prompt"][0]["content"] for row in rows(out, "train")}
    assert kept == prompts - inconsistent - unscored
    llm = json.loads((out / "stages" / "instruct" / "manifest.json").read_text())["llm"]
    assert llm["instruction_rejected:consistent"] == len(inconsistent)
    assert llm["instruction_rejected:relevant_unscored"] == len(unscored)
    assert "instruction_rejected:well_defined" not in llm
    assert llm["instruction_rejected"] == len(inconsistent | unscored) == m["counts"]["instructions_rejected"]
    assert m["counts"]["train"] + m["counts"]["instructions_rejected"] + m["counts"]["duplicates_dropped"] == 16
    assert m["quality"]["instruct"]["instruction_rejected"] == len(inconsistent | unscored)


def test_instruction_judge_outage_writes_nothing(tmp_path):
    with OpenAIStub(Model(lambda t, n: yes(0.9))) as stub:
        stub.set_faults(lambda i, req: "500" if req["messages"][0]["content"] == JUDGE_SYSTEM else None)
        out = tmp_path / "d"
        r = recipe(out, stub.base_url, respond={"enabled": False},
                   quality={"instruction_judges": {"consistent": 0.5}})
        with pytest.raises(EndpointError, match="instruction judges"):
            pipeline.evolve(r)
        assert not list((out / "stages" / "instruct").glob("chunk-*.jsonl"))
        stub.set_faults([])  # back up: the rerun completes and keeps everything the judge passes
        m = pipeline.evolve(r)
    assert m["counts"]["instructions_rejected"] == 0 and m["counts"]["train"] > 0


def test_answer_judges_gate_pass_rate_and_expert_rows(tmp_path):
    # the base answers are judged not to do the task for some prompts; the expert leaks its reasoning
    def judge(text, name):
        if name == "task_done":
            return yes(0.1 if odd(text.split("[Response]")[0]) else 0.9)
        if name == "no_leaked_reasoning":
            return yes(0.1 if "First, I" in text else 0.9)
        return yes(0.9)

    model = Model(judge, expert="<<Expert Title>>\nFirst, I think about it. Then the answer.")
    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        judges = {"task_done": 0.5, "language": 0.5, "no_leaked_reasoning": 0.5}
        m = pipeline.evolve(recipe(out, stub.base_url, quality={"answer_judges": judges},
                                   respond={"drop_impossible": False}))
    got = rows(out, "train")
    assert got and m["counts"]["sft"] == 0  # every expert answer leaked reasoning
    for row in got:
        prompt = row["prompt"][0]["content"]
        failed = odd(f"[Instruction]\n{prompt}\n[End of instruction]\n\n")
        assert row["extra_info"]["pass_rate"] == (0.0 if failed else 1.0)
    n_failed = sum(row["extra_info"]["pass_rate"] == 0.0 for row in got)
    assert 0 < n_failed < len(got)
    rejected = json.loads((out / "stages" / "respond" / "manifest.json").read_text())["answers_rejected"]
    assert rejected["task_done"] == 2 * n_failed  # two samples per prompt
    assert rejected["expert_no_leaked_reasoning"] == len(got)
    assert m["quality"]["answers_rejected"] == rejected


def test_soft_questions_join_the_pass_rate_and_unscored_samples_are_not_counted(tmp_path):
    def judge(text, name):
        if name == "soft":
            return "perhaps" if odd(text.split("[Response]")[0] + "s") else yes(0.2)
        return yes(0.9)

    model = Model(judge)
    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        m = pipeline.evolve(recipe(out, stub.base_url, instruct={"soft": {"enabled": True, "ratio": 1.0}},
                                   respond={"drop_impossible": False, "expert": {"model": ""}}))
    got = rows(out, "train")
    assert got and all(row["reward_model"]["style"] == "judge" for row in got)
    pass_rates = [row["extra_info"]["pass_rate"] for row in got]
    # a NO fails the sample; an unscored question leaves it out (no pass rate), never a silent 0 or 1
    assert set(pass_rates) == {0.0, None}
    rejected = json.loads((out / "stages" / "respond" / "manifest.json").read_text())["answers_rejected"]
    assert rejected["soft"] == 2 * pass_rates.count(0.0)
    assert rejected["soft_unscored"] == 2 * pass_rates.count(None)
    assert m["counts"]["train"] == len(got)


def test_answer_judge_outage_writes_nothing(tmp_path):
    with OpenAIStub(Model(lambda t, n: yes(0.9))) as stub:
        stub.set_faults(lambda i, req: "500" if req["messages"][0]["content"] == JUDGE_SYSTEM else None)
        out = tmp_path / "d"
        r = recipe(out, stub.base_url, quality={"answer_judges": {"task_done": 0.5}})
        with pytest.raises(EndpointError, match="judge"):
            pipeline.evolve(r)
        assert not list((out / "stages" / "respond").glob("chunk-*.jsonl"))
