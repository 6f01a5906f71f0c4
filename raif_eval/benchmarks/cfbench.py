"""CFBench (Zhang et al. 2024): CSR / ISR / PSR from a judge's 0/1 verdict on each criterion.

Data: ``cfbench_data.json`` of the authors' repository: a JSON array of objects with ``idx``,
``prompt``, ``gold`` (reference answer, may be empty), ``split`` (``easy`` / ``hard``) and
``criteria``: a list of ``[criterion text, "主需" (primary) | "次需" (secondary), type, subtype]``.

Judge: one call per response with all criteria (the authors' prompt, restated), temperature 0. The
reply must hold one line per criterion, in order, ``<criterion>\\t<0 or 1>``, lines separated by a
blank line. Parsing follows the authors' ``_get_judge_scores``: the reply splits into exactly as many
blocks as criteria, each ``text\\tscore`` with the text exactly the criterion's (whitespace included)
and score 0 or 1 -> a full parse. Otherwise a fallback reads any ``text\\tscore`` lines and, as the
authors' does, keeps only those scored 1: if some are found the item is "partially parsed"; if none,
its score is ``[0]``. Keeping only the 1s is an evident bug of theirs (a fallback item with any
satisfied criterion gets CSR 1 and PSR 1); the correction ``fallback-zeros`` keeps the 0s too. (The
authors retry the judge up to 10 times before falling back; with a temperature-0, cached judge a
retry returns the same reply, so we fall back at once. Fallback counts are reported in notes.)

Per item (authors' ``_score_compute``):
- CSR = mean of the criterion scores, rounded to 2 decimals; ISR = 1 if CSR == 1 else 0.
- PSR: unparsed -> 0; partially parsed -> 1 if CSR > 0.8; fully parsed -> 0 if any primary
  criterion scored 0, else 1 if all criteria are primary, else (all secondary) 1 if CSR > 0.8, else
  (mixed) 1 if 0.5 + 0.5 * mean(secondary, rounded to 2) > 0.8.
Metrics: ``csr``, ``isr``, ``psr`` = means over items (and ``*_easy`` / ``*_hard`` per split).
Headline: ``psr`` (the RAIF paper does not say which of the three it reports).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item, mean, need, read_records, unique_ids
from raif_rewards.errors import InputFileError

PRIMARY, SECONDARY = "主需", "次需"

JUDGE_PROMPT = """You are a quality evaluator. Using the [User instruction], the [Reference answer], the [Model answer] and the [Criteria], score the model answer 0 or 1 on each criterion.
The reference answer and the model answer both respond to the user instruction; the criteria define what the model answer must satisfy. Score strictly by each criterion: 1 if it is fully satisfied, 0 if not.
If the [Reference answer] is empty, judge the criteria without it.
Output format: 1. one line per criterion, strictly in the order of the [Criteria], lines separated by "\\n\\n";
2. each line is the criterion text exactly as given, then a tab character, then its score, 0 or 1;
3. output only your evaluation, nothing else.

Example:
[User instruction]: Edit the sentence "I like apples": replace "I" with "Tom". Output only the edited sentence.
[Reference answer]: "Tom likes apples"
[Model answer]: "Sure, here it is: Tom likes apples"
[Criteria]:
The result matches the reference and the replacement is correct

There is no redundant text; quotes may be ignored
[Your evaluation]:
The result matches the reference and the replacement is correct\t1

There is no redundant text; quotes may be ignored\t0

[User instruction]: {prompt}

[Reference answer]: {gold}

[Model answer]: {response}

[Criteria]: {criteria}

[Your evaluation]:
"""


def _zero_one(text: str) -> float | None:
    """The score of a ``criterion\tscore`` line as the authors read it: ``float(score)`` (which takes
    surrounding whitespace, ``1.0``, ``+1``...) that equals 0 or 1; None otherwise."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value in (0.0, 1.0) else None


def parse_judgement(
    reply: str, criteria: Sequence[str], *, keep_zeros: bool = False
) -> tuple[list[float], str]:
    """(scores, parsing) with parsing "1" (full), "0" (partial) or "-1" (none), as the authors'
    ``_get_judge_scores`` and ``_get_judge_scores_guaranteed`` read a reply.

    Full parse: the reply, unstripped, splits on blank lines into exactly one block per criterion,
    each exactly ``criterion\tscore`` with the criterion text equal to the data's, whitespace
    included. Otherwise the fallback reads every line with one tab; the authors keep only the lines
    scored 1 (``if float(score) and ...``), so a fallback item with any 1 gets CSR 1. ``keep_zeros``
    is the corrected reading that keeps the 0s too. A fallback that finds nothing scores ``[0]``."""
    blocks = reply.split("\n\n")
    if len(blocks) == len(criteria):
        scores = []
        for block, crit in zip(blocks, criteria, strict=True):
            parts = block.split("\t")
            value = _zero_one(parts[1]) if len(parts) == 2 and parts[0] == crit else None
            if value is None:
                break
            scores.append(value)
        else:
            if scores:
                return scores, "1"
    fallback = []
    for line in reply.split("\n"):
        parts = line.split("\t")
        # a non-numeric score would stop the authors' script with a ValueError; we skip the line
        value = _zero_one(parts[1]) if len(parts) == 2 else None
        if value is not None and (value == 1.0 or keep_zeros):
            fallback.append(value)
    if fallback:
        return fallback, "0"
    return [0.0], "-1"


