"""Turn a RAIF recipe into veRL's Hydra overrides (ppo_trainer config) plus the `+raif.*` section our
extensions read; every setting veRL cannot honour is a VerlConfigError before any GPU is touched.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raif_rewards.errors import RaifError
from raif_train.recipe import Recipe

__all__ = [
    "VerlConfigError",
    "VerlPlan",
    "AGENT_LOOP_NAME",
    "DIRECT_PROMPT_MARGIN",
    "NO_DUAL_CLIP",
    "REWARD_FUNCTION",
    "verl_clip_ratio_c",
    "build_plan",
    "build_overrides",
    "override_key",
]

#: Name our agent loop is registered under (raif_train.verl.agent_loop) and selected by.
AGENT_LOOP_NAME = "raif_agent"
#: Extra prompt tokens the rollout must admit: the forced empty think block of direct-answer samples.
DIRECT_PROMPT_MARGIN = 32
#: veRL's `clip_ratio_c` that turns its dual clip off. Its vanilla policy loss always applies
#: min(loss, -A * c) to negative advantages; the log-ratio is clamped to [-20, 20] first, so no ratio
#: exceeds e^20 (about 4.9e8) and a c of 1e9 never binds. Not inf: veRL computes -A * c for every token,
#: and -0 * inf (masked rows, padding) is NaN in the branch torch.where discards.
NO_DUAL_CLIP = 1e9
#: compute_score as veRL's loader imports it on every node (`pkg://`: a module of the installed package,
#: not a file path that exists only on the driver's disk).
REWARD_FUNCTION = "pkg://raif_rewards.verl_plugin"
# veRL's compute_grpo_outcome_advantage hard-codes epsilon=1e-6 (added to the std).
_VERL_GRPO_EPS = 1e-6
# Fields of the recipe that only the local backend reads; veRL has its own equivalents or none.
LOCAL_ONLY = ("rollout.generate_batch_size", "backend.device")


class VerlConfigError(RaifError, ValueError):
    """A recipe setting or override the veRL backend cannot honour (names the key and what to do)."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"veRL backend: {key}: {message}")


@dataclass
class VerlPlan:
    """Everything a launch needs: overrides for veRL's config, the data files they name, and notes."""

    overrides: list[str]
    train_files: list[str]
    val_files: list[str]
    sft_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def override_key(item: str) -> str:
    """The config key an override sets (`+a.b=1` and `++a.b=1` -> `a.b`; `~a.b` -> `a.b`)."""
    key = item.split("=", 1)[0].strip()
    return key.lstrip("+~")


