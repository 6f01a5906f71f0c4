"""veRL backend against veRL itself on CPU: our overrides compose and pass veRL's validation with the plugin
registered, RLHFDataset reads our shards, veRL's reward manager calls our compute_score through a real
tokenizer decode, `--dry-run` prints command and config. Needs veRL (scripts/ci_verl.sh runs it).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import open_dict
from tensordict import TensorDict
from verl import DataProto
from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
from verl.utils.dataset.rl_dataset import RLHFDataset

from raif_rewards.verl_plugin import compute_score
from raif_train.local.tiny import build_tiny_tokenizer
from raif_train.recipe import load_recipe
from raif_train.verl.launch import command, compose, run_verl
from raif_train.verl.overrides import VerlConfigError, build_plan
from tests.verl_fixtures import LOWERCASE_GT, write_sft_shards, write_shards

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "pipelines").glob("verl_*.yaml"))
PROMPTS = ["write one short answer in lowercase words", "give a title", "say yes or no", "name three things"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    long = " ".join(["word"] * 200)  # longer than the dataset test's max_prompt_length
    return write_shards(tmp_path_factory.mktemp("shards"), PROMPTS + [long])


def test_the_paper_recipes_exist():
    assert {p.name for p in RECIPES} == {
        "verl_qwen2.5_1.5b_4gpu.yaml",
        "verl_qwen2.5_7b_16gpu.yaml",
        "verl_llama3.1_8b_16gpu.yaml",
        "verl_ministral_8b_16gpu.yaml",
    }


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_overrides_compose_and_pass_verl_validation(recipe, shards, tmp_path):
    rec = load_recipe(recipe, data=str(shards), output_dir=str(tmp_path / "run"))
    config = compose(build_plan(rec))  # veRL's validate_config + our check_config, both raise on failure
    a, aro = config.algorithm, config.actor_rollout_ref
    assert a.adv_estimator == "grpo" and a.use_kl_in_reward is False and a.filter_groups.enable is False
    assert (
        aro.actor.use_kl_loss
        and aro.actor.kl_loss_type == "low_var_kl"
        and aro.actor.kl_loss_coef == rec.algo.kl_coef
    )
    assert aro.rollout.n == rec.rollout.group_size and aro.rollout.agent.default_agent_loop == "raif_agent"
    assert aro.actor.ppo_mini_batch_size * rec.rollout.group_size == rec.optim.mini_batch_size
    assert list(aro.actor.optim.betas) == [rec.optim.adam_beta1, rec.optim.adam_beta2]
    assert aro.actor.optim.min_lr_ratio * rec.optim.lr == pytest.approx(rec.optim.min_lr)
    assert (
        config.trainer.n_gpus_per_node * config.trainer.nnodes
        == rec.backend.n_gpus_per_node * rec.backend.nnodes
    )
    assert config.raif.direct_per_group == 2 and config.raif.superior_cot
    assert config.reward.custom_reward_function.path == "pkg://raif_rewards.verl_plugin"  # no driver path
    assert list(config.data.train_files) == [str(p) for p in sorted((shards / "train").glob("*.parquet"))]
    assert list(config.data.val_files) == [str(p) for p in sorted((shards / "validation").glob("*.parquet"))]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipes_with_expert_shards_compose_behaviour_cloning(recipe, shards, tmp_path):
    """The paper's BC (bc_coef 1, one expert row per policy sample) passes veRL's validation on every
    recipe's GPU layout; the trainer gets the expert shards, the count and the native cursor seed."""
    sft = write_sft_shards(tmp_path / "data", [("say hi", "<answer> hi </answer>")] * 3)
    rec = load_recipe(recipe, data=str(shards), sft_data=str(sft), output_dir=str(tmp_path / "run"))
    plan = build_plan(rec)
    config = compose(plan)
    assert config.raif.bc_coef == 1.0 and config.raif.sft_data == str(sft.resolve())
    assert config.raif.bc_rows_per_step == rec.rollout.rollout_prompts * rec.rollout.group_size
    assert config.raif.bc_seed == rec.train.seed + 1
    assert config.actor_rollout_ref.actor.shuffle is False
    assert plan.sft_files == [str(p.resolve()) for p in sorted((sft / "train").glob("*.parquet"))]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["actor_rollout_ref.rollout.no_such_knob=1"], "no_such_knob"),
        (["actor_rollout_ref.actor.ppo_micro_batch_size=3"], "veRL rejects"),
    ],
)
def test_bad_verl_overrides_fail_before_any_gpu(extra, message, shards, tmp_path):
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"))
    with pytest.raises(VerlConfigError, match=message):
        compose(build_plan(rec, extra))


