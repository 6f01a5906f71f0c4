"""Stage 2 on several processes (instruct.workers): the same bytes as one process, resume, and errors."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
from pathlib import Path

import pytest

from raif_data import drafts, pipeline
from raif_data import recipe as recipe_mod
from raif_rewards.errors import RaifError
from tests.openai_stub import OpenAIStub

ROOT = Path(__file__).resolve().parents[1]
DEMO = [json.loads(line) for line in (ROOT / "raif_data" / "assets" / "seeds_demo.jsonl").open(encoding="utf-8")]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers are forked")


def _seeds(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _recipe(out: Path, workers: int, **kw) -> recipe_mod.Recipe:
    data = {"output_dir": str(out), "num_prompts": 300, "output": {"chunk_size": 64, "rows_per_shard": 100}}
    data.update(kw)
    data["instruct"] = {**data.get("instruct", {}), "workers": workers}
    return recipe_mod.from_dict(data)


def _files(out: Path) -> dict[str, bytes]:
    """Every file of a run but the endpoint cache (its rows go in as answers arrive); in the final
    manifest, the recipe's instruct.workers (which says how the run was made, not what it made) is
    set aside."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
             if p.is_file() and not p.name.startswith("llm_cache")}
    m = json.loads(files.pop("manifest.json"))
    m["config"]["instruct"].pop("workers")
    files["manifest.json"] = json.dumps(m, sort_keys=True).encode()
    return files


def _redrawn_here(caplog) -> list[int]:
    """From the main process's closing line: how many drafts were duplicates it drew again."""
    found = [re.search(r"(\d+) workers; (\d+) duplicate drafts", r.getMessage()) for r in caplog.records]
    return [int(m.group(2)) for m in found if m]


def _cases(tmp_path: Path) -> dict[str, dict]:
    # two seeds, each listed many times (dedup off), one constraint: the same prompt is drawn again and
    # again, so the duplicate filter rejects drafts; math items sit between the rule rows
    twice = [DEMO[0], DEMO[3]] * 20
    return {
        "mixed": {"instruct": {"sources": ["ifeval", "iftrain", "raif"]}, "math": {"path": "demo", "ratio": 0.1}},
        "duplicates": {"seeds": {"path": _seeds(tmp_path / "dup.jsonl", twice), "max_seeds": 2,
                                 "dedup": {"exact": False, "near": False}},
                       "instruct": {"include_ids": ["punctuation:no_comma"], "min_constraints": 1,
                                    "max_constraints": 1, "compositions": {"and": 1.0}},
                       "math": {"path": "demo", "ratio": 0.05}},
    }


@pytest.mark.parametrize("case", ["mixed", "duplicates"])
def test_two_workers_write_the_bytes_one_process_writes(tmp_path, caplog, case):
    kw = _cases(tmp_path)[case]
    one, two = tmp_path / "one", tmp_path / "two"
    m1 = pipeline.evolve(_recipe(one, 1, **kw))
    with caplog.at_level(logging.DEBUG, logger="raif_data.drafts"):
        m2 = pipeline.evolve(_recipe(two, 2, **kw))
    redrawn = _redrawn_here(caplog)
    assert len(redrawn) == 1, "stage 2 did not run on workers"
    assert _files(one) == _files(two)
    inst = json.loads((one / "stages" / "instruct" / "manifest.json").read_text())
    assert inst["by_kind"]["math"] > 0 and inst["by_kind"]["rule"] > 0
    if case == "duplicates":
        # drafts rejected as duplicates were drawn again in the main process, and some indices were
        # given up after MAX_DRAWS duplicates: both paths of build_record ran, with the same result
        assert redrawn[0] > 20 and m1["counts"]["duplicates_dropped"] == m2["counts"]["duplicates_dropped"] > 0


