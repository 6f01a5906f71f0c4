"""RAIF's trainer on veRL: the v1 synchronous PPO trainer with the superior-CoT mask applied to the GRPO
advantages veRL computed (zeroed after group normalisation), kept ratio logged, optional BC loss.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from raif_train.verl.masks import keep_mask, reward_fields

__all__ = ["RaifTrainer", "mask_rows"]

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """TransferQueue hands back NonTensorData wrappers; the replay buffer reads `.data` the same way."""
    return getattr(value, "data", value)


def mask_rows(
    uids: Sequence[str],
    extra_fields: Sequence[Mapping[str, Any]],
    row_infos: Sequence[Mapping[str, Any] | None],
    advantages: Sequence[torch.Tensor],
    raif: Mapping[str, Any],
) -> tuple[list[torch.Tensor], dict[str, float]]:
    """Apply RAIF's keep mask to per-sample advantage rows (any shapes); returns new rows and metrics.

    `extra_fields[i]["reward_extra_info"]` is compute_score's dict for sample i; `row_infos[i]` its
    dataset row's extra_info (the offline baseline); `uids` group the samples of one prompt.
    """
    infos = [dict(_plain(e).get("reward_extra_info", {})) for e in extra_fields]
    fields = reward_fields(
        infos, [_plain(r) for r in row_infos], str(raif.get("offline_baseline_key", "baseline_score"))
    )
    keep, kept_ratio = keep_mask(
        fields,
        list(uids),
        superior_cot=bool(raif.get("superior_cot", True)),
        baseline=str(raif.get("direct_baseline", "mean")),
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
    return rows, metrics


class RaifTrainer(PPOTrainerSync):
    """veRL's synchronous v1 trainer, run by our task runner (raif_train.verl.main) in trainer_mode 'sync'."""

    @property
    def raif(self) -> Mapping[str, Any]:
        return self.config.get("raif", None) or {}

    def _setup(self) -> None:
        super()._setup()
        bc_coef = float(self.raif.get("bc_coef", 0.0))
        if bc_coef > 0:
            from verl.utils.config import omega_conf_to_dataclass

            from raif_train.verl.loss import raif_actor_loss

            actor_cfg = omega_conf_to_dataclass(self.config.actor_rollout_ref.actor)
            self.actor_rollout_wg.set_loss_fn(partial(raif_actor_loss, config=actor_cfg, bc_coef=bc_coef))

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
        rows, raif_metrics = mask_rows(
            uids, list(data["extra_fields"]), list(data["extra_info"]), adv.unbind(0), self.raif
        )
        masked = (
            torch.nested.as_nested_tensor(rows, layout=torch.jagged) if adv.is_nested else torch.stack(rows)
        )
        tq.kv_batch_put(
            keys=batch.keys,
            partition_id=batch.partition_id,
            fields=TensorDict({"advantages": masked}, batch_size=len(batch)),
        )
        metrics.update(raif_metrics)
        return batch
