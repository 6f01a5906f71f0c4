"""FB-Bench (Li et al. 2024): a checklist judge scores the model's reply to user feedback.

Data: ``fb_bench_dataset_v3.json`` of the authors' repository (the current release, 591 items, the one
their judgments and leaderboard use; the first release ``fb_bench_dataset.json``, 734 items, reads
the same way): a JSON array of objects with ``user_query``, ``origin_first_response``, ``feedback``,
``checklist`` (a list of ``[checkpoint, weight]`` pairs, or plain strings meaning weight ``null``),
``bench_type`` (``Error Correction`` / ``Response Maintenance``), ``task_type`` and, on some items
only, ``reference_second_response``. Item ids are array positions.

Generation (authors' ``gen_answer.py``): the chat user_query -> assistant origin_first_response ->
user feedback; the model writes the second response.

Judge (authors' ``gen_judgment.py`` with their current ``judge_config.yaml``: the Chinese template,
which shows no reference answer; restated here in our own words): one call per item, temperature 0,
showing the two-turn dialogue and the checklist (as the Python list the authors print), asking for a
JSON object mapping each checkpoint to ``{"评判理由", "评判结果": "是"|"否", "weight"}``.
Reading (authors' ``check_gpt_judge``): the reply's JSON object (we also take it out of a code fence
or surrounding text; the authors ask the API for JSON mode) must map non-empty checkpoint strings to
objects with a non-empty ``评判理由``, ``评判结果`` ``是`` or ``否`` and ``weight`` null or in (0, 1].
The authors retry a reply that fails this three times, then leave the item out of their results;
with a cached temperature-0 judge a retry returns the same reply, so an unreadable reply leaves the
item out at once (counted in notes). The correction ``unread-as-zero`` scores it 0 instead.

Item score (authors' ``get_score``): walking the reply's entries in order, a ``是`` adds the entry's
weight; a ``是`` on an entry whose weight is null makes the score 1 at once. The entries are the
judge's, not the checklist's: a reply that covers fewer checkpoints is scored on those it covers.
A score outside [0, 1] is unreadable, as the authors' assertion makes it.

Metrics (authors' ``show_results.py``, mode ``type``): for each bench type, the mean over task types
of the mean item score of that task type: ``error_correction``, ``response_maintenance``; ``overall``
is the mean over all (bench type, task type) groups. Headline: ``overall``. (The authors round each
to 4 decimals before showing it in %.)
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item, mean, need, read_records
from raif_rewards.errors import InputFileError

# The authors' current Chinese template, restated: the dialogue, the checklist, the JSON to fill.
JUDGE_TEMPLATE = """# 任务说明

请你担任回答质量的评审。下面是用户与模型的两轮对话，请依据给出的评判细则，评估模型在第二轮给出的回答，并用JSON格式输出评估结果。

# 两轮对话

## 用户第一轮提问
<role>user</role>
<content>
{user_query}
</content>

## 模型第一轮回答
<role>assistant</role>
<content>
{origin_first_response}
</content>

## 用户第二轮提问
<role>user</role>
<content>
{feedback}
</content>

## 模型第二轮回答（待评估）
<role>assistant</role>
<content>
{second_response}
</content>

# 评判细则
<评判细则>
{checklist}
</评判细则>

# 输出要求

仔细阅读两轮对话，以评判细则为唯一标准，逐条检查模型第二轮回答是否满足每一条要求。

每一条细则输出三个字段：评判理由；评判结果（只能是"是"或"否"，部分满足也算"否"）；weight（预先给定的值，原样保留，即使是None）。

请按如下格式输出：
```json
{checklist_judgement}
```
"""

YES, NO = "是", "否"


def normalize_checklist(checklist: list) -> list[tuple[str, float | None]]:
    return [(c, None) if isinstance(c, str) else (str(c[0]), c[1]) for c in checklist]


def _json_object(reply: str) -> dict | None:
    """The reply's JSON object: the whole reply, or the outermost ``{...}`` in it (code fences and
    surrounding words allowed, since we do not ask the endpoint for JSON mode)."""
    for text in (reply, reply[reply.find("{") : reply.rfind("}") + 1]):
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            continue
        return obj if isinstance(obj, dict) else None
    return None


def _valid_weight(w: object) -> bool:
    return w is None or (isinstance(w, (int, float)) and 0 < w <= 1)


def parse_judgement(reply: str) -> list[tuple[str, bool, float | None]] | None:
    """The reply's (checkpoint, satisfied, weight) entries in order, or None when the authors'
    ``check_gpt_judge`` would reject it."""
    obj = _json_object(reply)
    if not obj:
        return None
    out = []
    for ckpt, entry in obj.items():
        if not (ckpt and isinstance(entry, dict)):
            return None
        reason, result = entry.get("评判理由"), entry.get("评判结果")
        if not (isinstance(reason, str) and reason) or result not in (YES, NO) or "weight" not in entry:
            return None
        if not _valid_weight(entry["weight"]):
            return None
        out.append((ckpt, result == YES, entry["weight"]))
    return out


def item_score(entries: Sequence[tuple[str, bool, float | None]]) -> float:
    """The authors' ``get_score`` over the judge's entries: weights of the satisfied ones, or 1 at the
    first satisfied entry without a weight."""
    score = 0.0
    for _, ok, weight in entries:
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
    default_path = "fbbench/fb_bench_dataset_v3.json"
    corrections: ClassVar[dict[str, str]] = {
        "unread-as-zero": "an unreadable judge reply scores the item 0 (the authors leave the item out "
        "of their results after three failed tries)",
    }

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
        skeleton = {c: {"评判理由": "", "评判结果": "", "weight": w} for c, w in checklist}
        prompt = JUDGE_TEMPLATE.format(
            user_query=rec["user_query"],
            origin_first_response=rec["origin_first_response"],
            feedback=rec["feedback"],
            second_response=answer,
            # the authors format the released list itself (Python's repr), not JSON
            checklist=rec["checklist"],
            checklist_judgement=json.dumps(skeleton, indent=4, ensure_ascii=False),
        )
        reply = await judge.text([{"role": "user", "content": prompt}])
        entries = parse_judgement(reply)
        score = item_score(entries) if entries is not None else None
        if score is not None and not -1e-6 <= score <= 1 + 1e-6:
            entries, score = None, None  # the authors' range assertion rejects the reply
        if score is None and "unread-as-zero" in self.fixes:
            score = 0.0
        return {
            "id": item.id,
            "bench_type": rec["bench_type"],
            "task_type": rec["task_type"],
            "judgement": None if entries is None else [[c, ok, w] for c, ok, w in entries],
            "score": score,
        }

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge) -> BenchScore:
        scored = [it for it in items if it.id in answers]
        details = list(await asyncio.gather(*(self._judge(it, answers[it.id], judge) for it in scored)))
        kept = [d for d in details if d["score"] is not None]
        metrics = aggregate([(d["bench_type"], d["task_type"], d["score"]) for d in kept])
        unread = sum(d["judgement"] is None for d in details)
        notes = []
        if unread:
            how = (
                "scored 0"
                if "unread-as-zero" in self.fixes
                else "left out of the averages, as the authors do"
            )
            notes.append(f"{unread} judge repl(y/ies) could not be read and were {how}")
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(kept), details=details, notes=notes
        )
