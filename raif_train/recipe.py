"""Typed training recipe shared by the local and the veRL backend, loaded from YAML and CLI flags.

Unknown keys and wrong types fail at load time with the key path; defaults are RAIF's settings.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from raif_rewards import safeyaml, typedconfig
from raif_rewards.errors import RaifError

__all__ = [
    "RecipeError",
    "Recipe",
    "load_recipe",
    "recipe_from_dict",
    "recipe_to_dict",
    "field_paths",
    "TINY_PRESET",
]


class RecipeError(RaifError, ValueError):
    """A bad recipe file or override: names the file (if any), the key path and the expectation."""

    def __init__(self, key: str, message: str, path: str | None = None):
        self.key, self.path = key, path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}recipe key {typedconfig.brief(key)}: {message}")


# The embedded default for `--model tiny` without --recipe; pipelines/train_tiny.yaml holds the same
# values (a test keeps them equal). It runs the paper's path (think/answer format and its gate, the RAIF
# reward, 32 prompts x G=8 with 2 forced direct answers, superior-CoT, k3 KL 0.001, behaviour cloning with
# coefficient 1 when --sft-data is given, two updates per step); only the model size, the lengths and the
# learning rate differ from pipelines/train_qwen2.5_*.yaml. Micro-batch and reward workers only change speed.
TINY_PRESET: dict[str, Any] = {
    "name": "tiny",
    "description": "CPU demo: in-code tiny Llama on the offline evolve shards, the paper's RAIF path",
    "model": {"model": "tiny", "response_format": "think_answer"},
    "data": {"max_prompt_length": 12, "max_response_length": 40},
    "rollout": {"rollout_prompts": 32, "group_size": 8, "direct_per_group": 2, "reward_workers": 1,
                "generate_batch_size": 256},
    "algo": {"reward_mode": "raif", "bc_coef": 1.0},
    "optim": {"lr": 1e-2, "min_lr": 1e-3, "warmup_ratio": 0.03, "mini_batch_size": 128, "micro_batch_size": 128},
    "train": {"max_steps": 60, "save_every": 30, "output_dir": "runs/tiny"},
}


@dataclass
class ModelSection:
    # "tiny" builds a random-init model + tokenizer in code; else a local path or hub id.
    model: str = "tiny"
    # "think_answer": <think>..</think><answer>..</answer> (Qwen2.5-Instruct in RAIF);
    # "r1": <think>..</think>answer (DeepSeek-R1-Distill models, whose template opens <think>);
    # "plain": the whole output is the answer (the tiny preset: no format to learn first).
    response_format: Literal["think_answer", "r1", "plain"] = "think_answer"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False


@dataclass
class DataSection:
    data: str | None = None  # directory (or file) of Parquet shards from `raif-data evolve`
    sft_data: str | None = None  # expert (prompt, response) shards for behaviour cloning
    max_prompt_length: int = 8192  # tokens; longer prompts are left-truncated (the instruction end stays)
    max_response_length: int = 4096
    # EOS is suppressed before this many new tokens (the tiny preset fixes the length so that
    # "say less" cannot replace "obey the constraint").
    min_response_length: int = 0
    shuffle: bool = True
    # Keep only these checker ids in each ground-truth tree (prompts left without any are dropped).
    constraint_subset: list[str] | None = None
    max_prompts: int | None = None  # cap on the prompt pool (small demos)


@dataclass
class RolloutSection:
    rollout_prompts: int = 32  # prompts per step (OpenRLHF rollout_batch_size in RAIF's scripts)
    group_size: int = 8  # G samples per prompt
    direct_per_group: int = 2  # of G, forced to answer directly (empty closed think block)
    temperature: float = 1.0
    top_p: float = 1.0
    rollout_engine: Literal["hf", "vllm"] = "hf"  # the local backend samples with HF generate only
    generate_batch_size: int = 64  # sequences per generate() call (local backend)
    reward_workers: int = 1  # processes scoring rewards while the next micro-batch runs; 0 = inline


@dataclass
class AlgoSection:
    adv_eps: float = 1e-6
    norm_adv_by_std: bool = True
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.2
    # Dual-clip PPO bound on negative advantages (loss capped at -A * c); None = off, the paper's PPO.
    dual_clip_c: float | None = None
    loss_agg_mode: Literal["seq-mean-token-mean", "token-mean", "seq-mean-token-sum"] = "seq-mean-token-mean"
    use_kl_loss: bool = True
    kl_coef: float = 0.001
    kl_estimator: Literal["k3"] = "k3"
    superior_cot: bool = True
    direct_baseline: Literal["mean", "max"] = "mean"
    # extra_info key of the offline direct-answer score (`raif-data evolve` writes baseline_score).
    offline_baseline_key: str = "baseline_score"
    bc_coef: float = 1.0  # used only when sft_data is given
    bc_rows_per_step: int | None = None  # expert rows per pass over a step's samples; None = one per sample
    dynamic_sampling: bool = False  # DAPO: drop zero-variance groups before the update
    # Reward passed to the shared reward library: "raif" (format gate + accuracy, the paper's) or
    # "fraction" (fraction of satisfied constraints on the answer text, no format gate: the tiny preset).
    reward_mode: Literal["raif", "fraction"] = "raif"


@dataclass
class OptimSection:
    lr: float = 1e-6
    min_lr: float = 1e-7  # floor of the cosine; overriding lr alone scales it by the same factor
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_ratio: float = 0.03
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # Samples per optimiser update: RAIF (OpenRLHF train_batch_size) uses 128 of the 32 x 8 = 256 rollouts,
    # i.e. two updates per step; the second one is off-policy, hence the clipped ratio.
    mini_batch_size: int = 128
    micro_batch_size: int = 4  # samples per forward/backward (gradient accumulation)
    ppo_epochs: int = 1


@dataclass
class TrainSection:
    max_steps: int | None = None  # steps (= rollouts); None: epochs over the prompt pool
    epochs: int = 1
    seed: int = 0
    output_dir: str = "runs/train"
    save_every: int = 50
    keep_checkpoints: int = 2
    resume: bool = True  # resume from the newest checkpoint in output_dir if there is one
    tensorboard: bool = True
    wandb_project: str | None = None


@dataclass
class BackendSection:
    backend: Literal["local", "verl"] = "local"
    n_gpus_per_node: int = 1
    nnodes: int = 1
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.6
    device: Literal["auto", "cpu", "cuda"] = "auto"


@dataclass
class Recipe:
    """The whole run. YAML mirrors these sections; every leaf name is unique, so CLI flags and
    `override()` can address a field by its bare name (`lr`) or its dotted path (`optim.lr`)."""

    name: str = "raif"
    description: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    rollout: RolloutSection = field(default_factory=RolloutSection)
    algo: AlgoSection = field(default_factory=AlgoSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    backend: BackendSection = field(default_factory=BackendSection)

    def override(self, **values: Any) -> Recipe:
        """Set fields by bare or dotted name; values are type-checked like YAML values.

        A new ``lr`` without a new ``min_lr`` keeps the schedule's shape: ``min_lr`` is scaled by the same
        factor (``--lr 2e-6`` on the tiny preset, whose floor is 3e-4, would otherwise be refused).
        """
        paths = field_paths()
        old_lr, old_min_lr = self.optim.lr, self.optim.min_lr
        named = {name if "." in name else paths.get(name, name) for name in values}
        for name, value in values.items():
            dotted = name if "." in name else paths.get(name)
            if dotted is None or dotted.count(".") != 1 or dotted.split(".")[0] not in _SECTIONS:
                close = difflib.get_close_matches(name, sorted(paths), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else " (see `raif-train recipe`)"
                raise RecipeError(name, f"unknown field{hint}")
            section, leaf = dotted.split(".")
            sec = getattr(self, section)
            hints = typing.get_type_hints(type(sec))
            if leaf not in hints:
                raise RecipeError(dotted, "unknown field")
            setattr(sec, leaf, typedconfig.coerce(value, hints[leaf], _rules(None), dotted))
        if "optim.lr" in named and "optim.min_lr" not in named and old_lr > 0:
            # rounded to 12 digits so that 3e-4 scaled by 1e-3/3e-3 prints as 1e-4, not 9.999999999999999e-05
            self.optim.min_lr = float(f"{old_min_lr * self.optim.lr / old_lr:.12g}")
        self.validate()
        return self

    def validate(self, path: str | None = None) -> None:
        """Cross-field checks (types are checked while loading)."""
        r, o, a = self.rollout, self.optim, self.algo

        def need(ok: bool, key: str, msg: str) -> None:
            if not ok:
                raise RecipeError(key, msg, path)

        for sec in _SECTIONS:
            for f in dataclasses.fields(getattr(self, sec)):
                value = getattr(getattr(self, sec), f.name)
                # .inf and .nan are YAML floats: kl_coef=.inf was accepted and trained on NaN losses
                need(not isinstance(value, float) or math.isfinite(value), f"{sec}.{f.name}",
                     f"must be a finite number, got {value}")
        need(r.group_size >= 2, "rollout.group_size", "must be >= 2 (GRPO needs a group)")
        need(0 <= r.direct_per_group < r.group_size, "rollout.direct_per_group", "must be in [0, group_size)")
        need(r.rollout_prompts >= 1, "rollout.rollout_prompts", "must be >= 1")
        need(r.temperature > 0, "rollout.temperature", "must be > 0")
        need(0 < r.top_p <= 1, "rollout.top_p", "must be in (0, 1]")
        need(r.reward_workers >= 0, "rollout.reward_workers", "must be >= 0")
        need(o.lr > 0 and 0 <= o.min_lr <= o.lr, "optim.min_lr", "need 0 <= min_lr <= lr and lr > 0")
        need(0 <= o.warmup_ratio < 1, "optim.warmup_ratio", "must be in [0, 1)")
        need(o.micro_batch_size >= 1, "optim.micro_batch_size", "must be >= 1")
        need(o.ppo_epochs >= 1, "optim.ppo_epochs", "must be >= 1")
        samples = r.rollout_prompts * r.group_size
        need(
            o.mini_batch_size >= 1 and samples % o.mini_batch_size == 0,
            "optim.mini_batch_size",
            f"must divide rollout_prompts * group_size = {samples}",
        )
        need(a.kl_coef >= 0, "algo.kl_coef", "must be >= 0")
        need(a.bc_coef >= 0, "algo.bc_coef", "must be >= 0")
        need(a.bc_rows_per_step is None or a.bc_rows_per_step >= 1, "algo.bc_rows_per_step", "must be >= 1 or null")
        need(a.clip_ratio_low > 0 and a.clip_ratio_high > 0, "algo.clip_ratio_low", "clip ratios must be > 0")
        need(a.dual_clip_c is None or a.dual_clip_c > 1, "algo.dual_clip_c", "must be > 1, or null for no dual clip")
        need(self.data.max_prompt_length >= 1, "data.max_prompt_length", "must be >= 1")
        need(self.data.max_response_length >= 1, "data.max_response_length", "must be >= 1")
        need(
            0 <= self.data.min_response_length <= self.data.max_response_length,
            "data.min_response_length",
            "must be in [0, max_response_length]",
        )
        need(self.train.max_steps is None or self.train.max_steps >= 1, "train.max_steps", "must be >= 1")
        need(self.train.save_every >= 1, "train.save_every", "must be >= 1")
        # kept[:-0] is empty: 0 would have kept every checkpoint instead of none
        need(self.train.keep_checkpoints >= 1, "train.keep_checkpoints", "must be >= 1")
        need(self.backend.nnodes >= 1 and self.backend.n_gpus_per_node >= 1, "backend.nnodes", "must be >= 1")
        if self.data.constraint_subset is not None:
            from raif_rewards import registry

            known = {c.id for c in registry.all_checkers()}
            for cid in self.data.constraint_subset:
                need(cid in known, "data.constraint_subset", f"unknown checker id {typedconfig.brief(cid)}")


_SECTIONS = ("model", "data", "rollout", "algo", "optim", "train", "backend")


def field_paths() -> dict[str, str]:
    """Bare leaf name -> dotted path for every section field (names are unique by design)."""
    out: dict[str, str] = {}
    for sec in _SECTIONS:
        cls = typing.get_type_hints(Recipe)[sec]
        for f in dataclasses.fields(cls):
            if f.name in out:  # guards the uniqueness the CLI relies on
                raise AssertionError(f"duplicate recipe field name {f.name}")
            out[f.name] = f"{sec}.{f.name}"
    return out


def _unknown_key(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f"unknown key (did you mean {close[0]!r}?)" if close else f"unknown key; known: {', '.join(sorted(known))}"


def _rules(path: str | None) -> typedconfig.Rules:
    return typedconfig.Rules(
        error=lambda key, message: RecipeError(key, message, path),
        unknown_key=_unknown_key,
        expected=typedconfig.python_name,
    )


def recipe_from_dict(data: dict[str, Any], path: str | None = None) -> Recipe:
    recipe = typedconfig.build(Recipe, data, _rules(path))
    recipe.validate(path)
    return recipe


def load_recipe(path: str | Path | None = None, **overrides: Any) -> Recipe:
    """Load a YAML recipe (or the defaults when `path` is None) and apply `overrides` by field name."""
    data: dict[str, Any] = {}
    if path is None and overrides.get("model") == "tiny":
        data = copy.deepcopy(TINY_PRESET)
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise RecipeError("<file>", f"cannot read recipe: {e.strerror}", str(p)) from None
        except UnicodeDecodeError as e:
            raise RecipeError("<file>", f"not UTF-8 text ({e.reason} at byte {e.start})", str(p)) from None
        try:
            data = safeyaml.load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark else ""
            raise RecipeError("<file>", f"invalid YAML{line}: {getattr(e, 'problem', e)}", str(p)) from None
    recipe = recipe_from_dict(data, None if path is None else str(path))
    given = {k: v for k, v in overrides.items() if v is not None}
    return recipe.override(**given) if given else recipe


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    return dataclasses.asdict(recipe)
