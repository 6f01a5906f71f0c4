"""`raif-train grpo --backend verl --dry-run`: works with the [verl] extra, one clear line without it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import ROOT
from tests.verl_fixtures import write_sft_shards


def _shards(tmp_path):
    for split in ("train", "validation"):
        (tmp_path / split).mkdir(parents=True)
        table = pa.table(
            {
                "data_source": ["raif/rule"],
                "prompt": [[{"role": "user", "content": "Say hi."}]],
                "ability": ["instruction_following"],
                "reward_model": [{"style": "rule", "ground_truth": '[{"id": "punctuation:no_comma"}]'}],
                "extra_info": [{"index": 0, "split": split}],
            }
        )
        pq.write_table(table, tmp_path / split / "part-00000.parquet")
    return tmp_path


def test_verl_dry_run(tmp_path):
    data = _shards(tmp_path / "data")
    sft = write_sft_shards(tmp_path / "data", [("Say hi.", "<think> ok </think> <answer> hi </answer>")])
    cmd = [
        sys.executable, "-m", "raif_train.cli", "grpo",
        "--recipe", str(ROOT / "pipelines" / "verl_qwen2.5_1.5b_4gpu.yaml"),
        "--backend", "verl", "--dry-run", "--data", str(data), "--output-dir", str(tmp_path / "out"),
        "--sft-data", str(sft),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    if importlib.util.find_spec("verl") is None:
        assert result.returncode == 2
        assert "needs the [verl] extra" in result.stderr and "Traceback" not in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "raif_train.verl.main" in result.stdout and "actor_rollout_ref.rollout.n=8" in result.stdout
        # behaviour cloning as the paper runs it: one expert row per policy sample (32 prompts x 8)
        assert "+raif.bc_rows_per_step=256" in result.stdout and "+raif.bc_coef=1.0" in result.stdout