def test_workers_with_an_endpoint_rewriting_instructions(tmp_path, caplog):
    """The workers are forked before the rewrite client exists (the stub serves from a thread of this
    process meanwhile); the rewritten chunks are the same as with one process."""

    def rewrite(request: dict) -> str:
        last = request["messages"][-1]["content"]
        return "Kindly: " + last.split("---\n", 1)[1].rsplit("\n---", 1)[0]

    with OpenAIStub(rewrite) as stub:
        kw = {"num_prompts": 96, "output": {"chunk_size": 32},
              "instruct": {"rewrite": {"enabled": True, "ratio": 0.5}},
              "respond": {"enabled": False}, "llm": {"base_url": stub.base_url, "model": "m", "timeout": 5.0}}
        one, two = tmp_path / "one", tmp_path / "two"
        pipeline.evolve(_recipe(one, 1, **kw))
        with caplog.at_level(logging.DEBUG, logger="raif_data.drafts"):
            pipeline.evolve(_recipe(two, 2, **kw))
    assert len(_redrawn_here(caplog)) == 1, "stage 2 did not run on workers"
    files = _files(one)
    assert files == _files(two)
    rows = [json.loads(line) for name, data in files.items() if name.endswith(".jsonl") and "instruct" in name
            for line in data.decode().splitlines()]
    assert any(r.get("rewritten") for r in rows) and not all(r.get("rewritten") for r in rows)


def test_workers_with_a_model_writing_sub_task_structure(tmp_path, caplog):
    """Chain and selection rows carry their parts (what the structure step re-renders) from the workers
    to the main process: the structured chunks are the same as with one process."""
    from tests.test_structure import Model, make_recipe, offline_trees, script

    over = {"num_prompts": 96, "output": {"chunk_size": 32, "validation_fraction": 0.0}}
    trees, _ = offline_trees(tmp_path, instruct={"workers": 1}, **over)
    modes = script(trees, chain=["pass", "count", "pass"], selection=["pass", "decision", "flip"])
    outs = []
    model: dict[str, Model] = {}  # one server (its address is in the recipe), a fresh script per run
    with OpenAIStub(lambda request: model["now"](request)) as stub:
        for workers in (1, 2):
            model["now"] = Model(trees, modes)
            out = tmp_path / f"w{workers}"
            with caplog.at_level(logging.DEBUG, logger="raif_data.drafts"):
                pipeline.evolve(make_recipe(out, stub.base_url, instruct={"workers": workers}, **over))
            outs.append(_files(out))
    assert len(_redrawn_here(caplog)) == 1, "stage 2 did not run on workers"
    assert outs[0] == outs[1]
    rows = [json.loads(line) for name, data in outs[0].items() if name.startswith("stages/instruct/chunk-")
            and name.endswith(".jsonl") for line in data.decode().splitlines()]
    assert any(r.get("structured") for r in rows)


