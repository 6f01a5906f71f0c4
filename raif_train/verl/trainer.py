"""RAIF's trainer on veRL: the v1 synchronous PPO trainer with the superior-CoT mask applied to the GRPO
advantages veRL computed (zeroed after group normalisation, the rows flagged for the loss), kept ratio
logged, and behaviour-cloning expert rows appended to the actor update's batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from raif_train.verl.expert import (
    BC_DENOM_KEY,
    EXPERT_KEY,
    KEEP_KEY,
    PG_DENOM_KEY,
    expert_fields,
    expert_indices,
    expert_tokens,
    minibatch_denominators,
    update_order,
)
from raif_train.verl.masks import baseline_name, keep_mask, reward_fields

__all__ = ["RaifTrainer", "mask_rows", "with_fields", "UNSUPPORTED_WITH_BC"]

log = logging.getLogger(__name__)

#: Actor inputs an expert row cannot supply (importance weights, MoE routing replay, distillation targets).
UNSUPPORTED_WITH_BC = ("rollout_is_weights", "routed_experts", "teacher_logprobs", "teacher_ids")


def _plain(value: Any) -> Any:
    """TransferQueue hands back NonTensorData wrappers; the replay buffer reads `.data` the same way."""
    return getattr(value, "data", value)


def mask_rows(
    uids: Sequence[str],
    extra_fields: Sequence[Mapping[str, Any]],
    row_infos: Sequence[Mapping[str, Any] | None],
    advantages: Sequence[torch.Tensor],
    raif: Mapping[str, Any],
) -> tuple[list[torch.Tensor], torch.Tensor, dict[str, float]]:
    """Apply RAIF's keep mask to per-sample advantage rows (any shapes); returns new rows, the keep
    flags (bool [B], for the loss) and metrics.

    `extra_fields[i]["reward_extra_info"]` is compute_score's dict for sample i; `row_infos[i]` its
    dataset row's extra_info (the offline baseline); `uids` group the samples of one prompt.
    """
    infos = [dict(_plain(e).get("reward_extra_info", {})) for e in extra_fields]
    fields = reward_fields(
        infos,
        [_plain(r) for r in row_infos],
        str(raif.get("offline_baseline_key", "baseline_score")),
        accuracy=str(raif.get("reward_mode", "raif")),
    )
    keep, kept_ratio = keep_mask(
        fields,
        list(uids),
        superior_cot=bool(raif.get("superior_cot", True)),
        baseline=baseline_name(raif.get("direct_baseline", "mean")),
        dynamic_sampling=bool(raif.get("dynamic_sampling", False)),
    )
    rows = [a * float(k) for a, k in zip(advantages, keep.tolist(), strict=True)]
    direct = fields.direct
    reason = ~direct
    metrics = {
        "raif/kept_ratio": kept_ratio,
        "raif/kept_samples": float(keep.sum()),
        "raif/direct_share": float(direct.float().mean()) if len(direct) else 0.0,
        "raif/reasoning_answer_score": float(fields.answer_score[reason].mean())
        if bool(reason.any())
        else 0.0,
        "raif/direct_answer_score": float(fields.answer_score[direct].mean()) if bool(direct.any()) else 0.0,
        "raif/format_ok": float(fields.format_ok[reason].float().mean()) if bool(reason.any()) else 0.0,
    }
    return rows, keep, metrics


def with_fields(meta: Any, names: Sequence[str]) -> Any:
    """`meta` (a TransferQueue KVBatchMeta) naming `names` too.

    veRL's steps hand on the descriptor TransferQueue returned when the step wrote its fields, whose field
    list is fixed at that moment: a worker resolves exactly those fields, so fields written later (our
    keep flags, the loss denominators) never reach it unless the descriptor names them. A descriptor
    without a field list fetches every field and is returned as is.
    """
    if meta.fields is None:
        return meta
    from transfer_queue import KVBatchMeta

    fields = list(meta.fields) + [n for n in names if n not in meta.fields]
    return KVBatchMeta(
        keys=list(meta.keys),
        tags=meta.tags,
        partition_id=meta.partition_id,
        fields=fields,
        extra_info=dict(meta.extra_info or {}),
    )


def _token_counts(mask: torch.Tensor) -> list[int]:
    """Loss tokens per row of a [B, T] or jagged [B, j] response mask."""
    if mask.is_nested:
        return [int(r.sum()) for r in mask.unbind(0)]
    return [int(x) for x in mask.sum(-1).tolist()]


class RaifTrainer(PPOTrainerSync):
    """veRL's synchronous v1 trainer, run by our task runner (raif_train.verl.main) in trainer_mode 'sync'."""

    @property
    def raif(self) -> Mapping[str, Any]:
        return self.config.get("raif", None) or {}

    def _setup(self) -> None:
        super()._setup()
        from verl.utils.config import omega_conf_to_dataclass

        from raif_train.verl.loss import raif_actor_loss

        self._sft: list = []
        bc_coef = float(self.raif.get("bc_coef", 0.0))
        sft_data = self.raif.get("sft_data", None)
        if sft_data and bc_coef > 0:
            from raif_train.local.data import fitting_experts, load_sft

            rows = load_sft(str(sft_data))
            tok = self.tokenizer
            self._sft, left_out = fitting_experts(
                rows, lambda t: tok.encode(t, add_special_tokens=False), int(self.config.data.max_response_length)
            )
            log.info("behaviour cloning: %d expert rows from %s (%d longer than max_response_length left out)",
                     len(self._sft), sft_data, left_out)
        # Always ours, BC or not: the keep flags must leave the PPO loss's masks and denominators.
        actor_cfg = omega_conf_to_dataclass(self.config.actor_rollout_ref.actor)
        self.actor_rollout_wg.set_loss_fn(
            partial(raif_actor_loss, config=actor_cfg, bc_coef=bc_coef if self._sft else 0.0)
        )

    # ------------------------------------------------------------------ superior-CoT mask
    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        batch = super()._compute_advantage(batch, metrics=metrics)
        import transfer_queue as tq
        from tensordict import TensorDict

        data = tq.kv_batch_get(
            keys=batch.keys,
            partition_id=batch.partition_id,
            select_fields=["uid", "advantages", "extra_fields", "extra_info"],
        )
        uids = [str(_plain(u)) for u in data["uid"]]
        adv = data["advantages"]
        rows, keep, raif_metrics = mask_rows(
            uids, list(data["extra_fields"]), list(data["extra_info"]), adv.unbind(0), self.raif
        )
        masked = (
            torch.nested.as_nested_tensor(rows, layout=torch.jagged) if adv.is_nested else torch.stack(rows)
        )
        fields = {
            "advantages": masked,
            KEEP_KEY: keep.to(torch.int64),
            EXPERT_KEY: torch.zeros(len(batch), dtype=torch.int64),
        }
        tq.kv_batch_put(
            keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict(fields, batch_size=len(batch))
        )
        metrics.update(raif_metrics)
        return with_fields(batch, list(fields))

    # ------------------------------------------------------------------ actor update with expert rows
    def _actor_dp_size(self) -> int:
        # The data-parallel layout veRL's own _balance_batch reads for the actor mesh.
        wg = self.actor_rollout_wg
        if "actor" not in wg._dispatch_info:
            wg._dispatch_info["actor"] = wg._query_dispatch_info("actor")
        return max(wg._dispatch_info["actor"]) + 1

    def _bc_rows_per_step(self, n_policy: int) -> int:
        per_step = self.raif.get("bc_rows_per_step", None)
        return n_policy if per_step is None else int(per_step)

    def _bc_step_index(self) -> int:
        # One update per _step_once; a sync trainer has parameter_sync_step = 1, so this is global_steps.
        return (self.global_steps - 1) * self.parameter_sync_step + self.local_trigger_step + 1

    def _prompt_ids_fn(self) -> Callable[[list[dict[str, str]]], list[int]]:
        """Expert prompts through the tokenisation path of veRL's agent loop (its continuous-token builder
        for this model family, with the data config's chat-template kwargs)."""
        builder = getattr(self, "_ct_builder", None)
        if builder is None:
            from verl.utils.config import omega_conf_to_dataclass
            from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

            model_type = getattr(
                omega_conf_to_dataclass(self.config.actor_rollout_ref.model).hf_config, "model_type", None
            )
            kwargs = dict(self.config.data.get("apply_chat_template_kwargs", None) or {})
            builder = create_continuous_token_builder(
                self.tokenizer,
                hf_model_type=model_type if isinstance(model_type, str) else None,
                chat_template_kwargs=kwargs,
            )
            self._ct_builder = builder
        return lambda messages: list(builder.build_initial_tokens(messages))

    def _expert_batch(self, n_rows: int, with_ref: bool) -> Any:
        """This step's expert rows in veRL's per-sample layout (TensorDict)."""
        tok = self.tokenizer
        ids = expert_indices(len(self._sft), n_rows, self._bc_step_index(), int(self.raif.get("bc_seed", 1)))
        prompt_ids = self._prompt_ids_fn()
        rows = [
            expert_tokens(
                self._sft[i],
                prompt_ids,
                tok.eos_token_id,
                lambda text: tok.encode(text, add_special_tokens=False),
                int(self.config.data.max_prompt_length),
                int(self.config.data.max_response_length),
            )
            for i in ids
        ]
        return expert_fields(rows, with_ref=with_ref)

    @contextmanager
    def _actor_mini_batch_rows(self, rows: int) -> Iterator[None]:
        """veRL sizes the actor's mini-batches from actor.ppo_mini_batch_size (in prompts x n): for this
        update they hold their expert rows too, so the count is raised for the duration of the call."""
        from omegaconf import open_dict

        actor = self.config.actor_rollout_ref.actor
        n = int(self.config.actor_rollout_ref.rollout.n)
        if rows % n:
            raise RuntimeError(f"an actor mini-batch of {rows} rows is not a whole number of groups of {n}")
        old = actor.ppo_mini_batch_size
        with open_dict(actor):
            actor.ppo_mini_batch_size = rows // n
        try:
            yield
        finally:
            with open_dict(actor):
                actor.ppo_mini_batch_size = old

    def _update_actor(self, batch: Any, metrics: dict) -> Any:
        """veRL's actor update, with each row's mini-batch denominators written first and, under behaviour
        cloning, this step's expert rows placed among the policy rows (docs/verl.md, Behaviour cloning)."""
        import transfer_queue as tq
        from tensordict import TensorDict
        from transfer_queue import KVBatchMeta

        actor = self.config.actor_rollout_ref.actor
        policy_mb = int(actor.ppo_mini_batch_size) * int(self.config.actor_rollout_ref.rollout.n)
        n_policy = len(batch)
        if n_policy % policy_mb:
            raise RuntimeError(f"{n_policy} rows are not whole actor mini-batches of {policy_mb}")
        n_mb, dp = n_policy // policy_mb, self._actor_dp_size()
        if bool(actor.get("shuffle", False)):
            raise RuntimeError("RAIF's per-mini-batch denominators need actor.shuffle=false")

        data = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=["response_mask", KEEP_KEY]
        )
        policy_tokens = _token_counts(data["response_mask"])
        policy_keep = [bool(k) for k in data[KEEP_KEY].reshape(-1).tolist()]

        expert_td, expert_keys, fields = None, [], None
        if self._sft:
            # Every field the worker reads must exist for every row; refuse inputs experts cannot have.
            probe = tq.kv_batch_get(keys=batch.keys[:1], partition_id=batch.partition_id)
            bad = sorted(set(probe.keys()).intersection(UNSUPPORTED_WITH_BC))
            if bad:
                raise RuntimeError(f"behaviour cloning cannot supply the actor inputs {bad} for expert rows")
            expert_td = self._expert_batch(
                self._bc_rows_per_step(n_policy), with_ref="ref_log_prob" in probe.keys()
            )
            step = self._bc_step_index()
            expert_keys = [f"raif_expert_{step}_{i}" for i in range(len(expert_td))]
            fields = sorted(set(expert_td.keys()) | {PG_DENOM_KEY, BC_DENOM_KEY})
        n_expert = len(expert_keys)
        expert_tokens_ = _token_counts(expert_td["response_mask"]) if expert_td is not None else []

        order = update_order(n_policy, n_expert, dp, n_mb)
        lengths = [expert_tokens_[i] if e else policy_tokens[i] for e, i in order]
        policy_flags = [(not e) and policy_keep[i] for e, i in order]
        pg, bc = minibatch_denominators(
            lengths, policy_flags, [e for e, _ in order], dp, n_mb, str(actor.loss_agg_mode)
        )
        pg_of = {(e, i): d for (e, i), d in zip(order, pg, strict=True)}
        bc_of = {(e, i): d for (e, i), d in zip(order, bc, strict=True)}

        def denoms(is_expert: bool, n: int) -> dict[str, torch.Tensor]:
            return {
                PG_DENOM_KEY: torch.tensor([pg_of[(is_expert, i)] for i in range(n)], dtype=torch.float32),
                BC_DENOM_KEY: torch.tensor([bc_of[(is_expert, i)] for i in range(n)], dtype=torch.float32),
            }

        tq.kv_batch_put(
            keys=batch.keys,
            partition_id=batch.partition_id,
            fields=TensorDict(denoms(False, n_policy), batch_size=n_policy),
        )
        if expert_td is None:
            return super()._update_actor(with_fields(batch, [PG_DENOM_KEY, BC_DENOM_KEY]), metrics)

        expert_td.update(denoms(True, n_expert))
        tq.kv_batch_put(
            keys=expert_keys,
            partition_id=batch.partition_id,
            fields=expert_td,
            tags=[{"raif_expert": True} for _ in expert_keys],
        )
        tags = {False: batch.tags, True: [{"raif_expert": True}] * n_expert}
        keys = {False: batch.keys, True: expert_keys}
        combined = KVBatchMeta(
            keys=[keys[e][i] for e, i in order],
            tags=[tags[e][i] for e, i in order],
            partition_id=batch.partition_id,
            fields=fields,
            extra_info=dict(batch.extra_info or {}),
        )
        try:
            with self._actor_mini_batch_rows(policy_mb + n_expert // n_mb):
                super()._update_actor(combined, metrics)
        finally:
            tq.kv_clear(keys=expert_keys, partition_id=batch.partition_id)
        metrics["raif/bc_rows"] = float(n_expert)
        metrics["raif/bc_response_tokens"] = float(sum(expert_tokens_))
        return batch
