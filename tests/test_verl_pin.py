"""Fails loudly when the veRL internals the backend extends change: the exact version, and the signatures,
attributes and behaviours (read from veRL's source) that raif_train/verl relies on. Needs veRL.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import verl
from verl.experimental.agent_loop import agent_loop as agent_loop_mod
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.single_controller.base import decorator
from verl.trainer import main_ppo
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.v1 import agent_loop_tq, replay_buffer, trainer_base
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils import import_utils
from verl.workers import engine_workers
from verl.workers.config import model as model_config
from verl.workers.utils import losses

from raif_train.verl import VERL_VERSION

ROOT = Path(__file__).resolve().parents[1]


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_exact_verl_version_everywhere():
    assert verl.__version__ == VERL_VERSION, (
        f"veRL {verl.__version__} installed; the backend is written for {VERL_VERSION}"
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'^verl = \["verl\[verl-core\]=={re.escape(VERL_VERSION)}"\]', pyproject, re.M)
    assert re.search(rf'^gpu = \["verl\[vllm\]=={re.escape(VERL_VERSION)}"\]', pyproject, re.M)


SIGNATURES = [
    # what we call or override, and the leading parameters we depend on
    (core_algos.compute_grpo_outcome_advantage, ["token_level_rewards", "response_mask", "index", "epsilon", "norm_adv_by_std_in_grpo"]),
    (core_algos.kl_penalty, ["logprob", "ref_logprob", "kl_penalty"]),
    (losses.ppo_loss, ["config", "model_output", "data", "dp_group"]),
    (AgentLoopBase.__init__, ["self", "trainer_config", "server_manager", "tokenizer", "processor", "dataset_cls", "data_config"]),
    (AgentLoopBase.ct_build_initial_tokens, ["self", "messages"]),
    (SingleTurnAgentLoop.run, ["self", "sampling_params"]),
    (agent_loop_mod.register, ["agent_name"]),
    (PPOTrainerSync._compute_advantage, ["self", "batch", "metrics"]),
    (PPOTrainerSync._setup, ["self"]),
    (PPOTrainerSync.__init__, ["self", "config"]),
    (main_ppo.run_ppo, ["config", "task_runner_class"]),
    (agent_loop_mod.AgentLoopManager.__init__, ["self", "config", "llm_client", "teacher_client", "reward_loop_worker_handles"]),
    (engine_workers.ActorRolloutRefWorker.set_loss_fn, ["self", "loss_fn"]),
    (NaiveRewardManager.__init__, ["self", "config", "tokenizer", "compute_score"]),
]  # fmt: skip


@pytest.mark.parametrize(("fn", "leading"), SIGNATURES, ids=lambda x: getattr(x, "__qualname__", ""))
def test_signatures_we_extend(fn, leading):
    got = _params(fn)
    assert got[: len(leading)] == leading, f"{fn.__qualname__} changed: {got}"


def test_attributes_we_use():
    assert isinstance(agent_loop_mod._agent_loop_registry, dict)
    assert {"extra_fields", "prompt_ids", "response_ids"} <= set(AgentLoopOutput.model_fields)
    for name in (
        "get_llm_client",
        "get_teacher_client",
        "get_reward_handles",
        "init",
        "fit",
        "actor_rollout_wg",
    ):
        assert name in inspect.getsource(trainer_base.PPOTrainer), name
    assert issubclass(PPOTrainerSync, trainer_base.PPOTrainer)


SOURCE_FACTS = [
    # (module or object, regex, why we depend on it)
    (verl, r'entry_points\(group="verl\.plugins"\)', "our plugin is loaded through this entry-point group"),
    (agent_loop_tq, r"session_id=i", "the agent loop learns a sample's index in its group"),
    (agent_loop_tq, r"field\.update\(kwargs\)", "rows' extra_info reaches TransferQueue"),
    (agent_loop_tq.AgentLoopManagerTQ, r"@auto_await", "create() is called synchronously by our runner"),
    (
        NaiveRewardManager.run_single,
        r"extra_info\.update\(tool_extra_fields",
        "direct flag reaches compute_score",
    ),
    (
        NaiveRewardManager.run_single,
        r"skip_special_tokens=True",
        "special <think> tags vanish before scoring",
    ),
    (replay_buffer, r'"reward_extra_info"', "filter_groups reads compute_score's keys"),
    (trainer_base.PPOTrainer._compute_advantage, r'"advantages"', "advantages live in TransferQueue"),
    (
        trainer_base.PPOTrainer.__init__,
        r"self\.trainer_mode = self\.config\.trainer\.v1\.trainer_mode",
        "sync mode",
    ),
    (main_ppo.TaskRunnerV1.run, r"tq\.init\(config\.transfer_queue\)", "our runner mirrors veRL's v1 runner"),
    (
        engine_workers.ActorRolloutRefWorker.init_model,
        r"partial\(ppo_loss, config=actor_config\)",
        "default loss",
    ),
    # behaviour cloning's placement and the loss denominators (raif_train/verl/expert.py, trainer.py)
    (
        trainer_base.PPOTrainer._update_actor,
        r"ppo_mini_batch_size \* self\.config\.actor_rollout_ref\.rollout\.n",
        "the actor mini-batch size comes from the config (raised for expert rows)",
    ),
    (
        trainer_base.PPOTrainer._update_actor,
        r'"dataloader_kwargs": \{"shuffle": self\.config\.actor_rollout_ref\.actor\.shuffle\}',
        "mini-batches are contiguous with actor.shuffle=false",
    ),
    (
        engine_workers.TrainingWorker.train_mini_batch,
        r"mini_batch_size // self\.engine\.get_data_parallel_size\(\)[\s\S]*tu\.make_iterator",
        "each rank walks its chunk in mini-batches of mini_batch_size / dp",
    ),
    (
        decorator.dispatch_nd_compute_dataproto,
        r"_split_args_kwargs_data_proto\(dp_size,",
        "data-parallel rank r gets the r-th contiguous chunk of the batch",
    ),
    (
        trainer_base.PPOTrainer._balance_batch,
        r"_query_dispatch_info\(role\)",
        "the actor's data-parallel size is read from the dispatch info",
    ),
    (
        losses.ppo_loss,
        r'config\.global_batch_info\["batch_num_tokens"\] = data\["batch_num_tokens"\]',
        "ppo_loss divides by the batch_num_tokens / global_batch_size our loss replaces",
    ),
    # dual clip, cluster launch (raif_train/verl/overrides.py, cluster.py, main.py)
    (
        core_algos.compute_policy_loss_vanilla,
        r"torch\.clamp\(negative_approx_kl, min=-20\.0, max=20\.0\)",
        "no ratio exceeds e^20, so clip_ratio_c = 1e9 is no dual clip",
    ),
    (
        core_algos.compute_policy_loss_vanilla,
        r'clip_ratio_c = config\.get\([^"]*"clip_ratio_c"',
        "the dual clip's c is the actor config's clip_ratio_c",
    ),
    (import_utils.load_module, r"module_path\.startswith\(PKG_PATH_PREFIX\)", "pkg:// reward function paths"),
    (
        main_ppo.run_ppo,
        r'runtime_env_kwargs = ray_init_kwargs\.get\("runtime_env", \{\}\)',
        "ray_kwargs.ray_init.runtime_env (our forwarded env_vars) reaches ray.init",
    ),
    (main_ppo.run_ppo, r"task_runner_class\.remote\(\)", "the preflight runs when run_ppo creates the runner"),
    (
        model_config.HFModelConfig.__post_init__,
        r'override_config\.get\("attn_implementation", "flash_attention_2"\)',
        "the attention implementation the preflight checks",
    ),
]


@pytest.mark.parametrize(("obj", "pattern", "why"), SOURCE_FACTS, ids=[f[2] for f in SOURCE_FACTS])
def test_behaviours_we_rely_on(obj, pattern, why):
    src = inspect.getsource(obj)
    assert re.search(pattern, src), (
        f"veRL changed: {why} ({pattern!r} no longer in {getattr(obj, '__qualname__', obj.__name__)})"
    )
