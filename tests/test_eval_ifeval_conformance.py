"""IFEval through raif-eval gives exactly the numbers (and per-prompt verdicts) of `raif-rewards ifeval`
on the shared conformance data, with the reference GPT-4 responses standing in for rollouts."""

from __future__ import annotations

import json

from raif_eval import runner
from raif_eval.store import RunDir
from raif_rewards import ifeval as reference


def test_raif_eval_ifeval_equals_raif_rewards_ifeval(conformance_dir, tmp_path):
    inputs = conformance_dir / "ifeval" / "input_data.jsonl"
    responses = conformance_dir / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"

    expected = reference.run(inputs, responses, tmp_path / "reference")

    run = RunDir(tmp_path / "run")
    run.save_settings(
        {
            "config": {
                "output_dir": str(run.root),
                "benchmarks": ["ifeval"],
                "data": {"ifeval": str(inputs)},
                "model_id": "gpt-4-reference",
                "mode": "io",
            }
        }
    )
    by_prompt = reference.read_responses(responses)
    for ex in reference.read_inputs(inputs):
        if ex.prompt in by_prompt:  # key 2785 has no response with its prompt, as in the reference
            run.append_rollout("ifeval", {"id": str(ex.key), "mode": "io", "answer": by_prompt[ex.prompt]})

    summary = runner.rescore(run.root)
    entry = summary["benchmarks"]["ifeval"]
    m = entry["metrics"]
    assert m["prompt_strict"] == expected.strict.prompt_level
    assert m["inst_strict"] == expected.strict.instruction_level
    assert m["prompt_loose"] == expected.loose.prompt_level
    assert m["inst_loose"] == expected.loose.instruction_level
    # the shared README's published figures for this file: 417/540, 697/832, 431/540, 713/832
    assert (expected.strict.prompt_correct, expected.strict.instruction_correct) == (417, 697)
    assert (expected.loose.prompt_correct, expected.loose.instruction_correct) == (431, 713)
    assert entry["n_items"] == 540 and entry["n_total"] == 541 and entry["complete"] is False

    # per-prompt verdicts equal the reference result files
    ref_rows = {}
    for mode in ("strict", "loose"):
        for line in (tmp_path / "reference" / f"eval_results_{mode}.jsonl").read_text().splitlines():
            row = json.loads(line)
            ref_rows.setdefault(row["prompt"], {})[mode] = row["follow_instruction_list"]
    prompts = {str(ex.key): ex.prompt for ex in reference.read_inputs(inputs)}
    details = [json.loads(x) for x in (run.root / "ifeval" / "details.jsonl").read_text().splitlines()]
    assert len(details) == 540
    for d in details:
        assert ref_rows[prompts[d["id"]]] == {"strict": d["strict"], "loose": d["loose"]}