def _fmt(value: Any) -> str:
    """A value as Hydra's override grammar reads it back unchanged."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    text = str(value)
    # Quote anything Hydra's grammar would parse as something else (paths with '=' or ',', spaces).
    if (
        text == ""
        or any(c in text for c in " ,=[]{}()'\"\\:$*?")
        or text.lower() in ("true", "false", "null")
    ):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def _shards(path: str, key: str) -> tuple[list[str], list[str]]:
    """(train files, validation files) of a `raif-data evolve` folder, a folder of shards, or one file."""
    p = Path(path).expanduser()
    if p.is_file():
        return [str(p.resolve())], []
    if not p.is_dir():
        raise VerlConfigError(
            key, f"{p}: no such file or directory (expected Parquet shards from `raif-data evolve`)"
        )
    train_dir = p / "train" if (p / "train").is_dir() else p
    train = sorted(str(q.resolve()) for q in train_dir.rglob("*.parquet") if q.is_file())
    if train_dir == p:
        # A plain folder: everything in it trains, except an sft/ subfolder of expert rows.
        train = [f for f in train if "/sft/" not in f[len(str(p.resolve())) :]]
    val_dir = p / "validation"
    val = (
        sorted(str(q.resolve()) for q in val_dir.rglob("*.parquet") if q.is_file())
        if val_dir.is_dir()
        else []
    )
    if not train:
        raise VerlConfigError(key, f"{train_dir}: holds no *.parquet shards (run `raif-data evolve` first)")
    return train, val


def _reward_function_path() -> str:
    module = REWARD_FUNCTION.removeprefix("pkg://")
    if importlib.util.find_spec(module) is None:
        raise VerlConfigError("reward", f"{module} is not importable (reinstall raif)")
    return REWARD_FUNCTION


def verl_clip_ratio_c(dual_clip_c: float | None) -> float:
    """veRL's `actor.clip_ratio_c` for the recipe's `algo.dual_clip_c` (None: no dual clip, the paper's);
    the recipe itself refuses a value <= 1 at load, for both backends."""
    return NO_DUAL_CLIP if dual_clip_c is None else float(dual_clip_c)


def _bc_rows(recipe: Recipe, n_gpus: int) -> int:
    """Expert rows per step, checked against how veRL splits the actor update: every data-parallel rank
    gets the same share of every mini-batch, and a mini-batch stays whole groups and whole micro-batches."""
    ro, o, a = recipe.rollout, recipe.optim, recipe.algo
    samples = ro.rollout_prompts * ro.group_size
    rows = samples if a.bc_rows_per_step is None else a.bc_rows_per_step
    key = "algo.bc_rows_per_step"  # >= 1: the recipe checks it
    n_mb = samples // o.mini_batch_size
    parts = n_mb * n_gpus
    if rows % parts:
        raise VerlConfigError(
            key,
            f"{rows} expert rows do not split over {n_mb} mini-batches x {n_gpus} GPUs (use a multiple of {parts})",
        )
    per_mb = rows // n_mb
    if per_mb % ro.group_size:
        raise VerlConfigError(
            key,
            f"{per_mb} expert rows per mini-batch: veRL counts mini-batches in groups of {ro.group_size}; "
            f"use a multiple of {n_mb * ro.group_size}",
        )
    if ((o.mini_batch_size + per_mb) // n_gpus) % o.micro_batch_size:
        raise VerlConfigError(
            key,
            f"a mini-batch of {o.mini_batch_size} samples + {per_mb} expert rows per GPU is not whole "
            f"micro-batches of {o.micro_batch_size}",
        )
    return rows


def build_plan(
    recipe: Recipe, extra_overrides: list[str] | None = None, *, check_files: bool = True
) -> VerlPlan:
    """Map `recipe` to veRL overrides; `extra_overrides` (raw Hydra overrides of veRL knobs the recipe
    has no field for) come last. An extra override of a key the recipe already sets is a conflict."""
    r = recipe
    m, d, ro, a, o, t, b = r.model, r.data, r.rollout, r.algo, r.optim, r.train, r.backend
    notes: list[str] = []

    # ---- settings veRL cannot honour: fail now, with the field and the remedy
    if m.model == "tiny":
        raise VerlConfigError(
            "model.model", "'tiny' is the local backend's in-code model; give a Hugging Face path or id"
        )
    if b.device == "cpu":
        raise VerlConfigError("backend.device", "veRL trains on GPUs only; use --backend local for CPU runs")
    if ro.rollout_engine != "vllm":
        raise VerlConfigError(
            "rollout.rollout_engine",
            f"{ro.rollout_engine!r} is the local backend's sampler; veRL needs 'vllm'",
        )
    if abs(a.adv_eps - _VERL_GRPO_EPS) > 1e-12:
        raise VerlConfigError(
            "algo.adv_eps", f"veRL's GRPO fixes epsilon at {_VERL_GRPO_EPS}; got {a.adv_eps}"
        )
    if d.constraint_subset is not None:
        raise VerlConfigError(
            "data.constraint_subset", "not supported on veRL (write a pruned data set with raif-data instead)"
        )
    if d.data is None:
        raise VerlConfigError(
            "data.data", "no training data: set data (--data DIR) to `raif-data evolve` shards"
        )
    n_gpus = b.n_gpus_per_node * b.nnodes
    if n_gpus % b.tensor_parallel_size:
        raise VerlConfigError(
            "backend.tensor_parallel_size",
            f"{b.tensor_parallel_size} must divide the {n_gpus} GPUs of the run",
        )
    if o.mini_batch_size % ro.group_size:
        raise VerlConfigError(
            "optim.mini_batch_size",
            f"veRL counts mini-batches in prompts: {o.mini_batch_size} samples is not a multiple of group_size "
            f"{ro.group_size}",
        )
    if ro.rollout_prompts % (o.mini_batch_size // ro.group_size):
        raise VerlConfigError("optim.mini_batch_size", "must divide rollout_prompts * group_size")
    samples = ro.rollout_prompts * ro.group_size
    if samples % n_gpus:
        raise VerlConfigError(
            "rollout.rollout_prompts",
            f"rollout_prompts * group_size = {samples} must be divisible by the {n_gpus} GPUs (veRL splits it evenly)",
        )
    if not 0 < b.gpu_memory_utilization <= 1:
        raise VerlConfigError("backend.gpu_memory_utilization", "must be in (0, 1]")
    bc_data = d.sft_data if a.bc_coef > 0 else None  # expert shards, when behaviour cloning is on
    bc = bc_data is not None
    bc_rows, sft_files = 0, []
    if bc:
        bc_rows = _bc_rows(r, n_gpus)
        notes.append(
            f"behaviour cloning: {bc_rows} expert rows per step join the actor update (bc_coef {a.bc_coef})"
        )
    if bc_data is not None and check_files:
        from raif_rewards.errors import InputFileError
        from raif_train.local.data import find_shards

        try:
            sft_files = [str(f.resolve()) for f in find_shards(bc_data)]
        except InputFileError as e:
            raise VerlConfigError("data.sft_data", str(e)) from None

    if check_files:
        train_files, val_files = _shards(d.data, "data.data")
    else:
        train_files, val_files = [d.data], []
    has_val = bool(val_files)
    if not has_val:
        notes.append("no validation/ shards next to the training shards: validation is off")

    aro = "actor_rollout_ref"
    ov: list[tuple[str, Any]] = [
        # --- algorithm: GRPO outcome advantages, k3 KL as a loss term, never in the reward
        ("algorithm.adv_estimator", "grpo"),
        ("algorithm.norm_adv_by_std_in_grpo", a.norm_adv_by_std),
        ("algorithm.use_kl_in_reward", False),
        ("algorithm.filter_groups.enable", a.dynamic_sampling),
        ("algorithm.filter_groups.metric", "score"),
        (f"{aro}.actor.use_kl_loss", a.use_kl_loss),
        (f"{aro}.actor.kl_loss_coef", a.kl_coef),
        (f"{aro}.actor.kl_loss_type", "low_var_kl"),
        (f"{aro}.actor.loss_agg_mode", a.loss_agg_mode),
        (f"{aro}.actor.clip_ratio_low", a.clip_ratio_low),
        (f"{aro}.actor.clip_ratio_high", a.clip_ratio_high),
        (f"{aro}.actor.clip_ratio_c", verl_clip_ratio_c(a.dual_clip_c)),
        (f"{aro}.actor.entropy_coeff", 0.0),
        # --- batch sizes: veRL counts prompts for train/mini-batches and samples per GPU for micro-batches
        ("data.train_batch_size", ro.rollout_prompts),
        (f"{aro}.actor.ppo_mini_batch_size", o.mini_batch_size // ro.group_size),
        (f"{aro}.actor.ppo_micro_batch_size_per_gpu", o.micro_batch_size),
        (f"{aro}.rollout.log_prob_micro_batch_size_per_gpu", o.micro_batch_size),
        (f"{aro}.ref.log_prob_micro_batch_size_per_gpu", o.micro_batch_size),
        (f"{aro}.actor.ppo_epochs", o.ppo_epochs),
        # contiguous mini-batches: the trainer computes RAIF's per-mini-batch loss denominators from them
        (f"{aro}.actor.shuffle", False),
        # --- optimiser and schedule (RAIF: Adam(0.9, 0.95), cosine to min_lr, warm-up ratio, clip 1.0)
        (f"{aro}.actor.optim.lr", o.lr),
        (f"{aro}.actor.optim.lr_scheduler_type", o.lr_schedule),
        (f"{aro}.actor.optim.min_lr_ratio", o.min_lr / o.lr),
        (f"{aro}.actor.optim.lr_warmup_steps_ratio", o.warmup_ratio),
        (f"{aro}.actor.optim.betas", [o.adam_beta1, o.adam_beta2]),
        (f"{aro}.actor.optim.weight_decay", o.weight_decay),
        (f"{aro}.actor.optim.clip_grad", o.grad_clip),
        # --- model
        (f"{aro}.model.path", m.model),
        (f"{aro}.model.trust_remote_code", m.trust_remote_code),
        (f"{aro}.model.enable_gradient_checkpointing", m.gradient_checkpointing),
        # --- data (RLHFDataset over our shards)
        ("data.train_files", train_files),
        ("data.val_files", val_files if has_val else train_files[:1]),
        ("data.max_prompt_length", d.max_prompt_length),
        ("data.max_response_length", d.max_response_length),
        ("data.filter_overlong_prompts", True),
        ("data.truncation", "left"),
        ("data.shuffle", d.shuffle),
        ("data.seed", t.seed),
        ("data.trust_remote_code", m.trust_remote_code),
        ("data.train_max_samples", d.max_prompts if d.max_prompts is not None else -1),
        # --- rollout: G samples per prompt through our agent loop (direct-answer share)
        (f"{aro}.rollout.name", "vllm"),
        (f"{aro}.rollout.n", ro.group_size),
        (f"{aro}.rollout.temperature", ro.temperature),
        (f"{aro}.rollout.top_p", ro.top_p),
        (f"{aro}.rollout.seed", t.seed),
        (f"{aro}.rollout.tensor_model_parallel_size", b.tensor_parallel_size),
        (f"{aro}.rollout.gpu_memory_utilization", b.gpu_memory_utilization),
        (f"{aro}.rollout.prompt_length", d.max_prompt_length + DIRECT_PROMPT_MARGIN),
        # vLLM's context: the longest prompt (forced think block included) plus the longest response
        (f"{aro}.rollout.max_model_len", d.max_prompt_length + DIRECT_PROMPT_MARGIN + d.max_response_length),
        (f"{aro}.rollout.agent.default_agent_loop", AGENT_LOOP_NAME),
        (f"{aro}.actor.data_loader_seed", t.seed),
        # --- reward: the shared reward library through veRL's naive reward manager
        ("reward.reward_manager.name", "naive"),
        ("reward.custom_reward_function.path", _reward_function_path()),
        ("reward.custom_reward_function.name", "compute_score"),
        ("reward.num_workers", max(1, ro.reward_workers)),
        ("+reward.custom_reward_function.reward_kwargs.response_format", m.response_format),
        ("+reward.custom_reward_function.reward_kwargs.accuracy", a.reward_mode),
        ("+reward.custom_reward_function.reward_kwargs.think_prefilled", m.response_format == "r1"),
        # --- trainer: the v1 synchronous trainer (our subclass, run by our task runner)
        ("trainer.use_v1", True),
        ("trainer.v1.trainer_mode", "sync"),
        ("trainer.n_gpus_per_node", b.n_gpus_per_node),
        ("trainer.nnodes", b.nnodes),
        ("trainer.project_name", "raif"),
        ("trainer.experiment_name", r.name),
        ("trainer.default_local_dir", str(Path(t.output_dir).resolve() / "checkpoints")),
        ("trainer.rollout_data_dir", str(Path(t.output_dir).resolve() / "rollouts")),
        ("trainer.save_freq", t.save_every),
        ("trainer.max_actor_ckpt_to_keep", t.keep_checkpoints),
        ("trainer.resume_mode", "auto" if t.resume else "disable"),
        ("trainer.total_epochs", t.epochs),
        ("trainer.total_training_steps", t.max_steps),
        ("trainer.val_before_train", has_val),
        ("trainer.test_freq", t.save_every if has_val else -1),
        (
            "trainer.logger",
            ["console"] + (["tensorboard"] if t.tensorboard else []) + (["wandb"] if t.wandb_project else []),
        ),
        # --- RAIF's own section, read by our trainer, agent loop and entry module
        ("+raif.group_size", ro.group_size),
        ("+raif.direct_per_group", ro.direct_per_group if a.superior_cot else 0),
        ("+raif.superior_cot", a.superior_cot),
        ("+raif.direct_baseline", a.direct_baseline),
        ("+raif.offline_baseline_key", a.offline_baseline_key),
        ("+raif.reward_mode", a.reward_mode),  # puts the offline baseline on the answer-score scale
        ("+raif.response_format", m.response_format),
        ("+raif.dynamic_sampling", a.dynamic_sampling),
        ("+raif.output_dir", str(Path(t.output_dir).resolve())),
        ("+raif.wandb_project", t.wandb_project),
        # behaviour cloning (raif_train.verl.trainer appends expert rows to the actor update)
        ("+raif.bc_coef", a.bc_coef if bc else 0.0),
        ("+raif.sft_data", str(Path(bc_data).expanduser().resolve()) if bc_data is not None else None),
        ("+raif.bc_rows_per_step", bc_rows),
        ("+raif.bc_seed", t.seed + 1),  # the native backend's expert cursor seed
    ]
    if m.dtype != "auto":
        ov.append((f"{aro}.rollout.dtype", m.dtype))
    if t.wandb_project:
        ov.append(("trainer.project_name", t.wandb_project))
    if not a.use_kl_loss:
        notes.append("use_kl_loss is off: no reference model is loaded")

    ours = {}
    for k, v in ov:
        ours[k.lstrip("+")] = v  # a later entry (project_name with wandb) replaces an earlier one
    keyed = {k.lstrip("+"): k for k, _ in ov}
    items = [f"{keyed[k]}={_fmt(v)}" for k, v in ours.items()]

    for item in extra_overrides or []:
        if "=" not in item and not item.startswith("~"):
            raise VerlConfigError(item, "expected a Hydra override KEY=VALUE")
        key = override_key(item)
        if key in ours:
            raise VerlConfigError(key, f"set by the recipe (override the recipe field instead of {item!r})")
        if key == "raif" or key.startswith("raif."):
            raise VerlConfigError(
                key, "the raif section is generated from the recipe; set recipe fields instead"
            )
        items.append(item)
    return VerlPlan(items, train_files, val_files, sft_files, notes)


def build_overrides(
    recipe: Recipe, extra_overrides: list[str] | None = None, *, check_files: bool = True
) -> list[str]:
    """Just the override list of :func:`build_plan`."""
    return build_plan(recipe, extra_overrides, check_files=check_files).overrides
