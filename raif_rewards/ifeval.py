"""IFEval-compatible evaluation: Google's input/response files in, its result files and accuracies out.

Drop-in for ``instruction_following_eval.evaluation_main``: same pairing by prompt, same strict and
loose verdicts, same ``eval_results_{strict,loose}.jsonl`` fields, plus a per-instruction breakdown.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raif_rewards import registry
from raif_rewards.checking import check
from raif_rewards.errors import InputFileError, RaifError
from raif_rewards.jsonl import iter_jsonl


@dataclass(frozen=True)
class InputExample:
    key: int | str
    prompt: str
    instruction_id_list: list[str]
    kwargs: list[dict]


@dataclass
class Accuracy:
    prompt_correct: int = 0
    prompt_total: int = 0
    instruction_correct: int = 0
    instruction_total: int = 0
    per_id: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    @property
    def prompt_level(self) -> float:
        return self.prompt_correct / self.prompt_total if self.prompt_total else 0.0

    @property
    def instruction_level(self) -> float:
        return self.instruction_correct / self.instruction_total if self.instruction_total else 0.0


@dataclass
class EvalReport:
    strict: Accuracy
    loose: Accuracy
    unpaired: list[str]  # keys of prompts with no response


def _field(path: Path, lineno: int, obj: Mapping, name: str, kind: type | tuple[type, ...]):
    if name not in obj:
        raise InputFileError(str(path), "missing", lineno, name)
    value = obj[name]
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputFileError(str(path), f"expected {expected}, got {type(value).__name__}", lineno, name)
    return value


def read_inputs(path: str | Path) -> list[InputExample]:
    """Read IFEval's ``input_data.jsonl`` (key, prompt, instruction_id_list, kwargs), checking each
    instruction id and its kwargs against the registry so errors name the line."""
    path = Path(path)
    out = [input_example(path, lineno, obj) for lineno, obj in iter_jsonl(path)]
    if not out:
        raise InputFileError(str(path), "no examples in file")
    return out


def input_example(path: Path, lineno: int, obj: Mapping, prompt: str | None = None) -> InputExample:
    """One input record checked against the registry; ``prompt`` given when it is not the record's
    ``prompt`` field (a multi-turn record)."""
    ids = _field(path, lineno, obj, "instruction_id_list", list)
    kwargs = obj.get("kwargs")
    if kwargs is None:
        kwargs = [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise InputFileError(
            str(path), f"expected a list of {len(ids)} dicts (one per instruction)", lineno, "kwargs"
        )
    for cid, kw in zip(ids, kwargs, strict=True):
        try:
            registry.validate_kwargs(cid, kw if isinstance(kw, dict) else None)
        except RaifError as exc:
            raise InputFileError(str(path), str(exc), lineno, "kwargs") from None
    return InputExample(
        key=obj.get("key", lineno),
        prompt=prompt if prompt is not None else _field(path, lineno, obj, "prompt", str),
        instruction_id_list=[str(i) for i in ids],
        kwargs=[dict(k or {}) for k in kwargs],
    )


def read_responses(path: str | Path) -> dict[str, str]:
    """Read a response file (prompt, response per line) into a prompt -> response map."""
    path = Path(path)
    out = {}
    for lineno, obj in iter_jsonl(path):
        prompt = _field(path, lineno, obj, "prompt", str)
        out[prompt] = _field(path, lineno, obj, "response", str)
    return out


def evaluate_example(example: InputExample, response: str, *, loose: bool) -> dict:
    """One output row in Google's format (keys in the order its writer uses)."""
    verdicts = [
        check(cid, response, kw, loose=loose)
        for cid, kw in zip(example.instruction_id_list, example.kwargs, strict=True)
    ]
    return {
        "follow_all_instructions": all(verdicts),
        "follow_instruction_list": verdicts,
        "instruction_id_list": example.instruction_id_list,
        "prompt": example.prompt,
        "response": response,
    }


def accumulate(rows: Iterable[Mapping]) -> Accuracy:
    acc = Accuracy()
    for row in rows:
        verdicts = row["follow_instruction_list"]
        acc.prompt_total += 1
        acc.prompt_correct += all(verdicts)
        acc.instruction_total += len(verdicts)
        acc.instruction_correct += sum(verdicts)
        for cid, ok in zip(row["instruction_id_list"], verdicts, strict=True):
            acc.per_id[cid][0] += ok
            acc.per_id[cid][1] += 1
    return acc


def pair(
    examples: list[InputExample], responses: Mapping[str, str], *, strip_prompts: bool = False
) -> tuple[list[tuple[InputExample, str]], list[str]]:
    """Pair examples with responses by prompt (IFBench also tries stripped prompts)."""
    stripped = {p.strip(): r for p, r in responses.items()} if strip_prompts else {}
    paired, missing = [], []
    for ex in examples:
        if ex.prompt in responses:
            paired.append((ex, responses[ex.prompt]))
        elif strip_prompts and ex.prompt.strip() in stripped:
            paired.append((ex, stripped[ex.prompt.strip()]))
        else:
            missing.append(str(ex.key))
    return paired, missing


def write_jsonl(path: Path, rows: Iterable[Mapping]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    tmp.replace(path)


def score_and_write(
    found: Iterable[tuple[InputExample, Any]], evaluate: Callable[..., dict], output_dir: str | Path
) -> dict[str, Accuracy]:
    """Write ``eval_results_{strict,loose}.jsonl`` (one ``evaluate(example, response, loose=...)`` row
    per pair) to ``output_dir``; returns the accuracies per mode."""
    found = list(found)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    accs = {}
    for mode in ("strict", "loose"):
        rows = [evaluate(ex, resp, loose=mode == "loose") for ex, resp in found]
        write_jsonl(out / f"eval_results_{mode}.jsonl", rows)
        accs[mode] = accumulate(rows)
    return accs


def run(input_data: str | Path, input_response_data: str | Path, output_dir: str | Path) -> EvalReport:
    """Score a response file on IFEval and write ``eval_results_{strict,loose}.jsonl`` to ``output_dir``.

    Prompts without a response are left out of the results (Google's scorer stops with a KeyError
    there) and listed in ``EvalReport.unpaired``.
    """
    examples = read_inputs(input_data)
    responses = read_responses(input_response_data)
    paired, missing = pair(examples, responses)
    accs = score_and_write(paired, evaluate_example, output_dir)
    return EvalReport(strict=accs["strict"], loose=accs["loose"], unpaired=missing)
