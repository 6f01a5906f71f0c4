"""Decontamination: drop seed prompts that overlap evaluation prompts (IFEval, IFBench, any raif-eval
benchmark file), measured on word n-grams, before any instruction is built on them.

A seed's overlap with an evaluation set S is the larger of two shares of distinct n-grams:
the seed's n-grams found anywhere in S, and, over the prompts p of S, the share of p's n-grams found
in the seed. The first catches a seed copied from (part of) a benchmark prompt, the second a seed that
embeds a whole benchmark prompt in a longer text. A seed is dropped when its overlap with some set
reaches the threshold. Texts are lower-cased; a token is a run of word characters, and each CJK
character is a token of its own (Chinese has no spaces). A text shorter than n tokens has no n-gram:
it is compared whole (dropped only when it equals an evaluation prompt after that normalisation).
The n-gram sets are exact (Python sets of the joined tokens), so the result does not depend on any
hash seed.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from raif_rewards.errors import InputFileError
from raif_rewards.jsonl import iter_jsonl

# Each CJK ideograph alone, or a run of other word characters.
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


_ASCII_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased tokens of ``text``: CJK characters one by one, other ``\\w+`` runs whole."""
    lower = text.lower()
    # ASCII text has no CJK character: the plain pattern gives the same tokens, several times faster
    return (_ASCII_WORD if lower.isascii() else _TOKEN).findall(lower)


def ngrams(toks: list[str], n: int) -> set[str]:
    """The distinct ``n``-grams of ``toks`` (joined by spaces); empty when there are fewer than n tokens."""
    if len(toks) < n:
        return set()
    # slices of one joined string cost less than joining every n-gram on its own
    joined = " ".join(toks)
    starts = [0]
    for tok in toks:
        starts.append(starts[-1] + len(tok) + 1)
    return {joined[starts[i] : starts[i + n] - 1] for i in range(len(toks) - n + 1)}


@dataclass
class EvalSet:
    """One named evaluation set: where it came from and its prompts."""

    name: str
    source: str
    prompts: list[str]


@dataclass
class Verdict:
    """Overlap of one seed with each evaluation set it touches (only sets with a positive overlap)."""

    overlap: dict[str, float]

    def over(self, threshold: float) -> list[str]:
        return sorted(name for name, v in self.overlap.items() if v >= threshold)


@dataclass
class EvalIndex:
    """The n-grams of every evaluation prompt, each mapped to the prompts that contain it."""

    n: int
    names: list[str] = field(default_factory=list)
    #: n-gram -> indices of the prompts holding it
    grams: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: per prompt: its evaluation set (index into ``names``) and its number of distinct n-grams
    prompt_set: list[int] = field(default_factory=list)
    prompt_size: list[int] = field(default_factory=list)
    #: normalised whole text of prompts shorter than n tokens -> their set indices
    short: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, sets: Iterable[EvalSet], n: int) -> EvalIndex:
        index = cls(n)
        holders: dict[str, list[int]] = {}
        for eval_set in sets:
            s = len(index.names)
            index.names.append(eval_set.name)
            for prompt in eval_set.prompts:
                toks = tokens(prompt)
                pid = len(index.prompt_set)
                grams = ngrams(toks, n)
                index.prompt_set.append(s)
                index.prompt_size.append(len(grams))
                if not grams and toks:
                    index.short.setdefault(" ".join(toks), set()).add(s)
                for g in grams:
                    holders.setdefault(g, []).append(pid)
        index.grams = {g: tuple(p) for g, p in holders.items()}
        return index

    def verdict(self, text: str) -> Verdict:
        toks = tokens(text)
        grams = ngrams(toks, self.n)
        if not grams:
            whole = self.short.get(" ".join(toks), set())
            return Verdict({self.names[s]: 1.0 for s in sorted(whole)})
        get = self.grams.get
        found = [pids for pids in map(get, grams) if pids is not None]
        if not found:  # nearly every seed: no shared n-gram at all
            return Verdict({})
        per_prompt: Counter = Counter()
        per_set: Counter = Counter()
        for pids in found:
            per_prompt.update(pids)
            per_set.update({self.prompt_set[p] for p in pids})
        overlap: dict[str, float] = {}
        for s, hits in per_set.items():
            overlap[self.names[s]] = hits / len(grams)
        for p, hits in per_prompt.items():
            name = self.names[self.prompt_set[p]]
            overlap[name] = max(overlap[name], hits / self.prompt_size[p])
        return Verdict(overlap)


# ---------------------------------------------------------------------------------- reading eval files


def parse_entry(entry: str) -> tuple[str | None, str]:
    """``("ifbench", "data/IFBench_test.jsonl")`` for ``"ifbench:data/IFBench_test.jsonl"`` (a raif-eval
    benchmark name before the colon), ``(None, entry)`` for a plain path."""
    head, sep, rest = entry.partition(":")
    if sep and rest:
        from raif_eval.benchmarks import BENCHMARKS

        if head in BENCHMARKS:
            return head, rest
    return None, entry


def _plain_prompts(path: Path) -> Iterator[str]:
    for line, rec in iter_jsonl(path):
        prompt = rec.get("prompt")
        if isinstance(prompt, str):
            yield prompt
            continue
        messages = rec.get("messages")
        if isinstance(messages, list):
            texts = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            if texts and all(isinstance(t, str) for t in texts):
                yield "\n".join(str(t) for t in texts)
                continue
        raise InputFileError(str(path), "expected a 'prompt' string or a 'messages' list with user turns", line)


def load_eval_set(entry: str) -> EvalSet:
    """The prompts of one ``decontaminate.eval_files`` entry: ``BENCH:PATH`` read by raif-eval's adapter
    for BENCH, or a JSONL file whose records have ``prompt`` (IFEval's and IFBench's input files do)
    or chat ``messages``."""
    bench, raw = parse_entry(entry)
    path = Path(raw)
    if not path.exists():
        raise InputFileError(raw, "no such file (decontaminate.eval_files)")
    if bench is None:
        if path.is_dir():
            raise InputFileError(raw, "is a folder: name its benchmark, e.g. followbench:PATH (decontaminate.eval_files)")
        return EvalSet(path.stem, raw, list(_plain_prompts(path)))
    from raif_eval.benchmarks import BENCHMARKS

    items = BENCHMARKS[bench]().load(path)
    prompts = ["\n".join(str(m.get("content", "")) for m in item.messages if m.get("role") == "user")
               for item in items]
    return EvalSet(bench, raw, prompts)


def fingerprint_entry(entry: str) -> str:
    """sha256 over the bytes of the entry's file, or of every file under its folder (with their paths)."""
    _, raw = parse_entry(entry)
    path = Path(raw)
    if not path.exists():
        raise InputFileError(raw, "no such file (decontaminate.eval_files)")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()
