"""IFBench ``sentence:*`` constraints: growing alliteration, a keyword in the N-th sentence, a fixed
word-count increment per sentence (IFBench's semantics; Chinese sentences split at 。！？)."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

from raif_rewards.checkers._common import WORDS, WORDS_ZH, int_schema
from raif_rewards.checkers.ifbench_shared import (
    DELETE_PUNCT,
    STRIP,
    cjk_words,
    no_kwargs,
    phrasings,
    punkt_sentences,
    sentences,
)
from raif_rewards.registry import register
from raif_rewards.text import Text, has_cjk
from raif_rewards.witness_spec import INF, Need

_SRC = "ifbench"


def alliteration_score(sentence: str) -> int:
    """The run score of one sentence (the witness composer measures with it too)."""
    words = [w for w in (w.lstrip(STRIP) for w in sentence.lower().split()) if w]
    score, running = 0, False
    for a, b in pairwise(words):
        if a[0] == b[0]:
            # A run of k alliterative words scores k: 2 for the first pair, 1 per extra word.
            score += 1 if running else 2
            running = True
        else:
            running = False
    return score


@register(
    "sentence:alliteration_increment",
    group="sentence",
    sample=no_kwargs,
    **phrasings(
        (
            "Each sentence must have a longer sequence of consecutive alliterative words than the previous one.",
            "Every sentence needs more alliterating words in a row than the sentence before it.",
        )
    ),
    # a run of alliterating words is two neighbours sharing an initial
    conflicts=("words:no_consecutive", "words:alphabet", "detectable_format:constrained_response"),
    source=_SRC,
    # two sentences at least, so that the answer shows a growing run (one sentence passes vacuously)
    witness=lambda kw, ctx: Need(sentences=(2, INF), alliteration=True),
)
def alliteration_increment(t: Text) -> bool:
    """Each Punkt sentence's alliteration score (words in runs sharing a first character) strictly exceeds the previous sentence's (the first sentence may score 0)."""
    previous = -1
    for sentence in punkt_sentences(t):
        score = alliteration_score(sentence)
        if score <= previous:
            return False
        previous = score
    return True


@lru_cache(maxsize=4096)
def _whole_word(word: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)


@register(
    "sentence:keyword",
    group="sentence",
    schema={
        "properties": {"word": {"type": "string", "minLength": 1}, "N": int_schema(1)},
        "required": ["word", "N"],
    },
    sample=lambda rng, lang: {
        "word": rng.choice(WORDS_ZH if lang == "zh" else WORDS),
        "N": rng.randint(1, 8),
    },
    **phrasings(
        (
            'The response must include keyword "{word}" in the {N}-th sentence.',
            'Use the word "{word}" in sentence number {N} of your answer.',
        ),
        ("回答的第{N}句话中必须包含关键词“{word}”。", "请在回答的第{N}个句子里使用“{word}”这个词。"),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(placed=((kw["N"], 2, kw["word"]),), sentences=(kw["N"], INF)),
)
def keyword(t: Text, word: str, N: int) -> bool:
    """The N-th sentence contains the keyword as a whole word (case-insensitive).

    A Chinese keyword is matched as a substring: Chinese has no word boundaries, so ``\\b`` would
    reject it inside a Chinese sentence.
    """
    parts = sentences(t)
    if len(parts) < N:
        return False
    sentence = parts[int(N) - 1]
    if has_cjk(word):
        return word in sentence
    return _whole_word(word).search(sentence) is not None


def _sentence_words(sentence: str, cjk: bool) -> int:
    bare = sentence.translate(DELETE_PUNCT)
    return len(cjk_words(bare)) if cjk else len(bare.split())


@register(
    "sentence:increment",
    group="sentence",
    schema={"properties": {"small_n": int_schema(0)}, "required": ["small_n"]},
    sample=lambda rng, lang: {"small_n": rng.randint(1, 5)},
    **phrasings(
        (
            "Each sentence must contain exactly {small_n} more words than the previous one.",
            "Make every sentence exactly {small_n} words longer than the one before it.",
        ),
        ("每句话必须比上一句恰好多{small_n}个字。", "请让每个句子都比前一句正好多{small_n}个字。"),
    ),
    conflicts=("ratio:sentence_words",),
    source=_SRC,
    witness=lambda kw, ctx: Need(increment=kw["small_n"]),
)
def increment(t: Text, small_n: int) -> bool:
    """Each Punkt sentence has exactly N more whitespace words (punctuation deleted) than the previous one; in Chinese text every CJK character is a word."""
    parts = sentences(t)
    if not parts:
        return False
    cjk = t.cjk_dominant
    counts = [_sentence_words(s, cjk) for s in parts]
    return all(b == a + small_n for a, b in pairwise(counts))
