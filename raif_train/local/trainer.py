"""The local (single-process PyTorch + transformers) GRPO loop: rollout, score, mask, update, log, save.

Each step is one rollout of `rollout_prompts` x G samples followed by its optimiser update(s); runs resume exactly.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from raif_rewards.errors import RaifError
from raif_rewards.outdir import ensure_output_dir
from raif_rewards.reward import RewardConfig, accuracy_from_fraction
from raif_train import algo
from raif_train.local.data import Cursor, PromptRecord, SFTRecord, fitting_experts, load_prompts, load_sft
from raif_train.local.rollout import Sample, generate, pad_batch, render_prompt, response_log_probs
from raif_train.local.runstate import latest_checkpoint
from raif_train.local.scoring import LibraryScore, Score, ScoreFn, Scorer, ScoreRequest
from raif_train.recipe import Recipe, recipe_to_dict

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TrainError", "GRPOTrainer", "load_model_and_tokenizer", "lr_lambda"]

log = logging.getLogger(__name__)

# Keys of a metrics row that measure time, not training (excluded when comparing runs).
TIMING_KEYS = ("seconds", "elapsed", "tokens_per_s", "rollout_seconds", "update_seconds")


class TrainError(RaifError, RuntimeError):
    """A training run cannot start or continue (bad model path, incompatible checkpoint, ...)."""


def load_model_and_tokenizer(recipe: Recipe, texts: Iterable[str] = ()):
    """The policy and tokenizer the recipe names: the in-code tiny pair (its vocabulary also holds the
    words of `texts`: the run's expert responses), or transformers from path/hub."""
    name = recipe.model.model
    if name == "tiny":
        from raif_train.local.tiny import build_tiny_model, build_tiny_tokenizer

        tiny_tok = build_tiny_tokenizer(texts)
        positions = recipe.data.max_prompt_length + recipe.data.max_response_length + 8
        return build_tiny_model(tiny_tok, seed=recipe.train.seed, max_positions=positions), tiny_tok
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name, trust_remote_code=recipe.model.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            name, trust_remote_code=recipe.model.trust_remote_code, dtype=torch.float32
        )
    except OSError as e:
        raise TrainError(f"cannot load model {name!r}: {e}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    if recipe.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model, tok


def lr_lambda(total: int, warmup: int, min_ratio: float, schedule: str) -> Callable[[int], float]:
    """LR multiplier per update: linear warm-up then cosine to min_ratio (or constant).

    Warm-up starts at 1/warmup rather than 0 so the first update is not wasted.
    """

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


@dataclass
class _Item:
    record: PromptRecord
    direct: bool
    sample: Sample
    score: Score | None = None  # set by GRPOTrainer._collect


class GRPOTrainer:
    """Owns model, reference, optimiser, data cursors and the output directory of one run."""

    def __init__(
        self,
        recipe: Recipe,
        score_fn: ScoreFn | None = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.r = recipe
        # The shared reward library unless a caller (tests, benchmarks) supplies its own.
        self.score_fn = score_fn or LibraryScore(recipe.model.response_format, recipe.algo.reward_mode)
        self._reward_config = RewardConfig(response_format=recipe.model.response_format, accuracy=recipe.algo.reward_mode)
        self.on_step = on_step
        self.out = Path(recipe.train.output_dir)
        if recipe.data.data is None:
            raise TrainError("no training data: set data (--data DIR) to a directory of Parquet shards")
        self.prompts = load_prompts(recipe.data.data, recipe.data.constraint_subset)
        if recipe.data.max_prompts is not None:
            self.prompts = self.prompts[: recipe.data.max_prompts]
        self.sft: list[SFTRecord] = load_sft(recipe.data.sft_data) if recipe.data.sft_data else []
        b = recipe.backend
        if b.backend != "local":
            raise TrainError(f"GRPOTrainer is the local backend; the recipe asks for backend {b.backend!r}")
        # Backend-neutral recipes carry cluster fields; the local backend runs on one device and samples
        # with transformers' generate, so say so instead of silently ignoring them.
        if recipe.rollout.rollout_engine != "hf":
            log.warning(
                "local backend: rollout_engine=%s ignored, sampling with transformers generate",
                recipe.rollout.rollout_engine,
            )
        if b.nnodes * b.n_gpus_per_node > 1 or b.tensor_parallel_size > 1:
            log.warning(
                "local backend: runs on one device; nnodes/n_gpus_per_node/tensor_parallel_size ignored"
            )
        self.device = self._device()
        self.amp = torch.bfloat16 if self._use_bf16() else None

        # The tiny vocabulary takes the expert responses' words (what the model must write); prompt-only
        # words stay <unk>: each vocabulary word costs the output layer, which dominates a tiny model.
        self.model, self.tok = load_model_and_tokenizer(recipe, [r.response for r in self.sft])
        if self.sft:
            self.sft = self._fitting_experts(self.sft)
        self.model.to(self.device).train()
        # Stop at the tokenizer's EOS and at the model's own stop ids (e.g. Qwen2.5's <|im_end|> and
        # <|endoftext|>), so a response never runs on past the end of its turn.
        gen_eos = self.model.generation_config.eos_token_id
        gen_eos = [] if gen_eos is None else [gen_eos] if isinstance(gen_eos, int) else list(gen_eos)
        self.eos_ids = list(dict.fromkeys([self.tok.eos_token_id, *gen_eos]))
        self.ref = None
        if recipe.algo.use_kl_loss and recipe.algo.kl_coef > 0:
            self.ref = copy.deepcopy(self.model).eval()
            for p in self.ref.parameters():
                p.requires_grad_(False)
        o = recipe.optim
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=o.lr, betas=(o.adam_beta1, o.adam_beta2), weight_decay=o.weight_decay
        )
        self.total_steps = self._total_steps()
        samples = recipe.rollout.rollout_prompts * recipe.rollout.group_size
        self.updates_per_step = samples // o.mini_batch_size * o.ppo_epochs
        total_updates = self.total_steps * self.updates_per_step
        warmup = math.ceil(o.warmup_ratio * total_updates)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lr_lambda(total_updates, warmup, o.min_lr / o.lr, o.lr_schedule)
        )
        self.cursor = Cursor(len(self.prompts), recipe.train.seed, recipe.data.shuffle)
        self.sft_cursor = Cursor(max(1, len(self.sft)), recipe.train.seed + 1, True)
        self.step = 0
        self._prompt_cache: dict[tuple[int, bool], tuple[list[int], str]] = {}
        self._bc_cache: dict[int, tuple[list[int], list[int]]] = {}
        self._tb: SummaryWriter | None = None
        self._wandb = None

    # ------------------------------------------------------------------ setup helpers
    def _fitting_experts(self, rows: list[SFTRecord]) -> list[SFTRecord]:
        """Expert rows whose response (and EOS) fits max_response_length (:func:`fitting_experts`)."""
        limit = self.r.data.max_response_length
        try:
            fit, left_out = fitting_experts(rows, lambda t: self.tok(t, add_special_tokens=False)["input_ids"], limit)
        except RaifError as exc:
            raise TrainError(str(exc)) from None
        if left_out:
            log.warning("behaviour cloning: %d of %d expert rows are longer than max_response_length=%d "
                        "tokens and are left out", left_out, len(rows), limit)
        return fit

    def _device(self) -> torch.device:
        want = self.r.backend.device
        if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise TrainError("device cuda requested but no CUDA GPU is available")
            return torch.device("cuda")
        return torch.device("cpu")

    def _use_bf16(self) -> bool:
        d = self.r.model.dtype
        return self.device.type == "cuda" and d in ("auto", "bfloat16")

    def _total_steps(self) -> int:
        if self.r.train.max_steps is not None:
            return self.r.train.max_steps
        per_epoch = math.ceil(len(self.prompts) / self.r.rollout.rollout_prompts)
        return max(1, per_epoch * self.r.train.epochs)

    # ------------------------------------------------------------------ checkpoints
    def _ckpt_dir(self, step: int) -> Path:
        return self.out / "checkpoints" / f"step_{step:06d}"

    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.out)

    def save(self) -> Path:
        d = self._ckpt_dir(self.step)
        tmp = d.with_name(d.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(self.model.state_dict(), tmp / "model.pt")
        torch.save({"optim": self.opt.state_dict(), "sched": self.sched.state_dict()}, tmp / "optim.pt")
        rng: dict[str, torch.Tensor | list[torch.Tensor]] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        state = {
            "step": self.step,
            "cursor": self.cursor.state(),
            "sft_cursor": self.sft_cursor.state(),
            "total_steps": self.total_steps,
            "recipe": recipe_to_dict(self.r),
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)  # a checkpoint exists only once complete
        kept = sorted(p for p in (self.out / "checkpoints").glob("step_*") if not p.name.endswith(".tmp"))
        for old in kept[: -self.r.train.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return d

    def load(self, d: Path) -> None:
        state = json.loads((d / "state.json").read_text())
        if state["total_steps"] != self.total_steps:
            raise TrainError(
                f"{d}: checkpoint planned {state['total_steps']} steps, this run {self.total_steps}; "
                "the LR schedule would differ (use the same max_steps or a fresh output dir)"
            )
        model = _load_tensors(d / "model.pt", self.device)
        opt = _load_tensors(d / "optim.pt", self.device)
        rng = _load_tensors(d / "rng.pt", "cpu")
        self.model.load_state_dict(model)
        self.opt.load_state_dict(opt["optim"])
        self.sched.load_state_dict(opt["sched"])
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.cursor.load(state["cursor"])
        self.sft_cursor.load(state["sft_cursor"])
        self.step = int(state["step"])
        self._truncate_metrics(self.step)
        log.info("resumed from %s at step %d", d, self.step)

    def _truncate_metrics(self, step: int) -> None:
        """Drop metrics rows written after the checkpoint (a crash between saves) so the file stays exact."""
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return
        rows = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        path.write_text("".join(r + "\n" for r in rows))

    # ------------------------------------------------------------------ rollout
    def _rollout(self, scorer: Scorer) -> tuple[list[_Item], list]:
        """Generate all samples of a step; scoring is submitted per chunk and collected by _collect."""
        r, tok = self.r, self.tok
        G, D = r.rollout.group_size, r.rollout.direct_per_group if r.algo.superior_cot else 0
        items: list[_Item] = []
        for i in self.cursor.take(r.rollout.rollout_prompts):
            rec = self.prompts[i]
            # The paper gives math prompts G reasoning samples; forced direct answers are for instructions.
            d = 0 if rec.style == "math" else D
            for j in range(G):
                direct = j >= G - d
                if (i, direct) not in self._prompt_cache:  # each prompt is templated and tokenized once
                    text, prefix = render_prompt(tok, rec.messages, r.model.response_format, direct)
                    ids = tok(text, add_special_tokens=False)["input_ids"][-r.data.max_prompt_length :]
                    self._prompt_cache[(i, direct)] = (ids, prefix)
                ids, prefix = self._prompt_cache[(i, direct)]
                items.append(_Item(rec, direct, Sample(list(ids), [], prefix)))
        chunk = max(1, r.rollout.generate_batch_size)
        pending = []
        for c0 in range(0, len(items), chunk):
            part = items[c0 : c0 + chunk]
            outs = generate(
                self.model,
                [it.sample.prompt_ids for it in part],
                pad_id=tok.pad_token_id,
                eos_id=self.eos_ids,
                max_new_tokens=r.data.max_response_length,
                min_new_tokens=r.data.min_response_length,
                temperature=r.rollout.temperature,
                top_p=r.rollout.top_p,
                seed=_mix(r.train.seed, self.step, c0),
                device=self.device,
                autocast_dtype=self.amp,
            )
            reqs = []
            for it, resp in zip(part, outs, strict=True):
                it.sample.response_ids = resp
                body = tok.decode(resp, skip_special_tokens=True)
                it.sample.response_text = it.sample.prefix + body
                reqs.append(
                    ScoreRequest(
                        it.record.data_source,
                        it.sample.response_text,
                        it.record.ground_truth,
                        direct=it.direct,
                        extra_info=it.record.extra_info,
                        instruction=it.record.instruction,
                    )
                )
            # Scoring of this chunk overlaps the generation of the next one.
            pending.append((part, scorer.submit(reqs)))
        return items, pending

    @staticmethod
    def _collect(pending: list) -> None:
        for part, fut in pending:
            for it, sc in zip(part, fut.result(), strict=True):
                it.score = sc

    # ------------------------------------------------------------------ update
    def _masks(self, items: list[_Item]) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Advantages, the keep mask and the kept ratio of a step's samples.

        Unscored samples (a judge outage on every question, a reward error) are left out of both: they
        neither shape their group's advantage nor get a gradient.
        """
        a = self.r.algo
        scores = [_score(it) for it in items]
        G = self.r.rollout.group_size
        n = len(items)
        ok = torch.tensor([sc.scored for sc in scores])
        idx = ok.nonzero().flatten()
        groups = [k // G for k in idx.tolist()]  # items are laid out group by group
        rewards = torch.tensor([scores[k].reward for k in idx.tolist()], dtype=torch.float64)
        adv = torch.zeros(n, dtype=torch.float64)
        keep = torch.zeros(n, dtype=torch.bool)
        direct_all = torch.tensor([it.direct for it in items])
        if idx.numel():
            adv[idx] = algo.group_advantages(rewards, groups, a.adv_eps, a.norm_adv_by_std)
            direct = direct_all[idx]
            if a.superior_cot:
                sub = [items[k] for k in idx.tolist()]
                keep_s, _ = algo.superior_cot_mask(
                    torch.tensor([scores[k].answer_score for k in idx.tolist()], dtype=torch.float64),
                    groups,
                    direct,
                    torch.tensor([not scores[k].answered for k in idx.tolist()]),
                    torch.tensor([self._offline_baseline(it) for it in sub], dtype=torch.float64),
                    a.direct_baseline,
                    exempt=torch.tensor([it.record.style == "math" for it in sub]),
                )
            else:
                keep_s = ~direct
            if a.dynamic_sampling:
                keep_s = keep_s & algo.nonzero_variance_mask(rewards, groups)
            keep[idx] = keep_s
        n_reason = int((~direct_all).sum())
        kept_ratio = float(keep.sum()) / n_reason if n_reason else 1.0
        return adv.float(), keep, kept_ratio

    def _offline_baseline(self, it: _Item) -> float:
        """The prompt's offline direct-answer score (a share of constraints, in [0, 1]) on the scale of
        the answer scores it is compared with; NaN when the row has none."""
        v = _as_float(it.record.extra_info.get(self.r.algo.offline_baseline_key), float("nan"))
        return v if math.isnan(v) else accuracy_from_fraction(v, self._reward_config)

    def _bc_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n expert sequences: ids, attention mask and a loss mask that is 1 on response tokens only."""
        tok = self.tok
        seqs, lmask = [], []
        for i in self.sft_cursor.take(n):
            if i not in self._bc_cache:
                rec = self.sft[i]
                p_text, _ = render_prompt(tok, rec.messages, self.r.model.response_format, False)
                p = tok(p_text, add_special_tokens=False)["input_ids"][-self.r.data.max_prompt_length :]
                resp = tok(rec.response, add_special_tokens=False)["input_ids"]  # fits: see _fitting_experts
                self._bc_cache[i] = (p, resp + [tok.eos_token_id])
            p, resp = self._bc_cache[i]
            seqs.append(p + resp)
            lmask.append([0] * len(p) + [1] * len(resp))
        ids, att = pad_batch(seqs, tok.pad_token_id, left=False)
        lm, _ = pad_batch(lmask, 0, left=False)
        return ids.to(self.device), att.to(self.device), lm.to(self.device)

    def _precompute(self, samples: list[Sample], keep: torch.Tensor | None) -> tuple[list, list]:
        """Reference (and, with several updates per step, behaviour-policy) log-probs per sample.

        Computed in the same contiguous micro-batches whatever `keep` is, so values do not depend on
        it; `keep=None` computes all (used while rewards are still being scored in other processes).
        """
        n, mb_size = len(samples), self.r.optim.micro_batch_size
        lp_kw = dict(pad_id=self.tok.pad_token_id, temperature=self.r.rollout.temperature, device=self.device)
        old_lp: list[torch.Tensor | None] = [None] * n
        ref_lp: list[torch.Tensor | None] = [None] * n
        with torch.no_grad():
            for s0 in range(0, n, mb_size):
                sl = slice(s0, s0 + mb_size)
                if keep is not None and not bool(keep[sl].any()):
                    continue
                if self.ref is not None:
                    lp, _ = response_log_probs(self.ref, samples[sl], autocast_dtype=self.amp, **lp_kw)
                    for k, row in enumerate(lp):
                        ref_lp[s0 + k] = row
                # The step's first update is on-policy (old = current weights, taken from its own
                # forward pass), so behaviour log-probs are needed only for the samples updated later.
                first = self.r.optim.ppo_epochs == 1 and s0 + mb_size <= self.r.optim.mini_batch_size
                if self.updates_per_step > 1 and not first:
                    lp, _ = response_log_probs(self.model, samples[sl], autocast_dtype=self.amp, **lp_kw)
                    for k, row in enumerate(lp):
                        old_lp[s0 + k] = row
        return old_lp, ref_lp

    def _update(
        self, items: list[_Item], adv: torch.Tensor, keep: torch.Tensor, pre: tuple[list, list] | None = None
    ) -> dict[str, float]:
        r, a, o = self.r, self.r.algo, self.r.optim
        n = len(items)
        mb_size, mini = o.micro_batch_size, o.mini_batch_size
        lp_kw = dict(pad_id=self.tok.pad_token_id, temperature=r.rollout.temperature, device=self.device)
        samples = [it.sample for it in items]
        need_old = self.updates_per_step > 1
        old_lp, ref_lp = pre if pre is not None else self._precompute(samples, keep)
        stats = {"pg_loss": 0.0, "kl": 0.0, "bc_loss": 0.0, "clip_frac": 0.0, "grad_norm": 0.0, "loss": 0.0}
        n_updates = 0
        use_bc = bool(self.sft) and a.bc_coef > 0
        for epoch in range(o.ppo_epochs):
            for m0 in range(0, n, mini):
                on_policy = not need_old or (epoch == 0 and m0 == 0)
                idx = list(range(m0, min(n, m0 + mini)))
                k_mask = keep[idx]
                lens = torch.tensor([len(samples[i].response_ids) for i in idx])
                if a.loss_agg_mode == "token-mean":
                    denom = float((lens * k_mask).sum())
                else:
                    denom = float(k_mask.sum())
                micro = [idx[j : j + mb_size] for j in range(0, len(idx), mb_size)]
                totals = {"pg": 0.0, "kl": 0.0, "bc": 0.0, "clip": 0.0}
                for mb in micro:
                    n_bc = _expert_rows(mb[0], len(mb), n, a.bc_rows_per_step) if use_bc else 0
                    mb_keep = keep[mb]
                    loss = torch.zeros((), device=self.device)
                    if bool(mb_keep.any()):
                        lp, rmask = response_log_probs(
                            self.model, [samples[i] for i in mb], autocast_dtype=self.amp, **lp_kw
                        )
                        mask = rmask * mb_keep.to(rmask)[:, None].to(self.device)
                        old = lp.detach() if on_policy else _stack([old_lp[i] for i in mb], lp, mb_keep)
                        pg, clip = algo.ppo_clip_loss(
                            lp,
                            old,
                            adv[mb].to(self.device),
                            mask,
                            a.clip_ratio_low,
                            a.clip_ratio_high,
                            a.loss_agg_mode,
                            denom,
                            a.dual_clip_c,
                        )
                        loss = loss + pg
                        totals["pg"] += float(pg.detach())
                        totals["clip"] += float(clip) / len(micro)
                        if self.ref is not None:
                            ref = _stack([ref_lp[i] for i in mb], lp, mb_keep)
                            kl = algo.agg_loss(algo.k3_kl(lp, ref), mask, a.loss_agg_mode, denom)
                            loss = loss + a.kl_coef * kl
                            totals["kl"] += float(kl.detach())
                    if n_bc:
                        ids, att, lm = self._bc_batch(n_bc)
                        with _amp(self.device, self.amp):
                            logits = self.model(input_ids=ids, attention_mask=att, use_cache=False).logits
                        bc = algo.bc_nll(logits, ids, lm) / len(micro)
                        loss = loss + a.bc_coef * bc
                        totals["bc"] += float(bc.detach())
                    if loss.requires_grad:
                        loss.backward()
                gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
                self.opt.step()
                self.sched.step()
                self.opt.zero_grad(set_to_none=True)
                n_updates += 1
                stats["pg_loss"] += totals["pg"]
                stats["kl"] += totals["kl"]
                stats["bc_loss"] += totals["bc"]
                stats["clip_frac"] += totals["clip"]
                stats["grad_norm"] += float(gn)
                stats["loss"] += totals["pg"] + a.kl_coef * totals["kl"] + a.bc_coef * totals["bc"]
        return {k: v / max(1, n_updates) for k, v in stats.items()}

    # ------------------------------------------------------------------ loop
    def _metrics(self, items, keep, kept_ratio, upd, t0, t_roll, t_upd) -> dict[str, Any]:
        # Reward statistics cover the scored samples; unscored ones are counted, not averaged in.
        scored = [it for it in items if _score(it).scored]
        rewards = [_score(it).reward for it in scored]
        reason = [it for it in scored if not it.direct]
        direct = [it for it in scored if it.direct]
        n_tok = sum(len(it.sample.response_ids) for it in items)

        def mean(xs):
            return float(sum(xs) / len(xs)) if xs else None

        return {
            "step": self.step,
            "reward_mean": mean(rewards),
            "reward_std": float(torch.tensor(rewards).std()) if len(rewards) > 1 else 0.0,
            "reasoning_reward_mean": mean([_score(it).reward for it in reason]),
            "direct_reward_mean": mean([_score(it).reward for it in direct]),
            "answer_score_mean": mean([_score(it).answer_score for it in scored]),
            # format over the reasoning samples: a forced direct answer has no think block to get right
            "format_ok_rate": mean([float(_score(it).format_ok) for it in items if not it.direct]),
            "unscored_samples": len(items) - len(scored),
            "kept_ratio": kept_ratio,
            "kept_samples": int(keep.sum()),
            "kl": upd["kl"],
            "pg_loss": upd["pg_loss"],
            "bc_loss": upd["bc_loss"],
            "loss": upd["loss"],
            "clip_frac": upd["clip_frac"],
            "grad_norm": upd["grad_norm"],
            "lr": self.sched.get_last_lr()[0],
            "response_length": n_tok / len(items),
            "epoch": self.cursor.epoch,
            "seconds": time.perf_counter() - t0,
            "rollout_seconds": t_roll,
            "update_seconds": t_upd,
            "tokens_per_s": n_tok / max(t_roll, 1e-9),
        }

    def _log(self, row: dict[str, Any]) -> None:
        with (self.out / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(f"train/{k}", v, row["step"])
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=row["step"])
        if self.on_step is not None:
            self.on_step(row)

    def train(self) -> list[dict[str, Any]]:
        """Run (or resume) to total_steps; returns the metrics rows written by this call."""
        ensure_output_dir(self.out)  # a file in its place or an unwritable place: one line, before any work
        ckpt = self.latest_checkpoint() if self.r.train.resume else None
        if ckpt is not None:
            self.load(ckpt)
        elif (self.out / "metrics.jsonl").exists():
            (self.out / "metrics.jsonl").unlink()  # a fresh run owns its metrics file
        (self.out / "recipe.json").write_text(json.dumps(recipe_to_dict(self.r), indent=1))
        if self.r.train.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step + 1)
        if self.r.train.wandb_project:
            try:
                import wandb
            except ImportError:
                raise TrainError(
                    "wandb_project is set but wandb is not installed (pip install wandb)"
                ) from None
            # One wandb run per output dir, so a resumed run continues the same curves.
            run_id = "raif-" + hashlib.sha256(str(self.out.resolve()).encode()).hexdigest()[:12]
            self._wandb = wandb.init(
                project=self.r.train.wandb_project, id=run_id, resume="allow", config=recipe_to_dict(self.r)
            )
        rows = []
        try:
            with Scorer(self.score_fn, self.r.rollout.reward_workers) as scorer:
                while self.step < self.total_steps:
                    t0 = time.perf_counter()
                    items, pending = self._rollout(scorer)
                    t_roll = time.perf_counter() - t0
                    pre = None
                    if self.r.rollout.reward_workers > 0 and (
                        self.ref is not None or self.updates_per_step > 1
                    ):
                        # Rewards are being scored in other processes: use the wait for the reference pass.
                        pre = self._precompute([it.sample for it in items], None)
                    self._collect(pending)
                    adv, keep, kept_ratio = self._masks(items)
                    t1 = time.perf_counter()
                    upd = self._update(items, adv, keep, pre)
                    self.step += 1
                    row = self._metrics(items, keep, kept_ratio, upd, t0, t_roll, time.perf_counter() - t1)
                    self._log(row)
                    rows.append(row)
                    if self.step % self.r.train.save_every == 0 or self.step == self.total_steps:
                        self.save()
        finally:
            if self._tb is not None:
                self._tb.close()
                self._tb = None
            if self._wandb is not None:
                self._wandb.finish()
                self._wandb = None
        return rows

    def export(self, path: Path | None = None) -> Path:
        """Save the current policy and tokenizer with save_pretrained (loadable by transformers / eval)."""
        d = path or self.out / "final"
        self.model.save_pretrained(d)
        self.tok.save_pretrained(d)
        return d


def _mix(*parts: int) -> int:
    """A deterministic 63-bit seed from integers (hash() of ints is stable, but spell it out)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0x7FFFFFFFFFFFFFFF
    return h


def _as_float(v: Any, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def _expert_rows(start: int, size: int, n: int, per_step: int | None) -> int:
    """Expert rows for the micro-batch of samples ``start .. start+size-1`` of ``n``: one per policy sample
    by default, else ``per_step`` rows per pass over the samples, spread in proportion (they add up exactly)."""
    if per_step is None:
        return size
    return per_step * (start + size) // n - per_step * start // n


def _stack(rows: list[torch.Tensor | None], like: torch.Tensor, needed: torch.Tensor) -> torch.Tensor:
    """Stack per-sample [R_i] log-prob rows (all from the same padded micro-batch width) like `like`.

    A row may be absent only for a sample without gradient (`needed` False): a kept sample whose
    reference or behaviour log-probs were never computed is a bug, not a zero.
    """
    out = torch.zeros_like(like)
    for i, row in enumerate(rows):
        if row is None:
            if bool(needed[i]):
                raise TrainError(f"micro-batch row {i} keeps its gradient but has no precomputed log-probs")
            continue
        w = min(row.numel(), out.shape[1])
        out[i, :w] = row[:w].to(out)
    return out


def _score(it: _Item) -> Score:
    if it.score is None:
        raise TrainError("a sample reached the update without a reward")
    return it.score


def _amp(device: torch.device, dtype: torch.dtype | None):
    if dtype is None or device.type != "cuda":
        return torch.autocast(device_type="cpu", enabled=False)
    return torch.autocast(device_type="cuda", dtype=dtype)


def _load_tensors(path: Path, device: Any) -> Any:
    """A checkpoint file as tensors and plain data only (``weights_only=True``): a crafted pickle in
    ``optim.pt`` or ``rng.pt`` ran a shell command on resume when these were loaded unrestricted."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # UnpicklingError for a refused global; anything else for a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"{path}: not a checkpoint this trainer wrote ({first[:200]}); "
                         "delete this checkpoint folder to resume from an earlier one") from None
