"""The CPU part of scripts/gpu_check.sh (everything before the GPU) with a tiny model: data, a Qwen2-shaped
model and byte-level tokenizer built in code, both recipes, and the veRL dry-run. Needs veRL (ci_verl.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from raif_train.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_cpu_part_builds_everything_up_to_the_gpu(tmp_path):
    work = tmp_path / "gc"
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--cpu-only", "--size", "tiny", "--workdir", str(work)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "cpu part ok" in proc.stdout
    config = json.loads((work / "model" / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["tie_word_embeddings"] is True
    assert (work / "model" / "model.safetensors").is_file()

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(work / "model")  # what both backends load from the folder
    assert type(tok).__name__ == "Qwen2Tokenizer" and tok.eos_token == "<|im_end|>"
    text = "<think> a plan </think> <answer> Yes, done. </answer>"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert config["vocab_size"] >= len(tok) and config["eos_token_id"] == tok.eos_token_id

    native = load_recipe(work / "native.yaml")
    assert (native.backend.backend, native.backend.device, native.train.max_steps) == ("local", "cuda", 5)
    assert native.model.dtype == "bfloat16" and native.model.response_format == "think_answer"
    verl = load_recipe(work / "verl.yaml")
    assert (verl.backend.backend, verl.rollout.rollout_engine, verl.train.max_steps) == ("verl", "vllm", 3)
    assert verl.model.model == native.model.model == str(work.resolve() / "model")

    dry = (work / "verl_dry_run.txt").read_text()
    resolved = yaml.safe_load(dry.split("# resolved veRL config")[1].split("\n", 1)[1])
    rollout = resolved["actor_rollout_ref"]["rollout"]
    assert rollout["name"] == "vllm" and rollout["max_model_len"] == 64 + 32 + 16
    assert resolved["actor_rollout_ref"]["model"]["path"] == str(work.resolve() / "model")
    assert not (work / "results.json").exists()  # the GPU part did not run
