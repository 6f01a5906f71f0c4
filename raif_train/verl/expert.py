"""Behaviour-cloning rows for veRL's actor update as pure functions (no veRL import): which expert rows a
step uses, their tokens in veRL's per-sample layout, and where they sit among the policy rows.

The trainer hook (raif_train.verl.trainer) puts these rows into TransferQueue next to the policy rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from tensordict import TensorDict

from raif_train.local.data import Cursor, SFTRecord

__all__ = [
    "EXPERT_KEY",
    "KEEP_KEY",
    "PG_DENOM_KEY",
    "BC_DENOM_KEY",
    "expert_indices",
    "expert_tokens",
    "expert_fields",
    "update_order",
    "minibatch_denominators",
]

#: Per-row flag (1 = expert response for behaviour cloning, 0 = policy sample).
EXPERT_KEY = "raif_expert"
#: Per-row flag (1 = the policy sample keeps its gradient, 0 = masked by superior CoT / dynamic sampling).
KEEP_KEY = "raif_keep"
#: Per-row denominators of the row's global mini-batch: kept policy sequences (or tokens, for token-mean)
#: and expert response tokens. veRL's own denominators count every row of the mini-batch.
PG_DENOM_KEY = "raif_pg_denom"
BC_DENOM_KEY = "raif_bc_denom"


def expert_indices(n_records: int, per_step: int, step: int, seed: int) -> list[int]:
    """Indices of the expert rows of training step `step` (1-based, veRL's global step).

    The native backend's walk (an epoch-wise shuffled Cursor seeded `seed`), positioned from the step
    alone, so a resumed run draws the rows the uninterrupted run would have drawn without saved state.
    """
    if n_records < 1 or per_step < 0 or step < 1:
        raise ValueError(
            f"need n_records >= 1, per_step >= 0 and step >= 1, got {n_records}, {per_step}, {step}"
        )
    start = (step - 1) * per_step
    cursor = Cursor(n_records, seed, True, epoch=start // n_records, pos=start % n_records)
    return cursor.take(per_step)


def expert_tokens(
    record: SFTRecord,
    prompt_ids: Callable[[list[dict[str, str]]], list[int]],
    eos_token_id: int,
    encode: Callable[[str], list[int]],
    max_prompt_length: int,
    max_response_length: int,
) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) of one expert row.

    `prompt_ids` renders the messages as the rollout does (veRL's chat-template builder); a long prompt
    keeps its end, as veRL's agent loop truncates. The response is the expert text's tokens and the EOS
    that closes it, as the native backend's behaviour-cloning batch builds it; rows that do not fit were
    left out when the rows were loaded (:func:`raif_train.local.data.fitting_experts`), never cut.
    """
    p = list(prompt_ids(record.messages))[-max_prompt_length:]
    r = list(encode(record.response)) + [int(eos_token_id)]
    if len(r) > max_response_length:
        raise ValueError(f"an expert response of {len(r)} tokens with its EOS exceeds max_response_length="
                         f"{max_response_length}; expert rows are filtered by fitting_experts first")
    return p, r


def _nested(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.nested.as_nested_tensor(list(rows), layout=torch.jagged)


def expert_fields(rows: Sequence[tuple[Sequence[int], Sequence[int]]], *, with_ref: bool) -> TensorDict:
    """Expert rows in the per-sample layout veRL's agent loop writes (jagged prompts, responses, input_ids,
    position_ids, response/loss masks) plus what the actor update reads after the advantage step.

    Advantages and old/reference log-probs are zeros: the loss removes expert rows from the PPO part, so
    they only fill the fields every row of a TransferQueue batch must have. `loss_mask` is zero because
    veRL sums it into its global token count, which counts policy tokens.
    """
    if not rows:
        raise ValueError("no expert rows")
    prompts = [torch.tensor(list(p), dtype=torch.int64) for p, _ in rows]
    responses = [torch.tensor(list(r), dtype=torch.int64) for _, r in rows]
    lengths = [len(r) for r in responses]
    ones = [torch.ones(n, dtype=torch.int64) for n in lengths]
    zeros_f = [torch.zeros(n, dtype=torch.float32) for n in lengths]
    fields: dict[str, Any] = {
        "prompts": _nested(prompts),
        "responses": _nested(responses),
        "input_ids": _nested([torch.cat([p, r]) for p, r in zip(prompts, responses, strict=True)]),
        # Text models: positions 0..L-1, as veRL computes them for an all-ones attention mask.
        "position_ids": _nested(
            [torch.arange(len(p) + len(r)) for p, r in zip(prompts, responses, strict=True)]
        ),
        "response_mask": _nested(ones),
        "loss_mask": _nested([torch.zeros(n, dtype=torch.int64) for n in lengths]),
        "advantages": _nested(zeros_f),
        "old_log_probs": _nested([z.clone() for z in zeros_f]),
        EXPERT_KEY: torch.ones(len(rows), dtype=torch.int64),
        KEEP_KEY: torch.zeros(len(rows), dtype=torch.int64),
    }
    if with_ref:
        fields["ref_log_prob"] = _nested([z.clone() for z in zeros_f])
    return TensorDict(fields, batch_size=len(rows))


def update_order(n_policy: int, n_expert: int, dp_size: int, n_minibatches: int) -> list[tuple[bool, int]]:
    """Row order of the actor update: (is_expert, index) per row.

    veRL hands data-parallel rank r the r-th contiguous chunk of the batch and walks it in contiguous
    mini-batches (actor.shuffle=false). Interleaving per (rank, mini-batch) keeps every policy row on the
    rank and in the mini-batch veRL would have given it, and adds n_expert / (dp_size * n_minibatches)
    expert rows to each.
    """
    parts = dp_size * n_minibatches
    if parts < 1 or n_policy % parts or n_expert % parts:
        raise ValueError(
            f"{n_policy} policy and {n_expert} expert rows do not split into {dp_size} ranks x "
            f"{n_minibatches} mini-batches"
        )
    p, e = n_policy // parts, n_expert // parts
    order: list[tuple[bool, int]] = []
    for k in range(parts):  # k = rank * n_minibatches + mini-batch, veRL's contiguous layout
        order += [(False, k * p + i) for i in range(p)]
        order += [(True, k * e + i) for i in range(e)]
    return order


def minibatch_denominators(
    response_lengths: Sequence[int],
    policy: Sequence[bool],
    expert: Sequence[bool],
    dp_size: int,
    n_minibatches: int,
    loss_agg_mode: str,
) -> tuple[list[float], list[float]]:
    """Per row (in update order): the PPO denominator and the BC denominator of its global mini-batch.

    Global mini-batch m is the m-th contiguous slice of every rank's chunk. The PPO denominator counts
    the rows that take part in the PPO loss (`policy`: kept policy rows): their sequences, or their
    response tokens for token-mean, as the native backend divides; the BC denominator counts expert
    response tokens (a token mean over the mini-batch's expert tokens).
    """
    n = len(response_lengths)
    if not (len(policy) == len(expert) == n):
        raise ValueError("response_lengths, policy and expert must have one entry per row")
    if dp_size < 1 or n_minibatches < 1 or n % (dp_size * n_minibatches):
        raise ValueError(f"{n} rows do not split into {dp_size} ranks x {n_minibatches} mini-batches")
    chunk = n // dp_size
    size = chunk // n_minibatches
    token_mean = loss_agg_mode == "token-mean"
    pg = [0.0] * n
    bc = [0.0] * n
    for m in range(n_minibatches):
        rows = [r * chunk + m * size + i for r in range(dp_size) for i in range(size)]
        pg_d = float(sum((response_lengths[i] if token_mean else 1) for i in rows if policy[i]))
        bc_d = float(sum(response_lengths[i] for i in rows if expert[i]))
        for i in rows:
            pg[i], bc[i] = pg_d, bc_d
    return pg, bc
