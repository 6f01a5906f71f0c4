"""Parquet shards in veRL's RLHFDataset schema (and the SFT schema), written streaming and atomically.

Each shard is written row group by row group into a temp file and renamed into place when complete.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raif_data.files import atomic_path, sha256_file

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

EXTRA_INFO = pa.struct(
    [
        ("index", pa.int64()),
        ("uid", pa.string()),
        ("split", pa.string()),
        ("seed_id", pa.string()),
        ("lang", pa.string()),
        ("task_type", pa.string()),
        ("composition", pa.string()),
        ("constraint_ids", pa.list_(pa.string())),
        ("constraint_sources", pa.list_(pa.string())),
        ("num_constraints", pa.int32()),
        ("baseline_score", pa.float64()),
        ("pass_rate", pa.float64()),
        ("provenance", pa.string()),
    ]
)

#: veRL RLHFDataset columns (prompt is chat messages; ground_truth a JSON string, see docs/data.md)
RL_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", MESSAGES),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", EXTRA_INFO),
    ]
)

#: SFT rows: the RL row's columns plus ``response``; extra_info adds who wrote the response and whether
#: it is synthetic (an offline witness) rather than a model's
SFT_EXTRA_INFO = pa.struct(
    [*EXTRA_INFO, ("model", pa.string()), ("score", pa.float64()), ("reasoning", pa.bool_()), ("synthetic", pa.bool_())]
)
SFT_SCHEMA = pa.schema(
    [f for f in RL_SCHEMA if f.name != "extra_info"] + [("response", pa.string()), ("extra_info", SFT_EXTRA_INFO)]
)

#: ``model`` of an offline witness row (no model wrote it: the composer did, and the reward verified it)
WITNESS_MODEL = "raif/witness"
#: the reward a verified witness earns under the default reward (format +1, every constraint +2)
WITNESS_SCORE = 3.0


def sft_row(rl: dict, response: str, *, model: str, score: float, reasoning: bool, synthetic: bool) -> dict:
    """An SFT row: the RL row ``rl`` plus the expert ``response``."""
    extra = dict(rl["extra_info"], model=model, score=score, reasoning=reasoning, synthetic=synthetic)
    return {**rl, "response": response, "extra_info": extra}


class ShardWriter:
    """Rows in, ``part-NNNNN.parquet`` files out: at most ``rows_per_shard`` rows each, zstd, atomic."""

    def __init__(self, folder: Path, schema: pa.Schema, rows_per_shard: int, compression: str = "zstd",
                 row_group: int = 4096):
        self.folder, self.schema = folder, schema
        self.rows_per_shard, self.row_group = rows_per_shard, min(row_group, rows_per_shard)
        self.compression = None if compression == "none" else compression
        self.files: list[dict[str, Any]] = []
        self._buf: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._ctx: AbstractContextManager[Path] | None = None  # the open shard's atomic_path
        self._tmp: Path | None = None
        self._rows_in_shard = 0

    def _open(self) -> pq.ParquetWriter:
        name = f"part-{len(self.files):05d}.parquet"
        self._ctx = atomic_path(self.folder / name)
        self._tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression=self.compression)
        self._rows_in_shard = 0
        self.files.append({"file": name, "rows": 0})
        return self._writer

    def _flush(self) -> None:
        if not self._buf:
            return
        writer = self._writer if self._writer is not None else self._open()
        writer.write_table(pa.Table.from_pylist(self._buf, schema=self.schema))
        self._rows_in_shard += len(self._buf)
        self.files[-1]["rows"] = self._rows_in_shard
        self._buf = []

    def _finish_shard(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if self._ctx is not None:
                self._ctx.__exit__(None, None, None)
                self._ctx = None
            self.files[-1]["sha256"] = sha256_file(self.folder / self.files[-1]["file"])
        # the next shard starts empty: left at the full count, every other shard held one row
        self._rows_in_shard = 0

    def add(self, row: dict) -> None:
        self._buf.append(row)
        if self._rows_in_shard + len(self._buf) >= self.rows_per_shard:
            self._finish_shard()
        elif len(self._buf) >= self.row_group:
            self._flush()

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard and remove shards of an earlier, larger run; returns the file list."""
        self._finish_shard()
        keep = {f["file"] for f in self.files}
        if self.folder.is_dir():
            for p in self.folder.glob("part-*.parquet"):
                if p.name not in keep:
                    p.unlink()
        return self.files

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._ctx is not None:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)


def rl_row(rec: dict, split: str, respond: dict | None, provenance: dict) -> dict:
    """One RLHFDataset row from a stage-2 record (and its stage-3 verdicts, when there are any)."""
    style = rec["kind"]
    return {
        "data_source": "raif/math" if style == "math" else "raif/instruct",
        "prompt": [{"role": "user", "content": rec["prompt"]}],
        "ability": "math" if style == "math" else "instruction_following",
        "reward_model": {"style": style, "ground_truth": rec["ground_truth"]},
        "extra_info": {
            "index": rec["index"],
            "uid": f"{rec['seed_id']}#{rec['index']}",
            "split": split,
            "seed_id": rec["seed_id"],
            "lang": rec["lang"],
            "task_type": rec["task_type"],
            "composition": rec["composition"],
            "constraint_ids": rec["constraint_ids"],
            "constraint_sources": rec["constraint_sources"],
            "num_constraints": len(rec["constraint_ids"]),
            "baseline_score": respond.get("baseline_score") if respond else None,
            "pass_rate": respond.get("pass_rate") if respond else None,
            "provenance": json.dumps(provenance | {"rewritten": rec.get("rewritten", False),
                                                   "structured": rec.get("structured", False)},
                                     sort_keys=True, ensure_ascii=False),
        },
    }
