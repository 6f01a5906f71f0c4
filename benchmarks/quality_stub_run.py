"""A run of the endpoint recipe's quality control against two loopback stub servers, printing the
per-reason counts that docs/data.md shows. The stub's judge is scripted: each question is answered from
a hash of the judged text at the rates below (so the counts show the bookkeeping, not a model's taste).

    python benchmarks/quality_stub_run.py [--prompts 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: share of texts the scripted judge says NO to, per question; "unscored" answers neither YES nor NO
NO_RATE = {"well_defined": 0.05, "consistent": 0.08, "relevant": 0.05, "task_done": 0.15, "language": 0.03,
           "no_leaked_reasoning": 0.10, "soft": 0.20}
UNSCORED_RATE = 0.01
#: share of round trips the scripted reader answers with garbage, or reads with the constraint missing
READ_BACK = {"malformed": 0.05, "constraints": 0.10}


def main() -> None:
    from raif_data import pipeline
    from raif_data import recipe as recipe_mod
    from raif_data.judges import ANSWER_QUESTIONS, INSTRUCTION_QUESTIONS, JUDGE_SYSTEM
    from tests.openai_stub import OpenAIStub

    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=200)
    args = ap.parse_args()
    names = {q: n for n, q in {**INSTRUCTION_QUESTIONS, **ANSWER_QUESTIONS}.items()}

    def draw(text: str) -> float:
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") / 2**64

    def model(request: dict) -> str | dict:
        msgs = request["messages"]
        last = msgs[-1]["content"]
        if msgs[0]["role"] == "system" and msgs[0]["content"] == JUDGE_SYSTEM:
            body, _, question = last.rpartition("\n\nQuestion: ")
            name = names.get(question.removesuffix("\nAnswer YES or NO."), "soft")
            u = draw(name + body)
            if u < UNSCORED_RATE:
                return "Maybe"
            p = 0.1 if u < UNSCORED_RATE + NO_RATE[name] else 0.9
            return {"content": "YES" if p > 0.5 else "NO", "top_logprobs": [{"YES": math.log(p), "NO": math.log(1 - p)}]}
        if "[Instruction]" in last:  # a round trip: every row holds one title constraint on the whole answer
            u = draw("roundtrip" + last)
            if u < READ_BACK["malformed"]:
                return "The instruction wants a title."
            found = [] if u < READ_BACK["malformed"] + READ_BACK["constraints"] else [
                {"id": "detectable_format:title", "kwargs": {}, "scope": "all"}]
            return json.dumps({"requirements": found, "applies": "none"})
        if msgs[-1]["role"] == "assistant":
            return "A direct answer."
        if last.startswith("Rewrite the following instruction"):
            return "Please: " + last.split("---\n", 1)[1].rsplit("\n---", 1)[0]
        if "soft requirements" in last:
            return json.dumps({"constraints": ["Keep a friendly tone."], "questions": ["Is the tone friendly?"]})
        return {"content": "<<A Title>>\nAn answer to the request.", "reasoning_content": "some thought"}

    with OpenAIStub(model) as a, OpenAIStub(model) as b, tempfile.TemporaryDirectory() as tmp:
        r = recipe_mod.load(ROOT / "pipelines" / "data_endpoint.yaml")
        r = recipe_mod.override(r, {
            "output_dir": str(Path(tmp) / "out"), "num_prompts": args.prompts, "math.ratio": 0.0,
            "llm.base_url": [a.base_url, b.base_url], "llm.model": "stub", "llm.workers": 1,
            "instruct.include_ids": ["detectable_format:title"], "instruct.compositions": {"and": 1.0},
            "instruct.max_constraints": 1, "instruct.min_constraints": 1,
            "respond.samples": 4, "respond.direct_samples": 1, "output.validation_fraction": 0.0,
        })
        m = pipeline.evolve(r)
        out = {"counts": m["counts"], "quality": m["quality"],
               "requests_per_endpoint": [a.request_count, b.request_count]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
