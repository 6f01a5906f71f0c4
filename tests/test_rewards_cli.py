"""`raif-rewards` end to end: list, describe, check, ifeval errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from raif_rewards import registry
from raif_rewards.cli import app

runner = CliRunner()


def test_list_json_has_every_checker():
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    items = json.loads(result.output)
    assert [i["id"] for i in items] == registry.ids()
    assert all({"id", "group", "kwargs_schema"} <= set(i) for i in items)


def test_list_table_and_group_filter():
    result = runner.invoke(app, ["list", "--group", "case"])
    n_case = sum(c.group == "case" for c in registry.all_checkers())
    assert result.exit_code == 0 and f"{n_case} constraints" in result.output
    assert "change_case:" in result.output.replace("\n", "") and "punctuation" not in result.output


def test_describe_renders_examples():
    result = runner.invoke(app, ["describe", "startend:end_checker"])
    assert result.exit_code == 0
    assert "[en]" in result.output and "[zh]" in result.output


def test_describe_unknown_id_is_one_line_error():
    result = runner.invoke(app, ["describe", "nope:nothing"])
    assert result.exit_code == 2 and "unknown constraint id" in result.output


def test_check_prints_verdicts():
    spec = json.dumps([{"id": "punctuation:no_comma"}, {"id": "keywords:existence", "kwargs": {"keywords": ["zebra"]}}])
    result = runner.invoke(app, ["check", spec, "--response", "no commas here"])
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert [r["followed"] for r in out["results"]] == [True, False] and out["follow_all"] is False


def test_check_bad_kwargs_is_clear():
    spec = json.dumps([{"id": "length_constraints:number_words", "kwargs": {"num_words": 3}}])
    result = runner.invoke(app, ["check", spec, "--response", "x"])
    assert result.exit_code == 2 and "relation" in result.output


def test_ifeval_bad_line_is_named(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        '{"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}\n{not json\n'
    )
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"prompt": "p", "response": "r"}\n')
    result = runner.invoke(
        app, ["ifeval", "--input-data", str(inputs), "--input-response-data", str(responses), "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert f"{inputs}:2" in result.output.replace("\n", "")


def test_ifeval_unknown_instruction_names_line_and_field(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"key": 1, "prompt": "p", "instruction_id_list": ["bogus:id"], "kwargs": [{}]}\n')
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"prompt": "p", "response": "r"}\n')
    result = runner.invoke(
        app, ["ifeval", "--input-data", str(inputs), "--input-response-data", str(responses), "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    flat = result.output.replace("\n", "")
    assert "in.jsonl:1" in flat and "'kwargs'" in flat and "bogus:id" in flat


def test_ifeval_missing_response_field(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}\n')
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"prompt": "p"}\n')
    result = runner.invoke(
        app, ["ifeval", "--input-data", str(inputs), "--input-response-data", str(responses), "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "'response'" in result.output and "missing" in result.output
