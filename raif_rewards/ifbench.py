"""IFBench-compatible evaluation (allenai/IFBench ``run_eval.py``): its input and response files in,
``eval_results_{strict,loose}.jsonl`` and the four accuracies out, with a per-instruction breakdown.

Differences from the IFEval scorer follow IFBench's ``evaluation_lib``: a response is also found
by the stripped prompt, and a prompt without a response is scored (every instruction false)
instead of being left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from raif_rewards.ifeval import (
    EvalReport,
    InputExample,
    _field,
    evaluate_example,
    read_inputs,
    score_and_write,
)
from raif_rewards.jsonl import iter_jsonl

__all__ = ["read_responses", "response_for", "evaluate", "run", "read_inputs"]


def read_responses(path: str | Path) -> dict[str, str]:
    """IFBench's prompt -> response map: each prompt, and also its stripped form when that
    differs (a later line overwrites an earlier one, as in IFBench)."""
    path = Path(path)
    out: dict[str, str] = {}
    for lineno, obj in iter_jsonl(path):
        prompt = _field(path, lineno, obj, "prompt", str)
        response = _field(path, lineno, obj, "response", str)
        out[prompt] = response
        if prompt.strip() != prompt:
            out[prompt.strip()] = response
    return out


def response_for(example: InputExample, responses: Mapping[str, str]) -> str | None:
    """The response to ``example``: by its prompt, else by its stripped prompt; ``None`` if none."""
    if example.prompt in responses:
        return responses[example.prompt]
    return responses.get(example.prompt.strip())


def evaluate(example: InputExample, response: str | None, *, loose: bool) -> dict:
    """One output row in IFBench's format; a missing response fails every instruction."""
    if response is None:
        return {
            "follow_all_instructions": False,
            "follow_instruction_list": [False] * len(example.instruction_id_list),
            "instruction_id_list": example.instruction_id_list,
            "prompt": example.prompt,
            "response": "",
        }
    return evaluate_example(example, response, loose=loose)


def run(input_data: str | Path, input_response_data: str | Path, output_dir: str | Path) -> EvalReport:
    """Score a response file on IFBench and write ``eval_results_{strict,loose}.jsonl`` to
    ``output_dir`` (one row per input prompt). ``EvalReport.unpaired`` lists the keys of prompts
    that had no response (they count as failed)."""
    examples = read_inputs(input_data)
    responses = read_responses(input_response_data)
    found = [(ex, response_for(ex, responses)) for ex in examples]
    accs = score_and_write(found, evaluate, output_dir)
    missing = [str(ex.key) for ex, resp in found if resp is None]
    return EvalReport(strict=accs["strict"], loose=accs["loose"], unpaired=missing)


def constraints_markdown() -> str:
    """The table of IFBench's constraints in ``docs/ifbench.md``, generated from the registry (a test
    fails when the document drifts from it)."""
    from raif_rewards import registry

    lines = [
        "| id | group | kwargs | languages | sampled | semantics |",
        "|---|---|---|---|---|---|",
    ]
    for c in registry.all_checkers("ifbench"):
        props = c.schema.get("properties", {})
        kwargs = ", ".join(f"`{k}`" + (" (prompt)" if k in c.prompt_kwargs else "") for k in props) or "-"
        sampled = "no" if c.sampler is None else "yes"
        desc = c.description.replace("|", "\\|")
        lines.append(f"| `{c.id}` | {c.group} | {kwargs} | {', '.join(c.languages)} | {sampled} | {desc} |")
    return "\n".join(lines) + "\n"
