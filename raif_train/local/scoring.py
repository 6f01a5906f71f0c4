"""Reward scoring for the local backend: the shared reward library behind a small picklable interface.

Scores run in a process pool (spawned, so no torch state is forked) while the next batch generates.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ScoreRequest", "Score", "ScoreFn", "library_score", "score_many", "Scorer"]


@dataclass(frozen=True)
class ScoreRequest:
    data_source: str
    response: str  # the full assistant turn (a forced prefix such as an empty think block included)
    ground_truth: str
    extra_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    reward: float  # the scalar that drives the advantage (answer score + format score)
    answer_score: float  # the accuracy part alone: what superior-CoT compares
    format_ok: bool


ScoreFn = Callable[[ScoreRequest], Score]


def _num(d: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def library_score(req: ScoreRequest) -> Score:
    """Score with `raif_rewards.verl_plugin.compute_score` (the same function veRL calls)."""
    from raif_rewards.verl_plugin import compute_score

    out = compute_score(req.data_source, req.response, req.ground_truth, extra_info=req.extra_info)
    if not isinstance(out, dict):
        value = float(out)
        return Score(value, value, True)
    reward = float(out["score"])
    answer = _num(out, "answer_score", "acc", "accuracy")
    fmt = out.get("format_ok")
    if fmt is None:
        fs = _num(out, "format_score")
        fmt = fs is None or fs > 0
    return Score(reward, reward if answer is None else answer, bool(fmt))


def score_many(fn: ScoreFn, reqs: Sequence[ScoreRequest]) -> list[Score]:
    return [fn(r) for r in reqs]


class _Done:
    """A finished Future look-alike for inline scoring."""

    def __init__(self, value: list[Score]):
        self._value = value

    def result(self) -> list[Score]:
        return self._value


class Scorer:
    """Submits batches of requests to a spawned process pool (or scores inline with workers=0)."""

    def __init__(self, fn: ScoreFn = library_score, workers: int = 1):
        self.fn = fn
        self._pool = (
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 0
            else None
        )

    def submit(self, reqs: Sequence[ScoreRequest]) -> Future[list[Score]] | _Done:
        if self._pool is None:
            return _Done(score_many(self.fn, list(reqs)))
        return self._pool.submit(score_many, self.fn, list(reqs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
