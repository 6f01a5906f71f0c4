"""Reward scoring for the local backend: the shared reward library behind a small picklable interface.

Scores run in a process pool (spawned, so no torch state is forked) while the next batch generates.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ScoreRequest", "Score", "ScoreFn", "LibraryScore", "library_score", "score_many", "Scorer"]


@dataclass(frozen=True)
class ScoreRequest:
    data_source: str
    response: str  # what the model wrote (plus "<think>" when the chat template opened it)
    ground_truth: str
    direct: bool = False  # the prompt closed an empty think block: a forced direct answer
    extra_info: dict[str, Any] = field(default_factory=dict)
    instruction: str = ""  # the user's instruction, shown to a judge (judge ground truths)


@dataclass(frozen=True)
class Score:
    reward: float  # the scalar that drives the advantage (answer score + format score)
    answer_score: float  # the accuracy part alone: what superior-CoT compares
    format_ok: bool
    # the answer passed the gate (valid format, non-empty reasoning and answer); a sample that did not
    # keeps its negative gradient under the superior-CoT mask
    answered: bool = True
    # False when nothing of the answer could be scored (every judge question unscored, or the reward
    # raised): the sample is left out of the step, never trained on as if scored
    scored: bool = True


ScoreFn = Callable[[ScoreRequest], Score]


class LibraryScore:
    """The shared reward (`raif_rewards.reward.score`) with this run's format and accuracy mode.

    A picklable callable, so the reward process pool can run it. The answer score (RAIF scale: +2 all,
    -2 none, else k/n; or k/n in "fraction" mode) is what superior-CoT compares; direct answers are
    scored on their answer text by the same checkers (our fix of RAIF's comparison).
    """

    def __init__(self, response_format: str = "think_answer", accuracy: str = "raif"):
        from raif_rewards.reward import RewardConfig

        self.config = RewardConfig(response_format=response_format, accuracy=accuracy)
        self._judge: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_judge": None}  # each pool process opens its own judge connections

    def __call__(self, req: ScoreRequest) -> Score:
        from raif_rewards.compose import JudgeTruth, parse_ground_truth
        from raif_rewards.reward import score

        gt = parse_ground_truth(req.ground_truth)
        if isinstance(gt, JudgeTruth):
            # soft constraints (RAIF's "complex" data): the judge the RAIF_JUDGE_* variables name, as
            # for the veRL plugin; without one, RewardConfigError says what to set
            from raif_rewards.dispatch import score_judge_batch
            from raif_rewards.judge import judge_from_settings

            if self._judge is None:
                self._judge = judge_from_settings()
            res = score_judge_batch(
                [(req.response, gt, req.direct, self.config)], self._judge, [req.instruction]
            )[0]
        else:
            res = score(req.response, gt, self.config, direct=req.direct)
        if res.answer_score is None:  # a judge outage on every question, or a reward error
            return Score(float("nan"), float("nan"), bool(res.format_ok), res.answered, scored=False)
        return Score(float(res.score), float(res.answer_score), bool(res.format_ok), res.answered)


def library_score(req: ScoreRequest) -> Score:
    """The default reward (RAIF's think/answer format and accuracy scale)."""
    return LibraryScore()(req)


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
        from raif_rewards.lifeline import exit_with_parent

        # the workers end with the trainer, even when it is SIGKILLed (they would wait for work for ever)
        self._pool = (
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=exit_with_parent)
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