def test_dynamic_sampling_turns_on_verl_filter_groups(shards, tmp_path):
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"))
    rec.override(dynamic_sampling=True)
    config = compose(build_plan(rec))
    assert config.algorithm.filter_groups.enable is True and config.algorithm.filter_groups.metric == "score"
    assert config.raif.dynamic_sampling is True


def test_dry_run_prints_command_job_form_and_resolved_config(shards, tmp_path):
    rec = load_recipe(RECIPES[1], data=str(shards), output_dir=str(tmp_path / "run"))
    lines: list[str] = []
    assert (
        run_verl(
            rec,
            dry_run=True,
            ray_address="10.0.0.1:6379",
            extra_overrides=["trainer.balance_batch=false"],
            echo=lines.append,
        )
        == 0
    )
    text = "\n".join(lines)
    assert "RAY_ADDRESS=10.0.0.1:6379" in text and "-m raif_train.verl.main" in text
    assert "ray job submit --address http://HEAD_NODE:8265" in text and "trainer.balance_batch=false" in text
    assert "adv_estimator: grpo" in text and "default_agent_loop: raif_agent" in text
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


@pytest.mark.slow
def test_entry_module_parses_the_generated_command_line(shards, tmp_path):
    """The real command line (shell-quoted values, + keys) through Hydra's own parser; `--cfg job` prints
    the composed config and stops before our main() (so before Ray)."""
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"))
    cmd = command(build_plan(rec)) + ["--cfg", "job"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "default_agent_loop: raif_agent" in proc.stdout and "direct_per_group: 2" in proc.stdout
    assert str(shards / "train") in proc.stdout
    assert not (tmp_path / "outputs").exists()  # Hydra's run folder goes under the run's output_dir


@pytest.mark.parametrize(
    ("name", "match"),
    [("verl_qwen2.5_1.5b_4gpu", "GPUs on this node"), ("verl_qwen2.5_7b_16gpu", "--ray-address")],
)
def test_a_local_run_that_could_only_wait_for_gpus_is_refused_before_ray(
    name, match, shards, tmp_path, monkeypatch
):
    # Without enough GPUs a local Ray cluster would wait forever for its placement groups (this host has none).
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # the same verdict on a GPU host
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail("the run was started"))
    rec = load_recipe(ROOT / "pipelines" / f"{name}.yaml", data=str(shards), output_dir=str(tmp_path / "run"))
    with pytest.raises(VerlConfigError, match=match):
        run_verl(rec, dry_run=False, ray_address=None, extra_overrides=[], echo=lambda _: None)