def test_resume_with_workers_after_lost_chunks(tmp_path):
    kw = _cases(tmp_path)["mixed"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    pipeline.evolve(_recipe(ref, 1, **kw))
    pipeline.evolve(_recipe(out, 2, **kw))
    # as if stopped during stage 2 and cleaned up unevenly: chunks 1 and 3 and everything after gone;
    # the chunks left are replayed into the duplicate filter, the lost ones drawn again by the workers
    stage = out / "stages" / "instruct"
    for c in (1, 3):
        (stage / f"chunk-{c:05d}.jsonl").unlink()
        (stage / f"chunk-{c:05d}.counts.json").unlink()
    (stage / "manifest.json").unlink()
    (out / "manifest.json").unlink()
    for p in out.rglob("*.parquet"):
        p.unlink()
    pipeline.evolve(_recipe(out, 2, **kw))
    assert _files(out) == _files(ref)


def _one_zh_seed(tmp_path: Path) -> dict:
    """An English-only constraint and, among English seeds, one Chinese seed: drawing for it fails
    with a RaifError (no constraint supports its language), as a bad seed would."""
    en = [d for d in DEMO if d["lang"] == "en"][:60]
    zh = next(d for d in DEMO if d["lang"] == "zh")
    return {"num_prompts": 600, "output": {"chunk_size": 5},
            "seeds": {"path": _seeds(tmp_path / "seeds.jsonl", en[:30] + [zh] + en[30:])},
            "instruct": {"include_ids": ["change_case:english_lowercase"]}}


def test_error_in_a_worker_is_the_one_process_error(tmp_path):
    kw = _one_zh_seed(tmp_path)
    errors, chunks = {}, {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        with pytest.raises(RaifError) as exc:
            pipeline.evolve(_recipe(out, workers, **kw))
        errors[workers] = str(exc.value)
        stage = out / "stages" / "instruct"
        chunks[workers] = {p.name: p.read_bytes() for p in stage.glob("chunk-*")}
        seeds = (out / "stages" / "seeds" / "seeds.jsonl").read_text(encoding="utf-8").splitlines()
        # index i draws for seed row i (no math): the Chinese seed's row is the first index that fails
        assert [json.loads(line)["lang"] for line in seeds].index("zh") >= 5, "recipe no longer puts it late"
    assert errors[1] == errors[2] and "\n" not in errors[2] and "'zh'" in errors[2]
    # the chunks finished before the bad index are kept, the same ones
    assert chunks[1] == chunks[2] != {}
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_stops_the_stage_with_one_line(tmp_path, monkeypatch):
    kw = {"num_prompts": 600, "output": {"chunk_size": 50}}
    real = pipeline.draft

    def dying(i, r, seed):  # runs in the workers only: the main process never drafts
        if i == 450:
            os._exit(3)
        return real(i, r, seed)

    monkeypatch.setattr(pipeline, "draft", dying)
    out = tmp_path / "d"
    with pytest.raises(RaifError, match="worker process died") as exc:
        pipeline.evolve(_recipe(out, 2, **kw))
    assert "\n" not in str(exc.value) and "rerun the same command to resume" in str(exc.value)
    # the main loop runs at most workers x AHEAD x MAX_BATCH indices behind the workers: the first
    # chunks were written before index 450 was drawn, and are kept
    assert (out / "stages" / "instruct" / "chunk-00000.jsonl").exists()
    assert multiprocessing.active_children() == []
    monkeypatch.undo()
    pipeline.evolve(_recipe(out, 2, **kw))  # and the same command resumes
    ref = tmp_path / "ref"
    pipeline.evolve(_recipe(ref, 1, **kw))
    assert _files(out) == _files(ref)


def test_a_task_whose_drafts_cannot_come_back_is_drawn_in_the_main_process(tmp_path, monkeypatch, caplog):
    real = pipeline.draft

    def unsendable(i, r, seed):  # runs in the workers only: one batch's result cannot be pickled
        d = real(i, r, seed)
        return d._replace(counts={"x": lambda: None}) if i == 100 else d

    monkeypatch.setattr(pipeline, "draft", unsendable)
    kw = {"num_prompts": 200, "output": {"chunk_size": 64}}
    one, two = tmp_path / "one", tmp_path / "two"
    with caplog.at_level(logging.WARNING, logger="raif_data.drafts"):
        pipeline.evolve(_recipe(two, 2, **kw))
    assert any("a worker task failed" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    pipeline.evolve(_recipe(one, 1, **kw))
    assert _files(one) == _files(two)


def test_workers_default_to_the_usable_cpus_and_stay_out_of_the_fingerprint(tmp_path):
    assert drafts.worker_count(_recipe(tmp_path, 0)) == drafts.cpus() >= 1
    assert drafts.worker_count(_recipe(tmp_path, 3)) == 3
    # a worker per 32 indices at most: a short run stays in one process
    assert [drafts.workers_for(_recipe(tmp_path, 3), n) for n in (10, 63, 64, 96, 10_000)] == [1, 1, 2, 3, 3]
    assert pipeline.fingerprints(_recipe(tmp_path, 0)) == pipeline.fingerprints(_recipe(tmp_path, 3))
    with pytest.raises(recipe_mod.RecipeError, match="instruct.workers"):
        _recipe(tmp_path, -1)
