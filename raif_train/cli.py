"""`raif-train`: GRPO training with RAIF's algorithm from a recipe (local PyTorch or veRL backend).

User errors print one line on stderr and exit 1; progress is a rich display; the reward curve ends the run.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from raif_rewards import cliformat, safeyaml
from raif_rewards.errors import RaifError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train instruction followers with RAIF's GRPO.",
    epilog="Example: raif-train grpo --model tiny --data runs/demo/data --sft-data runs/demo/data/sft --output-dir runs/demo/train --max-steps 60 --seed 5",
)
err = Console(stderr=True)
out = Console()


# grpo() parameters that are not recipe fields.
_CLI_ONLY = ("recipe", "set_", "quiet", "dry_run", "ray_address", "verl_override")


def _overrides(local: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Flag values (None = not given) plus `--set key=value` pairs (values parsed as YAML scalars)."""
    ov = {k: v for k, v in local.items() if v is not None}
    for item in sets:
        if "=" not in item:
            raise typer.BadParameter(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            ov[key.strip()] = safeyaml.load(value)
        except yaml.YAMLError as exc:
            raise typer.BadParameter(f"--set {key.strip()}: not a YAML value ({str(exc).splitlines()[0][:200]})") from None
    return ov


def _sparkline(values: list[float], width: int = 60) -> list[str]:
    """A text plot of the reward curve: one column per step (bucketed to `width`), 8 rows high."""
    if not values:
        return []
    n = len(values)
    cols = [
        values[int(i * n / min(n, width)) : int((i + 1) * n / min(n, width))] for i in range(min(n, width))
    ]
    means = [sum(c) / len(c) for c in cols if c]
    lo, hi = min(means), max(means)
    span = (hi - lo) or 1.0
    rows = 8
    grid = []
    for r in range(rows, 0, -1):
        level = lo + span * (r - 0.5) / rows
        label = f"{hi:7.3f} |" if r == rows else f"{lo:7.3f} |" if r == 1 else "        |"
        grid.append(label + "".join("█" if m >= level else " " for m in means))
    grid.append("        +" + "-" * len(means))
    grid.append(f"         step 1 .. {n}")
    return grid


@app.command(
    epilog="Example: raif-train grpo --model tiny --data runs/demo/data --sft-data runs/demo/data/sft --output-dir runs/demo/train --max-steps 60 --seed 5"
)
def grpo(
    recipe: Annotated[
        Path | None, typer.Option(help="YAML recipe (pipelines/train_*.yaml); default: built-in")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="'tiny' (in-code model), a local path or a hub id")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="directory of Parquet shards from `raif-data evolve`")
    ] = None,
    sft_data: Annotated[
        str | None, typer.Option(help="expert (prompt, response) shards for behaviour cloning")
    ] = None,
    output_dir: str | None = typer.Option(
        None, help="run directory: metrics.jsonl, tensorboard/, checkpoints/"
    ),
    max_steps: Annotated[
        int | None, typer.Option(help="number of steps (one rollout + its updates each)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of sampling, data order and the tiny model")] = None,
    backend: Annotated[str | None, typer.Option(help="local (default) or verl")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    lr: Annotated[float | None, typer.Option(help="peak learning rate")] = None,
    group_size: Annotated[int | None, typer.Option(help="G samples per prompt")] = None,
    direct_per_group: Annotated[int | None, typer.Option(help="of G, forced to answer directly")] = None,
    rollout_prompts: Annotated[int | None, typer.Option(help="prompts per step")] = None,
    mini_batch_size: Annotated[int | None, typer.Option(help="samples per optimiser update")] = None,
    micro_batch_size: Annotated[int | None, typer.Option(help="samples per forward/backward")] = None,
    max_response_length: Annotated[int | None, typer.Option(help="new tokens per sample")] = None,
    temperature: Annotated[float | None, typer.Option(help="sampling temperature")] = None,
    kl_coef: Annotated[float | None, typer.Option(help="k3 KL loss coefficient")] = None,
    bc_coef: Annotated[float | None, typer.Option(help="behaviour-cloning loss coefficient")] = None,
    bc_rows_per_step: Annotated[
        int | None, typer.Option(help="expert rows per update pass (default: one per policy sample)")
    ] = None,
    reward_workers: Annotated[int | None, typer.Option(help="reward processes (0 = score inline)")] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume/--no-resume", help="continue from the newest checkpoint")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="any recipe field: --set loss_agg_mode=token-mean")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress display")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="verl backend: print the command and resolved config")
    ] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="verl backend: Ray cluster or dashboard address")
    ] = None,
    verl_override: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE", help="verl backend: extra raw Hydra override, e.g. trainer.val_before_train=false"
        ),
    ] = None,
) -> None:
    """Run GRPO (RAIF: superior-CoT enforcement, behaviour cloning, k3 KL) from a recipe plus flags."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    flags = {k: v for k, v in locals().items() if k not in _CLI_ONLY}
    try:
        from raif_train.recipe import load_recipe

        ov = _overrides(flags, set_ or [])
        rec = load_recipe(recipe, **ov)
        if rec.backend.backend == "verl":
            _run_verl(rec, dry_run, ray_address, verl_override or [])
            return
        if dry_run or ray_address or verl_override:
            raise typer.BadParameter("--dry-run, --ray-address and --verl-override need --backend verl")
        _run_local(rec, quiet)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _TRAIN_STACK:
            raise
        # `pip install .` gives the checkers and the data pipeline only; say so instead of a traceback
        typer.echo(
            f"error: raif-train needs the [train] extra (missing module {exc.name!r}): pip install 'raif[train]'",
            err=True,
        )
        raise typer.Exit(1) from None
    except RaifError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except typer.BadParameter as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


_VERL_STACK = {"verl", "omegaconf", "hydra", "ray", "vllm", "sglang"}
_TRAIN_STACK = {"torch", "transformers", "tensorboard", "safetensors", "tokenizers"}


def _run_verl(rec, dry_run: bool, ray_address: str | None, verl_overrides: list[str]) -> None:
    """Hand the recipe to the veRL backend (raif_train/verl), which needs the [verl] extra."""
    from raif_train.verl.launch import run_verl

    try:
        rc = run_verl(rec, dry_run=dry_run, ray_address=ray_address, extra_overrides=verl_overrides or None)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _VERL_STACK:
            raise
        raise typer.BadParameter(
            f"--backend verl needs the [verl] extra (missing module {exc.name!r}): "
            "pip install 'raif[verl]' (CPU tools) or 'raif[gpu]' (vLLM rollouts); see docs/verl.md"
        ) from None
    if rc:
        raise typer.Exit(rc)


def _progress_every(total: int) -> int:
    """Steps between log lines when stderr is not a terminal: every step up to 100, else about 100 lines."""
    return max(1, -(-total // 100))


def _summary(rows: list[dict[str, Any]], path: Path) -> list[str]:
    """The end-of-run report: the reasoning-reward curve and the figures the demo contract names."""

    def series(key: str) -> list[float]:
        return [r[key] for r in rows if isinstance(r.get(key), (int, float))]

    def first_last(xs: list[float], k: int) -> str:
        return f"first {k} steps {sum(xs[:k]) / k:.3f} -> last {k} steps {sum(xs[-k:]) / k:.3f}"

    reasoning = series("reasoning_reward_mean")
    curve = reasoning or series("reward_mean")
    lines = [f"reward curve (reasoning samples, {len(curve)} steps; metrics in {path}):", *_sparkline(curve)]
    if len(curve) >= 2:
        k = max(1, min(8, len(curve) // 4))
        lines.append(f"reasoning reward: {first_last(curve, k)}")
        fmt = series("format_ok_rate")
        if len(fmt) >= 2:
            lines.append(f"format_ok_rate: step 1 {fmt[0]:.3f}, {first_last(fmt, k)}")
        reward = series("reward_mean")
        if len(reward) >= 2:
            lines.append(f"mean reward: {first_last(reward, k)}")
        masked = sum(1 for x in series("kept_ratio") if x < 1.0)
        lines.append(f"superior-CoT mask active (kept_ratio < 1) in {masked} of {len(rows)} steps")
        bc = series("bc_loss")
        if any(bc):
            lines.append(f"bc_loss: {first_last(bc, k)}")
    return lines


def _run_local(rec, quiet: bool) -> None:
    from raif_train.local.runstate import finished_state

    out_dir = Path(rec.train.output_dir)
    done = finished_state(rec)
    if done is not None:
        # said before torch and the model load: a rerun has nothing to train
        typer.echo(
            f"already complete: {out_dir} finished all {done['step']} steps of this recipe "
            f"(metrics in {out_dir / 'metrics.jsonl'}, model in {out_dir / 'final'}); nothing to do "
            "(to train again: --no-resume or another --output-dir; to go further: a new --output-dir "
            "with more --max-steps)"
        )
        return
    for module in ("torch", "transformers"):  # before "loading ...": without them, the one line is the error
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    if rec.data.data is not None:  # a missing data folder is the one line, before "loading ..."
        from raif_train.local.data import find_shards

        find_shards(rec.data.data)
        if rec.data.sft_data is not None:
            find_shards(rec.data.sft_data)
    live = not quiet and err.is_terminal
    log_lines = not quiet and not err.is_terminal  # CI logs and pipes: plain lines instead of a bar
    if not quiet:
        err.print(
            f"loading torch, the model {rec.model.model!r} and the prompts of {rec.data.data} ...",
            markup=False, highlight=False, soft_wrap=True,
        )
    started = time.perf_counter()
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers.utils import logging as hf_logging

    from raif_train.local.trainer import GRPOTrainer

    hf_logging.disable_progress_bar()  # its "Writing model shards" bar would cut into ours and into logs
    if rec.model.model == "tiny":
        torch.set_num_threads(1)  # a 0.1M-parameter model gains nothing from more threads (measured)
    progress = Progress(
        TextColumn("[bold]GRPO"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=err,
        disable=not live,
    )
    task = progress.add_task("train", total=None, info="")
    every = 1

    def on_step(row: dict[str, Any]) -> None:
        reward = row["reasoning_reward_mean"]
        shown = "-" if reward is None else f"{reward:.3f}"
        info = f"reasoning reward {shown}  format {row['format_ok_rate'] or 0:.2f}  kept {row['kept_ratio']:.2f}  {row['seconds']:.2f}s"
        progress.update(task, completed=row["step"], info=info)
        if log_lines and (row["step"] % every == 0 or row["step"] == trainer.total_steps):
            err.print(f"step {row['step']}/{trainer.total_steps}  {info}", markup=False, highlight=False, soft_wrap=True)

    trainer = GRPOTrainer(rec, on_step=on_step)
    every = _progress_every(trainer.total_steps)
    if not quiet:
        resumed = trainer.latest_checkpoint() if rec.train.resume else None
        err.print(
            f"loaded in {time.perf_counter() - started:.1f} s: {len(trainer.prompts)} prompts, "
            f"{trainer.total_steps} steps on {trainer.device.type}"
            + (f", resuming from {resumed}" if resumed is not None else ""),
            markup=False, highlight=False, soft_wrap=True,
        )
    progress.update(task, total=trainer.total_steps, completed=trainer.step)
    with progress:
        trainer.train()
    final = trainer.export()
    rows = [json.loads(ln) for ln in (trainer.out / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    for line in _summary(rows, trainer.out / "metrics.jsonl"):
        out.print(line, markup=False, highlight=False, soft_wrap=True)  # never wrapped: docs quote it
    out.print(f"model saved to {final}", soft_wrap=True)


@app.command(
    "recipe", epilog="Example: raif-train recipe --recipe pipelines/train_qwen2.5_7b.yaml --set lr=2e-6"
)
def show_recipe(
    recipe: Annotated[Path | None, typer.Option(help="YAML recipe to resolve")] = None,
    model: Annotated[str | None, typer.Option(help="'tiny' selects the built-in tiny preset")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="override any field: --set lr=2e-6")] = None,
) -> None:
    """Print the fully resolved recipe as YAML (defaults, file and overrides applied)."""
    try:
        from raif_train.recipe import load_recipe, recipe_to_dict

        rec = load_recipe(recipe, **_overrides({"model": model}, set_ or []))
    except (RaifError, typer.BadParameter) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(yaml.safe_dump(recipe_to_dict(rec), sort_keys=False, width=1000), nl=False)


def main() -> None:
    cliformat.run(app, "raif-train")


if __name__ == "__main__":
    main()
