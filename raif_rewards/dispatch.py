"""One dispatcher from (data_source, ground truth) to the right reward: rule, math or judge; single
samples or batches (rule/math in a process pool, judge questions of a whole batch in one async fan-out).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, overload

from raif_rewards import registry
from raif_rewards.compose import (
    GroundTruth,
    GroundTruthError,
    JudgeTruth,
    LeafVerdict,
    MathTruth,
    RuleTruth,
    parse_ground_truth,
    score_tree,
)
from raif_rewards.reward import (
    DEFAULT_CONFIG,
    RewardConfig,
    RewardConfigError,
    RewardResult,
    combine_judge,
    gate,
    parse_response,
    score_math,
    score_rule,
    worst_score,
)

if TYPE_CHECKING:
    from raif_rewards.judge import Judge

log = logging.getLogger(__name__)

#: data_source names whose plain-string ground truth is a math answer (veRL's DeepScaleR/GSM8K/MATH files)
MATH_SOURCE_HINTS = ("math", "gsm8k", "deepscaler", "aime", "amc", "olympiad", "numina", "dapo")


def is_math_source(data_source: str | None) -> bool:
    return bool(data_source) and any(h in str(data_source).lower() for h in MATH_SOURCE_HINTS)


def route(ground_truth: Any, data_source: str | None = None) -> GroundTruth:
    """The parsed ground truth; a math source may give the bare reference answer instead of JSON.

    Raises :class:`GroundTruthError` (naming the field) for anything else that is not the schema.
    """
    if is_math_source(data_source):
        if isinstance(ground_truth, (int, float)) and not isinstance(ground_truth, bool):
            return MathTruth(str(ground_truth))
        if isinstance(ground_truth, str):
            try:
                return parse_ground_truth(ground_truth)
            except GroundTruthError:
                if ground_truth.strip():
                    return MathTruth(ground_truth.strip())
                raise
    return parse_ground_truth(ground_truth)


@dataclass(frozen=True)
class Sample:
    solution_str: str
    ground_truth: Any
    data_source: str | None = None
    extra_info: Mapping[str, Any] | None = None


def _options(extra_info: Mapping[str, Any] | None, config: RewardConfig) -> tuple[bool, RewardConfig]:
    if not extra_info:
        return False, config
    direct = _flag(extra_info.get("direct_answer", False), "extra_info.direct_answer")
    fmt = extra_info.get("response_format")
    if fmt and fmt != config.response_format:
        config = _with_format(config, str(fmt))
    return direct, config


_TRUE, _FALSE = frozenset(("true", "yes", "1")), frozenset(("false", "no", "0", ""))


def _flag(value: Any, name: str) -> bool:
    """A true/false field as data files carry it (bool, numpy bool, 0/1, "true"/"false"): ``bool("false")``
    is True, which made a string-typed column mark every sample as a direct answer."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise GroundTruthError(name, f"expected true or false, got {str(value)[:40]!r}")


@lru_cache(maxsize=64)
def _with_format(config: RewardConfig, response_format: str) -> RewardConfig:
    return config.replace(response_format=response_format)


def score_sample(
    solution_str: str,
    ground_truth: Any,
    *,
    data_source: str | None = None,
    extra_info: Mapping[str, Any] | None = None,
    config: RewardConfig = DEFAULT_CONFIG,
    judge: Judge | None = None,
) -> RewardResult:
    """The reward of one rollout, routed by the ground truth's style.

    ``extra_info["direct_answer"]`` marks a direct-answer sample (no reasoning required);
    ``extra_info["response_format"]`` overrides the config's format for this sample;
    ``extra_info["instruction"]`` is shown to the judge above the answer (judge ground truths). A bad ground
    truth raises :class:`GroundTruthError`; a failure inside scoring is logged and returned as the
    lowest reward (:func:`~raif_rewards.reward.worst_score`) with ``reward_error`` set, never raised.
    """
    gt = route(ground_truth, data_source)
    direct, cfg = _options(extra_info, config)
    if isinstance(gt, JudgeTruth):
        return score_judge_batch([(solution_str, gt, direct, cfg)], judge, [_instruction(extra_info)])[0]
    return _score_local(solution_str, gt, direct, cfg)


