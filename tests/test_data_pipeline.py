"""raif_data end to end, offline: shards and manifest, schema, idempotence, resume after SIGKILL, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from raif_data import pipeline
from raif_data import recipe as recipe_mod
from raif_data.cli import app
from raif_data.shards import RL_SCHEMA
from raif_rewards import compose
from raif_rewards.reward import score
from tests.killrun import kill_after_chunks

ROOT = Path(__file__).resolve().parents[1]


def _recipe(out: Path, **kw) -> recipe_mod.Recipe:
    data = {"output_dir": str(out), "num_prompts": 300, "output": {"chunk_size": 64, "rows_per_shard": 100}}
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return recipe_mod.from_dict(data)


def _rows(out: Path) -> list[dict]:
    m = json.loads((out / "manifest.json").read_text())
    rows = []
    for files in m["shards"].values():
        for f in files:
            rows += pq.read_table(out / f["file"]).to_pylist()
    return rows


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_offline_evolve_writes_verl_rows(tmp_path):
    out = tmp_path / "d"
    m = pipeline.evolve(_recipe(out))
    table = pq.read_table(out / m["shards"]["train"][0]["file"])
    assert table.schema.equals(RL_SCHEMA)
    assert table.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    rows = _rows(out)
    assert len(rows) == m["counts"]["train"] + m["counts"]["validation"] == 300 - m["counts"]["duplicates_dropped"]
    assert len(rows) >= 295
    assert all(f["rows"] <= 100 for f in m["shards"]["train"]) and len(m["shards"]["train"]) >= 2
    uids = [r["extra_info"]["uid"] for r in rows]
    assert len(set(uids)) == len(uids)
    assert sorted(r["extra_info"]["index"] for r in rows) == sorted(set(r["extra_info"]["index"] for r in rows))
    splits: dict[str, set] = {}
    for r in rows:
        info = r["extra_info"]
        assert r["prompt"][0]["role"] == "user" and r["prompt"][0]["content"]
        assert r["ability"] == "instruction_following" and r["data_source"] == "raif/instruct"
        gt = compose.parse_ground_truth(r["reward_model"]["ground_truth"])
        assert r["reward_model"]["style"] == "rule" == gt.style
        assert info["num_constraints"] == len(info["constraint_ids"]) >= 1
        assert info["constraint_sources"] == ["ifeval"] * len(info["constraint_ids"])
        assert json.loads(info["provenance"])["generator"].startswith("raif-data")
        splits.setdefault(info["seed_id"], set()).add(info["split"])
    assert all(len(s) == 1 for s in splits.values())  # a seed never straddles train and validation
    assert {s for v in splits.values() for s in v} == {"train", "validation"}
    for f in m["shards"]["train"]:
        assert "sha256" in f and f["rows"] > 0
    assert set(m["versions"]["checkers"]) >= {"punctuation:no_comma"}
    assert m["seeds"]["source"]["path"] == "demo:seeds_demo.jsonl"


def test_same_inputs_give_identical_bytes_and_rerun_changes_nothing(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    pipeline.evolve(_recipe(a))
    pipeline.evolve(_recipe(b))
    assert _shard_bytes(a) == _shard_bytes(b) != {}
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in a.rglob("*") if p.is_file()}
    pipeline.evolve(_recipe(a))
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in a.rglob("*") if p.is_file()}
    assert after == before
    pipeline.evolve(_recipe(c, seed=1))
    assert _shard_bytes(c) != _shard_bytes(a)


def test_resume_after_lost_chunks_and_stale_recipe(tmp_path):
    out = tmp_path / "d"
    pipeline.evolve(_recipe(out))
    reference = _shard_bytes(out)
    # as if killed during stage 2: later chunks and everything after them missing
    for p in sorted((out / "stages" / "instruct").glob("chunk-*.jsonl"))[2:]:
        p.unlink()
    (out / "stages" / "instruct" / "manifest.json").unlink()
    (out / "manifest.json").unlink()
    for p in out.rglob("*.parquet"):
        p.unlink()
    pipeline.evolve(_recipe(out))
    assert _shard_bytes(out) == reference
    with pytest.raises(pipeline.StaleOutputError, match="--overwrite"):
        pipeline.evolve(_recipe(out, num_prompts=200))
    m = pipeline.evolve(_recipe(out, num_prompts=200), overwrite=True)
    assert m["counts"]["train"] + m["counts"]["validation"] + m["counts"]["duplicates_dropped"] == 200
    assert len(_rows(out)) == m["counts"]["train"] + m["counts"]["validation"]


def test_math_mixed_at_ratio(tmp_path):
    out = tmp_path / "d"
    m = pipeline.evolve(_recipe(out, num_prompts=100, math={"path": "demo", "ratio": 0.2}))
    rows = _rows(out)
    maths = [r for r in rows if r["reward_model"]["style"] == "math"]
    assert len(maths) == 20 and len(rows) == 100 - m["counts"]["duplicates_dropped"]
    lines = (ROOT / "data" / "math_demo.jsonl").read_text(encoding="utf-8").splitlines()
    answers = {json.loads(line)["problem"]: json.loads(line)["answer"] for line in lines}
    for r in maths:
        assert r["ability"] == "math" and r["data_source"] == "raif/math"
        problem = r["prompt"][0]["content"].split("\n\n")[0]
        ref = answers[problem]
        assert json.loads(r["reward_model"]["ground_truth"]) == {"style": "math", "answer": ref}
        good = score(f"<think>work</think><answer>\\boxed{{{ref}}}</answer>", r["reward_model"]["ground_truth"])
        assert good.math == "correct"
    # spread evenly, not bunched at the start
    idx = sorted(r["extra_info"]["index"] for r in maths)
    assert idx[0] < 10 and idx[-1] > 90


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path):
    args = ["--num-prompts", "6000", "--seed", "3", "--quiet"]
    recipe = tmp_path / "r.yaml"
    recipe.write_text("output: {chunk_size: 250, rows_per_shard: 2000}\n")
    ref = tmp_path / "ref"
    pipeline.evolve(recipe_mod.override(recipe_mod.load(recipe), {"output_dir": str(ref), "num_prompts": 6000,
                                                                  "seed": 3}))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "raif_data.cli", "evolve", "--output-dir", str(out), "--recipe", str(recipe), *args]
    done = kill_after_chunks(cmd, out / "stages" / "instruct", 3, tmp_path / "killed.log")
    assert 3 <= done < 24 and not (out / "manifest.json").exists()
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    assert _shard_bytes(out) == _shard_bytes(ref)
    rows = _rows(out)
    idx = [r["extra_info"]["index"] for r in rows]
    assert len(idx) == len(set(idx)) == len(_rows(ref))
    assert not list(out.rglob(".*.tmp-*"))


# ------------------------------------------------------------------------------------------ CLI

runner = CliRunner()


@pytest.mark.parametrize("command", ["evolve", "seeds", "instruct", "respond", "shards", "stats"])
def test_help_ends_with_an_example(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert f"Example: raif-data {command} " in text
    assert text.rfind("Show this message and exit") < text.rfind("Example: raif-data")  # the example comes last


def test_cli_stages_one_by_one_then_stats(tmp_path):
    out = tmp_path / "d"
    common = ["--output-dir", str(out), "--num-prompts", "120", "--quiet"]
    res = runner.invoke(app, ["instruct", *common])
    assert res.exit_code == 1 and "has not finished" in res.output
    assert runner.invoke(app, ["seeds", "--output-dir", str(out), "--quiet"]).exit_code == 0
    res = runner.invoke(app, ["instruct", *common])
    assert res.exit_code == 0 and "120 instructions" in res.output
    res = runner.invoke(app, ["respond", *common])
    assert res.exit_code == 1 and "needs an endpoint" in res.output
    res = runner.invoke(app, ["shards", *common])
    assert res.exit_code == 0 and "train" in res.output
    res = runner.invoke(app, ["stats", str(out)])
    assert res.exit_code == 0 and "constraint_ids" in res.output
    for name in ("constraint_ids", "compositions", "sources", "languages", "prompt_chars"):
        assert (out / "stats" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((out / "stats" / "stats.json").read_text())
    assert report["rows"] == len(_rows(out)) and report["sources"] == {"ifeval": sum(report["constraint_ids"].values())}
    # issue 12: diversity of the constraint text per language and relevance of keyword constraints
    assert "diversity" in res.output and "relevance" in res.output
    quality = report["instructions"]
    assert set(quality["diversity"]) == set(report["languages"])
    for d in quality["diversity"].values():
        assert 0 < d["constraint_text_distinct_4grams"] <= 1 and d["seed_prompts_distinct_4grams"] > 0.9
    rel = quality["relevance"]
    assert rel["keyword_constraints"] == sum(v["n"] for v in rel["by_id"].values()) > 0
    assert rel["share"] == rel["related_to_request"] / rel["keyword_constraints"]
    # every evolved rule row has a verified witness and none of the known traps
    assert report["witness"]["rule_rows"] == report["rows"] and report["witness"]["coverage"] == 1.0
    assert report["hard_defects"] == {"rows": 0, "share": 0.0, "by_reason": {}}
    assert "hard_defects" in res.output and "witness" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--recipe", "{dir}/bad.yaml"], "recipe key 'instruct.sourcez'"),
        (["--seeds", "{dir}/broken.jsonl"], "broken.jsonl:2: not valid JSON"),
        (["--seeds", "{dir}/missing.jsonl"], "missing.jsonl: no such file"),
        (["--source", "nope"], "'instruct.sources[0]'"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("instruct: {sourcez: [ifeval]}\n")
    (tmp_path / "broken.jsonl").write_text('{"prompt": "Write a haiku about autumn leaves falling."}\n{nope\n')
    args = [a.format(dir=tmp_path) for a in args]
    res = runner.invoke(app, ["evolve", "--output-dir", str(tmp_path / "o"), "--num-prompts", "10", "-q", *args])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.output


def test_cli_skip_bad_reports_count(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"prompt": "Write a haiku about autumn leaves falling."}\n{nope\n'
                 '{"prompt": "Explain what a compiler does to a new programmer."}\n')
    res = runner.invoke(app, ["seeds", "--output-dir", str(tmp_path / "o"), "--seeds", str(p), "--skip-bad", "-q"])
    assert res.exit_code == 0 and "kept 2 of 2 seeds" in res.output and "bad records 1" in res.output
