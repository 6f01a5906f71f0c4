"""What every node of a veRL run shares with the driver: the environment forwarded through Ray's runtime
environment, and a preflight (one Ray task per node) that the plugin registers, versions match and the
configured attention kernel imports, before any training worker starts. Imports neither veRL nor Ray.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import socket
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from raif_rewards.errors import RaifError
from raif_rewards.judge import JUDGE_SETTINGS

__all__ = [
    "PreflightError",
    "DEFAULT_ATTENTION",
    "ATTENTION_OVERRIDE",
    "forwarded_env",
    "redacted",
    "attention_implementation",
    "attention_problem",
    "source_digest",
    "local_versions",
    "node_report",
    "problems",
    "check_nodes",
]

#: veRL's attention implementation when `actor_rollout_ref.model.override_config` names none.
DEFAULT_ATTENTION = "flash_attention_2"
#: The override that selects PyTorch's own attention kernel instead.
ATTENTION_OVERRIDE = "+actor_rollout_ref.model.override_config.attn_implementation=sdpa"
# Modules an attention implementation needs (transformers' names -> the import that provides it).
_ATTENTION_MODULES = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}
_PACKAGES = ("raif", "verl", "torch", "transformers", "vllm")


class PreflightError(RaifError, RuntimeError):
    """A node of the Ray cluster cannot run this training (one line naming the node and the remedy)."""


def forwarded_env(output_dir: str | Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables every Ray worker needs from the launching shell: the judge's `RAIF_JUDGE_*` (reward
    workers score judge rows on any node) and `TENSORBOARD_DIR` (veRL's logger runs in the task runner,
    wherever Ray places it); default `OUTPUT_DIR/tensorboard`."""
    env = os.environ if environ is None else environ
    out = {name: env[name] for name in JUDGE_SETTINGS.values() if env.get(name)}
    out["TENSORBOARD_DIR"] = env.get("TENSORBOARD_DIR") or str(Path(output_dir).resolve() / "tensorboard")
    return out


def redacted(env: Mapping[str, str]) -> dict[str, str]:
    """`env` fit to print: secrets (names ending in _API_KEY) masked."""
    return {k: ("***" if k.endswith("_API_KEY") else v) for k, v in env.items()}


def attention_implementation(config: Any) -> str:
    """The attention implementation veRL builds the actor (and reference) model with."""
    override = config.actor_rollout_ref.model.get("override_config", None) or {}
    return str(override.get("attn_implementation", DEFAULT_ATTENTION))


def attention_problem(implementation: str) -> str | None:
    """Why `implementation` cannot run in this process, or None (sdpa and eager need nothing extra)."""
    module = _ATTENTION_MODULES.get(implementation)
    if module is None:
        return None
    try:
        importlib.import_module(module)
    except Exception as e:  # a wheel built for another torch fails with OSError/RuntimeError, not ImportError
        return (
            f"attn_implementation {implementation} needs {module}, which does not import "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); install flash-attn "
            f"(docs/verl.md, Install) or pass --verl-override {ATTENTION_OVERRIDE}"
        )
    return None


def source_digest() -> str:
    """Digest of the installed raif_rewards and raif_train sources: equal versions can be different code."""
    h = hashlib.sha256()
    for package in ("raif_rewards", "raif_train"):
        root = Path(importlib.import_module(package).__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def local_versions() -> dict[str, str | None]:
    """What must be equal on every node: package versions and RAIF's source digest."""
    out: dict[str, str | None] = {p: _version(p) for p in _PACKAGES}
    out["raif_source"] = source_digest()
    return out


def node_report(implementation: str) -> dict[str, Any]:
    """This process's view (run as a Ray task on each node): versions, plugin, attention kernel."""
    from raif_train.verl import plugin  # imports veRL, as every Ray worker does

    return {
        "node": socket.gethostname(),
        "versions": local_versions(),
        "plugin": bool(plugin.registered()["agent_loop"]),
        "attention": attention_problem(implementation),
    }


def problems(expected: Mapping[str, str | None], reports: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per thing a node lacks or has different from the driver (`expected`)."""
    out: list[str] = []
    for r in reports:
        node = r["node"]
        if not r["plugin"]:
            out.append(f"{node}: RAIF's veRL plugin is not registered (install raif on every node)")
        for name, want in expected.items():
            got = r["versions"].get(name)
            if got != want:
                out.append(f"{node}: {name} {got} where the driver has {want}")
        if r["attention"]:
            out.append(f"{node}: {r['attention']}")
    return out


def check_nodes(
    expected: Mapping[str, str | None], implementation: str, timeout_s: float = 600.0
) -> list[dict[str, Any]]:
    """Run `node_report` on every alive node of the connected Ray cluster; PreflightError (one line) on
    any problem, else the reports. Needs `ray.init` done."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    # num_cpus=0: runs even while the node's CPUs are taken; one task pinned to each node.
    task = ray.remote(num_cpus=0)(node_report)
    refs = [
        task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            implementation
        )
        for n in nodes
    ]
    try:
        reports = ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise PreflightError(
            f"preflight: {len(nodes)} node checks did not finish within {timeout_s:.0f} s"
        ) from None
    bad = problems(expected, reports)
    if bad:
        raise PreflightError(f"preflight refused the run on {len(nodes)} node(s): " + "; ".join(bad))
    return list(reports)
