"""The project's veRL entry module (`python -m raif_train.verl.main OVERRIDES...`): veRL's Hydra config
plus our overrides, checked, then our own Ray task runner driving RaifTrainer (veRL's DAPO-recipe pattern).

Ray does not let a remote actor class be subclassed, so the runner is ours rather than veRL's TaskRunnerV1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra
import ray
import verl.trainer
from omegaconf import DictConfig, OmegaConf

import raif_train.verl.plugin as plugin

__all__ = ["VERL_CONFIG_DIR", "check_config", "main", "RaifTaskRunner"]

VERL_CONFIG_DIR = str(Path(verl.trainer.__file__).parent / "config")


def check_config(config: DictConfig) -> None:
    """veRL's own validation plus RAIF's invariants; raises before Ray or any GPU is touched."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from raif_train.verl.overrides import AGENT_LOOP_NAME, VerlConfigError

    raif = config.get("raif", None)
    if raif is None:
        raise VerlConfigError(
            "raif", "missing: launch through `raif-train grpo --backend verl` (it writes +raif.*)"
        )
    if not config.trainer.use_v1 or config.trainer.v1.trainer_mode != "sync":
        raise VerlConfigError(
            "trainer", "RAIF runs on veRL's v1 synchronous trainer (use_v1=true, trainer_mode=sync)"
        )
    if config.actor_rollout_ref.rollout.agent.default_agent_loop != AGENT_LOOP_NAME:
        raise VerlConfigError(
            "actor_rollout_ref.rollout.agent.default_agent_loop", f"must be {AGENT_LOOP_NAME}"
        )
    if not plugin.registered()["agent_loop"]:
        raise VerlConfigError(
            "plugin", "RAIF's agent loop is not registered (is raif installed in this environment?)"
        )
    if config.actor_rollout_ref.rollout.n != raif.group_size:
        raise VerlConfigError("actor_rollout_ref.rollout.n", "must equal raif.group_size")
    distillation = config.get("distillation", None)
    if distillation is not None and distillation.get("enabled", False):
        # RAIF's actor loss (raif_train.verl.loss) replaces veRL's whole loss, distillation terms included.
        raise VerlConfigError("distillation.enabled", "veRL's distillation loss cannot be combined with RAIF's actor loss")
    validate_config(
        config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
    )


@ray.remote(num_cpus=1)
class RaifTaskRunner:
    """Builds RaifTrainer and veRL's TransferQueue agent-loop manager inside the Ray cluster, then trains."""

    def run(self, config: DictConfig) -> None:
        import transfer_queue as tq
        from verl.trainer.ppo.v1 import AgentLoopManagerTQ
        from verl.utils.logging_utils import configure_verl_logging

        from raif_train.verl.trainer import RaifTrainer

        configure_verl_logging()
        config.transfer_queue.enable = True  # the v1 trainer exchanges every batch through TransferQueue
        OmegaConf.resolve(config)
        tq.init(config.transfer_queue)
        trainer: Any = None
        ok = False
        try:
            trainer = RaifTrainer(config=config)
            trainer.init()
            manager = AgentLoopManagerTQ.create(
                config=config,
                llm_client=trainer.get_llm_client(),
                teacher_client=trainer.get_teacher_client(),
                reward_loop_worker_handles=trainer.get_reward_handles(),
            )
            trainer.fit(manager)
            ok = True
        finally:
            try:
                tracking = getattr(trainer, "logger", None)
                if tracking is not None:
                    tracking.finish(exit_code=0 if ok else 1)
            finally:
                tq.close()


@hydra.main(config_path=VERL_CONFIG_DIR, config_name="ppo_trainer", version_base=None)
def main(config: DictConfig) -> None:
    from verl.trainer.main_ppo import run_ppo
    from verl.utils.device import auto_set_device

    auto_set_device(config)
    check_config(config)
    # veRL's tensorboard logger reads this; a local Ray cluster's workers inherit the driver's environment.
    os.environ.setdefault("TENSORBOARD_DIR", str(Path(config.raif.output_dir) / "tensorboard"))
    run_ppo(config, task_runner_class=RaifTaskRunner)


if __name__ == "__main__":
    main()
