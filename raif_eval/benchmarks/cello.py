"""CELLO (He et al. 2023): four rule-based criteria scored on real-world complex instructions.

Data: the authors' ``data/`` folder: one JSON array per task (``closed_qa.json``, ``Planning.json``,
``Structure_hard.json`` ...); point ``--data cello=DIR`` at the folder (or at one task file). Each
object has ``Instruction``, ``Instruction_id``, ``input_text``, ``lang`` (``ch`` / ``eg``),
``histories`` (earlier ``[user, assistant]`` rounds, replayed before the instruction) and four
criterion lists of ``{"criterion", "limit"}``: ``Count_limit``, ``Answer_format``,
``Task_prescribed_phrases``, ``Input_depdent_query`` (sic). ``criterion: "NULL"`` means "not used".

Per answer, four scores in [0, 1] or undefined (NaN), as the authors' ``code/scorers``:
- Answer format: mean of *resolve* (1 if the answer parses as the required ``json``/``dict``/``list``/
  ``tuple`` Python literal, ``xml`` or ``yaml``) and *keywords* (share of required keywords present).
  Python literals are read with ``ast.literal_eval`` and XML with defusedxml (the authors ``eval`` the
  model's text; the verdicts agree on literals).
- Input-dependent query: keyword share times (1 - character-level BLEU-4 of the answer against the
  input text), which penalises copying the input.
- Task-prescribed phrases: keyword share.
- Count limit: mean of word count (``word-max``: 1, or 1-|limit-n|/n when over; ``word-min``: 1, or
  n/limit when under; Chinese counts CJK characters, English counts tokens with a letter or digit),
  sample count (``sample-min``: share of ``[text, k]`` pairs occurring at least k times;
  ``sample-table``: 1 if the markdown table spans limit+1 lines; ``sample-number``: 1 if the limit
  appears among the numbers and none exceeds it; the best over listed criteria), sentence count
  (``sentence-min``: 1, or n/limit when under; ``sentence-min-max``/``sentence-exact``: 1 if within /
  equal; Chinese sentences end in 。！？；or a newline, English uses Punkt) and ``revise``.
  Quirks of the authors' code kept for comparability with published numbers: ``word-exact`` and
  ``word-min-max`` always score 1; ``sentence-max`` is always undefined; ``revise`` compares the answer
  with itself (the scorer reads the history after the current turn was appended), so it always
  scores 1.
Aggregation (``score.py``): per task, the NaN-ignoring mean of each criterion over answers, and the
task score is the mean of those four; ``Structure`` is the mean of the three ``Structure_*`` tasks;
``complex_instruction`` = mean(extraction, Planning, meta_prompt, brainstorming_single_round,
writing_single_round); ``complex_input`` = mean(keywords_extraction, closed_qa, Summarization,
Structure, brainstorming_multi_rounds, writing_multi_rounds); ``average`` = their mean (headline).
Tasks absent from the data are left out of these means; unknown task names are averaged into
``average`` directly. The authors keep only prompts every compared model answered; we score each run
on its own answers.
"""

from __future__ import annotations

import ast
import math
import re
import string
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item, nanmean, need, read_records
from raif_rewards.errors import InputFileError

NAN = math.nan
CRITERIA = ("Answer_format", "Input_depdent_query", "Task_prescribed_phrases", "Count_limit")
COMPLEX_INSTRUCTION = (
    "extraction",
    "Planning",
    "meta_prompt",
    "brainstorming_single_round",
    "writing_single_round",
)
COMPLEX_INPUT = (
    "keywords_extraction",
    "closed_qa",
    "Summarization",
    "Structure",
    "brainstorming_multi_rounds",
    "writing_multi_rounds",
)
_CJK = re.compile("[\u4e00-\u9fa5]")
_ZH_SENTENCE = re.compile(r"[^。！？；\n]+[。！？；\n]")
_VALID = set(string.ascii_letters + string.digits)


def _select(criteria: Sequence[dict], names: Sequence[str]):
    """The first criterion named in ``names``; NaN when a "NULL" comes first or none matches
    (the authors' loops return NaN on the first NULL)."""
    for c in criteria:
        if c.get("criterion") in names:
            return c
        if c.get("criterion") == "NULL":
            return None
    return None


def keyword_share(answer: str, keywords: Sequence[str]) -> float:
    # a keyword "list" given as one string in the data is iterated like the authors do: by character
    return sum(1 for k in keywords if k in answer) / len(keywords) if keywords else NAN