def _instruction(extra_info: Mapping[str, Any] | None) -> str:
    """The instruction a judge should see: ``extra_info["instruction"]`` when the caller passes it."""
    value = (extra_info or {}).get("instruction")
    return value if isinstance(value, str) else ""


def _score_local(solution_str: str, gt: GroundTruth, direct: bool, cfg: RewardConfig) -> RewardResult:
    try:
        if isinstance(gt, MathTruth):
            return score_math(solution_str, gt, cfg, direct=direct)
        if isinstance(gt, JudgeTruth):  # its questions need the judge: callers send it to score_judge_batch
            raise TypeError("a judge ground truth cannot be scored locally")
        return score_rule(solution_str, gt, cfg, direct=direct)
    except Exception as exc:  # a reward must never take the trainer down
        log.exception("reward computation failed; the sample gets the lowest reward with reward_error set")
        return _failed(gt, direct, cfg, exc)


def _failed(gt: GroundTruth, direct: bool, cfg: RewardConfig, exc: BaseException) -> RewardResult:
    # the lowest reward, not 0: an answer that makes its own scoring raise must never gain by it
    return RewardResult(score=worst_score(cfg), format_ok=False, format_score=min(cfg.format_ok, cfg.format_bad),
                        answer_score=None, style=gt.style, direct=direct, problem="reward error",
                        reward_error=f"{type(exc).__name__}: {exc}"[:300])


def score_judge_batch(
    items: Sequence[tuple[str, JudgeTruth, bool, RewardConfig]],
    judge: Judge | None,
    instructions: Sequence[str] | None = None,
) -> list[RewardResult]:
    """Judge-style rewards for many rollouts with every question of the batch asked in one fan-out.

    ``instructions`` (one per item) are the prompts the rollouts answer; the judge sees each above
    its answer, as in RAIF's judge prompt."""
    if judge is None:
        raise RewardConfigError("judge", "a judge ground truth needs a judge endpoint (judge_base_url, judge_model)")
    if instructions is not None and len(instructions) != len(items):
        raise ValueError(f"{len(items)} judge items but {len(instructions)} instructions")
    shown = instructions if instructions is not None else [""] * len(items)
    parsed = [parse_response(s, cfg, direct=direct) for s, _gt, direct, cfg in items]
    asks: list[tuple[str, str, str]] = []
    spans: list[tuple[int, int]] = []
    for p, (_s, gt, direct, cfg), instruction in zip(parsed, items, shown, strict=True):
        start = len(asks)
        if not gate(p, cfg, direct=direct):
            asks.extend((p.answer, q, instruction) for q in gt.questions)
        spans.append((start, len(asks)))
    verdicts = judge.ask_many_sync(asks) if asks else []
    out = []
    for p, (a, b), (_s, gt, direct, cfg) in zip(parsed, spans, items, strict=True):
        try:
            ts = score_tree(gt, p.answer, loose=cfg.loose) if gt.tree is not None and p.answer else None
            answers: list[bool | None] = [v.yes for v in verdicts[a:b]] if b > a else [None] * len(gt.questions)
            result = combine_judge(p, cfg, direct=direct, verdicts=answers, tree_score=ts)
            if result.unscored:
                errors = sorted({v.error for v in verdicts[a:b] if v.yes is None})
                log.warning("judge left %d of %d questions unscored: %s", result.unscored, len(answers), errors[:2])
            out.append(result)
        except Exception as exc:
            log.exception("judge reward failed; the sample gets the lowest reward with reward_error set")
            out.append(_failed(gt, direct, cfg, exc))
    return out


# ----------------------------------------------------------------------------------------- batching

_POOL: ProcessPoolExecutor | None = None
_POOL_KEY: tuple[int, str] | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int, start_method: str) -> ProcessPoolExecutor:
    global _POOL, _POOL_KEY
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY != (workers, start_method):
            if _POOL is not None:
                _POOL.shutdown(cancel_futures=True)
            ctx = multiprocessing.get_context(start_method)
            if start_method == "forkserver":
                # workers fork from a server that has the checkers imported: cheap to start, and the
                # caller's threads and __main__ are never copied or re-run
                ctx.set_forkserver_preload(["raif_rewards.dispatch"])
            _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_warm)
            _POOL_KEY = (workers, start_method)
        return _POOL


