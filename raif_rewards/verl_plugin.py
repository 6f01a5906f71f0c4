"""veRL entry points: ``custom_reward_function.path=<this file>``, ``name=compute_score`` (per sample,
NaiveRewardManager) or ``name=compute_score_batch`` (BatchRewardManager: a process pool + batched judge).

Extra keyword arguments (veRL's ``custom_reward_function.reward_kwargs``) set :class:`RewardConfig`
fields by name, plus ``judge_base_url``, ``judge_model``, ``judge_api_key``, ``judge_cache``,
``judge_concurrency``, ``num_workers`` and ``start_method``; unknown names raise at the first call.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from raif_rewards.dispatch import METRIC_KEYS, Sample, metrics, score_batch, score_sample
from raif_rewards.reward import RewardConfig, RewardConfigError

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(RewardConfig)}
_PLUGIN_KEYS = {"judge_base_url", "judge_model", "judge_api_key", "judge_cache", "judge_concurrency",
                "judge_timeout", "num_workers", "start_method"}

__all__ = ["compute_score", "compute_score_batch", "METRIC_KEYS"]


@lru_cache(maxsize=32)
def _settings(frozen: str) -> tuple[RewardConfig, Any, dict]:
    kwargs = json.loads(frozen)
    unknown = sorted(set(kwargs) - _CONFIG_FIELDS - _PLUGIN_KEYS)
    if unknown:
        raise RewardConfigError(
            f"reward_kwargs.{unknown[0]}",
            f"unknown key (known: {sorted(_CONFIG_FIELDS | _PLUGIN_KEYS)})",
        )
    config = RewardConfig.from_mapping({k: v for k, v in kwargs.items() if k in _CONFIG_FIELDS}, "reward_kwargs")
    plugin = {k: v for k, v in kwargs.items() if k in _PLUGIN_KEYS}
    from raif_rewards.judge import judge_from_settings

    return config, judge_from_settings(plugin), plugin


def _resolve(kwargs: Mapping[str, Any]) -> tuple[RewardConfig, Any, dict]:
    if not kwargs:
        return _settings("{}")
    return _settings(json.dumps(dict(kwargs), sort_keys=True, default=str))


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """veRL's per-sample signature: ``{"score": float, ...metrics}`` with the same keys for every
    sample (see :data:`METRIC_KEYS`). ``ground_truth`` is the JSON string (or dict, or the list
    shorthand); a math ``data_source`` may give the bare reference answer."""
    config, judge, _ = _resolve(kwargs)
    result = score_sample(solution_str, ground_truth, data_source=data_source, extra_info=extra_info,
                          config=config, judge=judge)
    return metrics(result)


def compute_score_batch(
    data_sources: Sequence[str | None],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, float]]:
    """veRL's BatchRewardManager signature: one metrics dict per rollout, in order, rule and math
    samples scored in a process pool (``num_workers``, default all CPUs available)."""
    config, judge, plugin = _resolve(kwargs)
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n or (extra_infos is not None and len(extra_infos) != n):
        raise ValueError(
            f"compute_score_batch: lengths differ (data_sources {len(data_sources)}, solution_strs {n}, "
            f"ground_truths {len(ground_truths)}, extra_infos {None if extra_infos is None else len(extra_infos)})"
        )
    infos = extra_infos if extra_infos is not None else [None] * n
    samples = [Sample(s, g, d, e) for s, g, d, e in zip(solution_strs, ground_truths, data_sources, infos, strict=True)]
    workers = plugin.get("num_workers")
    return score_batch(samples, config=config, judge=judge,
                       workers=int(workers) if workers is not None else None,
                       start_method=str(plugin.get("start_method", "forkserver")), as_metrics=True)
