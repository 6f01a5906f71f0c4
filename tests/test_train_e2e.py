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

from raif_train.local.tiny_experts import write_tiny_experts

EXE = Path(sys.executable).parent


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


#: Wall-clock budget of the 60-step demo; the contract is 5 minutes on an idle 2-core machine. A loaded
#: shared machine may set RAIF_DEMO_SECONDS higher (and must say so when it reports the figure).
DEMO_SECONDS = float(os.environ.get("RAIF_DEMO_SECONDS", "300"))


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.slow
def test_tiny_demo_runs_the_papers_path_and_learns_the_format(tmp_path):
    """The demo contract (README, docs/train.md): offline evolve, then 60 steps of the tiny preset with
    behaviour cloning, on the real CLIs. The preset runs the paper's path (think/answer format and gate,
    RAIF reward, 2 of 8 direct answers, superior-CoT, BC); the random model starts without the format and
    ends with it, the reasoning reward rises, the mask acts and the BC loss falls."""
    data = tmp_path / "D"
    res = _run([str(EXE / "raif-data"), "evolve", "--output-dir", str(data), "--num-prompts", "300", "--seed", "5",
                "--quiet"], 300)
    assert res.returncode == 0, res.stderr
    sft = data / "sft"
    if not sft.is_dir():  # until `raif-data evolve` writes its own expert rows: witnesses built here
        sft = tmp_path / "sft"
        assert write_tiny_experts(data, sft) > 0
    out = tmp_path / "T"
    args = [str(EXE / "raif-train"), "grpo", "--model", "tiny", "--data", str(data), "--sft-data", str(sft),
            "--output-dir", str(out), "--max-steps", "60", "--seed", "5", "--quiet", "--set", "tensorboard=false"]
    t0 = time.perf_counter()
    res = _run(args, 3600)
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
    assert "reasoning reward" in res.stdout and (out / "final" / "config.json").is_file()
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


def _docs_curve() -> list[str]:
    """The reward-curve block docs/train.md shows for its quick-start command."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "train.md").read_text(encoding="utf-8")
    start = text.index("reward curve (40 steps; metrics in runs/demo/train/metrics.jsonl):")
    return text[start : text.index("```", start)].rstrip("\n").splitlines()


@pytest.mark.slow
def test_docs_quick_start_curve_is_what_the_command_prints(evolve_shards, tmp_path):
    # the same data (evolve --num-prompts 512 --seed 0) and the same command as docs/train.md, 40 steps
    out = tmp_path / "runs" / "demo" / "train"
    args = [str(EXE / "raif-train"), "grpo", "--model", "tiny", "--data", str(evolve_shards)]
    args += ["--output-dir", "runs/demo/train", "--max-steps", "40", "--seed", "0"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert out.is_dir()
    printed = res.stdout.rstrip("\n").splitlines()
    assert printed == _docs_curve(), "\n".join(printed)
