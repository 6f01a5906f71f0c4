"""The project's veRL entry module (`python -m raif_train.verl.main OVERRIDES...`): veRL's Hydra config
plus our overrides, checked, then our own Ray task runner driving RaifTrainer (veRL's DAPO-recipe pattern).

Ray does not let a remote actor class be subclassed, so the runner is ours rather than veRL's TaskRunnerV1.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import ray
import verl.trainer
from omegaconf import DictConfig, OmegaConf, open_dict

import raif_train.verl.plugin as plugin
from raif_train.verl import cluster

__all__ = ["VERL_CONFIG_DIR", "check_config", "forward_env", "PreflightLauncher", "main", "RaifTaskRunner"]

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


def forward_env(config: DictConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Put the forwarded variables (`RAIF_JUDGE_*`, `TENSORBOARD_DIR`) of `environ` (default: this
    process's) into the runtime environment veRL's `run_ppo` hands `ray.init`
    (`ray_kwargs.ray_init.runtime_env.env_vars`, merged with veRL's own): every task and actor of the job
    gets them on every node, whatever environment its node's Ray was started with. (veRL prints the
    `ray.init` arguments, so a judge API key shows in the driver's log.)"""
    env = cluster.forwarded_env(Path(config.raif.output_dir), environ)
    runtime_env = config.ray_kwargs.ray_init.runtime_env
    with open_dict(runtime_env):
        runtime_env.env_vars = {**(runtime_env.get("env_vars", None) or {}), **env}
    return env


_RUNNER: Any = RaifTaskRunner  # a Ray actor class (its .remote / .options are added by @ray.remote)


class PreflightLauncher:
    """Stands in for the task-runner class: veRL's `run_ppo` calls `.remote()` (or `.options()`) on it right
    after `ray.init`, so the per-node preflight runs there, on the driver, before any worker starts."""

    def __init__(self, expected: Mapping[str, str | None], attention: str):
        self.expected, self.attention = dict(expected), attention

    def remote(self) -> Any:
        cluster.check_nodes(self.expected, self.attention)
        return _RUNNER.remote()

    def options(self, **kwargs: Any) -> Any:
        cluster.check_nodes(self.expected, self.attention)
        return _RUNNER.options(**kwargs)


@hydra.main(config_path=VERL_CONFIG_DIR, config_name="ppo_trainer", version_base=None)
def main(config: DictConfig) -> None:
    from verl.trainer.main_ppo import run_ppo
    from verl.utils.device import auto_set_device

    auto_set_device(config)
    check_config(config)
    forward_env(config)
    launcher = PreflightLauncher(cluster.local_versions(), cluster.attention_implementation(config))
    try:
        run_ppo(config, task_runner_class=launcher)
    except cluster.PreflightError as e:
        sys.exit(f"error: {e}")  # one line on stderr, exit status 1, before any worker started


if __name__ == "__main__":
    main()
