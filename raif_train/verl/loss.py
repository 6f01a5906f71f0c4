"""The actor loss installed through veRL's `set_loss_fn`: veRL's own PPO loss on the policy rows that keep
their gradient plus coefficient x the behaviour-cloning NLL (token mean) on expert rows.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict
from torch import Tensor
from verl.utils import tensordict_utils as tu
from verl.utils.metric import AggregationType, Metric
from verl.workers.utils.losses import ppo_loss
from verl.workers.utils.padding import no_padding_2_padding

from raif_train.verl.expert import BC_DENOM_KEY, EXPERT_KEY, KEEP_KEY, PG_DENOM_KEY

__all__ = [
    "EXPERT_KEY",
    "KEEP_KEY",
    "PG_DENOM_KEY",
    "BC_DENOM_KEY",
    "REQUIRED_KEYS",
    "raif_actor_loss",
    "rows_to_tokens",
]


def rows_to_tokens(mask: Tensor, row_flag: Tensor) -> Tensor:
    """`mask` ([B, T] padded or [B, j] nested) times a per-row 0/1 flag, in the same layout."""
    flag = row_flag.to(mask.dtype if not mask.is_nested else mask.values().dtype)
    if mask.is_nested:
        offsets = mask.offsets()  # type: ignore[attr-defined]  # a jagged nested tensor has offsets(); torch's stubs omit it
        lengths = offsets.diff()
        values = mask.values() * torch.repeat_interleave(flag, lengths)
        # Without the sequence-length bounds, to_padded_tensor pads every row to the total token count.
        return torch.nested.nested_tensor_from_jagged(
            values,
            offsets=offsets,
            min_seqlen=int(lengths.min()) if len(lengths) else 0,
            max_seqlen=int(lengths.max()) if len(lengths) else 0,
        )
    return mask * flag[:, None]


#: Per-row fields RaifTrainer writes for every row of every actor update (policy and expert rows alike).
REQUIRED_KEYS = (KEEP_KEY, EXPERT_KEY, PG_DENOM_KEY, BC_DENOM_KEY)


def _require_fields(data: TensorDict) -> None:
    # This loss is installed only by RaifTrainer, which writes these fields before every update: a batch
    # without them means the descriptor the worker resolved did not name them, and plain ppo_loss would
    # train masked and direct rows silently. Stop instead.
    missing = [k for k in REQUIRED_KEYS if k not in data.keys()]
    if missing:
        raise RuntimeError(
            f"RAIF's actor loss got a batch without {missing}: the trainer's per-row fields did not reach "
            "the worker (the TransferQueue batch descriptor must name them)"
        )


def _row_flag(data: TensorDict, key: str) -> Tensor:
    return data[key].reshape(-1).to(torch.bool)


def _denominator(data: TensorDict, key: str) -> float:
    # Every row of a micro-batch belongs to the same mini-batch and carries the same count; an empty
    # count (everything masked) divides a zero sum, so 1 keeps the loss finite, as algo.agg_loss does.
    return max(1.0, float(data[key].reshape(-1)[0]))


def raif_actor_loss(
    config: Any,
    model_output: dict[str, Tensor],
    data: TensorDict,
    dp_group: Any = None,
    *,
    bc_coef: float = 1.0,
) -> tuple[Tensor, dict[str, Any]]:
    """veRL's `ppo_loss` (clipped PG, k3 KL loss, entropy) over the policy rows flagged kept, plus
    `bc_coef` x the NLL of the expert rows' response tokens.

    Rows masked by the superior-CoT mask (`raif_keep` = 0) and expert rows (`raif_expert` = 1) leave the
    PPO part's token mask, so they add no PG, KL or entropy term. With the per-row mini-batch counts the
    trainer writes (`raif_pg_denom`, `raif_bc_denom`) the PPO part divides by the kept policy sequences
    (tokens, for token-mean) of the whole mini-batch, as the native backend does, instead of veRL's count
    of every row; the BC part is a token mean over the mini-batch's expert tokens. Both are sums of
    per-micro-batch shares, so gradient accumulation and data parallelism reproduce the mini-batch loss.
    A batch without these four fields is an error (RuntimeError), never a silent fallback to `ppo_loss`.
    """
    _require_fields(data)
    expert = _row_flag(data, EXPERT_KEY)
    policy = _row_flag(data, KEEP_KEY) & ~expert
    policy_data = data.clone(recurse=False)
    policy_data["response_mask"] = rows_to_tokens(data["response_mask"], policy)
    key = "batch_num_tokens" if config.loss_agg_mode == "token-mean" else "global_batch_size"
    tu.assign_non_tensor(policy_data, **{key: _denominator(data, PG_DENOM_KEY)})
    loss, metrics = ppo_loss(config, model_output, policy_data, dp_group)
    if bc_coef == 0 or not bool(expert.any()):
        return loss, metrics

    log_prob = no_padding_2_padding(model_output["log_probs"], data)
    resp_mask = data["response_mask"]
    resp_mask = resp_mask.to_padded_tensor(0) if resp_mask.is_nested else resp_mask
    # The response mask covers response tokens only: the prompt is never an NLL target.
    expert_mask = resp_mask[:, : log_prob.shape[1]] * expert.to(resp_mask.dtype)[:, None]
    dp_size = int(tu.get_non_tensor_data(data=data, key="dp_size", default=1) or 1)
    # DDP averages gradients over ranks: scaling by dp_size turns that average into the global sum.
    nll = (-log_prob * expert_mask.to(log_prob.dtype)).sum() / _denominator(data, BC_DENOM_KEY) * dp_size
    metrics = dict(metrics)
    metrics["actor/bc_nll"] = Metric(value=nll.detach(), aggregation=AggregationType.SUM)
    return loss + bc_coef * nll, metrics