def shutdown_pool() -> None:
    global _POOL, _POOL_KEY
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(cancel_futures=True)
        _POOL, _POOL_KEY = None, None


def _warm() -> None:
    from raif_rewards.lifeline import exit_with_parent

    exit_with_parent()  # a SIGKILLed trainer must not leave its reward workers behind
    registry.all_checkers()


def _score_chunk(
    chunk: Sequence[tuple[str, Any, str | None, Mapping[str, Any] | None]], config: RewardConfig, as_metrics: bool = False
) -> list[tuple]:
    results = (_score_local(s, route(gt, ds), *_options(ei, config)) for s, gt, ds, ei in chunk)
    if as_metrics:  # what veRL needs, as bare float tuples: the cheapest thing to send back
        return [tuple(metrics(r).values()) for r in results]
    return [_pack(r) for r in results]


_FIELDS = tuple(f.name for f in dataclasses.fields(RewardResult))
_VERDICTS = _FIELDS.index("verdicts")


def _pack(result: RewardResult) -> tuple:
    """Plain tuples cross the process boundary ~5x faster than pickled dataclasses."""
    values = [getattr(result, name) for name in _FIELDS]
    values[_VERDICTS] = tuple((v.path, v.id, v.group, v.passed, v.error) for v in result.verdicts)
    return tuple(values)


def _unpack(packed: tuple) -> RewardResult:
    values = list(packed)
    values[_VERDICTS] = tuple(LeafVerdict(*v) for v in packed[_VERDICTS])
    return RewardResult(*values)


@overload
def score_batch(
    samples: Sequence[Sample],
    *,
    config: RewardConfig = ...,
    judge: Judge | None = ...,
    workers: int | None = ...,
    start_method: str = ...,
    min_pool_batch: int = ...,
    as_metrics: Literal[False] = ...,
) -> list[RewardResult]: ...


@overload
def score_batch(
    samples: Sequence[Sample],
    *,
    config: RewardConfig = ...,
    judge: Judge | None = ...,
    workers: int | None = ...,
    start_method: str = ...,
    min_pool_batch: int = ...,
    as_metrics: Literal[True],
) -> list[dict[str, float]]: ...


@overload
def score_batch(
    samples: Sequence[Sample],
    *,
    config: RewardConfig = ...,
    judge: Judge | None = ...,
    workers: int | None = ...,
    start_method: str = ...,
    min_pool_batch: int = ...,
    as_metrics: bool,
) -> list[RewardResult] | list[dict[str, float]]: ...


