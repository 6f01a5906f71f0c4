"""Step time of raif_train's local GRPO backend vs TRL's GRPOTrainer on the same tiny model and batch.

Both train the in-code tiny Llama (saved to a folder first: TRL reloads its KL reference by name) on the
same prompts, G, lengths, KL coefficient and reward, in this one process; prints s/step and the ratio.
Usage: python benchmarks/bench_train.py [--steps 12] [--prompts 1] [--group 8] [--length 64] [--threads 1] [--rounds 2]
       python benchmarks/bench_train.py --throughput  # tokens/s, 0.5B-class random model (CUDA; small on CPU)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from raif_rewards import check
from raif_train.local.scoring import Score, ScoreRequest
from raif_train.local.tiny import build_tiny_model, build_tiny_tokenizer
from raif_train.local.trainer import GRPOTrainer
from raif_train.recipe import load_recipe

CHECKS = ("change_case:english_lowercase", "punctuation:no_comma")
LENGTHS: dict[str, float] = {}
PROMPT = "write a short answer in lowercase without any comma about your day ."


def reward_value(text: str) -> float:
    return sum(check(c, text, {}) for c in CHECKS) / len(CHECKS)


def ours_score(req: ScoreRequest) -> Score:
    v = reward_value(req.response)
    return Score(v, v, True)


def write_data(d: Path, n: int) -> None:
    gt = {
        "style": "rule",
        "lang": "en",
        "tree": {"op": "and", "children": [{"op": "check", "id": c, "kwargs": {}} for c in CHECKS]},
    }
    rows = [
        {
            "data_source": "bench",
            "prompt": [{"role": "user", "content": PROMPT}],
            "ability": "if",
            "reward_model": {"style": "rule", "ground_truth": json.dumps(gt)},
            "extra_info": {"uid": f"b{i}"},
        }
        for i in range(n)
    ]
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), d / "train-00000.parquet")


def bench_ours(tmp: Path, a: argparse.Namespace, workers: int) -> list[float]:
    rec = load_recipe(
        None,
        model="tiny",
        data=str(tmp / "data"),
        output_dir=str(tmp / f"ours{workers}"),
        max_steps=a.steps,
        rollout_prompts=a.prompts,
        group_size=a.group,
        direct_per_group=0,
        superior_cot=False,  # TRL has no direct-answer share: every sample trains in both
        mini_batch_size=a.prompts * a.group,
        micro_batch_size=a.prompts * a.group,
        max_prompt_length=48,
        max_response_length=a.length,
        min_response_length=0,  # EOS allowed, as in TRL
        kl_coef=0.001,
        lr=1e-3,
        reward_workers=workers,
        tensorboard=False,
        save_every=10**6,
        resume=False,
    )
    rows = GRPOTrainer(rec, score_fn=ours_score).train()
    LENGTHS["raif"] = statistics.mean(r["response_length"] for r in rows)
    return [r["seconds"] for r in rows]


def bench_trl(tmp: Path, a: argparse.Namespace, model_dir: Path) -> list[float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig
    from trl import GRPOTrainer as TRLGRPO

    tok = build_tiny_tokenizer()
    text = tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    ds = Dataset.from_list([{"prompt": text}] * (a.prompts * (a.steps + 2)))

    def reward(completions, completion_ids=None, **_):
        if completion_ids is not None:
            lens.extend(len(c) for c in completion_ids)
        return [reward_value(c) for c in completions]

    lens: list[int] = []

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t)

    cfg = GRPOConfig(
        output_dir=str(tmp / "trl"),
        per_device_train_batch_size=a.prompts * a.group,
        num_generations=a.group,
        max_completion_length=a.length,
        beta=0.001,
        learning_rate=1e-3,
        max_steps=a.steps,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=10**6,
        temperature=1.0,
        top_k=0,
        seed=0,
        dataloader_num_workers=0,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = TRLGRPO(
        model=model,
        reward_funcs=reward,
        args=cfg,
        train_dataset=ds,
        processing_class=tok,
        callbacks=[Clock()],
    )
    trainer.train()
    LENGTHS["trl"] = statistics.mean(lens) if lens else float("nan")
    return times


def throughput(a: argparse.Namespace) -> None:
    """tokens/s of sampling and of one GRPO update for a randomly initialised Qwen2: the 0.5B-class
    shape (Qwen2.5-0.5B) on CUDA, or a 2-layer cut of it on CPU so the path is exercised anywhere."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from raif_train.local.rollout import Sample, generate, response_log_probs

    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    cfg = Qwen2Config(
        vocab_size=151936 if cuda else 8192,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24 if cuda else 2,
        num_attention_heads=14,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=4096,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    amp = torch.bfloat16 if cuda else None
    B, P, L = (a.prompts * a.group, 128, a.length) if cuda else (8, 32, 16)
    prompts = [torch.randint(0, 150000, (P,)).tolist() for _ in range(B)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for it in range(3 if cuda else 1):
        sync()
        t0 = time.perf_counter()
        outs = generate(
            model,
            prompts,
            pad_id=151643,
            eos_id=151645,
            max_new_tokens=L,
            min_new_tokens=L,
            temperature=1.0,
            top_p=1.0,
            seed=it,
            device=dev,
            autocast_dtype=amp,
        )
        sync()
        t1 = time.perf_counter()
        samples = [Sample(p, o, "") for p, o in zip(prompts, outs, strict=True)]
        mb = 16
        for s0 in range(0, B, mb):
            lp, m = response_log_probs(
                model, samples[s0 : s0 + mb], pad_id=151643, temperature=1.0, device=dev, autocast_dtype=amp
            )
            (-(lp * m).sum() / m.sum()).backward()
        opt.step()
        opt.zero_grad()
        sync()
        t2 = time.perf_counter()
        toks = sum(len(o) for o in outs)
        print(
            f"{dev.type} Qwen2 {n_params / 1e6:.0f}M params, iter {it}: {B} x {L} new tokens: "
            f"generate {toks / (t1 - t0):,.0f} tok/s, update {B * (P + L) / (t2 - t1):,.0f} tok/s, "
            f"step {t2 - t0:.2f}s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--prompts", type=int, default=1)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--throughput", action="store_true", help="tokens/s of a 0.5B-class model (CUDA)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.throughput:
        throughput(a)
        return
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        write_data(tmp / "data", 64)
        tok = build_tiny_tokenizer()
        model = build_tiny_model(tok, seed=0, max_positions=256)
        model.save_pretrained(tmp / "tiny")
        tok.save_pretrained(tmp / "tiny")
        n_params = sum(p.numel() for p in model.parameters())
        skip = 2  # warm-up steps excluded from both
        trl_t: list[float] = []
        ours0: list[float] = []
        ours1: list[float] = []
        # Rounds interleave the three so a burst of load from other processes hits all of them alike.
        for _ in range(a.rounds):
            trl_t += bench_trl(tmp, a, tmp / "tiny")[skip:]
            ours0 += bench_ours(tmp, a, workers=0)[skip:]
            ours1 += bench_ours(tmp, a, workers=1)[skip:]
    med = statistics.median
    print(
        f"tiny Llama {n_params / 1e6:.2f}M params, {a.prompts} prompt(s) x G={a.group} completions x "
        f"{a.length} tokens, KL 0.001, {a.threads} threads, median over {len(trl_t)} steps"
    )
    print(f"mean completion length: TRL {LENGTHS['trl']:.1f} tokens, raif {LENGTHS['raif']:.1f} tokens")
    print(f"TRL GRPOTrainer         : {med(trl_t):.3f} s/step")
    print(
        f"raif local (inline rwd) : {med(ours0):.3f} s/step   ratio raif/TRL = {med(ours0) / med(trl_t):.2f}"
    )
    print(
        f"raif local (1 rwd proc) : {med(ours1):.3f} s/step   ratio raif/TRL = {med(ours1) / med(trl_t):.2f}"
    )


if __name__ == "__main__":
    main()
