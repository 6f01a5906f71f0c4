"""IFBench (Pyatkin et al. 2025): 58 out-of-distribution constraints, checked by the same registry
checkers as ``raif-rewards ifbench`` (allenai/IFBench ``run_eval.py``), with its rule for
unanswered prompts.

Data: ``IFBench_test.jsonl`` of the authors' repository (``key``, ``prompt``,
``instruction_id_list``, ``kwargs``, null-valued kwargs allowed). The multi-turn variant
(``allenai/IFBench_multi-turn``, "constraint isolation": the prompt, the model's first answer, then
the constraint as a second user turn; configs ``ifbench_constraints`` and ``ifeval_constraints``,
exported to JSON lines) reads from the same file layout with a ``messages`` list
(``role``/``content``, ending in a user turn) that is replayed as the chat; its ``prompt`` field,
when present, is the text the checkers that read the prompt are built with (else the last user
turn). Point ``--data ifbench=FILE`` at either file.

Metrics (each in [0, 1]), as IFBench's ``evaluation_lib``: ``prompt_strict`` / ``prompt_loose``:
share of prompts whose every instruction is followed, strict or with the loose variants (first/last
line removed, ``*`` removed); ``inst_strict`` / ``inst_loose``: share of all instructions followed.
Headline: ``prompt_loose`` (the IFBench README: "In the paper we generally report the prompt-level
loose accuracy"). As in IFBench and unlike IFEval's scorer, a prompt without an answer in the run
counts, every instruction failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item
from raif_rewards import ifbench as scorer
from raif_rewards.errors import InputFileError
from raif_rewards.ifeval import InputExample, accumulate, input_example
from raif_rewards.jsonl import iter_jsonl

ROLES = ("system", "user", "assistant")


def _messages(path: Path, line: int, value: object) -> list[dict]:
    """A multi-turn record's chat, checked: role/content objects ending in a user turn."""
    if not isinstance(value, list) or not value:
        raise InputFileError(
            str(path), "expected a non-empty list of {role, content} objects", line, "messages"
        )
    chat = []
    for i, m in enumerate(value):
        if not (isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)):
            raise InputFileError(
                str(path),
                f"element {i} must be {{role: system|user|assistant, content: string}}",
                line,
                "messages",
            )
        chat.append({"role": m["role"], "content": m["content"]})
    if chat[-1]["role"] != "user":
        raise InputFileError(str(path), "the last message must be the user's", line, "messages")
    return chat


class IFBench(Benchmark):
    name = "ifbench"
    headline = "prompt_loose"
    needs_judge = False
    default_path = "ifbench/IFBench_test.jsonl"

    def load(self, path: Path) -> list[Item]:
        items: list[Item] = []
        seen: dict[str, int] = {}
        for line, obj in iter_jsonl(path):
            if isinstance(obj, dict) and "messages" in obj:
                chat = _messages(path, line, obj["messages"])
                prompt = obj.get("prompt")
                ex = input_example(
                    path, line, obj, prompt if isinstance(prompt, str) else chat[-1]["content"]
                )
                group = "multi-turn"
            else:
                ex = input_example(path, line, obj)
                chat = [{"role": "user", "content": ex.prompt}]
                group = "single-turn"
            ident = str(ex.key)
            if ident in seen:
                raise InputFileError(
                    str(path), f"duplicate key {ident!r} (first at line {seen[ident]})", line, "key"
                )
            seen[ident] = line
            record = {
                "key": ex.key,
                "prompt": ex.prompt,
                "instruction_id_list": ex.instruction_id_list,
                "kwargs": ex.kwargs,
            }
            items.append(Item(id=ident, messages=chat, record=record, group=group))
        if not items:
            raise InputFileError(str(path), "no examples in file")
        return items

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge=None) -> BenchScore:
        rows: dict[str, list[dict]] = {"strict": [], "loose": []}
        details = []
        for item in items:
            ex = InputExample(**item.record)
            answer = answers.get(item.id)  # None: no answer, every instruction fails (IFBench's rule)
            per_mode = {}
            for mode in ("strict", "loose"):
                row = scorer.evaluate(ex, answer, loose=mode == "loose")
                rows[mode].append(row)
                per_mode[mode] = row["follow_instruction_list"]
            details.append(
                {
                    "id": item.id,
                    "group": item.group,
                    "instruction_id_list": ex.instruction_id_list,
                    **per_mode,
                }
            )
        strict, loose = accumulate(rows["strict"]), accumulate(rows["loose"])
        metrics = {
            "prompt_strict": strict.prompt_level,
            "inst_strict": strict.instruction_level,
            "prompt_loose": loose.prompt_level,
            "inst_loose": loose.instruction_level,
        }
        missing = sum(item.id not in answers for item in items)
        counts = {
            "prompt_strict_correct": strict.prompt_correct,
            "inst_strict_correct": strict.instruction_correct,
            "prompt_loose_correct": loose.prompt_correct,
            "inst_loose_correct": loose.instruction_correct,
            "prompts": strict.prompt_total,
            "instructions": strict.instruction_total,
        }
        notes = [f"counts: {counts}"]
        if missing:
            notes.append(f"{missing} prompt(s) without an answer counted as failed, as IFBench counts them")
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(details), details=details, notes=notes
        )
