"""Measures of the evolved instructions' text for ``raif-data stats``: how template-like the constraint text
is (distinct 4-grams at the seed prompts' size) and how many keyword constraints relate to the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from raif_data.tasks import END_PHRASES, SAYINGS
from raif_rewards import registry
from raif_rewards.errors import RaifError

_EN_TOKEN = re.compile(r"\w+")
_ZH_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\W\u3400-\u4dbf\u4e00-\u9fff]+")


def tokens(text: str, lang: str) -> list[str]:
    """Lower-cased word tokens; in Chinese every CJK character is a token (so 4-grams span 4 characters)."""
    return (_ZH_TOKEN if lang == "zh" else _EN_TOKEN).findall(text.lower())


def distinct_ngrams(texts: Iterable[str], lang: str, n: int = 4, budget: int | None = None) -> dict[str, Any]:
    """Share of distinct ``n``-grams among all ``n``-grams of ``texts`` (none spans two texts), taking
    whole texts in order until ``budget`` tokens are reached (the size the share is compared at)."""
    seen: set[tuple[str, ...]] = set()
    total = used = 0
    for text in texts:
        if budget is not None and used >= budget:
            break
        toks = tokens(text, lang)
        used += len(toks)
        for i in range(len(toks) - n + 1):
            seen.add(tuple(toks[i:i + n]))
            total += 1
    return {"tokens": used, "ngrams": total, "distinct": len(seen), "share": len(seen) / total if total else None}


def constraint_text(record: dict) -> str:
    """The part of an instruction that is not the seed request (the request and what follows it)."""
    prompt, seed = record.get("template_prompt", record["prompt"]), record.get("seed_prompt", "")
    return prompt.replace(seed, "", 1) if seed else ""


def keyword_words(node: dict) -> Iterator[tuple[str, list[str]]]:
    """(checker id, its words) for every check in a ground-truth tree whose kwargs carry request or
    topic words (the checkers that declare ``topic_kwargs``)."""
    if node.get("op") == "check":
        checker = registry.get(node["id"])
        words: list[str] = []
        for name in checker.topic_kwargs:
            value = (node.get("kwargs") or {}).get(name)
            if isinstance(value, str):
                words.append(value)
            elif isinstance(value, list):
                words.extend(v for v in value if isinstance(v, str))
        if checker.topic_kwargs:
            yield checker.id, words
        return
    for key in ("children", "steps", "branches"):
        for child in node.get(key, ()) or ():
            yield from keyword_words(child)


def related(word: str, request: str, lang: str) -> bool:
    """A keyword relates to the request when it occurs in it; an end phrase or a saying when one of its
    words outside the phrase's frame ("That is all about ...") does."""
    if word.lower() in request.lower():
        return True
    frame = _frames("zh" if lang == "zh" else "en")
    if lang == "zh":
        pieces = {word[i:i + 2] for i in range(len(word) - 1)}
        return any(p in request for p in pieces - frame if _CJK_PAIR.fullmatch(p))
    request_tokens = set(tokens(request, lang))
    return any(t in request_tokens for t in tokens(word, lang) if len(t) >= 4 and t not in frame)


_CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")


@lru_cache(maxsize=2)
def _frames(lang: str) -> frozenset[str]:
    """Words (en) or character pairs (zh) of the end-phrase and saying frames, which say nothing about
    the request."""
    out: set[str] = set()
    for frame in (*END_PHRASES[lang], *SAYINGS.get(lang, ())):
        text = frame.replace("{w}", " ")
        if lang == "zh":
            out.update(text[i:i + 2] for i in range(len(text) - 1))
        else:
            out.update(tokens(text, lang))
    return frozenset(out)


def instruction_report(root: Path, indices: set[int] | None = None) -> dict[str, Any] | None:
    """Diversity and relevance over the stage-2 records of ``root`` (``None`` without them)."""
    folder = root / "stages" / "instruct"
    chunks = sorted(folder.glob("chunk-*.jsonl")) if folder.is_dir() else []
    if not chunks:
        return None
    texts: dict[str, list[str]] = {}
    seeds: dict[str, dict[str, None]] = {}
    kw_total = kw_related = 0
    by_id: dict[str, list[int]] = {}
    for path in chunks:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RaifError(f"{path}: not a stage-2 record ({exc.msg})") from None
                if rec.get("kind") != "rule" or (indices is not None and rec["index"] not in indices):
                    continue
                lang = rec["lang"]
                texts.setdefault(lang, []).append(constraint_text(rec))
                seeds.setdefault(lang, {})[rec["seed_prompt"]] = None
                tree = json.loads(rec["ground_truth"])["tree"]
                for cid, words in keyword_words(tree):
                    hit = bool(words) and all(related(w, rec["seed_prompt"], lang) for w in words)
                    kw_total += 1
                    kw_related += hit
                    counts = by_id.setdefault(cid, [0, 0])
                    counts[0] += 1
                    counts[1] += hit
    diversity = {}
    for lang in sorted(texts):
        seed_stats = distinct_ngrams(seeds[lang], lang)
        ours = distinct_ngrams(texts[lang], lang, budget=seed_stats["tokens"])
        diversity[lang] = {"constraint_text_distinct_4grams": ours["share"], "seed_prompts_distinct_4grams":
                           seed_stats["share"], "tokens_compared": ours["tokens"], "rows": len(texts[lang])}
    return {
        "diversity": diversity,
        "relevance": {"keyword_constraints": kw_total, "related_to_request": kw_related,
                      "share": kw_related / kw_total if kw_total else None,
                      "by_id": {cid: {"n": n, "related": r} for cid, (n, r) in sorted(by_id.items())}},
    }