def resolve_score(answer: str, criteria: Sequence[dict]) -> float:
    c = _select(criteria, ("resolve",))
    if c is None:
        return NAN
    kind = c.get("limit")
    try:
        if kind in ("json", "dict", "list", "tuple"):
            want = {"json": dict, "dict": dict, "list": list, "tuple": tuple}[kind]
            return 1.0 if isinstance(ast.literal_eval(answer), want) else 0.0
        if kind == "xml":
            from defusedxml.ElementTree import fromstring

            fromstring(answer)
            return 1.0
        if kind == "yaml":
            yaml.safe_load(answer)
            return 1.0
    except Exception:  # any parse failure of model text scores 0, as in the authors' bare except
        return 0.0
    return 0.0


def format_score(answer: str, criteria: Sequence[dict]) -> float:
    c = _select(criteria, ("keywords",))
    keywords = (
        keyword_share(answer, c["limit"])
        if c is not None and isinstance(c.get("limit"), (list, str))
        else NAN
    )
    return nanmean([resolve_score(answer, criteria), keywords])


def char_bleu4(candidate: str, reference: str) -> float:
    """Corpus BLEU-4 over characters (the authors pass raw strings to NLTK's ``corpus_bleu``)."""
    from nltk.translate.bleu_score import corpus_bleu

    with warnings.catch_warnings():  # NLTK warns when an n-gram order has no overlap; the score is then 0
        warnings.simplefilter("ignore")
        return float(corpus_bleu([[reference]], [candidate], weights=(0.25, 0.25, 0.25, 0.25)))


def input_score(answer: str, criteria: Sequence[dict], input_text) -> float:
    c = _select(criteria, ("keywords",))
    if c is None or not isinstance(c.get("limit"), (list, str)):
        return NAN
    score = keyword_share(answer, c["limit"])
    if isinstance(input_text, str) and input_text != "NULL":
        score *= 1 - char_bleu4(answer, input_text)
    return score


def task_score(answer: str, criteria: Sequence[dict]) -> float:
    c = _select(criteria, ("keywords",))
    if c is None or not isinstance(c.get("limit"), (list, str)):
        return NAN
    return keyword_share(answer, c["limit"])


def count_words(answer: str, lang: str) -> int:
    if lang == "ch":
        return len(_CJK.findall(answer))
    return sum(1 for w in answer.split() if any(ch in _VALID for ch in w))


def count_sentences(answer: str, lang: str) -> int:
    if lang == "ch":
        return len(_ZH_SENTENCE.findall(answer))
    from raif_rewards.text import count_sentences as punkt_count

    return punkt_count(answer)


def word_count_score(answer: str, criteria: Sequence[dict], lang: str) -> float:
    c = _select(criteria, ("word-max", "word-min", "word-exact", "word-min-max"))
    if c is None:
        return NAN
    n, limit = count_words(answer, lang), c["limit"]
    if c["criterion"] == "word-max" and n > limit:
        return max(1 - abs(limit - n) / n, 0.0)
    if c["criterion"] == "word-min" and n < limit:
        return max(n / limit, 0.0)
    return 1.0


def sample_count_score(answer: str, criteria: Sequence[dict]) -> float:
    # Follows the authors' loop: a non-sample criterion before any sample one means NaN, and later
    # non-sample criteria re-score the last sample criterion; the best score is kept.
    mode, scores = "", []
    limit: Any = None  # the criterion's "limit" as the file gives it: pairs, a number
    for c in criteria:
        if c.get("criterion") in ("sample-table", "sample-min", "sample-number"):
            mode, limit = c["criterion"], c["limit"]
        elif c.get("criterion") == "NULL":
            return NAN
        if mode == "":
            return NAN
        if mode == "sample-min":
            score = sum(1 for text, k in limit if answer.count(text) >= k) / len(limit)
        elif mode == "sample-table":
            if "|" in answer:
                # the authors overwrite the answer with the table slice, so criteria after this one
                # look at the table only
                answer = answer[answer.index("|") : answer.rfind("|") + 1]
                score = 1.0 if answer.count("\n") == limit + 1 else 0.0
            else:
                score = 0.0
        else:
            numbers = {int(x) for x in re.findall(r"\d+", answer)}
            score = 1.0 if limit in numbers and all(x <= limit for x in numbers) else 0.0
        scores.append(score)
    return max(scores) if scores else NAN


def sentence_count_score(answer: str, criteria: Sequence[dict], lang: str) -> float:
    c = _select(criteria, ("sentence-max", "sentence-min", "sentence-min-max", "sentence-exact"))
    if c is None:
        return NAN
    mode, limit = c["criterion"], c["limit"]
    if mode == "sentence-max":
        return NAN  # the authors compute a score and then overwrite it with NaN
    n = count_sentences(answer, lang)
    if mode == "sentence-min":
        return 1.0 if n >= limit else max(n / limit, 0.0)
    if mode == "sentence-min-max":
        return 1.0 if limit[0] <= n <= limit[1] else 0.0
    return 1.0 if n == limit else 0.0


