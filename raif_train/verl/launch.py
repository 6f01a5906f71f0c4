"""Launch the veRL backend: recipe -> overrides -> `python -m raif_train.verl.main ...`, locally, against
an existing Ray cluster (RAY_ADDRESS), or as a `ray job submit`; `--dry-run` prints command and config.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable

from raif_rewards.outdir import ensure_output_dir
from raif_train.recipe import Recipe
from raif_train.verl import cluster
from raif_train.verl.overrides import VerlConfigError, VerlPlan, build_plan

__all__ = ["ENTRY_MODULE", "command", "job_submit_command", "compose", "run_verl"]

ENTRY_MODULE = "raif_train.verl.main"


def _hydra_dir(plan: VerlPlan) -> str:
    # Hydra writes its run folder (resolved config, log) into the working directory unless told otherwise.
    out = next((o.split("=", 1)[1] for o in plan.overrides if o.startswith("+raif.output_dir=")), "runs/verl")
    return f"hydra.run.dir={out}/hydra"


def command(plan: VerlPlan, python: str | None = None) -> list[str]:
    """The driver command line: our entry module with every override."""
    return [python or sys.executable, "-m", ENTRY_MODULE, *plan.overrides, _hydra_dir(plan)]


def _env(recipe: Recipe) -> dict[str, str]:
    return cluster.forwarded_env(recipe.train.output_dir)


def job_submit_command(
    plan: VerlPlan, recipe: Recipe, address: str, env: dict[str, str] | None = None
) -> list[str]:
    """`ray job submit` form for a cluster's dashboard address (the driver then runs inside the cluster;
    data, model and output paths must be visible from the cluster's nodes). The job's runtime environment
    carries `env` (default: the forwarded `RAIF_JUDGE_*` and `TENSORBOARD_DIR`) to the driver and every
    worker of the job."""
    runtime_env = {"env_vars": _env(recipe) if env is None else env}
    return [
        "ray",
        "job",
        "submit",
        "--address",
        address,
        "--runtime-env-json",
        json.dumps(runtime_env, sort_keys=True),
        "--",
        "python",
        "-m",
        ENTRY_MODULE,
        *plan.overrides,
        _hydra_dir(plan),
    ]


def _verl_missing() -> VerlConfigError | None:
    import importlib.util

    if importlib.util.find_spec("verl") is None:
        return VerlConfigError(
            "backend", "veRL is not installed: pip install 'raif[verl]' (and 'raif[gpu]' to train)"
        )
    return None


def compose(plan: VerlPlan):
    """veRL's ppo_trainer config with the plan's overrides, validated by veRL and by our checks (CPU only)."""
    missing = _verl_missing()
    if missing:
        raise missing
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from raif_train.verl.main import VERL_CONFIG_DIR, check_config

    try:
        with initialize_config_dir(config_dir=VERL_CONFIG_DIR, version_base=None):
            config = hydra_compose(config_name="ppo_trainer", overrides=plan.overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise VerlConfigError("overrides", str(e).splitlines()[0]) from None
    try:
        check_config(config)
    except (AssertionError, ValueError, HydraException, OmegaConfBaseException) as e:
        if isinstance(e, VerlConfigError):
            raise
        # veRL reports through asserts, ValueErrors and its dataclasses' instantiation: keep the reason.
        reason = str(e.__cause__ or e).strip().splitlines()
        raise VerlConfigError(
            "config", f"veRL rejects the configuration: {reason[0] if reason else e!r}"
        ) from None
    return config


def run_verl(
    recipe: Recipe,
    *,
    dry_run: bool = False,
    ray_address: str | None = None,
    extra_overrides: list[str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> int:
    """Run (or with `dry_run`, show) a GRPO run of `recipe` on veRL; returns the exit status.

    `ray_address`: an `http://host:8265` dashboard address submits a Ray job; any other address
    (`host:6379`, `ray://host:10001`, `auto`) runs the driver here connected to that cluster.
    """
    if echo is None:
        import typer

        echo = typer.echo
    plan = build_plan(recipe, extra_overrides)
    job_address = ray_address if ray_address and ray_address.startswith(("http://", "https://")) else ""
    is_job = bool(job_address)
    cmd = job_submit_command(plan, recipe, job_address) if is_job else command(plan)
    env = dict(os.environ) | _env(recipe)
    if ray_address and not is_job:
        env["RAY_ADDRESS"] = ray_address
    if dry_run:
        from omegaconf import OmegaConf

        config = compose(plan)
        for note in plan.notes:
            echo(f"# note: {note}")
        shown = cluster.redacted(_env(recipe))
        prefix = "" if is_job else " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(shown.items())) + " "
        if ray_address and not is_job:
            prefix += f"RAY_ADDRESS={shlex.quote(ray_address)} "
        echo("# command")
        echo(prefix + shlex.join(job_submit_command(plan, recipe, job_address, shown) if is_job else cmd))
        if not is_job:
            echo("# the same run as a Ray job (give the cluster's dashboard address to --ray-address):")
            echo(shlex.join(job_submit_command(plan, recipe, "http://HEAD_NODE:8265", shown)))
        echo("# resolved veRL config (interpolations resolved: the values the run uses)")
        echo(OmegaConf.to_yaml(config, resolve=True))
        return 0
    missing = _verl_missing()
    if missing:
        raise missing
    config = compose(plan)  # fail on configuration errors here, before Ray starts or a GPU is allocated
    if not ray_address and recipe.backend.nnodes > 1:
        raise VerlConfigError(
            "backend.nnodes",
            f"{recipe.backend.nnodes} nodes need an existing Ray cluster: pass --ray-address",
        )
    if not ray_address:
        # A local Ray cluster with too few GPUs waits forever for its placement groups: refuse instead.
        import torch

        have, need = torch.cuda.device_count(), recipe.backend.n_gpus_per_node
        if have < need:
            raise VerlConfigError(
                "backend.n_gpus_per_node", f"the recipe needs {need} GPUs on this node, {have} are visible"
            )
        # This node is the whole cluster: its attention kernel is checked before Ray starts (on a cluster
        # the entry module's preflight checks every node).
        problem = cluster.attention_problem(cluster.attention_implementation(config))
        if problem:
            raise VerlConfigError("attn_implementation", problem)
    ensure_output_dir(recipe.train.output_dir)
    return subprocess.call(cmd, env=env)
