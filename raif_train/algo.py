"""RAIF's GRPO algorithm as small pure tensor functions, shared by the local and the veRL backend.

Advantages, PPO loss, loss aggregation, k3 KL, superior-CoT mask, behaviour cloning and DAPO filtering.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "AGG_MODES",
    "group_index",
    "group_advantages",
    "agg_loss",
    "ppo_clip_loss",
    "k3_kl",
    "superior_cot_mask",
    "token_log_probs",
    "bc_nll",
    "nonzero_variance_mask",
]

AggMode = Literal["seq-mean-token-mean", "token-mean", "seq-mean-token-sum"]
AGG_MODES: tuple[str, ...] = ("seq-mean-token-mean", "token-mean", "seq-mean-token-sum")

# veRL's numerical guards for the log-ratio and the k3 estimate (core_algos.kl_penalty / compute_policy_loss).
_LOG_RATIO_CLAMP = 20.0
_K3_CLAMP = 10.0
_TIE_TOL = 1e-9


def group_index(group_ids: Sequence[Hashable] | Tensor) -> tuple[Tensor, int]:
    """Map arbitrary group ids (prompt uids, ints, a tensor) to dense indices 0..n_groups-1.

    Order of first appearance defines the index, so the mapping is deterministic.
    """
    if isinstance(group_ids, Tensor):
        group_ids = group_ids.tolist()
    seen: dict[Hashable, int] = {}
    idx = [seen.setdefault(g, len(seen)) for g in group_ids]
    return torch.tensor(idx, dtype=torch.long), len(seen)


def _group_stats(scores: Tensor, idx: Tensor, n_groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group count, mean and unbiased std of `scores` (float64 internally for exact sums)."""
    x = scores.to(torch.float64)
    count = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, torch.ones_like(x))
    mean = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, x) / count
    sq = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, (x - mean[idx]) ** 2)
    # Unbiased (n-1) like torch.std; a singleton's std is undefined and handled by the caller.
    std = torch.sqrt(sq / (count - 1).clamp(min=1))
    return count, mean, std


def group_advantages(
    scores: Tensor,
    group_ids: Sequence[Hashable] | Tensor,
    eps: float = 1e-6,
    norm_by_std: bool = True,
) -> Tensor:
    """GRPO outcome advantages A_i = (R_i - mean_g) / (std_g + eps), one scalar per sample.

    Matches veRL's `compute_grpo_outcome_advantage` exactly so both backends share this function:
    the std is the *unbiased* one (torch.std, n-1 denominator), eps=1e-6 is added to the std (not
    to the variance), and a group with a single sample gets mean 0 and std 1 (A = R / (1 + eps)).
    With `norm_by_std=False` it is Dr. GRPO's A = R - mean. RAIF normalises all G samples of a
    prompt together, direct-answer samples included; the superior-CoT mask is applied afterwards.
    Broadcast to tokens with `adv[:, None] * response_mask`.
    """
    if scores.dim() != 1:
        raise ValueError(f"scores must be 1-D (one reward per sample), got shape {tuple(scores.shape)}")
    idx, n_groups = group_index(group_ids)
    if idx.numel() != scores.numel():
        raise ValueError(f"{scores.numel()} scores but {idx.numel()} group ids")
    count, mean, std = _group_stats(scores, idx, n_groups)
    single = count == 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    std = torch.where(single, torch.ones_like(std), std)
    centred = scores.to(torch.float64) - mean[idx]
    adv = centred / (std[idx] + eps) if norm_by_std else centred
    return adv.to(scores.dtype if scores.is_floating_point() else torch.float32)


def agg_loss(
    loss_mat: Tensor,
    mask: Tensor,
    mode: str = "seq-mean-token-mean",
    denominator: float | Tensor | None = None,
) -> Tensor:
    """Reduce a [B, T] per-token loss to a scalar under `mask`.

    - "seq-mean-token-mean" (RAIF, veRL's GRPO default): mean over each sequence's tokens, then mean
      over sequences. Sequences with no unmasked token (e.g. dropped by the superior-CoT mask) do not
      count in the batch mean; veRL's older code divided them in as zeros.
    - "token-mean" (DAPO): sum over all unmasked tokens / number of unmasked tokens, so long answers
      weigh more.
    - "seq-mean-token-sum": token sum per sequence, mean over sequences (Dr. GRPO style).

    `denominator` replaces the batch-level count (sequences, or tokens for "token-mean") so that
    gradient accumulation over micro-batches reproduces the full mini-batch loss exactly: pass the
    count over the whole mini-batch to every micro-batch and sum the results.
    """
    mask = mask.to(loss_mat.dtype)
    if mode == "token-mean":
        total = (loss_mat * mask).sum()
        denom = mask.sum() if denominator is None else denominator
    elif mode in ("seq-mean-token-mean", "seq-mean-token-sum"):
        tok = mask.sum(-1)
        seq_sum = (loss_mat * mask).sum(-1)
        per_seq = seq_sum / tok.clamp(min=1) if mode == "seq-mean-token-mean" else seq_sum
        total = per_seq.sum()
        denom = (tok > 0).sum() if denominator is None else denominator
    else:
        raise ValueError(f"unknown loss aggregation mode {mode!r}; expected one of {', '.join(AGG_MODES)}")
    denom_t = torch.as_tensor(denom, dtype=loss_mat.dtype, device=loss_mat.device)
    # An empty batch (everything masked) contributes a zero loss that still carries a graph.
    return total / denom_t.clamp(min=1)


