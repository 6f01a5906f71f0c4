"""IFEval (Zhou et al. 2023) through the project's checker library: the same verdicts and
accuracies as ``raif-rewards ifeval`` (Google's ``evaluation_main``), no judge needed.

Data: Google's ``input_data.jsonl`` (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``).

Metrics (each in [0, 1]):
- ``prompt_strict`` / ``prompt_loose``: share of prompts whose every instruction is followed, with
  the strict check or with IFEval's loose variants (first/last line removed, ``*`` removed).
- ``inst_strict`` / ``inst_loose``: share of all instructions followed.
Headline: ``prompt_strict`` (prompt-level strict accuracy). The RAIF paper does not say which of the
four it reports in Table 1; prompt-level strict is the usual single IFEval figure.
Prompts with no answer in the run are left out, as Google's scorer leaves out unpaired prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item
from raif_rewards import ifeval as scorer


class IFEval(Benchmark):
    name = "ifeval"
    headline = "prompt_strict"
    needs_judge = False
    default_path = "ifeval/input_data.jsonl"

    def load(self, path: Path) -> list[Item]:
        return [
            Item(
                id=str(ex.key),
                messages=[{"role": "user", "content": ex.prompt}],
                record={
                    "key": ex.key,
                    "prompt": ex.prompt,
                    "instruction_id_list": ex.instruction_id_list,
                    "kwargs": ex.kwargs,
                },
            )
            for ex in scorer.read_inputs(path)
        ]

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge=None) -> BenchScore:
        rows: dict[str, list[dict]] = {"strict": [], "loose": []}
        details = []
        for item in items:
            if item.id not in answers:
                continue
            ex = scorer.InputExample(**item.record)
            per_mode = {}
            for mode in ("strict", "loose"):
                row = scorer.evaluate_example(ex, answers[item.id], loose=mode == "loose")
                rows[mode].append(row)
                per_mode[mode] = row["follow_instruction_list"]
            details.append({"id": item.id, "instruction_id_list": ex.instruction_id_list, **per_mode})
        strict, loose = scorer.accumulate(rows["strict"]), scorer.accumulate(rows["loose"])
        metrics = {
            "prompt_strict": strict.prompt_level,
            "inst_strict": strict.instruction_level,
            "prompt_loose": loose.prompt_level,
            "inst_loose": loose.instruction_level,
        }
        counts = {
            "prompt_strict_correct": strict.prompt_correct,
            "inst_strict_correct": strict.instruction_correct,
            "prompt_loose_correct": loose.prompt_correct,
            "inst_loose_correct": loose.instruction_correct,
            "prompts": strict.prompt_total,
            "instructions": strict.instruction_total,
        }
        return BenchScore(
            metrics=metrics,
            headline=self.headline,
            n_items=len(details),
            details=details,
            notes=[f"counts: {counts}"],
        )
