"""Hostile output folders, recipes, seed files and shards: nothing written outside the output folder,
bounded error messages, one-line errors, even shards, truncated shards detected (issue 15, points 4,
7, 8 and 12)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from raif_data import pipeline
from raif_rewards.outdir import OutputPathError
from tests.test_data_pipeline import _recipe


def test_raif_data_refuses_a_shard_folder_linked_out_of_the_output(tmp_path):
    out, elsewhere = tmp_path / "d", tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "part-00007.parquet"
    victim.write_bytes(b"not ours")
    out.mkdir()
    (out / "train").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputPathError, match="outside the output folder"):
        pipeline.evolve(_recipe(out, num_prompts=20))
    assert victim.read_bytes() == b"not ours"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["part-00007.parquet"]


def test_raif_data_cli_names_the_link_in_one_line(tmp_path):
    from raif_data.cli import app

    out, elsewhere = tmp_path / "d", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "stages").mkdir(parents=True)
    (out / "stages" / "seeds").symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(app, ["evolve", "--output-dir", str(out), "--num-prompts", "10"])
    assert result.exit_code != 0
    assert "outside the output folder" in result.output and "Traceback" not in result.output
    assert list(elsewhere.iterdir()) == []


def test_links_that_stay_inside_are_fine(tmp_path):
    from raif_rewards.outdir import refuse_escaping_links

    out = tmp_path / "d"
    (out / "a").mkdir(parents=True)
    (out / "b").symlink_to(out / "a", target_is_directory=True)
    refuse_escaping_links(out)  # no error
    linked_root = tmp_path / "alias"
    linked_root.symlink_to(out, target_is_directory=True)
    refuse_escaping_links(linked_root)  # the output folder itself may be a link


def test_raif_eval_refuses_a_rollouts_file_linked_out_of_the_run(tmp_path):
    from raif_eval.cli import app
    from tests.openai_stub import OpenAIStub
    from tests.test_eval_data import judge_responder, model_responder, write_benchmarks
    from tests.test_eval_run import run_args

    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    out = tmp_path / "run"
    (out / "ifeval").mkdir(parents=True)
    (out / "ifeval" / "rollouts.jsonl").symlink_to(target)
    with OpenAIStub(model_responder, model="tiny-model") as model, \
            OpenAIStub(judge_responder, model="tiny-judge") as judge:
        data = write_benchmarks(tmp_path / "data")
        result = CliRunner().invoke(app, run_args(model, judge, data, out, ["ifeval"]))
        assert result.exit_code != 0
        assert "outside the output folder" in result.output and "Traceback" not in result.output
        assert model.request_count == 0
    assert target.read_text() == "keep me\n"
