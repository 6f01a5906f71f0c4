"""One-GPU check of both training backends, offline: a random-initialised Qwen2-shaped model (Qwen2.5-0.5B's
dimensions, ~0.5B parameters) and a byte-level BPE tokenizer built in code, 5 native GRPO steps in bf16,
then 3 veRL steps with vLLM rollouts; prints tokens/s and peak GPU memory; exits non-zero on any failure.

`--cpu-only` stops before the GPU (model and tokenizer files, data, both recipes, the veRL dry-run): CI runs
that part with `--size tiny`. Run through scripts/gpu_check.sh (time limit, optional offline wheels).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Qwen2.5-0.5B's shape (hidden, MLP, layers, heads, KV heads, vocabulary rows); "tiny" keeps CI quick.
SIZES: dict[str, dict[str, int]] = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=2048),
}  # fmt: skip
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
NATIVE_STEPS, VERL_STEPS = 5, 3


def say(msg: str) -> None:
    print(f"gpu_check: {msg}", flush=True)


def corpus(data: Path) -> list[str]:
    """Text the tokenizer's merges are learnt from: the run's own prompts plus the answer format."""
    import pyarrow.parquet as pq

    texts = []
    for shard in sorted((data / "train").glob("*.parquet")):
        for messages in pq.read_table(shard, columns=["prompt"]).column("prompt").to_pylist():
            texts += [m["content"] for m in messages]
    return texts + ["<think> plan the answer </think> <answer> The answer, in 3 words. </answer>"] * 50


def build_tokenizer(out: Path, vocab_size: int, texts: list[str]):
    """A byte-level BPE tokenizer trained in code, saved so that transformers' Qwen2 tokenizer class (which
    a qwen2 config.json imposes on reload) reads the same vocabulary and merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def build_model(out: Path, size: str, vocab: int, tok) -> int:
    """Random-initialised Qwen2ForCausalLM in bf16 (seeded); returns its parameter count."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dims: dict[str, Any] = dict(SIZES[size])
    dims["vocab_size"] = max(dims["vocab_size"], vocab)
    config = Qwen2Config(
        **dims,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model: Any = Qwen2ForCausalLM(config)
    model = model.to(torch.bfloat16)
    model.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def check_tokenizer(tok) -> None:
    """What both backends rely on: the chat template, EOS, and exact round trips of the answer format."""
    text = "<think> first plan </think> <answer> The Answer, in 3 words. </answer>"
    ids = tok.encode(text, add_special_tokens=False)
    if tok.decode(ids) != text:
        raise SystemExit(f"gpu_check: tokenizer round trip failed: {tok.decode(ids)!r}")
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    if not prompt.endswith("<|im_start|>assistant\n") or tok.eos_token != "<|im_end|>":
        raise SystemExit(f"gpu_check: unexpected chat template or EOS: {prompt!r}, {tok.eos_token!r}")


def recipes(work: Path, model_dir: Path, data: Path, size: str) -> tuple[Path, Path]:
    """The native and the veRL recipe: the paper's algorithm and format, a short run's sizes."""
    tiny = size == "tiny"
    common: dict[str, Any] = {
        "model": {"model": str(model_dir), "response_format": "think_answer", "dtype": "bfloat16"},
        "data": {"data": str(data), "max_prompt_length": 64 if tiny else 256,
                 "max_response_length": 16 if tiny else 256},
        "rollout": {"rollout_prompts": 4 if tiny else 8, "group_size": 8, "direct_per_group": 2},
        "algo": {"bc_coef": 0.0},
        "optim": {"lr": 1e-6, "min_lr": 1e-7, "mini_batch_size": 32 if tiny else 64,
                  "micro_batch_size": 8 if tiny else 16},
    }  # fmt: skip
    native = {
        **common,
        "name": "gpu-check-native",
        "train": {"max_steps": NATIVE_STEPS, "save_every": 1000, "output_dir": str(work / "native"),
                  "tensorboard": False, "resume": False},
        "backend": {"backend": "local", "device": "cuda"},
    }  # fmt: skip
    verl = {
        **common,
        "name": "gpu-check-verl",
        "rollout": {**common["rollout"], "rollout_engine": "vllm", "reward_workers": 1},
        "model": {**common["model"], "gradient_checkpointing": True},
        "train": {"max_steps": VERL_STEPS, "save_every": 1000, "output_dir": str(work / "verl"),
                  "tensorboard": False, "resume": False},
        "backend": {"backend": "verl", "n_gpus_per_node": 1, "nnodes": 1, "gpu_memory_utilization": 0.35},
    }  # fmt: skip
    paths = (work / "native.yaml", work / "verl.yaml")
    for path, body in zip(paths, (native, verl), strict=True):
        path.write_text(yaml.safe_dump(body, sort_keys=False))
    return paths


def verl_extra_overrides() -> list[str]:
    from raif_train.verl import cluster

    extra: list[str] = []
    if cluster.attention_problem(cluster.DEFAULT_ATTENTION):
        say("flash-attn does not import here: the veRL run uses sdpa attention")
        extra.append(cluster.ATTENTION_OVERRIDE)
    return extra


def train_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "raif_train.cli", *args]


def run(cmd: list[str]) -> str:
    """Run a step; on failure stop with its last lines of output (exit status 1)."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"gpu_check: {' '.join(cmd[1:4])} ... failed (status {proc.returncode}):\n{tail}")
    return proc.stdout


