"""ComplexBench (Wen et al. 2024): scoring questions answered by rules or a YES/NO judge, with
dependency-aware aggregation.

Data: ``data_final.json`` of the authors' repository: a JSON array of objects with ``main_id``,
``instruction`` (Chinese) and ``instruction_en`` (English translation), ``category`` (e.g.
``Selection_2``), ``task_types``, ``group``, and ``scoring_questions``: objects with ``question``
(``question_en``), ``rule`` (null when only a judge can answer), ``dep`` (indices of the questions it
depends on), ``constraint_dimensions`` and ``composition_types``. ``lang`` (``zh`` default, or
``en``) picks the instruction and questions.

Each scoring question gets a verdict (authors' ``eval.sh`` pipeline):
- ``rule`` null: a YES/NO judgement (``raif_rewards.judge``) on the instruction, the answer and the
  question. (The authors ask GPT-4 for an explanation ending in "答案：是/否"; we take the YES/NO
  directly from the judge's log-probabilities.)
- with a rule: an extractor call (judge, temperature 0) picks out the part(s) of the answer the
  question is about, replying ``Extracted: all`` / ``Extracted: None`` / parts joined by ``||``; the
  reply is read as the authors' ``preprocess`` reads their Chinese extractor's (trailing notes cut,
  the text after ``评分对象：``/``评测对象：``/``Extracted:`` or else after the last ``：``) and the rule
  (``complexbench_rules``, whitespace-sensitive as theirs) is checked on them. A rule name we do not implement falls back to the
  YES/NO judge and is listed in notes. The extractor prompt is ours (the authors' is in Chinese and
  longer); its output convention is theirs.
Dependency: a question counts as satisfied only if it passes and every question in its ``dep``
passes (authors' ``get_rely_judgment``).

Metrics: ``drfr`` = satisfied questions / all questions over the benchmark (the authors'
``overall_drfr``, headline); ``drfr:<And|Chain|Selection|Nested...>`` the same per category family
(``category`` before the first ``_``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from raif_eval.benchmarks import complexbench_rules as rules
from raif_eval.benchmarks.base import Benchmark, BenchScore, Item, need, read_records, unique_ids
from raif_rewards.errors import InputFileError

JUDGE_PROMPT = (
    "You are grading a model's response against one scoring question.\n\n[Instruction]\n{instruction}\n\n"
    "[Model response]\n{output}\n\n[Scoring question]\n{question}\n\nJudge strictly: answer YES only if the "
    "response fully satisfies the scoring question, otherwise NO. Answer YES or NO."
)
EXTRACT_PROMPT = (
    "You are an information-extraction expert. You are given an instruction, a model's response to it, and a "
    "scoring question written to check one requirement of the instruction. Extract from the response the object "
    'the scoring question is about (for example: for "Is the second essay at least 500 words?" the second '
    'essay; for "Does the output end with X?" the last sentence of the response).\n'
    "Copy contiguous text of the response exactly: do not edit, add, drop or join anything. Extract the object "
    'even if it does not satisfy the question; do not judge it. "Beginning" means the first sentence and '
    '"end" the last sentence. If the question is about several objects (each title, each item...), give each '
    "one, separated by ||.\n\n[Instruction]\n{instruction}\n\n[Model response]\n{output}\n\n[Scoring question]\n"
    "{question}\n\nFirst explain briefly, then end your reply with one line of the form\nExtracted: <object>\n"
    "writing `Extracted: all` if the object is the whole response, or `Extracted: None` if the response has no such part."
)


def rely(verdicts: Sequence[bool], deps: Sequence[Sequence[int]]) -> list[bool]:
    """A question is satisfied only if it and all questions it depends on pass."""
    return [ok and all(verdicts[d] for d in dep) for ok, dep in zip(verdicts, deps, strict=True)]


def drfr(rows: Sequence[Sequence[bool]]) -> float:
    total = sum(len(r) for r in rows)
    return sum(sum(r) for r in rows) / total if total else float("nan")


class ComplexBench(Benchmark):
    name = "complexbench"
    headline = "drfr"
    needs_judge = True
    default_path = "complexbench/data_final.json"

    def __init__(self, lang: str = "zh", fixes: Iterable[str] = ()):
        super().__init__(fixes)
        if lang not in ("zh", "en"):
            raise ValueError(f"ComplexBench lang must be zh or en, got {lang!r}")
        self.lang = lang

    def load(self, path: Path) -> list[Item]:
        suffix = "_en" if self.lang == "en" else ""
        items = []
        for line, rec in read_records(path):
            ident = need(path, line, rec, "main_id", (int, str))
            instruction = need(path, line, rec, f"instruction{suffix}", str)
            questions = need(path, line, rec, "scoring_questions", list)
            if not questions:
                raise InputFileError(str(path), "expected a non-empty list", line, "scoring_questions")
            parsed = []
            for i, q in enumerate(questions):
                where = f"scoring_questions[{i}]"
                if not isinstance(q, dict):
                    raise InputFileError(str(path), "expected an object", line, where)
                text = q.get(f"question{suffix}")
                if not isinstance(text, str):
                    raise InputFileError(
                        str(path), "missing or not a string", line, f"{where}.question{suffix}"
                    )
                rule = q.get("rule")
                if rule is not None and not isinstance(rule, str):
                    raise InputFileError(str(path), "expected a string or null", line, f"{where}.rule")
                dep = q.get("dep", [])
                if not isinstance(dep, list) or any(
                    not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < len(questions) for d in dep
                ):
                    raise InputFileError(
                        str(path),
                        f"expected a list of question indices 0..{len(questions) - 1}",
                        line,
                        f"{where}.dep",
                    )
                parsed.append({"question": text, "rule": rule, "dep": dep})
            category = need(path, line, rec, "category", str, optional=True, default="")
            items.append(
                Item(
                    id=str(ident),
                    messages=[{"role": "user", "content": instruction}],
                    record={
                        "instruction": instruction,
                        "questions": parsed,
                        "category": category,
                        "line": line,
                    },
                    group=category.split("_")[0],
                )
            )
        unique_ids(path, ((it.record["line"], it.id) for it in items))
        return items

    async def _question(self, instruction: str, answer: str, q: dict, judge) -> tuple[bool, str]:
        if q["rule"] is not None:
            reply = await judge.text(
                [
                    {
                        "role": "user",
                        "content": EXTRACT_PROMPT.format(
                            instruction=instruction, output=answer, question=q["question"]
                        ),
                    }
                ]
            )
            segments = rules.parse_extraction(answer, reply)
            try:
                return rules.check_rule(q["rule"], segments), "rule"
            except rules.UnknownRule:
                pass  # judged below; counted in notes
        verdict = await judge.yes_no(
            [
                {
                    "role": "user",
                    "content": JUDGE_PROMPT.format(
                        instruction=instruction, output=answer, question=q["question"]
                    ),
                }
            ]
        )
        return bool(verdict), "judge" if q["rule"] is None else "judge-fallback"

    async def _item(self, item: Item, answer: str, judge) -> dict:
        qs = item.record["questions"]
        results = await asyncio.gather(
            *(self._question(item.record["instruction"], answer, q, judge) for q in qs)
        )
        verdicts = [ok for ok, _ in results]
        return {
            "id": item.id,
            "category": item.record["category"],
            "point_judges": verdicts,
            "point_judges_rely": rely(verdicts, [q["dep"] for q in qs]),
            "by": [how for _, how in results],
        }

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge) -> BenchScore:
        scored = [it for it in items if it.id in answers]
        details = list(await asyncio.gather(*(self._item(it, answers[it.id], judge) for it in scored)))
        metrics = {"drfr": drfr([d["point_judges_rely"] for d in details])}
        by_family: dict[str, list] = defaultdict(list)
        for d in details:
            by_family[d["category"].split("_")[0] or "uncategorised"].append(d["point_judges_rely"])
        for family, rows in sorted(by_family.items()):
            metrics[f"drfr:{family}"] = drfr(rows)
        fallbacks = sum(how == "judge-fallback" for d in details for how in d["by"])
        notes = (
            [f"{fallbacks} rule question(s) had a rule this implementation cannot check and were judged"]
            if fallbacks
            else []
        )
        notes.append(f"rule-checked questions: {sum(how == 'rule' for d in details for how in d['by'])}")
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(scored), details=details, notes=notes
        )
