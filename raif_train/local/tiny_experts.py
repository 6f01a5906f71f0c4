"""Expert (behaviour-cloning) rows the tiny model can write, built from RL rows: for each prompt, every
short think/answer response in the tiny vocabulary that scores the full reward (+3) on that prompt.

Used by `make demo` and the demo test when DIR/sft holds no expert rows. The rows follow the SFT schema
of docs/data.md ("SFT rows"); prompts no candidate satisfies get none.
Run: python -m raif_train.local.tiny_experts DIR  (writes DIR/sft/train/part-00000.parquet)
"""

from __future__ import annotations

import itertools
import sys
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
    """Write SFT shards under `out_dir`/train from the RL rows under `rl_dir`; returns the number of rows."""
    tok = build_tiny_tokenizer()
    score = LibraryScore("think_answer", "raif")
    rows: list[dict] = []
    for shard in find_shards(rl_dir):
        for r in pq.read_table(shard).to_pylist():
            for k, (think, answer) in enumerate(itertools.product(THINKING, ANSWERS)):
                raw = f"<think> {think} </think> <answer> {answer} </answer>"
                # what the tiny model would write: the tokenizer round trip (unknown words vanish)
                text = str(tok.decode(tok(raw, add_special_tokens=False)["input_ids"], skip_special_tokens=True))
                if score(ScoreRequest(r["data_source"], text, r["reward_model"]["ground_truth"])).reward == 3.0:
                    extra = {"index": len(rows), "uid": f"{r['extra_info']['uid']}#{k}", "model": "tiny-witness",
                             "score": 1.0, "reasoning": True}
                    rows.append({"data_source": r["data_source"], "prompt": r["prompt"], "response": text,
                                 "extra_info": extra})
    out = out_dir / "train"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out / "part-00000.parquet")
    return len(rows)


if __name__ == "__main__":
    rl = Path(sys.argv[1])
    print(f"wrote {write_tiny_experts(rl, rl / 'sft')} tiny expert rows to {rl / 'sft' / 'train'}")
