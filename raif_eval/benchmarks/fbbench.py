"""FB-Bench (Li et al. 2024): a checklist judge scores the model's reply to user feedback.

Data: ``fb_bench_dataset.json`` of the authors' repository: a JSON array of objects with
``user_query``, ``origin_first_response``, ``feedback``, ``reference_second_response``, ``checklist``
(a list of ``[checkpoint, weight]`` pairs, or plain strings meaning weight ``null``), ``bench_type``
(``Error Correction`` / ``Response Maintenance``) and ``task_type``. Item ids are array positions.

Generation (authors' ``gen_answer.py``): the chat user_query -> assistant origin_first_response ->
user feedback; the model writes the second response.

Judge (authors' ``gen_judgment.py``, their English template restated): one call per item, temperature
0, showing the dialogue, the reference second response and the checklist, asking for a JSON object
mapping each checkpoint to ``{"judgement reason", "judgement result": "yes"|"no", "weight"}``.
Parsing: the first ``{...}`` object in the reply (code fences allowed) is read as JSON; each
checkpoint's result is looked up by its text, or by position when the reply's keys differ but their
count matches. A reply that cannot be read scores 0 and is reported in notes (the authors retry
three times, then drop the item).

Item score (authors' ``get_score``): walking the checkpoints in order, a "yes" adds its weight; a
"yes" on a checkpoint whose weight is null makes the score 1 at once. Scores lie in [0, 1].

Metrics (authors' ``show_results.py``, mode ``type``): for each bench type, the mean over task types
of the mean item score of that task type: ``error_correction``, ``response_maintenance``; ``overall``
is the mean over all (bench type, task type) groups. Headline: ``overall``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item, mean, need, read_records
from raif_rewards.errors import InputFileError

JUDGE_TEMPLATE = """# Task

You are an expert evaluator of answers. Given a reference answer for the second round and a checklist, evaluate the model's second-round response in a two-round dialogue between a user and the model, and output the evaluation as JSON.

# The two-round dialogue (the model's second-round response is to be evaluated)

<role>user query</role>
<content>
{user_query}
</content>

<role>model's first-round response</role>
<content>
{origin_first_response}
</content>

<role>user feedback</role>
<content>
{feedback}
</content>

<role>model's second-round response</role>
<content>
{second_response}
</content>

# Reference second-round response (for reference only)

<content>
{reference_second_response}
</content>

# Evaluation criteria

<Evaluation Criteria>
{checklist}
</Evaluation Criteria>

# Output

Read the dialogue carefully and, taking the criteria strictly as the standard, check whether the model's second-round response meets each requirement listed. The reference answer is only a guide: judge whether the response satisfies the criteria, not how similar it is to the reference.

Answer in JSON with three fields per criterion: "judgement reason", "judgement result" (only "yes" or "no"; partially correct is still "no") and "weight" (preset; do not change it). Think step by step in the reason.

