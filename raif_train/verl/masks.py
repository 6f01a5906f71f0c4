"""The veRL backend's RAIF logic as pure functions (no veRL import): which samples answer directly, which
keep their policy gradient, and the forced prompt suffix; built on the shared raif_train.algo functions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from raif_rewards.reward import RewardConfig, accuracy_from_fraction
from raif_train import algo

__all__ = [
    "is_direct_session",
    "is_math_row",
    "last_user_message",
    "row_style",
    "direct_suffix",
    "RewardFields",
    "reward_fields",
    "keep_mask",
    "mask_advantages",
]


def is_direct_session(session_id: int, group_size: int, direct_per_group: int) -> bool:
    """Whether sample `session_id` (0..G-1) of its group is forced to answer directly.

    The last `direct_per_group` of the G samples, the native backend's rule (`j >= G - D`).
    """
    if not 0 <= session_id < group_size:
        raise ValueError(f"session_id {session_id} outside the group of {group_size} samples")
    return session_id >= group_size - direct_per_group


def row_style(reward_model: Any) -> str:
    """A dataset row's ground-truth style (rule, judge or math; "" when unreadable, which the reward
    reports with its row)."""
    rm = reward_model.data if hasattr(reward_model, "data") else reward_model  # TransferQueue wrappers
    if not isinstance(rm, Mapping):
        return ""
    gt = rm.get("ground_truth")
    if isinstance(gt, str):
        from raif_rewards.compose import parse_ground_truth

        try:
            return parse_ground_truth(gt).style
        except Exception:  # a bad ground truth is the reward's error to report, with its row
            return ""
    style = rm.get("style")
    return style if isinstance(style, str) else ""


def is_math_row(reward_model: Any) -> bool:
    """Whether a dataset row's ground truth is math-style: the paper samples G reasoning answers for math
    prompts (no forced direct answers) and always keeps them, as the native backend does."""
    return row_style(reward_model) == "math"


def last_user_message(messages: Any) -> str:
    """The instruction a judge must see beside the answer (the native backend's PromptRecord.instruction)."""
    users = [m.get("content", "") for m in (messages or []) if isinstance(m, Mapping) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else ""


def direct_suffix(tokenizer: Any, messages: list[dict[str, str]], response_format: str) -> str:
    """Text appended after the chat-templated prompt of a direct-answer sample (an empty, closed think
    block), derived from the native backend's `render_prompt` so both backends force the same text."""
    from raif_train.local.rollout import render_prompt

    plain, _ = render_prompt(tokenizer, messages, response_format, direct=False)
    forced, _ = render_prompt(tokenizer, messages, response_format, direct=True)
    if not forced.startswith(plain):
        raise ValueError("the direct-answer prompt does not extend the plain prompt; cannot derive a suffix")
    return forced[len(plain) :]


class RewardFields:
    """Per-sample arrays the mask needs, gathered from the reward's extra info and the dataset row."""

    def __init__(
        self,
        score: Tensor,
        answer_score: Tensor,
        format_ok: Tensor,
        direct: Tensor,
        offline: Tensor,
        answered: Tensor | None = None,
        math: Tensor | None = None,
        unscored: Tensor | None = None,
    ):
        self.score, self.answer_score, self.format_ok, self.direct, self.offline = (
            score,
            answer_score,
            format_ok,
            direct,
            offline,
        )
        n = score.numel()
        # the answer gate (format, non-empty reasoning and answer); its failures keep their gradient
        self.answered = format_ok.clone() if answered is None else answered
        self.math = torch.zeros(n, dtype=torch.bool) if math is None else math
        self.unscored = torch.zeros(n, dtype=torch.bool) if unscored is None else unscored


def _num(value: Any, default: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(x) else x


def reward_fields(
    reward_infos: Sequence[Mapping[str, Any]],
    row_infos: Sequence[Mapping[str, Any] | None],
    offline_key: str = "baseline_score",
    accuracy: str = "raif",
) -> RewardFields:
    """Arrays from `compute_score`'s dicts (score, answer_score, format_ok, direct_answer, and where the
    plugin wrote them answered / style_math / unscored) and the rows' extra_info (the offline
    direct-answer baseline, NaN when absent). The offline baseline is a share of satisfied constraints in
    [0, 1]: it is put on the answer-score scale of the reward's ``accuracy`` mode, as the native backend does."""
    if len(reward_infos) != len(row_infos):
        raise ValueError(f"{len(reward_infos)} reward results but {len(row_infos)} rows")
    for i, info in enumerate(reward_infos):
        missing = [k for k in ("score", "answer_score", "format_ok", "direct_answer") if k not in info]
        if missing:
            raise KeyError(
                f"sample {i}: reward extra info lacks {missing} (is the reward raif_rewards.verl_plugin?)"
            )
    f64 = torch.float64
    reward_cfg = RewardConfig(accuracy="fraction" if accuracy == "fraction" else "raif")

    def offline(row: Mapping[str, Any] | None) -> float:
        x = _num((row or {}).get(offline_key), float("nan"))
        return x if math.isnan(x) else accuracy_from_fraction(x, reward_cfg)

    format_ok = torch.tensor([bool(i["format_ok"]) for i in reward_infos])
    return RewardFields(
        score=torch.tensor([float(i["score"]) for i in reward_infos], dtype=f64),
        answer_score=torch.tensor([float(i["answer_score"]) for i in reward_infos], dtype=f64),
        format_ok=format_ok,
        direct=torch.tensor([bool(i["direct_answer"]) for i in reward_infos]),
        offline=torch.tensor([offline(r) for r in row_infos], dtype=f64),
        answered=torch.tensor([bool(i.get("answered", i["format_ok"])) for i in reward_infos]),
        math=torch.tensor([bool(i.get("style_math", 0.0)) for i in reward_infos]),
        unscored=torch.tensor([bool(i.get("unscored", 0.0)) for i in reward_infos]),
    )


def baseline_name(value: object) -> Literal["mean", "max"]:
    """The run config's ``+raif.direct_baseline`` (the recipe's ``direct_baseline``), checked."""
    if value == "mean":
        return "mean"
    if value == "max":
        return "max"
    raise ValueError(f"+raif.direct_baseline must be 'mean' or 'max', got {value!r}")


def keep_mask(
    fields: RewardFields,
    group_ids: Sequence[Hashable],
    *,
    superior_cot: bool = True,
    baseline: Literal["mean", "max"] = "mean",
    dynamic_sampling: bool = False,
) -> tuple[Tensor, float]:
    """Which samples keep their policy gradient, and the kept ratio among reasoning samples.

    The composition the native backend uses: the superior-CoT mask (direct answers never learn; a
    reasoning sample learns iff it beats the direct baseline or failed the answer gate; a group drops
    when every reasoning score is below every direct one and they differ; math samples are exempt),
    then, with dynamic sampling, zero-variance groups drop too. Unscored samples (a judge outage on
    every question, a reward error) never keep a gradient.
    """
    direct = fields.direct
    if superior_cot:
        keep, _ = algo.superior_cot_mask(
            fields.answer_score, group_ids, direct, ~fields.answered, fields.offline, baseline,
            exempt=fields.math,
        )
    else:
        keep = ~direct
    keep = keep & ~fields.unscored
    if dynamic_sampling:
        keep = keep & algo.nonzero_variance_mask(fields.score, group_ids)
    n_reason = int((~direct).sum())
    return keep, (float(keep.sum()) / n_reason if n_reason else 1.0)


def mask_advantages(advantages: Tensor, keep: Tensor) -> Tensor:
    """Zero the advantages of samples that do not keep their gradient (after group normalisation, so the
    direct answers still shape their group's mean and std); [B] or [B, T] advantages."""
    k = keep.to(advantages.dtype)
    return advantages * (k[:, None] if advantages.dim() == 2 else k)
