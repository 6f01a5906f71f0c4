"""veRL backend without veRL: the recipe -> override mapping, the settings it refuses before any GPU is
touched, and `import raif_train` / the launcher never importing veRL or Ray. Runs in every venv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raif_train.recipe import load_recipe
from raif_train.verl.overrides import VerlConfigError, build_plan, override_key
from tests.verl_fixtures import write_sft_shards, write_shards

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "pipelines" / "verl_qwen2.5_7b_16gpu.yaml"


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"), ["write in lowercase", "give a title"])


@pytest.fixture(scope="module")
def sft(tmp_path_factory) -> Path:
    return write_sft_shards(tmp_path_factory.mktemp("sft"), [("say hi", "<answer> hi </answer>")])


def _as_dict(overrides: list[str]) -> dict[str, str]:
    return {override_key(o): o.split("=", 1)[1] for o in overrides}


@pytest.mark.parametrize(
    ("fields", "key", "value"),
    [
        ({}, "algorithm.adv_estimator", "grpo"),
        ({}, "algorithm.use_kl_in_reward", "false"),
        ({}, "actor_rollout_ref.actor.kl_loss_type", "low_var_kl"),
        ({"kl_coef": 0.01}, "actor_rollout_ref.actor.kl_loss_coef", "0.01"),
        ({"loss_agg_mode": "token-mean"}, "actor_rollout_ref.actor.loss_agg_mode", "token-mean"),
        ({}, "actor_rollout_ref.rollout.n", "8"),
        ({"group_size": 16, "mini_batch_size": 256}, "actor_rollout_ref.actor.ppo_mini_batch_size", "16"),
        ({}, "actor_rollout_ref.actor.ppo_mini_batch_size", "16"),  # 128 samples = 16 prompts of 8
        ({}, "data.train_batch_size", "32"),
        ({}, "actor_rollout_ref.actor.optim.lr_scheduler_type", "cosine"),
        ({}, "actor_rollout_ref.actor.optim.min_lr_ratio", "0.1"),
        ({}, "actor_rollout_ref.actor.optim.betas", "[0.9,0.95]"),
        ({}, "actor_rollout_ref.rollout.prompt_length", "8224"),  # room for the forced think block
        ({}, "actor_rollout_ref.rollout.agent.default_agent_loop", "raif_agent"),
        ({}, "algorithm.filter_groups.enable", "false"),
        ({"dynamic_sampling": True}, "algorithm.filter_groups.enable", "true"),
        ({"superior_cot": False}, "raif.direct_per_group", "0"),
        ({}, "raif.direct_per_group", "2"),
        ({"max_steps": 7}, "trainer.total_training_steps", "7"),
        ({"resume": False}, "trainer.resume_mode", "disable"),
        ({"wandb_project": "p"}, "trainer.logger", "[console,tensorboard,wandb]"),
        ({"reward_mode": "fraction"}, "reward.custom_reward_function.reward_kwargs.accuracy", "fraction"),
        ({}, "trainer.nnodes", "2"),
        ({}, "data.filter_overlong_prompts", "true"),
        # the paper clips at 0.2 only: veRL's dual clip (its default c = 3) is off unless asked for
        ({}, "actor_rollout_ref.actor.clip_ratio_c", "1000000000.0"),
        ({"dual_clip_c": 3.0}, "actor_rollout_ref.actor.clip_ratio_c", "3.0"),
        # vLLM's context holds the longest prompt, the forced think block and the longest response
        ({}, "actor_rollout_ref.rollout.max_model_len", str(8192 + 32 + 4096)),
        ({"max_response_length": 100}, "actor_rollout_ref.rollout.max_model_len", str(8192 + 32 + 100)),
        # compute_score by module name: every node imports its installed copy, no driver file path
        ({}, "reward.custom_reward_function.path", "'pkg://raif_rewards.verl_plugin'"),
    ],
)
def test_recipe_fields_map_to_verl_keys(fields, key, value, shards, tmp_path):
    rec = load_recipe(RECIPE, data=str(shards), output_dir=str(tmp_path / "o"), **fields)
    assert _as_dict(build_plan(rec).overrides)[key] == value


@pytest.mark.parametrize(
    ("fields", "extra", "match"),
    [
        ({"model": "tiny"}, [], "model.model"),
        ({"device": "cpu"}, [], "backend.device"),
        ({"rollout_engine": "hf"}, [], "rollout.rollout_engine"),
        ({"adv_eps": 1e-4}, [], "algo.adv_eps"),
        ({"constraint_subset": ["punctuation:no_comma"]}, [], "data.constraint_subset"),
        ({"sft_data": "x", "bc_coef": 1.0}, [], "data.sft_data"),  # no such shards
        ({"sft_data": "SFT", "bc_rows_per_step": 24}, [], "algo.bc_rows_per_step"),  # 2 mini-batches x 16 GPUs
        ({"tensor_parallel_size": 3}, [], "backend.tensor_parallel_size"),
        ({"mini_batch_size": 4, "group_size": 8, "rollout_prompts": 1}, [], "optim.mini_batch_size"),
        ({"rollout_prompts": 3, "mini_batch_size": 24}, [], "rollout.rollout_prompts"),  # 24 samples, 16 GPUs
        ({}, ["algorithm.adv_estimator=gae"], "set by the recipe"),
        ({}, ["+raif.bc_coef=1"], "set by the recipe"),
        ({}, ["+raif.other=1"], "raif section"),
        ({}, ["trainer.logger"], "KEY=VALUE"),
    ],
)
def test_unhonourable_settings_fail_before_any_gpu(fields, extra, match, shards, sft, tmp_path):
    if fields.get("sft_data") == "SFT":
        fields = fields | {"sft_data": str(sft)}
    with pytest.raises(VerlConfigError, match=match):
        rec = load_recipe(RECIPE, data=str(shards), output_dir=str(tmp_path / "o"), **fields)
        build_plan(rec, extra)


@pytest.mark.parametrize(("rows", "expected"), [(None, 256), (128, 128), (64, 64)])
def test_behaviour_cloning_reaches_the_trainer_section(rows, expected, shards, sft, tmp_path):
    rec = load_recipe(RECIPE, data=str(shards), sft_data=str(sft), bc_rows_per_step=rows, bc_coef=0.5)
    plan = build_plan(rec)
    ov = _as_dict(plan.overrides)
    assert ov["raif.bc_coef"] == "0.5" and ov["raif.bc_rows_per_step"] == str(expected)
    assert ov["raif.sft_data"].strip("'") == str(sft.resolve()) and ov["actor_rollout_ref.actor.shuffle"] == "false"
    assert any("behaviour cloning" in n for n in plan.notes)
    # bc_coef 0 or no expert shards: plain GRPO, the trainer gets no shards
    off = _as_dict(build_plan(load_recipe(RECIPE, data=str(shards), sft_data=str(sft), bc_coef=0.0)).overrides)
    assert off["raif.bc_coef"] == "0.0" and off["raif.sft_data"] == "null" and off["raif.bc_rows_per_step"] == "0"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"bc_rows_per_step": 8}, "groups of 8"),  # 4 expert rows per mini-batch: half a group
        ({"bc_rows_per_step": 16, "micro_batch_size": 4}, "micro-batches of 4"),  # (128 + 8) / 4 GPUs = 34
        ({"bc_rows_per_step": 12}, "multiple of 8"),  # 2 mini-batches x 4 GPUs
    ],
)
def test_expert_rows_must_split_like_the_policy_rows(fields, match, shards, sft):
    rec = load_recipe(ROOT / "pipelines" / "verl_qwen2.5_1.5b_4gpu.yaml", data=str(shards), sft_data=str(sft))
    rec.override(**fields)
    with pytest.raises(VerlConfigError, match=match):
        build_plan(rec)


def test_missing_data_is_an_error_naming_the_path(tmp_path):
    rec = load_recipe(RECIPE, data=str(tmp_path / "nowhere"))
    with pytest.raises(VerlConfigError, match="nowhere"):
        build_plan(rec)


def test_extra_overrides_of_other_verl_knobs_pass_through(shards, tmp_path):
    rec = load_recipe(RECIPE, data=str(shards), output_dir=str(tmp_path / "o"))
    plan = build_plan(rec, ["trainer.balance_batch=false", "+ray_kwargs.ray_init.num_cpus=8"])
    assert plan.overrides[-2:] == ["trainer.balance_batch=false", "+ray_kwargs.ray_init.num_cpus=8"]


def test_importing_the_backend_pieces_loads_neither_verl_nor_ray():
    code = (
        "import sys\n"
        "import raif_train, raif_train.cli, raif_train.recipe, raif_train.algo\n"
        "import raif_train.verl, raif_train.verl.overrides, raif_train.verl.launch, raif_train.verl.masks\n"
        "import raif_train.verl.cluster\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('verl', 'ray', 'vllm', 'hydra'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