def ppo_clip_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    agg_mode: str = "seq-mean-token-mean",
    denominator: float | Tensor | None = None,
    dual_clip_c: float | None = None,
) -> tuple[Tensor, Tensor]:
    """PPO clipped surrogate loss: max(-A r, -A clip(r, 1-clip_low, 1+clip_high)), aggregated.

    `advantages` is [B] (one per sequence, broadcast) or [B, T]. The log-ratio is clamped to
    [-20, 20] before exp as veRL does. Returns (loss, clip fraction over unmasked tokens).
    With one update per rollout (RAIF's setting) old_log_prob == log_prob.detach(), r == 1 and the
    gradient is the plain policy gradient -A * grad log p.

    `dual_clip_c` (> 1; None = off, RAIF's setting) is dual-clip PPO (Ye et al. 2020, veRL's
    clip_ratio_c): where A < 0 the per-token loss is capped at -A * c, so a sample whose ratio has
    grown far past 1 + clip_high cannot push an unbounded negative update.
    """
    if dual_clip_c is not None and not dual_clip_c > 1.0:
        raise ValueError(f"dual_clip_c must be > 1 (or None for no dual clip), got {dual_clip_c}")
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(log_prob)
    log_ratio = torch.clamp(log_prob - old_log_prob, -_LOG_RATIO_CLAMP, _LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    if dual_clip_c is not None:
        per_token = torch.where(advantages < 0, torch.minimum(per_token, -advantages * dual_clip_c), per_token)
    m = mask.to(per_token.dtype)
    clip_frac = ((clipped > unclipped).to(per_token.dtype) * m).sum() / m.sum().clamp(min=1)
    return agg_loss(per_token, mask, agg_mode, denominator), clip_frac.detach()


def k3_kl(log_prob: Tensor, ref_log_prob: Tensor) -> Tensor:
    """Per-token k3 estimator of KL(pi || pi_ref): exp(d) - d - 1 with d = log pi_ref - log pi.

    veRL's "low_var_kl": d clamped to [-20, 20] and the result clamped to [-10, 10]. Non-negative,
    unbiased for KL when sampling from pi. RAIF adds it to the loss with coefficient 0.001,
    aggregated with the same mode as the policy loss.
    """
    d = torch.clamp(ref_log_prob - log_prob, -_LOG_RATIO_CLAMP, _LOG_RATIO_CLAMP)
    return torch.clamp(torch.exp(d) - d - 1.0, -_K3_CLAMP, _K3_CLAMP)


def superior_cot_mask(
    answer_scores: Tensor,
    group_ids: Sequence[Hashable] | Tensor,
    is_direct: Tensor,
    gate_failed: Tensor | None = None,
    offline_baseline: Tensor | None = None,
    baseline: Literal["mean", "max"] = "mean",
    exempt: Tensor | None = None,
) -> tuple[Tensor, float]:
    """RAIF's superior-CoT enforcement: which samples keep their policy gradient.

    For each group (the G samples of one prompt):
    - direct-answer samples (prompt ended with an empty, closed think block) never get gradient;
    - the direct baseline is the `baseline` ("mean" or "max") of the group's direct-answer scores, or,
      if the group has no direct sample, `offline_baseline` of that sample's prompt (NaN = none), which
      the caller must put on the answer-score scale; with neither, every reasoning sample is kept;
    - a reasoning sample is kept iff its answer score >= baseline, or it failed the answer gate
      (`gate_failed`: invalid format, empty reasoning or empty answer), whose negative advantage must
      still teach the format;
    - the whole group is dropped, gate failures included, only if every reasoning sample scores
      strictly below every direct answer (or below the offline baseline) AND the reasoning scores are
      not all equal: a group whose reasoning samples all failed alike keeps its gate failures, so the
      format lesson survives exactly where the format collapsed;
    - `exempt` samples (math prompts, which the paper samples G times without direct answers) are
      always kept and never set a baseline.

    Our fix of RAIF's defect: the caller scores direct answers on their answer text with the same
    checker as reasoning samples, so the comparison is between like quantities.
    Returns (bool mask [B], kept ratio = kept reasoning samples / reasoning samples, 1.0 if none).
    """
    n = answer_scores.numel()
    idx, n_groups = group_index(group_ids)
    if idx.numel() != n or is_direct.numel() != n:
        raise ValueError("answer_scores, group_ids and is_direct must have one entry per sample")
    scores = answer_scores.to(torch.float64)
    free = torch.zeros(n, dtype=torch.bool) if exempt is None else exempt.to(torch.bool)
    direct = is_direct.to(torch.bool) & ~free
    failed = torch.zeros(n, dtype=torch.bool) if gate_failed is None else gate_failed.to(torch.bool)
    nan = torch.full((n_groups,), float("nan"), dtype=torch.float64)

    # Per-group baseline from the online direct answers.
    n_direct = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, direct.to(torch.float64))
    if baseline == "mean":
        sums = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, idx, torch.where(direct, scores, 0.0))
        online = torch.where(n_direct > 0, sums / n_direct.clamp(min=1), nan)
    elif baseline == "max":
        online = torch.full((n_groups,), float("-inf"), dtype=torch.float64)
        online = online.scatter_reduce(0, idx[direct], scores[direct], reduce="amax")
        online = torch.where(n_direct > 0, online, nan)
    else:
        raise ValueError(f"baseline must be 'mean' or 'max', got {baseline!r}")
    min_direct = torch.full((n_groups,), float("inf"), dtype=torch.float64)
    min_direct = min_direct.scatter_reduce(0, idx[direct], scores[direct], reduce="amin")

    base = online[idx]
    # The "every direct answer" bound for dropping a group; -inf (never drop) without any baseline.
    floor = torch.where(n_direct > 0, min_direct, float("-inf"))[idx]
    if offline_baseline is not None:
        off = offline_baseline.to(torch.float64)
        no_online = n_direct[idx] == 0
        base = torch.where(no_online, off, base)
        floor = torch.where(no_online, torch.where(torch.isnan(off), float("-inf"), off), floor)

    has_base = ~torch.isnan(base)
    reason = ~direct & ~free
    # A tie keeps the sample; the tolerance absorbs float error of the mean (0.4 + 0.8) / 2 > 0.6.
    keep = reason & (~has_base | (scores >= base - _TIE_TOL) | failed)

    # Drop groups whose every reasoning sample is strictly below every direct answer, unless the
    # reasoning samples all scored the same.
    below = reason & (scores < floor - _TIE_TOL)
    n_reason = torch.zeros(n_groups, dtype=torch.long).index_add_(0, idx, reason.long())
    n_below = torch.zeros(n_groups, dtype=torch.long).index_add_(0, idx, below.long())
    hi = torch.full((n_groups,), float("-inf"), dtype=torch.float64).scatter_reduce(
        0, idx[reason], scores[reason], reduce="amax"
    )
    lo = torch.full((n_groups,), float("inf"), dtype=torch.float64).scatter_reduce(
        0, idx[reason], scores[reason], reduce="amin"
    )
    varied = hi - lo > _TIE_TOL
    dropped = (n_reason > 0) & (n_below == n_reason) & varied
    keep = (keep & ~dropped[idx]) | free

    total_reason = int((~direct).sum())
    kept_ratio = float(keep.sum()) / total_reason if total_reason else 1.0
    return keep, kept_ratio


