"""Shared helpers of the veRL backend tests: small RL shards written by the data pipeline's own writer."""

from __future__ import annotations

import json
from pathlib import Path

from raif_data.shards import RL_SCHEMA, SFT_SCHEMA, ShardWriter, rl_row

LOWERCASE_GT = json.dumps(
    {
        "style": "rule",
        "lang": "en",
        "tree": {"op": "check", "id": "change_case:english_lowercase", "kwargs": {}},
    }
)


def write_shards(
    root: Path, prompts: list[str], *, validation: bool = True, baseline: float | None = 0.5
) -> Path:
    """`raif-data evolve`'s layout (train/ and validation/ Parquet shards) holding `prompts`."""
    for split in ("train", "validation") if validation else ("train",):
        writer = ShardWriter(root / split, RL_SCHEMA, rows_per_shard=3)
        for i, text in enumerate(prompts):
            rec = {
                "kind": "rule",
                "prompt": text,
                "ground_truth": LOWERCASE_GT,
                "index": i,
                "seed_id": "seed",
                "lang": "en",
                "task_type": "writing",
                "composition": "and",
                "constraint_ids": ["change_case:english_lowercase"],
                "constraint_sources": ["ifeval"],
            }
            writer.add(rl_row(rec, split, {"baseline_score": baseline, "pass_rate": 0.5}, {"test": True}))
        writer.close()
    return root


def write_sft_shards(root: Path, pairs: list[tuple[str, str]]) -> Path:
    """Expert rows where `raif-data evolve` writes them (DIR/sft/train/), in its SFT schema; returns DIR/sft."""
    writer = ShardWriter(root / "sft" / "train", SFT_SCHEMA, rows_per_shard=2)
    for i, (prompt, response) in enumerate(pairs):
        writer.add(
            {
                "data_source": "raif/rule",
                "prompt": [{"role": "user", "content": prompt}],
                "response": response,
                "extra_info": {
                    "index": i,
                    "uid": f"u{i}",
                    "seed_id": "seed",
                    "model": "expert",
                    "score": 1.0,
                    "reasoning": True,
                },
            }
        )
    writer.close()
    return root / "sft"
