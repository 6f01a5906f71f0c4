"""CFBench (Zhang et al. 2024): CSR / ISR / PSR from a judge's 0/1 verdict on each criterion.

Data: ``cfbench_data.json`` of the authors' repository: a JSON array of objects with ``idx``,
``prompt``, ``gold`` (reference answer, may be empty), ``split`` (``easy`` / ``hard``) and
``criteria``: a list of ``[criterion text, "主需" (primary) | "次需" (secondary), type, subtype]``.

Judge: one call per response with all criteria (the authors' prompt, restated), temperature 0. The
reply must hold one line per criterion, in order, ``<criterion>\\t<0 or 1>``, lines separated by a
blank line. Parsing follows the authors' ``_get_judge_scores``: the reply splits into exactly as many
blocks as criteria, each ``text\\tscore`` with the text equal to the criterion (we compare after
stripping whitespace, the authors compare exactly) and score 0 or 1 -> a full parse. Otherwise a
lenient parse reads any ``text\\t0|1`` lines: if some are found the item is "partially parsed";
if none, its score is ``[0]``. (The authors retry the judge up to 10 times before falling back; with a
temperature-0, cached judge a retry returns the same reply, so we fall back at once. Their lenient
parser keeps only the 1s, a bug that inflates CSR; ours keeps 0s too. Both are reported in notes.)

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


def parse_judgement(reply: str, criteria: Sequence[str]) -> tuple[list[float], str]:
    """(scores, parsing) with parsing "1" (full), "0" (partial) or "-1" (none), as described above."""
    blocks = reply.strip().split("\n\n")
    if len(blocks) == len(criteria):
        scores = []
        for block, crit in zip(blocks, criteria, strict=True):
            parts = block.split("\t")
            if len(parts) != 2 or parts[0].strip() != crit.strip() or parts[1].strip() not in ("0", "1"):
                break
            scores.append(float(parts[1]))
        else:
            return scores, "1"
    lenient = []
    for line in reply.split("\n"):
        parts = line.split("\t")
        if len(parts) == 2 and parts[1].strip() in ("0", "1", "0.0", "1.0"):
            lenient.append(float(parts[1]))
    if lenient:
        return lenient, "0"
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
        scores, parsing = parse_judgement(reply, crits)
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