def token_log_probs(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> Tensor:
    """log p(label_t) under softmax(logits_t / temperature); logits [B, T, V], labels [B, T] -> [B, T].

    The caller aligns them (logits of position t predict token t+1). Dividing by the sampling
    temperature keeps the trained distribution the one that was sampled, as veRL does.
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    logz = torch.logsumexp(logits, dim=-1)
    picked = torch.gather(logits, -1, labels.unsqueeze(-1)).squeeze(-1)
    return picked - logz


def bc_nll(
    logits: Tensor, input_ids: Tensor, loss_mask: Tensor, denominator: float | Tensor | None = None
) -> Tensor:
    """Behaviour-cloning NLL on expert responses: token-mean cross-entropy over `loss_mask`.

    `logits` [B, T, V] from a forward pass over `input_ids` [B, T]; `loss_mask` [B, T] is 1 on
    response tokens and 0 on prompt and padding tokens (position t's mask governs predicting token t).
    RAIF adds this with coefficient 1.0, one expert micro-batch per policy micro-batch.
    """
    lp = token_log_probs(logits[:, :-1], input_ids[:, 1:])
    return agg_loss(-lp, loss_mask[:, 1:], "token-mean", denominator)


def nonzero_variance_mask(
    scores: Tensor, group_ids: Sequence[Hashable] | Tensor, tol: float = 1e-9
) -> Tensor:
    """DAPO dynamic sampling: True for samples whose group's rewards are not all equal.

    A group with identical rewards has zero advantage everywhere and only adds KL/noise to the
    update; filtering it keeps the effective batch informative. Singleton groups count as zero variance.
    """
    idx, n_groups = group_index(group_ids)
    x = scores.to(torch.float64)
    hi = torch.full((n_groups,), float("-inf"), dtype=torch.float64).scatter_reduce(0, idx, x, reduce="amax")
    lo = torch.full((n_groups,), float("inf"), dtype=torch.float64).scatter_reduce(0, idx, x, reduce="amin")
    return (hi - lo > tol)[idx]