def cpu_part(work: Path, size: str) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    model_dir, data = work / "model", work / "data"
    t0 = time.perf_counter()
    n_prompts = 64 if size == "tiny" else 256
    run([sys.executable, "-m", "raif_data.cli", "evolve", "--output-dir", str(data),
         "--num-prompts", str(n_prompts), "--seed", "0"])  # fmt: skip
    tok = build_tokenizer(model_dir, 4000 if size == "0.5b" else 600, corpus(data))
    check_tokenizer(tok)
    n_params = build_model(model_dir, size, len(tok), tok)
    say(
        f"data: {n_prompts} prompts; model: Qwen2-shaped, {n_params / 1e6:.1f}M parameters; tokenizer: "
        f"{len(tok)} tokens ({time.perf_counter() - t0:.0f} s)"
    )
    native, verl = recipes(work, model_dir, data, size)
    run(train_cli("recipe", "--recipe", str(native)))
    extra = sum((["--verl-override", o] for o in verl_extra_overrides()), [])
    (work / "verl_dry_run.txt").write_text(run(train_cli("grpo", "--recipe", str(verl), "--dry-run", *extra)))
    say(f"cpu part ok: {model_dir}, {data}, {native.name}, {verl.name}, veRL config in verl_dry_run.txt")
    return native, verl


def native_part(recipe: Path) -> dict[str, float]:
    import torch

    from raif_train.local.trainer import GRPOTrainer
    from raif_train.recipe import load_recipe

    torch.cuda.reset_peak_memory_stats()
    rows: list[dict] = []
    trainer = GRPOTrainer(load_recipe(recipe), on_step=rows.append)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    if len(rows) != NATIVE_STEPS:
        raise SystemExit(f"gpu_check: native backend ran {len(rows)} steps, expected {NATIVE_STEPS}")
    rec = load_recipe(recipe)
    n = rec.rollout.rollout_prompts * rec.rollout.group_size
    tokens = sum(r["response_length"] * n for r in rows)
    out = {
        "steps": float(len(rows)),
        "tokens_per_s": tokens / wall,
        "rollout_tokens_per_s": sum(r["tokens_per_s"] for r in rows) / len(rows),
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 1024**3,
        "seconds": wall,
    }
    del trainer
    torch.cuda.empty_cache()
    return out


def verl_part(recipe: Path, work: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    extra = sum((["--verl-override", o] for o in verl_extra_overrides()), [])
    proc = subprocess.run(train_cli("grpo", "--recipe", str(recipe), *extra), capture_output=True, text=True)
    (work / "verl_log.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise SystemExit("gpu_check: veRL run failed (log in verl_log.txt):\n" + "\n".join(tail))

    def values(key: str) -> list[float]:
        return [float(v) for v in re.findall(rf"{re.escape(key)}:([0-9.eE+-]+)", proc.stdout)]

    steps = sorted({int(s) for s in re.findall(r"step:(\d+) -", proc.stdout)})
    if len(steps) < VERL_STEPS:
        raise SystemExit(f"gpu_check: veRL logged steps {steps}, expected {VERL_STEPS} (log in verl_log.txt)")
    throughput, memory = values("perf/throughput"), values("perf/max_memory_allocated_gb")
    return {
        "steps": float(len(steps)),
        "tokens_per_s": sum(throughput) / max(len(throughput), 1),
        "peak_memory_gb": max(memory, default=float("nan")),
        "seconds": time.perf_counter() - t0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "gpu_check")
    ap.add_argument("--size", choices=sorted(SIZES), default="0.5b")
    ap.add_argument("--cpu-only", action="store_true", help="stop before the GPU (what CI runs)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded: everything is built here
    native, verl = cpu_part(args.workdir.resolve(), args.size)
    if args.cpu_only:
        return 0
    import torch

    if not torch.cuda.is_available():
        say("no CUDA device visible: run with --cpu-only, or on the GPU machine")
        return 2
    say(f"GPU: {torch.cuda.get_device_name(0)}")
    results = {"native": native_part(native), "verl": verl_part(verl, args.workdir.resolve())}
    for name, r in results.items():
        say(
            f"{name}: {int(r['steps'])} steps in {r['seconds']:.0f} s, {r['tokens_per_s']:.0f} tokens/s, "
            f"peak GPU memory {r['peak_memory_gb']:.1f} GiB"
        )
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
