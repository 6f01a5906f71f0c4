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


# ------------------------------------------------------------------ recipes: alias bombs, bounded echo

def _bomb(leaf_key: str) -> str:
    """About 390 bytes that expand to 9**9 (387 million) strings: the issue's alias bomb."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    return "\n".join(lines) + f"\n{leaf_key}: *i\n"


def _run_cli(args: list[str], timeout: float = 60.0):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("cli,leaf", [
    ("raif_data.cli", "num_prompts"),
    ("raif_train.cli", "max_steps"),
])
def test_an_alias_bomb_recipe_is_refused_at_once(tmp_path, cli, leaf):
    import time

    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(_bomb(leaf))
    args = {"raif_data.cli": [cli, "evolve", "--recipe", str(recipe), "--output-dir", str(tmp_path / "o")],
            "raif_train.cli": [cli, "grpo", "--recipe", str(recipe), "--dry-run"]}[cli]
    start = time.monotonic()
    done = _run_cli(args)
    assert done.returncode != 0
    assert time.monotonic() - start < 30
    assert "alias" in done.stderr and str(recipe) in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr) < 2000


def test_raif_eval_refuses_an_alias_bomb_config(tmp_path):
    from raif_eval.config import ConfigError, load_yaml

    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb("temperature"))
    with pytest.raises(ConfigError, match="alias"):
        load_yaml(path)


def test_set_values_are_bounded_too():
    import typer

    from raif_train.cli import _overrides

    # one flow sequence holding the whole bomb: anchors and aliases in a single --set value
    levels = ["&a [" + ",".join(["x"] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(typer.BadParameter, match="alias"):
        _overrides({}, ["max_steps=[" + ", ".join(levels) + "]"])
    with pytest.raises(typer.BadParameter, match="nested"):
        _overrides({}, ["max_steps=" + "[" * 5000 + "]" * 5000])
    assert _overrides({}, ["max_steps=3", "kl_coef=0.5"]) == {"max_steps": 3, "kl_coef": 0.5}


def test_a_rejected_value_is_echoed_in_bounded_length():
    from raif_data import recipe as recipe_mod
    from raif_rewards.typedconfig import ECHO_LIMIT

    shared = ["x"] * 1000
    huge = [shared] * 1000  # a million items: the echo must not walk them
    with pytest.raises(recipe_mod.RecipeError) as info:
        recipe_mod.from_dict({"num_prompts": huge})
    assert len(str(info.value)) < ECHO_LIMIT + 200
    with pytest.raises(recipe_mod.RecipeError) as info:
        recipe_mod.from_dict({"k" * 100_000: 1})
    assert len(str(info.value)) < ECHO_LIMIT + 600
    with pytest.raises(recipe_mod.RecipeError) as info:
        recipe_mod.from_dict({10**5000: 1})  # str() of it raises past 4,300 digits
    assert "digits" in str(info.value)


# ------------------------------------------------------------------ one-line errors naming file and line


def _data_cli(*args: str):
    from raif_data.cli import app

    return CliRunner().invoke(app, list(args))


def _one_line(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_bad_seed_files_are_named_by_file_and_line(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    good = '{"prompt": "Write a short poem about the sea and the wind tonight", "id": 1}\n'
    seeds.write_text(good + '{"prompt": "Write about the sea \\ud800 and the wind tonight"}\n', encoding="utf-8")
    _one_line(_data_cli("evolve", "-o", str(tmp_path / "a"), "--seeds", str(seeds), "--num-prompts", "4"),
              f"{seeds}:2", "surrogate")
    seeds.write_text(good + '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    _one_line(_data_cli("evolve", "-o", str(tmp_path / "b"), "--seeds", str(seeds), "--num-prompts", "4"),
              f"{seeds}:2", "nested too deeply")
    seeds.write_text(good + '{"prompt": "Write a short poem about rivers and hills", "id": ' + "9" * 5000 + "}\n")
    _one_line(_data_cli("evolve", "-o", str(tmp_path / "c"), "--seeds", str(seeds), "--num-prompts", "4"),
              f"{seeds}:2", "4300 digits")
    seeds.write_text(good + '{"prompt": "Write a short poem about rivers and hills", "id": "' + "7" * 5000 + '"}\n')
    _one_line(_data_cli("evolve", "-o", str(tmp_path / "d"), "--seeds", str(seeds), "--num-prompts", "4"),
              f"{seeds}:2", "'id'")
    csv = tmp_path / "seeds.csv"
    csv.write_bytes(b"prompt,id\nWrite a short poem about the sea \xff\xfe,1\n")
    _one_line(_data_cli("evolve", "-o", str(tmp_path / "e"), "--seeds", str(csv), "--num-prompts", "4"),
              str(csv), "not UTF-8")


def test_skip_bad_skips_every_kind_of_bad_seed(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    lines = [f'{{"prompt": "Write a short poem number {i} about the sea and the wind", "id": {i}}}' for i in range(30)]
    lines += ['{"prompt": "Write about the sea \\ud800 tonight please now"}',
              '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}",
              '{"prompt": "Write a short poem about rivers and hills", "id": ' + "9" * 5000 + "}"]
    seeds.write_text("\n".join(lines) + "\n")
    result = _data_cli("seeds", "-o", str(tmp_path / "o"), "--seeds", str(seeds), "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "bad records 3" in result.output


def test_output_folder_problems_are_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line(_data_cli("evolve", "-o", str(afile), "--num-prompts", "4"), str(afile), "not a folder")
    _one_line(_data_cli("evolve", "-o", "/proc/raif-h15-test", "--num-prompts", "4"), "cannot write there")


def test_raif_train_output_folder_that_is_a_file(tmp_path):
    from raif_rewards.outdir import OutputPathError
    from raif_train.local.trainer import GRPOTrainer
    from tests.test_train_local import _recipe as train_recipe
    from tests.test_train_local import fraction_score, write_prompt_shard

    data = write_prompt_shard(tmp_path / "data", n=4)
    afile = tmp_path / "out"
    afile.write_text("x")
    with pytest.raises(OutputPathError, match="not a folder"):
        GRPOTrainer(train_recipe(data, afile, max_steps=1), score_fn=fraction_score).train()


@pytest.mark.parametrize("which", ["data", "train", "eval"])
def test_non_utf8_recipes_are_one_line(tmp_path, which):
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(b"seed: \xff\xfe\n")
    if which == "data":
        from raif_data.recipe import RecipeError, load
    elif which == "train":
        from raif_train.recipe import RecipeError
        from raif_train.recipe import load_recipe as load
    else:
        from raif_eval.config import ConfigError as RecipeError
        from raif_eval.config import load_yaml as load
    with pytest.raises(RecipeError, match="not UTF-8") as info:
        load(recipe)
    assert str(recipe) in str(info.value)


def test_infinite_data_recipe_weights_are_refused(tmp_path):
    from raif_data.recipe import RecipeError, from_dict

    with pytest.raises(RecipeError, match="instruct.compositions.and.*finite"):
        from_dict({"instruct": {"compositions": {"and": float("inf")}}})
    with pytest.raises(RecipeError, match="math.ratio.*finite"):
        from_dict({"math": {"ratio": float("nan")}})


def test_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import errno

    from raif_data import pipeline

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o" / "train"))

    monkeypatch.setattr(pipeline, "evolve", full)
    _one_line(_data_cli("evolve", "-o", str(tmp_path / "o"), "--num-prompts", "4"), "No space left on device")


# ------------------------------------------------------------------ shards (point 12)


def test_shards_are_full_but_the_last(tmp_path):
    m = pipeline.evolve(_recipe(tmp_path / "d", num_prompts=60, output={"rows_per_shard": 7, "chunk_size": 16,
                                                                         "validation_fraction": 0.0}))
    rows = [f["rows"] for f in m["shards"]["train"]]
    assert sum(rows) == m["counts"]["train"] and len(rows) == -(-sum(rows) // 7)
    assert all(n == 7 for n in rows[:-1]) and 1 <= rows[-1] <= 7, rows


def test_a_truncated_shard_is_not_up_to_date(tmp_path):
    import pyarrow.parquet as pq

    from raif_data.files import sha256_file

    out = tmp_path / "d"
    recipe = _recipe(out, num_prompts=30)
    m = pipeline.evolve(recipe)
    shard = out / m["shards"]["train"][0]["file"]
    whole = shard.read_bytes()
    shard.write_bytes(whole[: len(whole) // 2])
    assert not pipeline.up_to_date(recipe, pipeline.Layout(out))
    again = pipeline.evolve(recipe)
    assert sha256_file(shard) == again["shards"]["train"][0]["sha256"] == m["shards"]["train"][0]["sha256"]
    assert pq.read_table(shard).num_rows == m["shards"]["train"][0]["rows"]
    assert pipeline.up_to_date(recipe, pipeline.Layout(out))
