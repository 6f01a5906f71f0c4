"""Running an evaluation: load every benchmark's data, generate the missing rollouts (resuming a
crashed run), then score them; and re-scoring saved rollouts without calling the model."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from raif_eval.benchmarks import BENCHMARKS, Benchmark, BenchScore, Item
from raif_eval.benchmarks.complexbench import ComplexBench
from raif_eval.config import ConfigError, RunConfig, check_fixes, from_mapping
from raif_eval.judging import Judge
from raif_eval.modes import generate
from raif_eval.store import RunDir, RunDirError, git_revision
from raif_rewards.errors import EndpointError

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (benchmark, done, total)

# settings that change what the model is asked: a run directory holds one combination of them
IDENTITY = (
    "model_id",
    "mode",
    "temperature",
    "max_tokens",
    "top_p",
    "k",
    "sc_temperature",
    "sc_select",
    "refine_rounds",
    "seed",
)


class IncompleteRun(RuntimeError):
    """Some rollouts failed after retries; rerunning the same command retries only those."""


def make_adapter(name: str, cfg: RunConfig) -> Benchmark:
    check_fixes(cfg.fixes)  # also for re-scoring, whose settings come from run.json and flags
    if name == "complexbench":
        return ComplexBench(lang=cfg.complexbench_lang, fixes=cfg.fixes_for(name))
    return BENCHMARKS[name](fixes=cfg.fixes_for(name))


def load_items(cfg: RunConfig, names: Sequence[str]) -> dict[str, tuple[Benchmark, list[Item]]]:
    out = {}
    for name in names:
        adapter = make_adapter(name, cfg)
        path = cfg.data_path(name)
        if not path.exists():
            raise ConfigError(f"data.{name}: {path} does not exist")
        items = adapter.load(path)
        out[name] = (adapter, items[: cfg.limit] if cfg.limit else items)
    return out


def _client(url: str, model: str, cfg: RunConfig, cache: Path):
    from raif_rewards.llm import LLMClient

    return LLMClient(
        url,
        model,
        api_key=os.environ.get(cfg.api_key_env),
        concurrency=cfg.concurrency,
        timeout=cfg.timeout,
        max_retries=cfg.max_retries,
        cache_path=cache,
    )


def _judge(cfg: RunConfig, run: RunDir, names: Sequence[str], generating: bool = False) -> Judge | None:
    needing = [n for n in names if BENCHMARKS[n].needs_judge]
    if generating and cfg.mode == "self-consistency" and cfg.sc_select == "judge":
        needing.append("self-consistency with --sc-select judge")
    if not needing:
        return None
    if not (cfg.judge_url and cfg.judge_id):
        raise ConfigError(
            f"judge_url/judge_id: {', '.join(needing)} need a judge; pass --judge-url and --judge-id"
        )
    return Judge(
        _client(cfg.judge_url, cfg.judge_id, cfg, run.cache_dir / "judge.sqlite"),
        max_tokens=cfg.judge_max_tokens,
    )


def _check_identity(saved: dict | None, cfg: RunConfig, root: Path) -> None:
    if not saved:
        return
    old = saved.get("config", {})
    diffs = [
        f"{k}: {old.get(k)!r} -> {getattr(cfg, k)!r}"
        for k in IDENTITY
        if k in old and old.get(k) != getattr(cfg, k)
    ]
    if diffs:
        raise RunDirError(
            f"{root} holds a run with other settings ({'; '.join(diffs)}); use another --output-dir"
        )


def _settings(cfg: RunConfig, saved: dict | None) -> dict:
    conf = dataclasses.asdict(cfg)
    if saved:  # keep what earlier invocations evaluated
        old = saved.get("config", {})
        conf["benchmarks"] = list(dict.fromkeys([*old.get("benchmarks", []), *cfg.benchmarks]))
        conf["data"] = {**old.get("data", {}), **{b: str(cfg.data_path(b)) for b in cfg.benchmarks}}
    else:
        conf["data"] = {b: str(cfg.data_path(b)) for b in cfg.benchmarks}
    conf["data_dir"] = None  # resolved into data above
    return {
        "config": conf,
        "created": (saved or {}).get("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        "git_revision": git_revision(),
    }


async def _generate_missing(
    cfg: RunConfig,
    run: RunDir,
    name: str,
    items: list[Item],
    client,
    judge: Judge | None,
    progress: Progress | None,
) -> list[str]:
    """Generate the rollouts not saved yet (or saved as failed); returns the errors of those that failed."""
    run.repair_rollouts(name)
    saved = run.load_rollouts(name)
    todo = [it for it in items if it.id not in saved or saved[it.id].get("error")]
    done = len(items) - len(todo)
    if progress:
        progress(name, done, len(items))
    params = cfg.gen_params()
    failures: list[str] = []

    async def one(item: Item) -> None:
        nonlocal done
        try:
            rollout = await generate(
                item.id,
                item.messages,
                cfg.mode,
                client.chat,
                params,
                judge.yes_no if judge is not None else None,
            )
            row = rollout.to_json()
        except EndpointError as exc:
            failures.append(str(exc))
            row = {"id": item.id, "mode": cfg.mode, "answer": "", "error": str(exc)}
        run.append_rollout(name, row)
        done += 1
        if progress:
            progress(name, done, len(items))

    await asyncio.gather(*(one(it) for it in todo))
    return failures


def _usage(rollouts: Sequence[dict]) -> dict:
    n = len(rollouts) or 1
    prompt = sum(r.get("prompt_tokens", 0) for r in rollouts)
    completion = sum(r.get("completion_tokens", 0) for r in rollouts)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "mean_completion_tokens": completion / n,
        "calls": sum(r.get("calls", 0) for r in rollouts),
        "truncated": sum(1 for r in rollouts if r.get("finish_reason") == "length"),
    }


async def _score(run: RunDir, name: str, adapter: Benchmark, items: list[Item], judge: Judge | None) -> dict:
    saved = run.load_rollouts(name)
    ok = {i: r for i, r in saved.items() if not r.get("error")}
    ids = {it.id for it in items}
    answers = {i: r.get("answer", "") for i, r in ok.items() if i in ids}
    score: BenchScore = await adapter.score(items, answers, judge)
    out = score.to_json()
    out.update(
        complete=len(answers) == len(items), n_total=len(items), usage=_usage([ok[i] for i in answers])
    )
    missing = len(items) - len(answers)
    if missing:
        out["notes"] = [*out["notes"], f"{missing} item(s) have no successful rollout and were not scored"]
    run.save_scores(name, out, score.details)
    return out


def _summary(cfg: RunConfig, run: RunDir, scores: dict[str, dict]) -> dict:
    summary: dict[str, Any] = {}
    try:
        summary = run.load_summary()
    except RunDirError:
        pass
    benches = {**summary.get("benchmarks", {}), **scores}
    summary = {
        "run_name": cfg.run_name or run.root.resolve().name,
        "model_id": cfg.model_id,
        "mode": cfg.mode,
        "judge_id": cfg.judge_id,
        "git_revision": git_revision(),
        "benchmarks": {b: benches[b] for b in BENCHMARKS if b in benches},
    }
    run.save_summary(summary)
    return summary


async def run_async(cfg: RunConfig, progress: Progress | None = None) -> dict:
    cfg.validate()
    if not (cfg.model_url and cfg.model_id):
        raise ConfigError("model_url/model_id: required for `run` (use `rescore` to score saved rollouts)")
    run = RunDir(cfg.output_dir)
    saved = run.load_settings()
    _check_identity(saved, cfg, run.root)
    loaded = load_items(cfg, cfg.benchmarks)  # every data file is checked before any model call
    judge = _judge(cfg, run, cfg.benchmarks, generating=True)
    run.save_settings(_settings(cfg, saved))
    client = _client(cfg.model_url, cfg.model_id, cfg, run.cache_dir / "model.sqlite")
    failed: dict[str, list[str]] = {}
    try:
        for name, (_, items) in loaded.items():
            errors = await _generate_missing(
                cfg, run, name, items, client, judge if cfg.sc_select == "judge" else None, progress
            )
            if errors:
                failed[name] = errors
    finally:
        await client.aclose()
        client.close()
    scores = {}
    try:
        for name, (adapter, items) in loaded.items():
            if name not in failed:
                scores[name] = await _score(run, name, adapter, items, judge)
    finally:
        if judge is not None:
            await judge.client.aclose()
            judge.client.close()
    summary = _summary(cfg, run, scores)
    if failed:
        detail = ", ".join(f"{b}: {len(errors)}" for b, errors in failed.items())
        # the cause on the error line itself (as raif-data does): a dead endpoint reads "Connection refused"
        first = next(iter(failed.values()))[0]
        raise IncompleteRun(
            f"rollouts failed after retries ({detail}; first: {first}); their benchmarks were not scored. "
            f"Rerun the same command to retry only those (see {run.root}/<benchmark>/rollouts.jsonl)"
        )
    return summary


async def rescore_async(
    run_dir: str | Path, overrides: dict[str, Any] | None = None, benchmarks: Sequence[str] | None = None
) -> dict:
    """Score the saved rollouts of ``run_dir`` again (judge replies come from its cache when unchanged);
    the model is never called. ``overrides`` may change the judge or data paths."""
    run = RunDir(run_dir)
    saved = run.load_settings()
    if saved is None:
        raise RunDirError(f"{run.root}: no run.json; is this a raif-eval output directory?")
    cfg = from_mapping(saved.get("config", {}), str(run.root / "run.json"))
    overrides = dict(overrides or {})
    if overrides.get("data"):
        overrides["data"] = {**cfg.data, **overrides["data"]}
    cfg = dataclasses.replace(
        cfg, **{k: v for k, v in overrides.items() if v is not None}, output_dir=str(run.root)
    )
    names = list(benchmarks) if benchmarks else [b for b in cfg.benchmarks if run.rollouts_path(b).exists()]
    if not names:
        raise RunDirError(f"{run.root}: no saved rollouts to score")
    for b in names:
        if b not in BENCHMARKS:
            raise ConfigError(f"benchmarks: unknown benchmark {b!r}; known: {', '.join(BENCHMARKS)}")
        if not run.rollouts_path(b).exists():
            raise RunDirError(f"{run.root}: no rollouts for {b}")
    loaded = load_items(cfg, names)
    judge = _judge(cfg, run, names)
    scores = {}
    try:
        for name, (adapter, items) in loaded.items():
            scores[name] = await _score(run, name, adapter, items, judge)
    finally:
        if judge is not None:
            await judge.client.aclose()
            judge.client.close()
    if overrides:
        saved["config"].update({k: v for k, v in dataclasses.asdict(cfg).items() if k in overrides})
        run.save_settings(saved)
    return _summary(cfg, run, scores)


def run(cfg: RunConfig, progress: Progress | None = None) -> dict:
    from raif_rewards.llm import run_sync

    return run_sync(run_async(cfg, progress))


def rescore(
    run_dir: str | Path, overrides: dict[str, Any] | None = None, benchmarks: Sequence[str] | None = None
) -> dict:
    from raif_rewards.llm import run_sync

    return run_sync(rescore_async(run_dir, overrides, benchmarks))