def item_metrics(scores: Sequence[float], parsing: str, kinds: Sequence[str]) -> dict[str, float]:
    """CSR, ISR and PSR of one item (the authors' ``_score_compute``)."""
    csr = round(sum(scores) / len(scores), 2)
    isr = 0.0 if csr < 1 else 1.0
    if parsing == "-1":
        psr = 0.0
    elif parsing == "0":
        psr = 1.0 if csr > 0.8 else 0.0
    else:
        primary = [s for s, k in zip(scores, kinds, strict=True) if k == PRIMARY]
        secondary = [s for s, k in zip(scores, kinds, strict=True) if k == SECONDARY]
        if 0 in primary:
            psr = 0.0
        elif not primary:
            psr = 1.0 if csr > 0.8 else 0.0
        elif len(primary) == len(scores):
            psr = 1.0
        else:
            psr = 1.0 if 0.5 + 0.5 * round(sum(secondary) / len(secondary), 2) > 0.8 else 0.0
    return {"csr": csr, "isr": isr, "psr": psr}


class CFBench(Benchmark):
    name = "cfbench"
    headline = "psr"
    needs_judge = True
    default_path = "cfbench/cfbench_data.json"
    corrections: ClassVar[dict[str, str]] = {
        "fallback-zeros": "a judge reply read by the fallback parser keeps its criteria scored 0 "
        "(the authors keep only the 1s, so any satisfied criterion gives CSR 1 and PSR 1)",
    }

    def load(self, path: Path) -> list[Item]:
        items = []
        for line, rec in read_records(path):
            ident = need(path, line, rec, "idx", (int, str))
            prompt = need(path, line, rec, "prompt", str)
            criteria = need(path, line, rec, "criteria", list)
            if not criteria:
                raise InputFileError(str(path), "expected a non-empty list", line, "criteria")
            for i, crit in enumerate(criteria):
                if not (
                    isinstance(crit, list)
                    and len(crit) >= 2
                    and isinstance(crit[0], str)
                    and crit[1] in (PRIMARY, SECONDARY)
                ):
                    raise InputFileError(
                        str(path),
                        f'element {i} must be [text, "{PRIMARY}" or "{SECONDARY}", ...], got {crit!r}',
                        line,
                        "criteria",
                    )
            items.append(
                Item(
                    id=str(ident),
                    messages=[{"role": "user", "content": prompt}],
                    record={
                        "prompt": prompt,
                        "gold": need(path, line, rec, "gold", str, optional=True, default=""),
                        "criteria": criteria,
                        "line": line,
                    },
                    group=need(path, line, rec, "split", str, optional=True, default=""),
                )
            )
        unique_ids(path, ((it.record["line"], it.id) for it in items))
        return items

    async def _judge(self, item: Item, answer: str, judge) -> dict:
        crits = [c[0] for c in item.record["criteria"]]
        prompt = JUDGE_PROMPT.format(
            prompt=item.record["prompt"],
            gold=item.record["gold"],
            response=answer,
            criteria="\n\n".join(crits),
        )
        reply = await judge.text([{"role": "user", "content": prompt}])
        scores, parsing = parse_judgement(reply, crits, keep_zeros="fallback-zeros" in self.fixes)
        return {
            "id": item.id,
            "split": item.group,
            "judge_scores": scores,
            "judge_parsing": parsing,
            **item_metrics(scores, parsing, [c[1] for c in item.record["criteria"]]),
        }

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge) -> BenchScore:
        scored = [it for it in items if it.id in answers]
        details = list(await asyncio.gather(*(self._judge(it, answers[it.id], judge) for it in scored)))
        metrics = {k: mean(d[k] for d in details) for k in ("csr", "isr", "psr")}
        for split in ("easy", "hard"):
            sub = [d for d in details if d["split"] == split]
            if sub:
                for k in ("csr", "isr", "psr"):
                    metrics[f"{k}_{split}"] = mean(d[k] for d in sub)
        notes = []
        partial = sum(d["judge_parsing"] == "0" for d in details)
        failed = sum(d["judge_parsing"] == "-1" for d in details)
        if partial or failed:
            notes.append(f"judge replies: {partial} partially parsed, {failed} unparsed (scored [0])")
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(scored), details=details, notes=notes
        )
