"""FollowBench (Jiang et al. 2024): multi-level constraints; HSR, SSR and CSL from judge and rules.

Data: the authors' ``data/`` folder (``content_constraints.json``, ``situation_constraints.json``,
``style_constraints.json``, ``format_constraints.json``, ``example_constraints.json``,
``mixed_constraints.json``); point ``--data followbench=DIR`` at it (or at one file). Each is a JSON
array of ``{example_id, category, source, level (0-5), instruction, target}``; level 0 is the
unconstrained seed, levels 1-5 add one constraint each. Only levels 1-5 are answered and scored.

Verdicts per answered instruction (``hard`` in {0, 1}, ``soft`` in [0, 1]):
- Example constraints and the rule-checked sources (``followbench_rules``: E2E, WIKIEVENTS,
  CONLL2003, text_editing, the summarisation sets, BBH, gsm_8k, self_made_space, and format examples
  22 and 30): hard = soft = 1 if the rule holds.
- All others: the judge (temperature 0) sees the seed instruction and every evolved level up to this
  one plus the answer, and must end with a Python list of ``'YES'``/``'NO'``, one per added constraint
  (the authors' prompt, restated). Parsing, as the authors': the last line of the reply; level 1 -> YES
  if ``YES`` occurs in it, NO if ``NO`` does; level > 1 -> the ``[...]`` in it read as a Python literal
  with exactly ``level`` elements, each ``'YES'`` or ``'NO'``; hard = all YES, soft = share of YES.
  Unparseable replies: the authors mark them -1 and ask for a manual fix; we score them 0/0 and
  report their number in notes.

Metrics: ``hsr_l{1..5}`` / ``ssr_l{1..5}``: mean hard / soft verdict of the answers at that level;
``hsr`` / ``ssr``: mean over the five levels (headline: ``hsr``); ``csl``: Consistent Satisfaction
Levels, per example group (file category, example_id) the number of consecutive levels from 1 whose
hard verdict is 1, averaged over groups with all five levels. The authors report these per
constraint type (data file); ``hsr:<type>``, ``ssr:<type>``, ``csl:<type>`` are those, and the
unsuffixed ones pool all types.
"""

from __future__ import annotations

import ast
import asyncio
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from raif_eval.benchmarks import followbench_rules as rules
from raif_eval.benchmarks.base import Benchmark, BenchScore, Item, mean, need, read_records
from raif_rewards.errors import InputFileError

KIND_TEXT = {
    "content": "content constraint",
    "situation": "scenario constraint (information to describe a specific situation/background)",
    "scenario": "scenario constraint (information to describe a specific situation/background)",
    "style": "style constraint",
    "format": "format constraint",
    "mixed": "constraint",
}


def judge_prompt(constraint_type: str, evolved: Sequence[str], answer: str) -> str:
    """The authors' discriminative prompt for ``evolved`` = [seed, level 1, ..., level L] instructions;
    ``constraint_type`` is the data file's (content, situation, style, format, mixed)."""
    level = len(evolved) - 1
    kind = KIND_TEXT.get(constraint_type, "constraint")
    if level == 1:
        text = (
            f"Given an initial instruction, we add one {kind} and obtain the final instruction with 1 additional constraint.\n\n"
            f"#Initial Instruction#\n{evolved[0]}\n\n#Initial Instruction + 1 constraint#\n{evolved[1]}\n\n"
            f"#Answer of Initial Instruction + 1 constraint#\n{answer}\n\n"
            "#System#\n1) Please identify the 1 added constraint.\n2) Please discriminate if the #Answer of Initial "
            "Instruction + 1 constraint# satisfies the 1 added constraint.\n3) In the final line, only output a Python "
            "LIST with 1 element ('YES' or 'NO') indicating whether the answer satisfies the 1 added constraint."
        )
        return text
    parts = [
        f"Given an initial instruction, we add one {kind} per time and obtain the final instruction with {level} additional constraints.\n\n",
        f"#Initial Instruction#\n{evolved[0]}\n\n#Initial Instruction + 1 constraint#\n{evolved[1]}\n\n",
    ]
    parts += [f"#Initial Instruction + {i} constraints#\n{evolved[i]}\n\n" for i in range(2, level + 1)]
    parts.append(f"#Answer of Initial Instruction + {level} constraints#\n{answer}\n\n")
    parts.append(
        f"#System#\n1) Please identify all {level} added constraints.\n2) For the {level} added constraints, discriminate "
        f"if the #Answer of Initial Instruction + {level} constraints# satisfies each constraint.\n3) In the final line, "
        f"only output a Python LIST with {level} elements ('YES' or 'NO') indicating whether the answer satisfies each constraint."
    )
    return "".join(parts)


# The authors' parser reads these as a NO verdict (counted as an unsatisfied constraint), not as an error.
NO_LIKE = ("NO", "PARTIAL", "MAYBE", "UNKNOWN", "N/A")


def parse_judgement(reply: str, level: int) -> tuple[int, float] | None:
    """(hard, soft) from the judge's reply, or None when it does not follow the format.

    The authors' ``paring_discriminative_generation``: backticks are stripped from both ends of the
    reply (so a list fenced in a code block is read), then the last line is taken."""
    last = reply.strip("`").strip().split("\n")[-1]
    if level == 1:
        if "YES" in last:
            return 1, 1.0
        if "NO" in last:
            return 0, 0.0
        return None
    found = re.search(r"\[.*\]", last)
    if not found:
        return None
    try:
        values = ast.literal_eval(found.group())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if (
        not isinstance(values, (list, tuple))
        or len(values) != level
        or any(not isinstance(v, str) or (v != "YES" and v not in NO_LIKE) for v in values)
    ):
        return None
    yes = sum(v == "YES" for v in values)
    return int(yes == level), yes / level


