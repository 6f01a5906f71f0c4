"""The actor loss installed through veRL's `set_loss_fn`: veRL's own PPO loss on policy rows plus
coefficient x the behaviour-cloning NLL (raif_train.algo) on expert rows, prompt tokens masked.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict
from torch import Tensor
from verl.utils.metric import AggregationType, Metric
from verl.workers.utils.losses import ppo_loss
from verl.workers.utils.padding import no_padding_2_padding

from raif_train import algo

__all__ = ["EXPERT_KEY", "raif_actor_loss", "rows_to_tokens"]

#: Per-row flag (1 = expert response for behaviour cloning, 0 = policy sample) the trainer adds to a batch.
EXPERT_KEY = "raif_expert"


def rows_to_tokens(mask: Tensor, row_flag: Tensor) -> Tensor:
    """`mask` ([B, T] padded or [B, j] nested) times a per-row 0/1 flag, in the same layout."""
    flag = row_flag.to(mask.dtype if not mask.is_nested else mask.values().dtype)
    if mask.is_nested:
        lengths = mask.offsets().diff()
        values = mask.values() * torch.repeat_interleave(flag, lengths)
        return torch.nested.nested_tensor_from_jagged(values, offsets=mask.offsets())
    return mask * flag[:, None]


def raif_actor_loss(
    config: Any,
    model_output: dict[str, Tensor],
    data: TensorDict,
    dp_group: Any = None,
    *,
    bc_coef: float = 1.0,
) -> tuple[Tensor, dict[str, Any]]:
    """veRL's `ppo_loss` (clipped PG, k3 KL loss, entropy) over the policy rows, plus `bc_coef` x the
    token-mean NLL of the expert rows' response tokens. Without expert rows it is exactly `ppo_loss`.

    Expert rows carry zero advantages; their response mask is removed from the PPO part so they add no
    PG, KL or entropy term and do not count in its denominators.
    """
    if EXPERT_KEY not in data.keys() or bc_coef == 0:
        return ppo_loss(config, model_output, data, dp_group)
    expert = data[EXPERT_KEY].reshape(-1).to(torch.bool)
    policy_data = data.clone(recurse=False)
    policy_data["response_mask"] = rows_to_tokens(data["response_mask"], ~expert)
    loss, metrics = ppo_loss(config, model_output, policy_data, dp_group)

    log_prob = no_padding_2_padding(model_output["log_probs"], data)
    resp_mask = data["response_mask"]
    resp_mask = resp_mask.to_padded_tensor(0) if resp_mask.is_nested else resp_mask
    expert_mask = resp_mask[:, : log_prob.shape[1]] * expert.to(resp_mask.dtype)[:, None]
    nll = algo.agg_loss(-log_prob, expert_mask, "token-mean")
    metrics = dict(metrics)
    metrics["actor/bc_nll"] = Metric(value=nll.detach(), aggregation=AggregationType.MEAN)
    return loss + bc_coef * nll, metrics
