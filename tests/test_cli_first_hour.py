"""A new user's first hour (issue 14): the documented commands work as written, through the installed
console scripts with piped output, as CI runs them."""

from __future__ import annotations

import yaml

from tests.cli_run import ROOT, run_cli


# ---------------------------------------------------------------- 1. learning-rate overrides


def test_docs_recipe_example_with_exponent_lr_resolves():
    for flag in ("lr=2e-6", "optim.lr=2e-6"):
        res = run_cli("raif-train", "recipe", "--recipe", str(ROOT / "pipelines" / "train_qwen2.5_7b.yaml"), "--set", flag)
        assert res.returncode == 0, res.stderr
        optim = yaml.safe_load(res.stdout)["optim"]
        assert optim["lr"] == 2e-6
        assert optim["min_lr"] <= optim["lr"]


def test_lr_alone_scales_min_lr_and_explicit_min_lr_wins():
    res = run_cli("raif-train", "recipe", "--model", "tiny", "--set", "lr=1e-3")
    assert res.returncode == 0, res.stderr
    tiny = yaml.safe_load(res.stdout)["optim"]
    assert tiny["lr"] == 1e-3 and tiny["min_lr"] == 1e-4  # the preset's 3e-3 -> 3e-4, scaled
    res = run_cli("raif-train", "recipe", "--model", "tiny", "--set", "lr=1e-3", "--set", "min_lr=0")
    assert yaml.safe_load(res.stdout)["optim"]["min_lr"] == 0.0


def test_grpo_tiny_with_a_small_lr_is_not_refused_for_min_lr(tmp_path):
    # the recipe is resolved before any data is read: a missing data directory is the error to reach
    res = run_cli(
        "raif-train", "grpo", "--model", "tiny", "--lr", "2e-6", "--data", str(tmp_path / "none"),
        "--output-dir", str(tmp_path / "out"), "--max-steps", "1", "--quiet",
    )
    assert res.returncode == 1 and "no such file" in res.stderr and "min_lr" not in res.stderr, res.stderr