def level_metrics(rows: Sequence[tuple[str, int, int, float]]) -> dict[str, float]:
    """(group, level, hard, soft) rows -> HSR/SSR per level and averaged, and CSL."""
    by_level: dict[int, list[tuple[int, float]]] = defaultdict(list)
    groups: dict[str, dict[int, int]] = defaultdict(dict)
    for group, level, hard, soft in rows:
        by_level[level].append((hard, soft))
        groups[group][level] = hard
    out = {}
    for lv in range(1, 6):
        out[f"hsr_l{lv}"] = mean(h for h, _ in by_level[lv])
        out[f"ssr_l{lv}"] = mean(s for _, s in by_level[lv])
    present = [lv for lv in range(1, 6) if by_level[lv]]
    out["hsr"] = mean(out[f"hsr_l{lv}"] for lv in present)
    out["ssr"] = mean(out[f"ssr_l{lv}"] for lv in present)
    csl = []
    for levels in groups.values():
        if all(lv in levels for lv in range(1, 6)):
            n = 0
            while n < 5 and levels[n + 1] == 1:
                n += 1
            csl.append(n)
    out["csl"] = mean(csl) if csl else math.nan
    return out


class FollowBench(Benchmark):
    name = "followbench"
    headline = "hsr"
    needs_judge = True
    default_path = "followbench"

    def load(self, path: Path) -> list[Item]:
        files = sorted(path.glob("*_constraints.json")) if path.is_dir() else [path]
        if not files:
            raise InputFileError(str(path), "no *_constraints.json files in this folder")
        items: list[Item] = []
        seen: dict[str, int] = {}  # ident -> the line it was first read at
        for file in files:
            seeds: dict[int, list[str]] = defaultdict(list)  # example_id -> instructions by level
            for line, rec in read_records(file):
                ex_id = need(file, line, rec, "example_id", int)
                category = need(file, line, rec, "category", str)
                level = need(file, line, rec, "level", int)
                if not 0 <= level <= 5:
                    raise InputFileError(str(file), f"expected 0..5, got {level}", line, "level")
                instruction = need(file, line, rec, "instruction", str)
                source = need(file, line, rec, "source", str, optional=True, default="")
                target = need(file, line, rec, "target", str, optional=True, default="")
                if category != "example":
                    chain = seeds[ex_id]
                    if len(chain) != level:
                        raise InputFileError(
                            str(file),
                            f"levels of example {ex_id} must run 0, 1, 2, ... in order; got level {level} after {len(chain)} level(s)",
                            line,
                            "level",
                        )
                    chain.append(instruction)
                if level == 0:
                    continue
                ident = f"{file.stem}:{ex_id}:{level}"
                if ident in seen:
                    raise InputFileError(
                        str(file), f"duplicate example_id/level (first at line {seen[ident]})", line, "level"
                    )
                seen[ident] = line
                record = {
                    # the judge prompt's wording follows the file (the authors pick it by constraint type)
                    "kind": file.stem.split("_")[0],
                    "example_id": ex_id,
                    "category": category,
                    "source": source,
                    "level": level,
                    "target": target,
                    "evolved": list(seeds[ex_id]) if category != "example" else [],
                    "group": f"{file.stem}:{ex_id}",
                }
                items.append(
                    Item(
                        id=ident,
                        messages=[{"role": "user", "content": instruction}],
                        record=record,
                        group=category,
                    )
                )
        return items

    async def _verdict(self, item: Item, answer: str, judge) -> dict:
        rec = item.record
        level, how = rec["level"], "rule"
        if rec["category"] == "example":
            hard = int(rules.example_template_match(rec["target"], answer))
            verdict: tuple[int, float] | None = (hard, float(hard))
        elif rec["source"] in rules.RULES:
            hard = int(rules.RULES[rec["source"]](answer, rec["target"], level))
            verdict = (hard, float(hard))
        elif rec["category"] == "format" and rec["example_id"] in rules.RULE_FORMAT_EXAMPLES:
            check = rules.format_22 if rec["example_id"] == 22 else rules.format_30
            hard = int(check(answer, level))
            verdict = (hard, float(hard))
        else:
            how = "judge"
            reply = await judge.text(
                [{"role": "user", "content": judge_prompt(rec["kind"], rec["evolved"], answer)}]
            )
            verdict = parse_judgement(reply, level)
        hard, soft = verdict if verdict is not None else (0, 0.0)
        return {
            "id": item.id,
            "group": rec["group"],
            "kind": rec["kind"],
            "category": rec["category"],
            "level": level,
            "by": how,
            "hard": hard,
            "soft": soft,
            "parsed": verdict is not None,
        }

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge) -> BenchScore:
        scored = [it for it in items if it.id in answers]
        details = list(await asyncio.gather(*(self._verdict(it, answers[it.id], judge) for it in scored)))
        metrics = level_metrics([(d["group"], d["level"], d["hard"], d["soft"]) for d in details])
        for kind in sorted({d["kind"] for d in details}):
            sub = level_metrics(
                [(d["group"], d["level"], d["hard"], d["soft"]) for d in details if d["kind"] == kind]
            )
            for name in ("hsr", "ssr", "csl"):
                metrics[f"{name}:{kind}"] = sub[name]
        unparsed = sum(not d["parsed"] for d in details)
        notes = (
            [f"{unparsed} judge repl(y/ies) did not follow the list format and scored 0"] if unparsed else []
        )
        return BenchScore(
            metrics=metrics, headline=self.headline, n_items=len(scored), details=details, notes=notes
        )