def score_batch(
    samples: Sequence[Sample],
    *,
    config: RewardConfig = DEFAULT_CONFIG,
    judge: Judge | None = None,
    workers: int | None = None,
    start_method: str = "forkserver",
    min_pool_batch: int = 64,
    as_metrics: bool = False,
) -> list[RewardResult] | list[dict[str, float]]:
    """Rewards for many rollouts, in order. Rule and math samples are scored in a process pool of
    ``workers`` (default: the CPUs available; 1 = in this process); judge samples share one batch
    of judge requests. Ground truths are validated here first, so a bad one raises before any work.
    ``as_metrics=True`` returns :func:`metrics` dicts instead (cheaper to bring back from the pool)."""
    routed = [route(s.ground_truth, s.data_source) for s in samples]
    # each slot ends up holding a RewardResult, or its metrics dict when as_metrics (pool results)
    results: list[Any] = [None] * len(samples)
    judged = [(i, gt) for i, gt in enumerate(routed) if isinstance(gt, JudgeTruth)]
    local_idx = [i for i, gt in enumerate(routed) if not isinstance(gt, JudgeTruth)]
    if judged:
        items = [(samples[i].solution_str, gt, *_options(samples[i].extra_info, config)) for i, gt in judged]
        shown = [_instruction(samples[i].extra_info) for i, _gt in judged]
        for (i, _gt), r in zip(judged, score_judge_batch(items, judge, shown), strict=True):
            results[i] = r
    n_workers = workers if workers is not None else _available_cpus()
    if n_workers <= 1 or len(local_idx) < min_pool_batch:
        for i in local_idx:
            results[i] = _score_local(samples[i].solution_str, routed[i], *_options(samples[i].extra_info, config))
    else:
        payload = [(samples[i].solution_str, _portable(samples[i].ground_truth, routed[i]), samples[i].data_source,
                    _plain_info(samples[i].extra_info)) for i in local_idx]
        size = max(1, math.ceil(len(payload) / (n_workers * 4)))
        chunks = [payload[k : k + size] for k in range(0, len(payload), size)]
        pool = _pool(n_workers, start_method)
        futures = [pool.submit(_score_chunk, chunk, config, as_metrics) for chunk in chunks]
        flat: list[dict[str, Any]] | list[RewardResult]
        if as_metrics:
            flat = [dict(zip(METRIC_KEYS, r, strict=True)) for f in futures for r in f.result()]
        else:
            flat = [_unpack(r) for f in futures for r in f.result()]
        for i, result in zip(local_idx, flat, strict=True):
            results[i] = result
    if as_metrics:
        return [r if isinstance(r, dict) else metrics(r) for r in results]
    return results


def _portable(raw: Any, gt: GroundTruth) -> Any:
    """What to send to a worker: the original JSON string (its parse is cached there), else canonical JSON."""
    if isinstance(raw, str):
        return raw
    from raif_rewards.compose import to_json

    return to_json(gt) if isinstance(gt, (RuleTruth, JudgeTruth)) else gt.to_dict()


def _plain_info(extra_info: Mapping[str, Any] | None) -> dict | None:
    if not extra_info:
        return None
    out = {}
    for key in ("direct_answer", "response_format"):
        if key in extra_info:
            value = extra_info[key]
            out[key] = value.item() if hasattr(value, "item") else value
    return out


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------ metrics

GROUPS = registry.GROUPS
_BASE_KEYS = (
    "score", "format_ok", "answered", "answer_score", "accuracy", "constraints_satisfied", "constraints_total",
    "style_rule", "style_math", "style_judge", "direct_answer", "math_correct", "math_no_boxed", "math_timeout",
    "judge_yes", "judge_questions", "judge_unscored", "unscored", "checker_errors", "reward_error",
)
#: every key of :func:`metrics`, the same for every sample (veRL requires that)
METRIC_KEYS = _BASE_KEYS + tuple(f"{g}_{kind}" for g in GROUPS for kind in ("satisfied", "total"))


_ZEROS = dict.fromkeys(METRIC_KEYS, 0.0)


def metrics(result: RewardResult) -> dict[str, float]:
    """Flat numeric metrics with a fixed key set: per-group ``<group>_satisfied`` / ``<group>_total``
    counts (a batch's group rate is sum(satisfied) / sum(total); absent groups count 0, not NaN)."""
    out = dict(_ZEROS)
    out.update(
        score=float(result.score),
        format_ok=float(result.format_ok),
        answered=float(result.answered),
        answer_score=float(result.answer_score) if result.answer_score is not None else 0.0,
        accuracy=result.accuracy,
        constraints_satisfied=float(result.satisfied),
        constraints_total=float(result.total),
        direct_answer=float(result.direct),
        judge_yes=float(result.judge_yes),
        judge_questions=float(result.judge_questions),
        judge_unscored=float(result.unscored),
        unscored=float(result.answer_score is None or result.unscored > 0),
        checker_errors=float(result.checker_errors),
        reward_error=float(bool(result.reward_error)),
    )
    out[f"style_{result.style}"] = 1.0
    if result.math and f"math_{result.math}" in _ZEROS:  # "wrong" has no flag of its own
        out[f"math_{result.math}"] = 1.0
    for v in result.verdicts:
        out[f"{v.group}_total"] += 1.0
        out[f"{v.group}_satisfied"] += float(v.passed)
    return out