@pytest.mark.slow
def test_entry_point_registers_the_plugin_in_a_fresh_process():
    """`import verl` alone (what every Ray worker does) must load our plugin: veRL hides plugin errors."""
    code = (
        "import sys, verl\n"
        "from verl.experimental.agent_loop.agent_loop import _agent_loop_registry\n"
        "assert 'raif_train.verl.plugin' in sys.modules, 'entry point not loaded'\n"
        "assert 'raif_agent' in _agent_loop_registry, sorted(_agent_loop_registry)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ----------------------------------------------------------------------------- dataset


def test_rlhf_dataset_reads_our_shards_and_filters_overlong_prompts(shards, tmp_path):
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"), max_prompt_length=64)
    config = compose(build_plan(rec))
    with open_dict(config.data):
        config.data.filter_overlong_prompts_workers = 1
        config.data.cache_dir = str(tmp_path / "cache")
    tok = build_tiny_tokenizer()
    ds = RLHFDataset(list(config.data.train_files), tok, config.data)
    assert len(ds) == len(PROMPTS)  # the 200-word prompt is filtered out
    rows = [ds[i] for i in range(len(ds))]
    assert sorted(r["raw_prompt"][0]["content"] for r in rows) == sorted(PROMPTS)
    for r in rows:
        assert r["reward_model"]["ground_truth"] == LOWERCASE_GT and r["data_source"] == "raif/instruct"
        assert r["extra_info"]["baseline_score"] == 0.5  # the offline baseline the mask can fall back on


# ----------------------------------------------------------------------------- reward manager


@pytest.fixture(scope="module")
def reward_config(shards, tmp_path_factory):
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path_factory.mktemp("run")))
    return compose(build_plan(rec))


def _score(config, tokenizer, data: DataProto) -> dict:
    fn = get_custom_reward_fn(config)  # veRL's loader: our file path, name and reward_kwargs
    cls = resolve_reward_manager_cls(config)
    assert cls.__name__ == "NaiveRewardManager"

    async def go():
        # veRL's reward managers bind the running event loop when constructed: build one inside it.
        return await cls(config, tokenizer, fn).run_single(data)

    return asyncio.run(go())


def _one(tokenizer, response: str, direct: bool) -> DataProto:
    prompt = tokenizer.encode("<|user|> write <|assistant|>", add_special_tokens=False)
    resp = tokenizer.encode(response, add_special_tokens=False) + [tokenizer.eos_token_id]
    pad = 4  # right padding of the response, as veRL batches it
    batch = TensorDict(
        {
            "prompts": torch.tensor([prompt]),
            "responses": torch.tensor([resp + [tokenizer.pad_token_id] * pad]),
            "attention_mask": torch.tensor([[1] * (len(prompt) + len(resp)) + [0] * pad]),
        },
        batch_size=1,
    )
    non_tensor = {
        "data_source": np.array(["raif/instruct"], dtype=object),
        "reward_model": np.array([{"style": "rule", "ground_truth": LOWERCASE_GT}], dtype=object),
        "extra_info": np.array([{"index": 0}], dtype=object),
        # what our agent loop puts in its output's extra_fields; the manager merges it into extra_info
        "tool_extra_fields": np.array([{"direct_answer": direct}], dtype=object),
    }
    return DataProto(batch=batch, non_tensor_batch=non_tensor)


CASES = [
    # response, direct, RAIF score by hand: format +1 / -1, all constraints +2, none -2, invalid answer -2
    ("<think> i think so </think> <answer> yes this is all lowercase </answer>", False, 3.0),
    ("<think> i think so </think> <answer> YES this is NOT lowercase </answer>", False, -1.0),
    ("<answer> yes this is all lowercase </answer>", False, None),  # no think block: format fails
    ("<answer> yes this is all lowercase </answer>", True, None),  # direct answer: no think needed
]


@pytest.mark.parametrize(("response", "direct", "expected"), CASES)
def test_verl_reward_manager_scores_our_compute_score_through_decode(
    response, direct, expected, reward_config
):
    tok = build_tiny_tokenizer()
    out = _score(reward_config, tok, _one(tok, response, direct))
    info = out["reward_extra_info"]
    decoded = tok.decode(tok.encode(response, add_special_tokens=False), skip_special_tokens=True)
    reference = compute_score("raif/instruct", decoded, LOWERCASE_GT, {"direct_answer": direct})
    assert out["reward_score"] == reference["score"]
    assert info["direct_answer"] == float(direct)
    assert set(info) >= {"score", "answer_score", "format_ok", "direct_answer"}
    if expected is not None:
        assert out["reward_score"] == pytest.approx(expected)
    if response.startswith("<answer>"):
        assert info["format_ok"] == float(direct)  # the flag is what makes a bare answer well-formed


