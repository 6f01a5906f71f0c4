"""IFBench through raif-eval reproduces the official reference results on the shared conformance data
(../shared/conformance/ifbench), with the authors' sample responses standing in for rollouts; and the
multi-turn layout is read and replayed."""

from __future__ import annotations

import asyncio
import json

import pytest

from raif_eval import runner
from raif_eval.benchmarks import BENCHMARKS
from raif_eval.store import RunDir
from raif_rewards import ifbench as reference
from raif_rewards.errors import InputFileError

# words:start_verb verdicts are null in the expected files (made without NLTK's tagger data); the
# authors' 2025 output is their reference (see tests/test_ifbench_conformance.py)
START_VERB_KEYS = {"257", "258", "259", "260", "261", "262"}
UNANSWERED = {"268", "269", "270", "271", "272", "273", "274"}


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def scored(conformance_dir, tmp_path_factory):
    """A raif-eval run directory holding the sample responses as rollouts, re-scored."""
    d = conformance_dir / "ifbench"
    inputs, responses = d / "IFBench_test.jsonl", d / "sample_output.jsonl"
    root = tmp_path_factory.mktemp("ifbench-run")
    run = RunDir(root / "run")
    run.save_settings(
        {
            "config": {
                "output_dir": str(run.root),
                "benchmarks": ["ifbench"],
                "data": {"ifbench": str(inputs)},
                "model_id": "authors-sample",
                "mode": "io",
            }
        }
    )
    by_prompt = reference.read_responses(responses)
    for ex in reference.read_inputs(inputs):
        answer = reference.response_for(ex, by_prompt)  # IFBench's pairing, stripped prompt included
        if answer is not None:
            run.append_rollout("ifbench", {"id": str(ex.key), "mode": "io", "answer": answer})
    summary = runner.rescore(run.root)
    details = {
        d["id"]: d for d in map(json.loads, (run.root / "ifbench" / "details.jsonl").read_text().splitlines())
    }
    expected = reference.run(inputs, responses, root / "reference")
    return summary["benchmarks"]["ifbench"], details, expected


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_every_non_null_reference_verdict_is_reproduced(scored, conformance_dir, mode):
    _, details, _ = scored
    expected = _jsonl(conformance_dir / "ifbench" / f"expected_{mode}.jsonl")
    compared, mismatches = 0, []
    for row in expected:
        got = details[str(row["key"])]
        assert got["instruction_id_list"] == row["instruction_id_list"]
        for cid, want, have in zip(
            row["instruction_id_list"], row["follow_instruction_list"], got[mode], strict=True
        ):
            if want is None:
                assert str(row["key"]) in START_VERB_KEYS
                continue
            compared += 1
            if want != have:
                mismatches.append((row["key"], cid, want, have))
    assert mismatches == []
    assert compared == 338


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_authors_2025_output_agrees_but_for_the_documented_verdict(scored, conformance_dir, mode):
    _, details, _ = scored
    d = conformance_dir / "ifbench"
    official = {r["prompt"]: r for r in _jsonl(d / "official_eval_2025-07" / f"eval_results_{mode}.jsonl")}
    prompts = {str(ex.key): ex.prompt for ex in reference.read_inputs(d / "IFBench_test.jsonl")}
    differences, compared = [], 0
    for key, got in details.items():
        want = official.get(prompts[key]) or official.get(prompts[key].strip())
        if want is None or key in UNANSWERED:
            continue
        for cid, a, b in zip(
            got["instruction_id_list"], got[mode], want["follow_instruction_list"], strict=True
        ):
            compared += 1
            if a != b:
                differences.append((key, cid, b, a))
    # IFBench's later switch to nltk.sent_tokenize (see docs/ifbench.md)
    assert differences == [("163", "ratio:sentence_type", True, False)]
    assert compared >= 328


def test_accuracies_equal_raif_rewards_ifbench(scored):
    entry, details, expected = scored
    m = entry["metrics"]
    assert m["prompt_strict"] == expected.strict.prompt_level
    assert m["inst_strict"] == expected.strict.instruction_level
    assert m["prompt_loose"] == expected.loose.prompt_level
    assert m["inst_loose"] == expected.loose.instruction_level
    # docs/ifbench.md's figures: strict 76/300 and 92/344, loose 86/300 and 107/344
    assert (expected.strict.prompt_correct, expected.strict.instruction_correct) == (76, 92)
    assert (expected.loose.prompt_correct, expected.loose.instruction_correct) == (86, 107)
    assert entry["headline"] == "prompt_loose"
    # prompts without a response count, every instruction failed, as IFBench counts them
    assert entry["n_items"] == 300 and entry["n_total"] == 300
    for key in UNANSWERED:
        assert not any(details[key]["strict"]) and not any(details[key]["loose"])


def test_multi_turn_records_replay_the_chat_and_score_the_last_answer(tmp_path):
    data = tmp_path / "IFBench_multi-turn.jsonl"
    record = {
        "key": "mt-1",
        "prompt": "Describe a lighthouse. Use exactly 2 numbers in your answer.",
        "messages": [
            {"role": "user", "content": "Describe a lighthouse."},
            {"role": "assistant", "content": "A tall tower with a lamp."},
            {"role": "user", "content": "Rewrite it. Use exactly 2 numbers in your answer."},
        ],
        "instruction_id_list": ["count:numbers"],
        "kwargs": [{"N": 2}],
    }
    data.write_text(json.dumps(record) + "\n")
    adapter = BENCHMARKS["ifbench"]()
    (item,) = adapter.load(data)
    assert [m["role"] for m in item.messages] == ["user", "assistant", "user"]
    assert item.group == "multi-turn" and item.record["prompt"] == record["prompt"]
    good = asyncio.run(adapter.score([item], {"mt-1": "It is 40 metres tall and 120 years old."}))
    bad = asyncio.run(adapter.score([item], {"mt-1": "It is 40 metres tall."}))
    assert good.metrics["prompt_strict"] == 1.0 and bad.metrics["prompt_strict"] == 0.0


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "non-empty list"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "last message"),
        ([{"role": "narrator", "content": "a"}], "element 0"),
    ],
)
def test_bad_multi_turn_record_names_file_line_and_field(tmp_path, messages, message):
    data = tmp_path / "mt.jsonl"
    rec = {"key": 1, "messages": messages, "instruction_id_list": ["count:numbers"], "kwargs": [{"N": 2}]}
    data.write_text(json.dumps(rec) + "\n")
    with pytest.raises(InputFileError, match=message) as err:
        BENCHMARKS["ifbench"]().load(data)
    assert "messages" in str(err.value) and ":1" in str(err.value)
