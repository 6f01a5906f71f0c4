"""Reads the RL prompt shards (veRL RLHFDataset schema) and the SFT expert shards for behaviour cloning.

Rows are validated field by field; bad rows raise InputFileError naming the file, row and field.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from raif_rewards.compose import parse_ground_truth
from raif_rewards.errors import InputFileError, RaifError

__all__ = ["PromptRecord", "SFTRecord", "find_shards", "load_prompts", "load_sft", "prune_tree", "Cursor"]


@dataclass(frozen=True)
class PromptRecord:
    uid: str
    messages: list[dict[str, str]]
    data_source: str
    ground_truth: str  # the JSON string, passed to the reward library untouched (unless pruned)
    extra_info: dict[str, Any] = field(default_factory=dict)
    style: str = "rule"  # the ground truth's style: rule, judge or math

    @property
    def instruction(self) -> str:
        """The last user message: what a judge must see beside the answer it judges."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""


@dataclass(frozen=True)
class SFTRecord:
    messages: list[dict[str, str]]
    response: str


def fitting_experts(
    rows: Sequence[SFTRecord], encode: Callable[[str], list[int]], max_response_length: int
) -> tuple[list[SFTRecord], int]:
    """(the expert rows whose response and its EOS fit ``max_response_length`` tokens, how many were left
    out). Both backends use it: a cut expert answer would teach a response that never closes its tags, so
    longer rows are left out, never truncated. Raises :class:`RaifError` when none fits."""
    fit = [r for r in rows if len(encode(r.response)) + 1 <= max_response_length]
    if rows and not fit:
        raise RaifError(
            f"none of the {len(rows)} expert rows fits max_response_length={max_response_length} tokens with "
            "its EOS; raise max_response_length or give shorter expert rows"
        )
    return fit, len(rows) - len(fit)


def find_shards(path: str | Path) -> list[Path]:
    """All *.parquet files under a directory (sorted, recursive; only its train/ split when it has
    one, as `raif-data evolve` writes train/ and validation/), or the file itself."""
    p = Path(path)
    if p.is_file():
        return [p]
    if (p / "train").is_dir():  # a `raif-data evolve` output folder: train on its train split only
        p = p / "train"
    if not p.is_dir():
        raise InputFileError(str(p), "no such file or directory (expected Parquet shards)")
    files = sorted(q for q in p.rglob("*.parquet") if q.is_file())
    if not files:
        raise InputFileError(str(p), "directory holds no *.parquet shards (run `raif-data evolve` first)")
    return files