Output format:
```json
{checklist_judgement}
```
"""


def normalize_checklist(checklist: list) -> list[tuple[str, float | None]]:
    return [(c, None) if isinstance(c, str) else (str(c[0]), c[1]) for c in checklist]


def parse_judgement(reply: str, checklist: Sequence[tuple[str, float | None]]) -> list[bool] | None:
    """Per-checkpoint yes/no from the judge's JSON, or None when it cannot be read."""
    start = reply.find("{")
    end = reply.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(reply[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None

    def result(entry) -> bool | None:
        if not isinstance(entry, dict):
            return None
        value = entry.get("judgement result", entry.get("评判结果"))
        if isinstance(value, str) and value.strip().lower() in ("yes", "是"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("no", "否"):
            return False
        return None

    keys = list(obj)
    by_text = {k.strip(): v for k, v in obj.items()}
    out = []
    for i, (ckpt, _) in enumerate(checklist):
        entry = by_text.get(ckpt.strip())
        if entry is None and len(keys) == len(checklist):
            entry = obj[keys[i]]
        verdict = result(entry)
        if verdict is None:
            return None
        out.append(verdict)
    return out


def item_score(verdicts: Sequence[bool], checklist: Sequence[tuple[str, float | None]]) -> float:
    score = 0.0
    for ok, (_, weight) in zip(verdicts, checklist, strict=True):
        if ok:
            if weight:
                score += weight
            else:
                return 1.0
    return score


def aggregate(rows: Sequence[tuple[str, str, float]]) -> dict[str, float]:
    """(bench_type, task_type, score) rows -> macro averages over task types (authors' ``type`` mode)."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for bench, task, score in rows:
        groups[(bench, task)].append(score)
    task_means = {key: mean(v) for key, v in groups.items()}
    out = {"overall": mean(task_means.values())}
    for bench, name in (
        ("Error Correction", "error_correction"),
        ("Response Maintenance", "response_maintenance"),
    ):
        vals = [m for (b, _), m in task_means.items() if b == bench]
        if vals:
            out[name] = mean(vals)
    return out


class FBBench(Benchmark):
    name = "fbbench"
    headline = "overall"
    needs_judge = True
    default_path = "fbbench/fb_bench_dataset.json"

    def load(self, path: Path) -> list[Item]:
        items = []
        for index, (line, rec) in enumerate(read_records(path)):
            fields = {
                k: need(path, line, rec, k, str) for k in ("user_query", "origin_first_response", "feedback")
            }
            checklist = need(path, line, rec, "checklist", list)
            if not checklist:
                raise InputFileError(str(path), "expected a non-empty list", line, "checklist")
            for i, c in enumerate(checklist):
                ok = isinstance(c, str) or (
                    isinstance(c, list)
                    and len(c) == 2
                    and isinstance(c[0], str)
                    and (
                        c[1] is None
                        or (isinstance(c[1], (int, float)) and not isinstance(c[1], bool) and 0 < c[1] <= 1)
                    )
                )
                if not ok:
                    raise InputFileError(
                        str(path),
                        f"element {i} must be a string or [checkpoint, weight in (0, 1] or null], got {c!r}",
                        line,
                        "checklist",
                    )
            items.append(
                Item(
                    id=str(index),
                    messages=[
                        {"role": "user", "content": fields["user_query"]},
                        {"role": "assistant", "content": fields["origin_first_response"]},
                        {"role": "user", "content": fields["feedback"]},
                    ],
                    record={
                        **fields,
                        "reference_second_response": need(
                            path, line, rec, "reference_second_response", str, optional=True, default=""
                        ),
                        "checklist": checklist,
                        "bench_type": need(path, line, rec, "bench_type", str),
                        "task_type": need(path, line, rec, "task_type", str),
                    },
                    group=rec.get("bench_type", ""),
                )
            )
        return items

    async def _judge(self, item: Item, answer: str, judge) -> dict:
        rec = item.record
        checklist = normalize_checklist(rec["checklist"])
        skeleton = {c: {"judgement reason": "", "judgement result": "", "weight": w} for c, w in checklist}
        prompt = JUDGE_TEMPLATE.format(
            user_query=rec["user_query"],
            origin_first_response=rec["origin_first_response"],
            feedback=rec["feedback"],
            second_response=answer,
            reference_second_response=rec["reference_second_response"],
            checklist=json.dumps(rec["checklist"], ensure_ascii=False),
            checklist_judgement=json.dumps(skeleton, indent=4, ensure_ascii=False),
        )
        reply = await judge.text([{"role": "user", "content": prompt}])
        verdicts = parse_judgement(re.sub(r"```(?:json)?", "", reply), checklist)
        score = item_score(verdicts, checklist) if verdicts is not None else 0.0
        return {
            "id": item.id,
            "bench_type": rec["bench_type"],
            "task_type": rec["task_type"],
            "verdicts": verdicts,
            "score": score,
        }

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge) -> BenchScore:
        scored = [it for it in items if it.id in answers]
        details = list(await asyncio.gather(*(self._judge(it, answers[it.id], judge) for it in scored)))
        metrics = aggregate([(d["bench_type"], d["task_type"], d["score"]) for d in details])
        unread = sum(d["verdicts"] is None for d in details)
        notes = [f"{unread} judge repl(y/ies) could not be read and scored 0"] if unread else []
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(scored), details=details, notes=notes
        )