def test_a_tokenizer_with_special_think_tags_can_never_pass_the_format(reward_config):
    """veRL decodes with skip_special_tokens=True: special <think> tags vanish before the reward sees them."""
    tok = build_tiny_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    out = _score(reward_config, tok, _one(tok, CASES[0][0], False))
    assert out["reward_extra_info"]["format_ok"] == 0.0 and out["reward_score"] < 0


def test_verl_distillation_is_refused_because_our_actor_loss_replaces_verls(shards, tmp_path):
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"))
    with pytest.raises(VerlConfigError, match="distillation"):
        compose(build_plan(rec, ["distillation.enabled=true"]))


# ----------------------------------------------------------------------------- dual clip


@pytest.mark.parametrize("dual_clip_c", [None, 3.0])
def test_dual_clip_follows_the_recipe_in_the_installed_actor_loss(dual_clip_c, shards, tmp_path):
    """`algo.dual_clip_c` through the composed config into the loss RaifTrainer installs. None (the paper,
    the native backend): negative advantages are clipped at 1 - 0.2 only, however large the ratio (veRL's
    default c = 3 would cap them); 3.0: veRL's standard dual clip. Masked rows (advantage 0) stay finite."""
    from verl.utils import tensordict_utils as tu
    from verl.utils.config import omega_conf_to_dataclass

    from raif_train import algo
    from raif_train.verl.loss import BC_DENOM_KEY, EXPERT_KEY, KEEP_KEY, PG_DENOM_KEY, raif_actor_loss

    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"))
    rec.override(dual_clip_c=dual_clip_c)
    cfg = omega_conf_to_dataclass(compose(build_plan(rec)).actor_rollout_ref.actor)  # as RaifTrainer._setup
    B, P, R, agg = 3, 2, 2, cfg.loss_agg_mode
    old = torch.tensor([[-3.0, -1.0], [-2.0, -1.5], [-1.0, -2.0]])
    # row 0: log-ratio 25 (veRL clamps it to 20); row 1: ratio e^2 > 3; row 2: masked (advantage 0)
    lp = (old + torch.tensor([[25.0, 0.5], [2.0, -0.1], [1.0, 1.0]])).requires_grad_(True)
    ref = old - 0.2
    adv = torch.tensor([-2.0, -1.0, 0.0])
    keep = torch.tensor([1, 1, 0])
    mask = torch.ones(B, R, dtype=torch.long)
    data = TensorDict(
        {
            "prompts": torch.ones(B, P, dtype=torch.long),
            "responses": torch.ones(B, R, dtype=torch.long),
            "attention_mask": torch.ones(B, P + R, dtype=torch.long),
            "response_mask": mask,
            "old_log_probs": old,
            "ref_log_prob": ref,
            "advantages": adv[:, None] * mask,
            KEEP_KEY: keep,
            EXPERT_KEY: torch.zeros(B, dtype=torch.long),
            PG_DENOM_KEY: torch.full((B,), 2.0),
            BC_DENOM_KEY: torch.zeros(B),
        },
        batch_size=B,
    )
    tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=B * R, global_batch_size=B)
    # veRL's flat model output: P + R slots per row, a response token's log-prob one slot early
    flat = torch.cat([torch.cat([torch.zeros(P - 1), lp[i], torch.zeros(1)]) for i in range(B)])
    loss, _ = raif_actor_loss(cfg, {"log_probs": flat}, data, bc_coef=0.0)

    kmask = mask * keep[:, None]
    ratio = torch.exp(torch.clamp(lp - old, -20, 20))
    a = adv[:, None].expand(B, R)
    clipped = torch.maximum(-a * ratio, -a * torch.clamp(ratio, 1 - cfg.clip_ratio_low, 1 + cfg.clip_ratio_high))
    if dual_clip_c is None:
        pg, _ = algo.ppo_clip_loss(lp, old, adv, kmask, cfg.clip_ratio_low, cfg.clip_ratio_high, agg, 2.0)
        torch.testing.assert_close(pg, algo.agg_loss(clipped, kmask, agg, 2.0))  # the native loss, by hand
    else:
        pg = algo.agg_loss(torch.where(a < 0, torch.minimum(clipped, -a * dual_clip_c), clipped), kmask, agg, 2.0)
    expected = pg + cfg.kl_loss_coef * algo.agg_loss(algo.k3_kl(lp, ref), kmask, agg, 2.0)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-4)
    value = float(loss.detach())
    assert value > 1e8 if dual_clip_c is None else value < 10  # the ratio e^20 is or is not capped
    loss.backward()
    assert torch.isfinite(lp.grad).all()


