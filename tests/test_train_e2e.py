"""End to end on CPU: offline `raif-data evolve` shards -> `raif-train grpo --model tiny` -> reward rises.

Real shards, real checkers, the real CLI and reward process; the trend is asserted, seeded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).parent


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def evolve_shards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evolve")
    res = _run(
        [str(EXE / "raif-data"), "evolve", "--num-prompts", "512", "--seed", "0", "--output-dir", str(out)],
        300,
    )
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.slow
def test_tiny_grpo_raises_reward_on_evolve_shards(evolve_shards, tmp_path):
    out = tmp_path / "train"
    # 20 of the demo's 40 steps keep this within ~2 minutes on 2 busy cores; the rise is already clear.
    args = [str(EXE / "raif-train"), "grpo", "--model", "tiny", "--data", str(evolve_shards)]
    args += [
        "--output-dir",
        str(out),
        "--max-steps",
        "20",
        "--seed",
        "0",
        "--quiet",
        "--set",
        "tensorboard=false",
    ]
    res = _run(args, 600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 21))
    for key in ("step", "reward_mean", "kept_ratio", "kl", "loss", "seconds"):
        assert all(isinstance(r[key], (int, float)) for r in rows), key
    reward = [r["reward_mean"] for r in rows]
    first, last = sum(reward[:5]) / 5, sum(reward[-5:]) / 5
    # Fraction reward in [0, 1] (+1 format): a random model starts near 0.5-0.6 satisfied.
    assert last > first + 0.15, (first, last, reward)
    assert 0 < rows[-1]["kept_ratio"] <= 1 and rows[-1]["kl"] > 0
    assert "reward curve" in res.stdout and (out / "final" / "config.json").is_file()


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
