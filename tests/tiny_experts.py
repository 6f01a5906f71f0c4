"""Expert (behaviour-cloning) rows for the tiny demo, built from RL rows until `raif-data evolve` writes
its own under DIR/sft: for each prompt, every candidate think/answer response that the tiny tokenizer
can write (words of its vocabulary) and that scores the full reward (+3) on that prompt.

The rows follow the SFT schema of docs/data.md ("SFT rows"); prompts no candidate satisfies get none.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from raif_train.local.data import find_shards
from raif_train.local.scoring import LibraryScore, ScoreRequest
from raif_train.local.tiny import build_tiny_tokenizer

# Short enough that every response, with its four tags and EOS, fits the preset's 20 response tokens.
THINKING = ["let me think", "i read the words then i write", "i think about the answer"]
ANSWERS = [
    "yes",
    "no",
    "the answer is yes",
    "this is the answer",
    "here is my answer",
    "THE ANSWER IS YES",
    "yes . no . yes .",
    "OK",
    "we can do that for you",
]


def write_tiny_experts(rl_dir: Path, out_dir: Path) -> int:
    """Write DIR/sft-style shards under `out_dir`; returns the number of rows."""
    tok = build_tiny_tokenizer()
    score = LibraryScore("think_answer", "raif")
    rows = []
    for shard in find_shards(rl_dir):
        for r in pq.read_table(shard).to_pylist():
            for k, (think, answer) in enumerate(itertools.product(THINKING, ANSWERS)):
                text = f"<think> {think} </think> <answer> {answer} </answer>"
                # what the tiny model would write: the tokenizer round trip (unknown words vanish)
                text = tok.decode(tok(text, add_special_tokens=False)["input_ids"], skip_special_tokens=True)
                if score(ScoreRequest(r["data_source"], text, r["reward_model"]["ground_truth"])).reward == 3.0:
                    extra = {"index": len(rows), "uid": f"{r['extra_info']['uid']}#{k}", "model": "tiny-witness",
                             "score": 1.0, "reasoning": True}
                    rows.append({"data_source": r["data_source"], "prompt": r["prompt"], "response": text,
                                 "extra_info": extra})
    out = out_dir / "train"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out / "part-00000.parquet")
    return len(rows)
