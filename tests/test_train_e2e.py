"""End to end on CPU: offline `raif-data evolve` shards -> `raif-train grpo --model tiny` -> the demo contract.

Real shards, real checkers, the real CLI and reward process; the trends are asserted, seeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = Path(sys.executable).parent


def _run(args: list[str], timeout: int, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd)


#: Wall-clock budget of the 60-step demo; the contract is 5 minutes on an idle 2-core machine. A loaded
#: shared machine may set RAIF_DEMO_SECONDS higher (and must say so when it reports the figure).
DEMO_SECONDS = float(os.environ.get("RAIF_DEMO_SECONDS", "300"))


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.slow
def test_tiny_demo_runs_the_papers_path_and_learns_the_format(tmp_path):
    """The demo contract (README, docs/train.md): the quick-start commands as written there, on the real
    CLIs: offline evolve (which writes its witness rows to runs/demo/data/sft), then 60 steps of the tiny
    preset with behaviour cloning on them. The preset runs the paper's path (think/answer format and
    gate, RAIF reward, 2 of 8 direct answers, superior-CoT, BC); the random model starts without the
    format and ends with it, the reasoning reward rises, the mask acts and the BC loss falls. What the
    command prints is the curve both documents show, byte for byte (one run serves both checks)."""
    res = _run([str(EXE / "raif-data"), "evolve", "--output-dir", "runs/demo/data", "--num-prompts", "300",
                "--seed", "5", "--quiet"], 300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    sft = tmp_path / "runs" / "demo" / "data" / "sft"
    assert sft.is_dir(), "raif-data evolve wrote no expert rows to DIR/sft"
    out = tmp_path / "runs" / "demo" / "train"
    args = [str(EXE / "raif-train"), "grpo", "--model", "tiny", "--data", "runs/demo/data", "--sft-data",
            "runs/demo/data/sft", "--output-dir", "runs/demo/train", "--max-steps", "60", "--seed", "5"]
    t0 = time.perf_counter()
    res = _run(args, 3600, cwd=tmp_path)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 61))
    keys = ("format_ok_rate", "reasoning_reward_mean", "direct_reward_mean", "kept_ratio", "bc_loss",
            "reward_mean", "seconds")
    for key in keys:
        assert all(isinstance(r[key], (int, float)) for r in rows), key
    fmt = [r["format_ok_rate"] for r in rows]
    reasoning = [r["reasoning_reward_mean"] for r in rows]
    bc = [r["bc_loss"] for r in rows]
    assert fmt[0] <= 0.2, fmt[:3]
    assert _mean(fmt[-8:]) >= 0.9, fmt[-8:]
    assert _mean(reasoning[-8:]) >= _mean(reasoning[:8]) + 1.0, (reasoning[:8], reasoning[-8:])
    assert sum(r["kept_ratio"] < 1.0 for r in rows) >= 5, [r["kept_ratio"] for r in rows]
    assert _mean(bc[-8:]) < _mean(bc[:8]), bc
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["model"]["response_format"] == "think_answer" and recipe["algo"]["reward_mode"] == "raif"
    assert (recipe["rollout"]["group_size"], recipe["rollout"]["direct_per_group"]) == (8, 2)
    assert recipe["data"]["sft_data"] == "runs/demo/data/sft" and (out / "final" / "config.json").is_file()
    printed = res.stdout.rstrip("\n").splitlines()
    for doc in ("docs/train.md", "README.md"):
        assert printed == _docs_curve(doc), f"{doc} shows another curve; the command printed:\n" + res.stdout
    assert wall <= DEMO_SECONDS, f"the 60-step demo took {wall:.0f}s (budget {DEMO_SECONDS:.0f}s)"


def test_cli_user_errors_are_one_line(tmp_path):
    res = _run([str(EXE / "raif-train"), "grpo", "--model", "tiny", "--data", str(tmp_path / "nope")], 120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "no such file or directory" in res.stderr
    res = _run([str(EXE / "raif-train"), "grpo", "--model", "tiny", "--set", "group_size=1"], 120)
    assert res.returncode == 1 and "rollout.group_size" in res.stderr


def test_verl_only_flags_are_refused_on_the_local_backend(tmp_path):
    res = _run([str(EXE / "raif-train"), "grpo", "--model", "tiny", "--dry-run"], 120)
    assert res.returncode == 2 and "need --backend verl" in res.stderr


def _docs_curve(doc: str) -> list[str]:
    """The printout `doc` shows for the quick-start command: from its reward-curve line to the end of
    that code block."""
    text = (Path(__file__).resolve().parent.parent / doc).read_text(encoding="utf-8")
    start = text.index("reward curve (reasoning samples, 60 steps; metrics in runs/demo/train/metrics.jsonl):")
    return text[start : text.index("```", start)].rstrip("\n").splitlines()
