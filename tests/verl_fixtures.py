"""Shared helpers of the veRL backend tests: small RL shards written by the data pipeline's own writer."""

from __future__ import annotations

import json
from pathlib import Path

from raif_data.shards import RL_SCHEMA, ShardWriter, rl_row

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
