"""Train and evaluation kept apart: n-gram decontamination of seeds against evaluation prompts (units
on hand-computed overlaps, then the stage on IFEval's and IFBench's real prompts: counts per set,
determinism, resume, stale inputs), and IFBench's test constraints refused for training without the flag."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raif_data import pipeline, stats
from raif_data import recipe as recipe_mod
from raif_data.cli import app
from raif_data.decontaminate import EvalIndex, EvalSet, load_eval_set, ngrams, parse_entry, tokens
from raif_rewards.errors import InputFileError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


# ---------------------------------------------------------------------------------------------- units


def test_tokens_split_cjk_characters_and_lowercase():
    assert tokens("Hello, World! 你好 x_1") == ["hello", "world", "你", "好", "x_1"]


def test_ngrams_are_distinct_and_empty_when_short():
    assert ngrams(["a", "b", "c", "d", "a", "b", "c"], 3) == {"a b c", "b c d", "c d a", "d a b"}
    assert ngrams(["a", "b"], 3) == set()


def _index(n=3, **sets):
    return EvalIndex.build([EvalSet(name, "mem", prompts) for name, prompts in sets.items()], n)


def test_overlap_is_the_larger_of_the_seeds_share_and_one_eval_prompts_share():
    index = _index(E=["the cat sat on the mat"])  # 3-grams: the cat sat, cat sat on, sat on the, on the mat
    # seed 3-grams: a cat sat, cat sat on, sat on the, on the rug -> 2 of 4 shared both ways
    assert index.verdict("A cat sat on the rug").overlap == {"E": 0.5}
    # 13 tokens, 11 3-grams, 4 of them the eval prompt's: 4/11 of the seed, 4/4 of the prompt
    seed = "Yesterday the cat sat on the mat and then it slept well today"
    assert index.verdict(seed).overlap == {"E": 1.0}
    assert index.verdict("Dogs run in the park").overlap == {}
    assert index.verdict(seed).over(0.5) == ["E"]
    assert index.verdict("A cat sat on the rug").over(0.51) == []


def test_texts_shorter_than_n_are_compared_whole():
    index = _index(E=["Hi there"])
    assert index.verdict("hi, THERE!").overlap == {"E": 1.0}
    assert index.verdict("hi there friend").overlap == {}


def test_chinese_is_read_character_by_character():
    index = _index(Z=["我喜欢吃苹果"])  # 3-grams 我喜欢 喜欢吃 欢吃苹 吃苹果
    assert index.verdict("他喜欢吃苹果").overlap == {"Z": 0.75}  # 3 of the seed's 4 and of the prompt's 4


def test_each_set_is_scored_on_its_own():
    index = _index(A=["one two three four"], B=["five six seven eight"])
    # 5 grams; A's 2 both in it (2/2), B's "five six seven" one of its 2 (1/2)
    v = index.verdict("one two three four five six seven")
    assert v.overlap == {"A": 1.0, "B": 0.5}
    assert v.over(0.6) == ["A"]


def test_entries_name_a_raif_eval_benchmark_or_a_plain_file(tmp_path):
    assert parse_entry("ifbench:data/IFBench_test.jsonl") == ("ifbench", "data/IFBench_test.jsonl")
    assert parse_entry("notabench:x.jsonl") == (None, "notabench:x.jsonl")
    assert parse_entry("/a/b.jsonl") == (None, "/a/b.jsonl")
    p = tmp_path / "evals.jsonl"
    p.write_text('{"prompt": "first"}\n{"messages": [{"role": "system", "content": "s"}, '
                 '{"role": "user", "content": "second"}]}\n')
    assert load_eval_set(str(p)).prompts == ["first", "second"]
    p.write_text('{"prompt": "first"}\n{"text": "no prompt"}\n')
    with pytest.raises(InputFileError, match=r"evals\.jsonl:2: .*'prompt' string"):
        load_eval_set(str(p))
    with pytest.raises(InputFileError, match="no such file"):
        load_eval_set(str(tmp_path / "missing.jsonl"))


# ---------------------------------------------------------------------------------------------- stage


def _prompts(path: Path) -> list[str]:
    return [json.loads(line)["prompt"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture()
def planted(tmp_path, conformance_dir):
    """Demo seeds plus planted copies of evaluation prompts: (seed file, eval entries, planted per set)."""
    ifeval_file = conformance_dir / "ifeval" / "input_data.jsonl"
    ifbench_file = conformance_dir / "ifbench" / "IFBench_test.jsonl"
    ifeval, ifbench = _prompts(ifeval_file), _prompts(ifbench_file)
    demo = [json.loads(line) for line in (ROOT / "raif_data" / "assets" / "seeds_demo.jsonl").read_text().splitlines()]
    seeds = [{"id": d["id"], "prompt": d["prompt"], "lang": d["lang"]} for d in demo[:60]]
    plants = {
        "ifeval": [ifeval[3], ifeval[40], ifeval[200],
                   "Some context first, a fair amount of it, then the actual task. " + ifeval[77],
                   " ".join(ifeval[120].split()[: int(len(ifeval[120].split()) * 0.8)])],
        "ifbench": [ifbench[5], ifbench[150]],
    }
    for name, texts in plants.items():
        seeds += [{"id": f"plant-{name}-{i}", "prompt": t, "lang": "en"} for i, t in enumerate(texts)]
    seed_file = tmp_path / "seeds.jsonl"
    seed_file.write_text("".join(json.dumps(s) + "\n" for s in seeds), encoding="utf-8")
    entries = [f"ifeval:{ifeval_file}", f"ifbench:{ifbench_file}"]
    return seed_file, entries, {k: len(v) for k, v in plants.items()}


def _recipe(out: Path, seed_file: Path, entries: list[str], **instruct) -> recipe_mod.Recipe:
    return recipe_mod.from_dict({
        "output_dir": str(out), "num_prompts": 150, "seeds": {"path": str(seed_file), "balance": False},
        "decontaminate": {"eval_files": entries}, "instruct": {"sources": ["ifeval", "iftrain"], **instruct},
        "output": {"chunk_size": 64},
    })


def test_stage_drops_planted_eval_prompts_counted_per_set(tmp_path, planted):
    seed_file, entries, counts = planted
    out = tmp_path / "o"
    m = pipeline.evolve(_recipe(out, seed_file, entries))
    decon = m["decontamination"]
    assert decon["dropped_by_eval_set"] == counts
    assert decon["dropped"] == m["counts"]["decontaminated"] == sum(counts.values())
    assert decon["read"] == 60 + sum(counts.values()) and decon["kept"] == 60
    kept = (out / "stages" / "decontaminate" / "seeds.jsonl").read_text()
    assert "plant-" not in kept
    rows = [json.loads(line) for p in sorted((out / "stages" / "instruct").glob("chunk-*.jsonl"))
            for line in p.read_text().splitlines()]
    assert rows and not any(r["seed_id"].startswith("plant-") for r in rows)
    report = stats.collect(out)
    assert report["decontamination"]["by_eval_set"] == counts
    res = runner.invoke(app, ["stats", str(out)])
    assert res.exit_code == 0 and "decontaminated seeds" in res.output


def test_stage_is_deterministic_resumable_and_tracks_its_inputs(tmp_path, planted):
    seed_file, entries, _ = planted
    a, b = tmp_path / "a", tmp_path / "b"
    pipeline.evolve(_recipe(a, seed_file, entries))
    pipeline.evolve(_recipe(b, seed_file, entries))
    stage = Path("stages") / "decontaminate" / "seeds.jsonl"
    assert (a / stage).read_bytes() == (b / stage).read_bytes()
    shards = {p.relative_to(a): p.read_bytes() for p in a.rglob("*.parquet")}
    # as if killed inside the stage: its output and everything after it gone
    for p in [a / stage, a / "stages" / "decontaminate" / "manifest.json", a / "manifest.json"]:
        p.unlink()
    for p in (a / "stages" / "instruct").glob("*"):
        p.unlink()
    pipeline.evolve(_recipe(a, seed_file, entries))
    assert {p.relative_to(a): p.read_bytes() for p in a.rglob("*.parquet")} == shards
    # another evaluation set list is another recipe
    with pytest.raises(pipeline.StaleOutputError, match="--overwrite"):
        pipeline.evolve(_recipe(a, seed_file, entries[:1]))
    m = pipeline.evolve(_recipe(a, seed_file, entries[:1]), overwrite=True)
    assert list(m["decontamination"]["dropped_by_eval_set"]) == ["ifeval"]


def test_cli_decontaminate_stage_and_missing_eval_file(tmp_path, planted):
    seed_file, entries, counts = planted
    out = tmp_path / "o"
    assert runner.invoke(app, ["seeds", "-o", str(out), "--seeds", str(seed_file), "-q"]).exit_code == 0
    args = [a for e in entries for a in ("--eval-file", e)]
    res = runner.invoke(app, ["decontaminate", "-o", str(out), "--seeds", str(seed_file), *args, "-q"])
    assert res.exit_code == 0, res.output
    assert f"dropped {sum(counts.values())}: ifeval {counts['ifeval']}, ifbench {counts['ifbench']}" in res.output
    res = runner.invoke(app, ["evolve", "-o", str(tmp_path / "p"), "--eval-file", str(tmp_path / "nope.jsonl"), "-q"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and "nope.jsonl: no such file" in lines[0], res.output


# ------------------------------------------------------------------------------ evaluation-only sources


def test_ifbench_source_is_refused_without_the_flag():
    with pytest.raises(recipe_mod.RecipeError, match=r"'instruct\.sources\[1\]'.*evaluation-only.*iftrain"):
        recipe_mod.from_dict({"instruct": {"sources": ["ifeval", "ifbench"]}})
    r = recipe_mod.from_dict({"instruct": {"sources": ["ifbench"], "allow_eval_constraints": True}})
    assert r.instruct.sources == ["ifbench"]


def test_cli_refuses_ifbench_in_one_line_and_the_flag_allows_it_with_a_warning(tmp_path, caplog):
    base = ["evolve", "-o", str(tmp_path / "o"), "--num-prompts", "40", "--source", "ifbench", "-q"]
    res = runner.invoke(app, base)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and "evaluation-only" in lines[0], res.output
    with caplog.at_level(logging.WARNING, logger="raif_data.pipeline"):
        res = runner.invoke(app, [*base, "--allow-eval-constraints"])
    assert res.exit_code == 0, res.output
    assert any("evaluation-only" in r.getMessage() and "ifbench" in r.getMessage() for r in caplog.records)
    inst = json.loads((tmp_path / "o" / "stages" / "instruct" / "manifest.json").read_text())
    assert inst["eval_only_sources"] == ["ifbench"]


def test_iftrain_source_is_sampled_offline(tmp_path):
    out = tmp_path / "o"
    r = recipe_mod.from_dict({"output_dir": str(out), "num_prompts": 600, "instruct": {"sources": ["iftrain"]}})
    pipeline.evolve(r)
    rows = [json.loads(line) for p in sorted((out / "stages" / "instruct").glob("chunk-*.jsonl"))
            for line in p.read_text().splitlines()]
    used = {cid for row in rows for cid in row["constraint_ids"]}
    assert all(s == "iftrain" for row in rows for s in row["constraint_sources"])
    from raif_rewards import registry

    assert used <= set(registry.ids("iftrain")) and len(used) == 29
    inst = json.loads((out / "stages" / "instruct" / "manifest.json").read_text())
    assert inst["eval_only_sources"] == []