def _messages(value: Any, path: Path, row: int, name: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    ok = isinstance(value, (list, tuple)) and len(value) > 0
    if ok:
        out = []
        for m in value:
            if not (
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            ):
                ok = False
                break
            out.append({"role": m["role"], "content": m["content"]})
    if not ok:
        raise InputFileError(str(path), "expected a non-empty list of {role, content} messages", row, name)
    return out


def _is_prompt_shard(names: Sequence[str]) -> bool:
    # evolve's SFT rows (witnesses) keep their reward_model beside the response: a response makes it SFT
    return "reward_model" in names and "prompt" in names and "response" not in names


def load_prompts(path: str | Path, subset: Sequence[str] | None = None) -> list[PromptRecord]:
    """Load every RL prompt row under `path`; SFT shards found beside them are ignored here.

    With `subset`, each ground-truth tree keeps only checks whose id is in it (see prune_tree) and
    prompts left with no check are dropped.
    """
    records: list[PromptRecord] = []
    keep = set(subset) if subset is not None else None
    for f in find_shards(path):
        try:
            table = pq.read_table(f)
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise InputFileError(str(f), f"not a readable Parquet file: {e}") from None
        if not _is_prompt_shard(table.column_names):
            continue
        for i, row in enumerate(table.to_pylist(), start=1):
            rm = row.get("reward_model")
            gt = rm.get("ground_truth") if isinstance(rm, dict) else None
            if not isinstance(gt, str):
                raise InputFileError(
                    str(f), "expected reward_model.ground_truth as a JSON string", i, "reward_model"
                )
            extra = row.get("extra_info") or {}
            if not isinstance(extra, dict):
                raise InputFileError(str(f), "expected a mapping", i, "extra_info")
            if keep is not None:
                try:
                    tree = json.loads(gt)
                except json.JSONDecodeError as e:
                    raise InputFileError(
                        str(f), f"ground_truth is not JSON: {e}", i, "reward_model"
                    ) from None
                pruned = prune_ground_truth(tree, keep)
                if pruned is None:
                    continue
                gt = json.dumps(pruned, ensure_ascii=False)
            try:
                style = parse_ground_truth(gt).style  # fail here, with file and row, not in a reward worker
            except RaifError as e:
                raise InputFileError(str(f), f"bad ground truth: {e}", i, "reward_model") from None
            uid = str(extra.get("uid") or extra.get("id") or f"{f.stem}:{i}")
            records.append(
                PromptRecord(
                    uid=uid,
                    messages=_messages(row.get("prompt"), f, i, "prompt"),
                    data_source=str(row.get("data_source") or ""),
                    ground_truth=gt,
                    extra_info=extra,
                    style=style,
                )
            )
    if not records:
        why = " after keeping only constraints " + ", ".join(sorted(keep)) if keep is not None else ""
        raise InputFileError(str(path), f"no RL prompt rows found{why}")
    return records


def load_sft(path: str | Path) -> list[SFTRecord]:
    """Expert shards: a `prompt` (messages or text) and a `response` (or `answer`) column."""
    out: list[SFTRecord] = []
    for f in find_shards(path):
        table = pq.read_table(f)
        names = table.column_names
        if _is_prompt_shard(names):
            continue
        col = "response" if "response" in names else "answer" if "answer" in names else None
        if "prompt" not in names or col is None:
            raise InputFileError(str(f), "SFT shard needs columns prompt and response (or answer)")
        for i, row in enumerate(table.to_pylist(), start=1):
            resp = row.get(col)
            if not isinstance(resp, str) or not resp:
                raise InputFileError(str(f), "expected a non-empty string", i, col)
            out.append(SFTRecord(_messages(row.get("prompt"), f, i, "prompt"), resp))
    if not out:
        raise InputFileError(str(path), "no SFT rows found")
    return out


def prune_tree(node: dict[str, Any], keep: set[str]) -> dict[str, Any] | None:
    """Keep only `check` leaves whose id is in `keep`.

    A selection is replaced by its active branch (only it is applicable, so the score is unchanged);
    chains are dropped, since their steps are checked on sections a small model cannot produce.
    """
    op = node.get("op")
    if op == "check":
        return node if node.get("id") in keep else None
    if op == "and":
        kids = [k for k in (prune_tree(c, keep) for c in node.get("children", [])) if k is not None]
        return {"op": "and", "children": kids} if kids else None
    if op == "selection":
        branches = node.get("branches", [])
        active = node.get("active", 0)
        return prune_tree(branches[active], keep) if 0 <= active < len(branches) else None
    return None


def prune_ground_truth(gt: Any, keep: set[str]) -> dict[str, Any] | None:
    """prune_tree on a rule ground truth (or the list shorthand); other styles are dropped."""
    if isinstance(gt, list):
        gt = {
            "style": "rule",
            "lang": "en",
            "tree": {"op": "and", "children": [{"op": "check", **c} for c in gt]},
        }
    if not isinstance(gt, dict) or gt.get("style") != "rule" or not isinstance(gt.get("tree"), dict):
        return None
    tree = prune_tree(gt["tree"], keep)
    return None if tree is None else {**gt, "tree": tree}


@dataclass
class Cursor:
    """Deterministic epoch-wise shuffled walk over n items; its state is two ints (resume-exact)."""

    n: int
    seed: int
    shuffle: bool = True
    epoch: int = 0
    pos: int = 0

    def _order(self) -> list[int]:
        order = list(range(self.n))
        if self.shuffle:
            random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        return order

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        order = self._order()
        while len(out) < k:
            if self.pos >= self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                order = self._order()
            out.append(order[self.pos])
            self.pos += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