# ----------------------------------------------------------------------------- cluster launch


def test_dry_run_prints_the_resolved_config_and_never_the_judge_key(shards, tmp_path, monkeypatch):
    import json

    from raif_train.verl.launch import job_submit_command

    monkeypatch.setenv("RAIF_JUDGE_BASE_URL", "http://judge.example/v1")
    monkeypatch.setenv("RAIF_JUDGE_MODEL", "judge")
    monkeypatch.setenv("RAIF_JUDGE_API_KEY", "sekret")
    monkeypatch.delenv("TENSORBOARD_DIR", raising=False)
    rec = load_recipe(RECIPES[0], data=str(shards), output_dir=str(tmp_path / "run"))
    lines: list[str] = []
    assert run_verl(rec, dry_run=True, ray_address="http://head:8265", echo=lines.append) == 0
    text = "\n".join(lines)
    assert "${" not in text  # every interpolation resolved: the values the run will use
    assert f"max_model_len: {rec.data.max_prompt_length + 32 + rec.data.max_response_length}" in text
    assert "path: pkg://raif_rewards.verl_plugin" in text
    assert "sekret" not in text and "RAIF_JUDGE_API_KEY" in text and "RAIF_JUDGE_BASE_URL" in text
    # the job actually submitted carries the judge and TensorBoard settings in its runtime environment
    cmd = job_submit_command(build_plan(rec), rec, "http://head:8265")
    env = json.loads(cmd[cmd.index("--runtime-env-json") + 1])["env_vars"]
    assert env["RAIF_JUDGE_API_KEY"] == "sekret" and env["RAIF_JUDGE_MODEL"] == "judge"
    assert env["TENSORBOARD_DIR"] == str((tmp_path / "run").resolve() / "tensorboard")


def test_a_local_run_without_its_attention_kernel_is_refused_before_ray(shards, tmp_path, monkeypatch):
    """One node, one line: flash_attention_2 (veRL's default) needs flash-attn importable here; `sdpa`
    through the override the message names needs nothing."""
    from raif_train.verl import cluster

    # A module that can never import stands in for a missing flash-attn (deterministic on any machine).
    monkeypatch.setitem(cluster._ATTENTION_MODULES, "flash_attention_2", "raif_no_such_flash_attn")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    started: list = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: started.append((cmd, env)) or 0)
    rec = load_recipe(ROOT / "pipelines" / "verl_qwen2.5_1.5b_4gpu.yaml", data=str(shards), output_dir=str(tmp_path / "run"))
    with pytest.raises(VerlConfigError, match="raif_no_such_flash_attn") as err:
        run_verl(rec, dry_run=False, ray_address=None, extra_overrides=[], echo=lambda _: None)
    assert cluster.ATTENTION_OVERRIDE in str(err.value) and "\n" not in str(err.value) and not started
    assert run_verl(rec, extra_overrides=[cluster.ATTENTION_OVERRIDE], echo=lambda _: None) == 0
    ((cmd, env),) = started
    assert cluster.ATTENTION_OVERRIDE in cmd and env["TENSORBOARD_DIR"].endswith("tensorboard")
