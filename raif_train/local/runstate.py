"""What a run directory holds, read without torch: its newest complete checkpoint, and whether a run of
this recipe has already finished there (so a rerun can say so at once instead of loading a model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raif_train.recipe import Recipe, recipe_to_dict


def latest_checkpoint(out: Path) -> Path | None:
    """The newest ``checkpoints/step_*`` folder of run directory ``out`` that is complete (has state.json)."""
    root = out / "checkpoints"
    done = sorted(p for p in root.glob("step_*") if (p / "state.json").is_file()) if root.is_dir() else []
    return done[-1] if done else None


def finished_state(recipe: Recipe) -> dict[str, Any] | None:
    """The newest checkpoint's state when it is the last step of a run of exactly this recipe (which would
    resume with nothing to do), else None."""
    if not recipe.train.resume:
        return None
    ckpt = latest_checkpoint(Path(recipe.train.output_dir))
    if ckpt is None:
        return None
    try:
        state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the trainer reports an unreadable checkpoint when it resumes
    same = state.get("recipe") == json.loads(json.dumps(recipe_to_dict(recipe)))
    if same and isinstance(state.get("step"), int) and state["step"] >= state.get("total_steps", float("inf")):
        return state
    return None
