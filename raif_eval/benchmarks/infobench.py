"""InFoBench (Qin et al. 2024): DRFR from YES/NO answers to each instruction's decomposed questions.

Data: ``InfoBench.json`` as released on the Hugging Face hub (``kqsong/InFoBench``): one JSON object
a line with ``id``, ``instruction``, ``input``, ``decomposed_questions`` (list of strings) and
optionally ``subset`` (``Easy_set`` / ``Hard_set``) and ``category``. A JSON array is accepted too.

Generation prompt, as the authors' ``generation.py``: ``"{instruction}\\n\\n{input}\\n"``.

Scoring, as the authors' ``evaluation.py``: the judge sees its system message, the input (if any),
the generated text and the first question; later questions continue the same conversation, the
judge's earlier YES/NO answers staying in it. Each answer is a YES/NO judgement
(``raif_rewards.judge``, from the judge's token log-probabilities). A judgement that is neither
counts as NO (the authors' ``bool_ratio`` counts ``None`` as false); such cases are reported in notes.

Metrics: ``drfr`` = (questions answered YES) / (all questions), pooled over every instruction
(Decomposed Requirements Following Ratio); ``drfr_easy`` / ``drfr_hard`` the same on each subset.
Headline: ``drfr``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from raif_eval.benchmarks.base import (
    Benchmark,
    BenchScore,
    Item,
    need,
    need_str_list,
    read_records,
    unique_ids,
)

# The authors' judge instruction, restated (their wording carries typos we do not reproduce).
SYS_MSG = (
    "Based on the provided Input (if any) and Generated Text, answer the ensuing Questions with either a YES "
    "or NO choice. Your selection should be based on your judgment as well as the following rules:\n\n"
    "- YES: Select 'YES' if the generated text entirely fulfills the condition specified in the question. "
    "However, note that even minor inaccuracies exclude the text from receiving a 'YES' rating. As an "
    'illustration, consider a question that asks, "Does each sentence in the generated text use a second '
    "person?\" If even one sentence does not use the second person, the answer should NOT be 'YES'. To "
    "qualify for a 'YES' rating, the generated text must be entirely accurate and relevant to the question.\n\n"
    "- NO: Opt for 'NO' if the generated text fails to meet the question's requirements or provides no "
    'information that could be utilized to answer the question. For instance, if the question asks, "Is the '
    'second sentence in the generated text a compound sentence?" and the generated text only has one '
    "sentence, it offers no relevant information to answer the question. Consequently, the answer should be 'NO'."
)


def first_turn(input_text: str, output: str, question: str) -> str:
    if input_text:
        return (
            f'{SYS_MSG}\n\nInput:\n"{input_text}"\n\nGenerated Text:\n"{output}"\n\nQuestion:\n{question}\n'
        )
    return f'{SYS_MSG}\n\nGenerated Text:\n"{output}"\n\nQuestion:\n{question}\n'


def drfr(verdicts: Sequence[Sequence[bool | None]]) -> float:
    """Pooled share of YES over all decomposed questions (``None`` counts as NO)."""
    total = sum(len(v) for v in verdicts)
    return sum(1 for v in verdicts for x in v if x) / total if total else math.nan


class InfoBench(Benchmark):
    name = "infobench"
    headline = "drfr"
    needs_judge = True
    default_path = "infobench/InfoBench.json"

    def load(self, path: Path) -> list[Item]:
        items = []
        for line, rec in read_records(path):
            ident = need(path, line, rec, "id", (str, int))
            instruction = need(path, line, rec, "instruction", str)
            input_text = need(path, line, rec, "input", str, optional=True, default="")
            questions = need_str_list(path, line, rec, "decomposed_questions")
            subset = need(path, line, rec, "subset", str, optional=True, default="")
            items.append(
                Item(
                    id=str(ident),
                    messages=[{"role": "user", "content": f"{instruction}\n\n{input_text}\n"}],
                    record={"input": input_text, "decomposed_questions": questions, "line": line},
                    group=subset,
                )
            )
        unique_ids(path, ((it.record["line"], it.id) for it in items))
        return items

    async def _judge_item(self, item: Item, answer: str, judge) -> list[bool | None]:
        messages: list[dict] = []
        verdicts: list[bool | None] = []
        for question in item.record["decomposed_questions"]:
            content = first_turn(item.record["input"], answer, question) if not messages else f"{question}\n"
            messages.append({"role": "user", "content": content})
            verdict = await judge.yes_no(list(messages))
            verdicts.append(verdict)
            messages.append({"role": "assistant", "content": "YES" if verdict else "NO"})
        return verdicts

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge) -> BenchScore:
        scored = [it for it in items if it.id in answers]
        results = await asyncio.gather(*(self._judge_item(it, answers[it.id], judge) for it in scored))
        details = [
            {"id": it.id, "subset": it.group, "eval": v, "questions": it.record["decomposed_questions"]}
            for it, v in zip(scored, results, strict=True)
        ]
        metrics = {"drfr": drfr(results)}
        for name, label in (("drfr_easy", "easy"), ("drfr_hard", "hard")):
            subset = [v for it, v in zip(scored, results, strict=True) if it.group.lower().startswith(label)]
            if subset:
                metrics[name] = drfr(subset)
        undecided = sum(1 for v in results for x in v if x is None)
        notes = [f"{undecided} judgement(s) were neither YES nor NO and count as NO"] if undecided else []
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(scored), details=details, notes=notes
        )