def revise_score(criteria: Sequence[dict], has_history: bool) -> float:
    c = _select(criteria, ("revise",))
    if c is None or not has_history:
        return NAN
    return 1.0  # the answer is compared with itself in the authors' scorer (see module docstring)


def count_limit_score(answer: str, criteria: Sequence[dict], lang: str, has_history: bool) -> float:
    return nanmean(
        [
            word_count_score(answer, criteria, lang),
            sample_count_score(answer, criteria),
            sentence_count_score(answer, criteria, lang),
            revise_score(criteria, has_history),
        ]
    )


def sample_scores(answer: str, record: dict) -> list[float]:
    """[format, input, task, count_limit] scores of one answer."""
    return [
        format_score(answer, record["Answer_format"]),
        input_score(answer, record["Input_depdent_query"], record.get("input_text")),
        task_score(answer, record["Task_prescribed_phrases"]),
        count_limit_score(
            answer, record["Count_limit"], record.get("lang", "ch"), bool(record.get("histories"))
        ),
    ]


def aggregate(per_task: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, float]:
    """Task name -> per-answer score rows -> the authors' task scores and averages."""
    tasks = {}
    columns = {}
    for task, rows in per_task.items():
        cols = [nanmean(r[i] for r in rows) for i in range(4)]
        columns[task] = cols
        tasks[task] = nanmean(cols)
    structure = [tasks[t] for t in tasks if t.startswith("Structure_")]
    merged = {t: v for t, v in tasks.items() if not t.startswith("Structure_")}
    if structure:
        merged["Structure"] = nanmean(structure)
    out = {f"task:{t}": v for t, v in sorted(merged.items())}
    ins = [merged[t] for t in COMPLEX_INSTRUCTION if t in merged]
    inp = [merged[t] for t in COMPLEX_INPUT if t in merged]
    other = [v for t, v in merged.items() if t not in COMPLEX_INSTRUCTION and t not in COMPLEX_INPUT]
    if ins:
        out["complex_instruction"] = nanmean(ins)
    if inp:
        out["complex_input"] = nanmean(inp)
    parts = [out[k] for k in ("complex_instruction", "complex_input") if k in out] + other
    out["average"] = nanmean(parts)
    for i, name in enumerate(("format", "input", "task", "count_limit")):
        out[name] = nanmean(columns[t][i] for t in columns)
    return out


class CELLO(Benchmark):
    name = "cello"
    headline = "average"
    needs_judge = False
    default_path = "cello"

    def load(self, path: Path) -> list[Item]:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        if not files:
            raise InputFileError(str(path), "no *.json task files in this folder")
        items: list[Item] = []
        seen: dict[str, int] = {}  # ident -> the line it was first read at
        for file in files:
            task = file.stem
            for line, rec in read_records(file):
                ident = f"{task}:{need(file, line, rec, 'Instruction_id', (str, int))}"
                if ident in seen:
                    raise InputFileError(
                        str(file),
                        f"duplicate Instruction_id (first at line {seen[ident]})",
                        line,
                        "Instruction_id",
                    )
                seen[ident] = line
                instruction = need(file, line, rec, "Instruction", str)
                for crit in CRITERIA:
                    value = need(file, line, rec, crit, list)
                    for i, c in enumerate(value):
                        if not isinstance(c, dict) or "criterion" not in c or "limit" not in c:
                            raise InputFileError(
                                str(file),
                                f"element {i} must be an object with 'criterion' and 'limit'",
                                line,
                                crit,
                            )
                histories = need(file, line, rec, "histories", list, optional=True, default=[])
                messages = []
                for i, turn in enumerate(histories):
                    if not (
                        isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)
                    ):
                        raise InputFileError(
                            str(file),
                            f"element {i} must be a [user, assistant] pair of strings",
                            line,
                            "histories",
                        )
                    messages += [
                        {"role": "user", "content": turn[0]},
                        {"role": "assistant", "content": turn[1]},
                    ]
                messages.append({"role": "user", "content": instruction})
                record = {k: rec[k] for k in CRITERIA}
                record.update(
                    input_text=rec.get("input_text"), lang=rec.get("lang", "ch"), histories=histories
                )
                items.append(Item(id=ident, messages=messages, record=record, group=task))
        return items

    async def score(self, items: Sequence[Item], answers: Mapping[str, str], judge=None) -> BenchScore:
        per_task: dict[str, list[list[float]]] = defaultdict(list)
        details = []
        for item in items:
            if item.id not in answers:
                continue
            scores = sample_scores(answers[item.id], item.record)
            per_task[item.group].append(scores)
            details.append(
                {"id": item.id, "task": item.group, "scores": [None if math.isnan(s) else s for s in scores]}
            )
        metrics = aggregate(per_task) if per_task else {"average": NAN}
        return BenchScore(metrics=metrics, headline=self.headline, n_items=len(details), details=details)
