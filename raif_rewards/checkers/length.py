"""Length constraints: words, sentences, paragraphs (IFEval semantics, CJK-aware where Chinese)."""

from __future__ import annotations

import random
import re

from raif_rewards.checkers._common import (
    RELATION_SCHEMA,
    compare,
    int_schema,
    relation_zh,
    sample_relation,
    sample_words,
)
from raif_rewards.checkers._request import is_short_answer
from raif_rewards.registry import AT_LEAST, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need, count_range

_CHINESE_RELATIONS = ("至少", "少于")


def _use_cjk(t: Text, relation: str) -> bool:
    """CJK-aware counting applies when the constraint is Chinese or the response mostly CJK; on
    other text it equals IFEval's count, so the official verdicts are unchanged."""
    return relation in _CHINESE_RELATIONS or t.cjk_dominant


def _relation_for(rng: random.Random, lang: str) -> str:
    rel = sample_relation(rng)
    return relation_zh(rel) if lang == "zh" else rel


def _fewer_words_everywhere(t: Text, num_words: int, relation: str) -> bool:
    # Removing lines or asterisks never adds a \w+ run (an asterisk removal can only join two), so
    # an "at least" count that fails on the response fails on every variant; CJK texts are left out
    # because a variant may switch to the CJK-aware count.
    return relation in AT_LEAST and not t.has_cjk


def _words_suit(req, kw) -> bool:
    """No long answer demanded of a short-answer task (a classification in 300 words)."""
    if kw is None or not is_short_answer(req):
        return True
    return kw["relation"] not in AT_LEAST or kw["num_words"] <= 100


@register(
    "length_constraints:number_words",
    group="length",
    schema={
        "properties": {"num_words": int_schema(0), "relation": RELATION_SCHEMA},
        "required": ["num_words", "relation"],
    },
    sample=lambda rng, lang: {
        "num_words": rng.randrange(50, 501, 10) if lang != "zh" else rng.randrange(100, 801, 50),
        "relation": _relation_for(rng, lang),
    },
    templates={
        "en": ("Answer with {relation} {num_words} words.", "Your response should contain {relation} {num_words} words."),
        "zh": ("回答的字数应{relation}{num_words}字。", "请用{relation}{num_words}个字作答。"),
    },
    loose_settled=_fewer_words_everywhere,
    witness=lambda kw, ctx: Need(words=count_range(kw["relation"], kw["num_words"])),
    suits=_words_suit,
)
def number_words(t: Text, num_words: int, relation: str) -> bool:
    """The word count is at least / less than N (``\\w+`` runs; each CJK character is a word)."""
    count = t.cjk_word_count if _use_cjk(t, relation) else t.word_count
    return compare(count, relation, num_words)


def _sample_sentences(rng: random.Random, lang: str) -> dict:
    relation = _relation_for(rng, lang)
    # "fewer than 1 sentence" cannot be satisfied by any answer.
    low = 2 if relation in ("less than", "少于") else 1
    return {"num_sentences": rng.randint(low, 20), "relation": relation}


@register(
    "length_constraints:number_sentences",
    group="length",
    schema={
        "properties": {"num_sentences": int_schema(0), "relation": RELATION_SCHEMA},
        "required": ["num_sentences", "relation"],
    },
    sample=lambda rng, lang: _sample_sentences(rng, lang),
    templates={
        "en": (
            "Your response should contain {relation} {num_sentences} sentences.",
            "Write {relation} {num_sentences} sentences in total.",
        ),
        "zh": ("回答应包含{relation}{num_sentences}个句子。", "请用{relation}{num_sentences}句话回答。"),
    },
    witness=lambda kw, ctx: Need(sentences=count_range(kw["relation"], kw["num_sentences"])),
)
def number_sentences(t: Text, num_sentences: int, relation: str) -> bool:
    """The sentence count (NLTK's English Punkt; Chinese end punctuation for Chinese text)."""
    if _use_cjk(t, relation):
        return compare(t.cjk_sentence_count, relation, num_sentences)
    if t.sentence_upper_bound < num_sentences:  # decided without running Punkt
        return compare(t.sentence_upper_bound, relation, num_sentences)
    return compare(t.sentence_count, relation, num_sentences)


_DIVIDER = re.compile(r"\s?\*\*\*\s?")


@register(
    "length_constraints:number_paragraphs",
    group="length",
    schema={"properties": {"num_paragraphs": int_schema(1)}, "required": ["num_paragraphs"]},
    sample=lambda rng, lang: {"num_paragraphs": rng.randint(1, 5)},
    templates={
        "en": (
            "There should be {num_paragraphs} paragraphs. Paragraphs are separated with the markdown divider: ***",
            "Write exactly {num_paragraphs} paragraphs, separating them with the markdown divider ***.",
        ),
        "zh": (
            "回答应恰好分为{num_paragraphs}段，段落之间用 markdown 分隔线 *** 隔开。",
            "请写{num_paragraphs}个段落，并用 *** 分隔各段。",
        ),
    },
    conflicts=("length_constraints:nth_paragraph_first_word", "length_constraints:number_sentences"),
    witness=lambda kw, ctx: Need(paragraphs=kw["num_paragraphs"], paragraph_sep="***"),
)
def number_paragraphs(t: Text, num_paragraphs: int) -> bool:
    """Exactly N paragraphs separated by ``***`` (empty paragraphs only allowed at the ends)."""
    if "***" not in t.raw:
        return num_paragraphs == (1 if t.stripped else 0)
    parts = _DIVIDER.split(t.raw)
    count = len(parts)
    for index, part in enumerate(parts):
        if not part.strip():
            if index == 0 or index == len(parts) - 1:
                count -= 1
            else:
                return False
    return count == num_paragraphs


_FIRST_WORD_STOP = frozenset(".,?!'\"")


def _sample_nth(rng: random.Random, lang: str) -> dict:
    n = rng.randint(2, 5)
    return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": sample_words(rng, 1)[0]}


@register(
    "length_constraints:nth_paragraph_first_word",
    group="length",
    schema={
        "properties": {
            "num_paragraphs": int_schema(1),
            "nth_paragraph": int_schema(1),
            "first_word": {"type": "string", "minLength": 1},
        },
        "required": ["num_paragraphs", "nth_paragraph", "first_word"],
    },
    sample=_sample_nth,
    templates={
        "en": (
            "There should be {num_paragraphs} paragraphs. Paragraphs and only paragraphs are separated with each "
            "other by two new lines as if it was '\\n\\n' in python. Paragraph {nth_paragraph} must start with word "
            "{first_word}.",
            "Write {num_paragraphs} paragraphs separated by a blank line (two newlines), and begin paragraph "
            "{nth_paragraph} with the word \"{first_word}\".",
        )
    },
    conflicts=("length_constraints:number_paragraphs",),
    witness=lambda kw, ctx: Need(paragraphs=kw["num_paragraphs"], paragraph_sep="\n\n", first_words=((kw["nth_paragraph"], kw["first_word"]),)),
)
def nth_paragraph_first_word(t: Text, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    """N paragraphs split by blank lines, and paragraph n starts with the given word."""
    paragraphs = t.raw.split("\n\n")
    count = sum(1 for p in paragraphs if p.strip())
    if nth_paragraph > count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    chars = []
    for ch in word:
        if ch in _FIRST_WORD_STOP:
            break
        chars.append(ch.lower())
    return count == num_paragraphs and "".join(chars) == first_word.lower()

