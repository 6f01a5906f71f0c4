"""Training recipes: typed loading, key-path errors, overrides, and the shipped pipelines/train_*.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raif_train.recipe import TINY_PRESET, RecipeError, load_recipe, recipe_from_dict, recipe_to_dict

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "pipelines").glob("train_*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_defaults_are_raif_settings():
    r = load_recipe()
    assert (r.optim.lr, r.optim.min_lr, r.optim.warmup_ratio) == (1e-6, 1e-7, 0.03)
    assert (r.optim.adam_beta1, r.optim.adam_beta2, r.optim.grad_clip, r.optim.lr_schedule) == (
        0.9,
        0.95,
        1.0,
        "cosine",
    )
    assert (r.rollout.group_size, r.rollout.direct_per_group, r.rollout.temperature) == (8, 2, 1.0)
    assert (r.algo.kl_coef, r.algo.kl_estimator, r.algo.bc_coef, r.algo.loss_agg_mode) == (
        0.001,
        "k3",
        1.0,
        "seq-mean-token-mean",
    )
    assert r.algo.superior_cot and r.algo.use_kl_loss and r.backend.backend == "local"
    assert r.algo.dual_clip_c is None  # the paper clips at 0.2 only


@pytest.mark.parametrize(
    "text, key, expect",
    [
        ("optim:\n  lr: fast\n", "optim.lr", "expected float"),
        ("optim:\n  lrr: 1.0\n", "optim.lrr", "did you mean 'lr'"),
        ("rollout:\n  group_size: 8.5\n", "rollout.group_size", "expected int"),
        ("rollout:\n  group_size: true\n", "rollout.group_size", "expected int"),
        ("algo:\n  loss_agg_mode: sum\n", "algo.loss_agg_mode", "one of"),
        ("data:\n  constraint_subset: [1]\n", "data.constraint_subset[0]", "expected str"),
        ("data:\n  constraint_subset: [nope:x]\n", "data.constraint_subset", "unknown checker id"),
        ("trainer: {}\n", "trainer", "unknown key"),
        ("optim: 3\n", "optim", "expected a mapping"),
        ("rollout:\n  direct_per_group: 8\n", "rollout.direct_per_group", "[0, group_size)"),
        ("optim:\n  mini_batch_size: 100\n", "optim.mini_batch_size", "must divide"),
        ("backend:\n  backend: slurm\n", "backend.backend", "'local', 'verl'"),
        ("algo:\n  bc_rows_per_step: 0\n", "algo.bc_rows_per_step", "must be >= 1 or null"),
        ("algo:\n  dual_clip_c: 1.0\n", "algo.dual_clip_c", "must be > 1"),
        ("algo:\n  dual_clip_c: three\n", "algo.dual_clip_c", "expected"),
    ],
)
def test_bad_recipes_name_the_key(tmp_path, text, key, expect):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    msg = str(e.value)
    assert f"'{key}'" in msg and expect in msg and str(path) in msg


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="invalid YAML at line 2"):
        load_recipe(write(tmp_path, "a: 1\n  b: [\n"))
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "missing.yaml")


def test_overrides_by_bare_or_dotted_name_are_type_checked(tmp_path):
    r = load_recipe(write(tmp_path, "optim:\n  lr: 2.0e-6\n"), lr=3e-6, **{"rollout.group_size": 4})
    assert r.optim.lr == 3e-6 and r.rollout.group_size == 4
    assert load_recipe(None, kl_coef=0).algo.kl_coef == 0.0  # int accepted for float
    with pytest.raises(RecipeError, match="'rollout.group_size': expected int"):
        load_recipe(None, group_size="8")
    with pytest.raises(RecipeError, match="did you mean"):
        load_recipe(None, group_sise=4)


def test_tiny_preset_selected_by_model_tiny_and_roundtrips():
    r = load_recipe(None, model="tiny", seed=3)
    assert r.name == "tiny" and r.algo.reward_mode == "raif" and r.train.seed == 3
    # the paper's path: think/answer format, G=8 with 2 direct answers, superior-CoT, BC, two updates per step
    assert r.model.response_format == "think_answer" and r.data.constraint_subset is None
    assert (r.rollout.rollout_prompts, r.rollout.group_size, r.rollout.direct_per_group) == (32, 8, 2)
    assert r.algo.superior_cot and r.algo.bc_coef == 1.0 and r.optim.mini_batch_size == 128
    assert recipe_from_dict(recipe_to_dict(r)) == r


def test_train_tiny_yaml_equals_the_builtin_preset():
    path = ROOT / "pipelines" / "train_tiny.yaml"
    assert recipe_to_dict(load_recipe(path)) == recipe_to_dict(recipe_from_dict(TINY_PRESET))


def test_shipped_recipes_exist_and_load():
    names = {p.name for p in RECIPES}
    assert {
        "train_tiny.yaml",
        "train_qwen2.5_1.5b.yaml",
        "train_qwen2.5_7b.yaml",
        "train_r1_distill_qwen_1.5b.yaml",
    } <= names
    for p in RECIPES:
        r = load_recipe(p)
        assert r.description, f"{p.name} must say what it reproduces"
        assert "#" in p.read_text(), f"{p.name} must be documented with comments"
    r1 = load_recipe(ROOT / "pipelines" / "train_r1_distill_qwen_1.5b.yaml")
    assert r1.model.response_format == "r1"


def test_cli_recipe_command_prints_resolved_yaml_and_errors_in_one_line(tmp_path):
    exe = [sys.executable, "-m", "raif_train.cli"]
    ok = subprocess.run(
        [*exe, "recipe", "--model", "tiny", "--set", "lr=0.01"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert yaml.safe_load(ok.stdout)["optim"]["lr"] == 0.01
    bad = subprocess.run(
        [*exe, "recipe", "--recipe", str(write(tmp_path, "optim:\n  lr: x\n"))],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "optim.lr" in bad.stderr and "Traceback" not in bad.stderr
