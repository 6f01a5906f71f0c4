"""Length constraints: words, sentences, paragraphs (IFEval semantics, CJK-aware where Chinese)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from raif_rewards.checkers._common import (
    RELATION_SCHEMA,
    compare,
    int_schema,
    relation_zh,
    sample_relation,
    sample_words,
)
from raif_rewards.registry import AT_LEAST, SHORT_ANSWER_KINDS, Request, declare, register
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


def _words_ok(req: Request, kw: Mapping[str, Any]) -> bool:
    """No long answer demanded of a short-answer task (an extraction in 300 words): depends on the
    kwargs, so task kinds alone cannot say it."""
    if req.task_type not in SHORT_ANSWER_KINDS:
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
        "zh": ("回答的字数应{relation}{num_words}字（标点不计）。", "请用{relation}{num_words}个字作答（标点不计）。"),
    },
    loose_settled=_fewer_words_everywhere,
    witness=lambda kw, ctx: Need(words=count_range(kw["relation"], kw["num_words"])),
    request_ok=_words_ok,
)
def number_words(t: Text, num_words: int, relation: str) -> bool:
    """The word count is at least / less than N (``\\w+`` runs; each CJK character is a word)."""
    count = t.cjk_word_count if _use_cjk(t, relation) else t.word_count
    return compare(count, relation, num_words)


# Chinese: every CJK character and every run of other word characters is one word; punctuation is not.
declare(
    "length_constraints:number_words",
    avoids=("yes_no", "classification"),
    phrasings={
        "en": (
            "Keep the length of your response to {relation} {num_words} words.",
            "Your answer should run {relation_alt} {num_words} words.",
            "Aim for a word count of {relation} {num_words} words in your reply.",
            "Length matters here: {relation_alt} {num_words} words in your response.",
        ),
        "zh": (
            "回答的长度应{relation_alt}{num_words}个字（每个汉字算一个字，英文单词或数字各算一个，标点不计）。",
            "请控制篇幅：你的回答要{relation}{num_words}字，标点符号不计入字数。",
            "回答字数须{relation}{num_words}字；汉字逐个计数，标点不算。",
            "写作时注意字数：{relation_alt}{num_words}字（不含标点）。",
        ),
    },
)


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


declare(
    "length_constraints:number_sentences",
    avoids=("yes_no", "classification"),
    phrasings={
        "en": (
            "Use {relation_alt} {num_sentences} sentences in your response.",
            "Your answer should be made up of {relation} {num_sentences} sentences.",
            "Limit yourself to a sentence count of {relation} {num_sentences} in your reply.",
            "Write your response in {relation_alt} {num_sentences} sentences.",
        ),
        "zh": (
            "回答的句子数应{relation_alt}{num_sentences}句（以句号、问号或感叹号结尾算一句）。",
            "请让你的回答包含{relation}{num_sentences}个句子。",
            "回答须写{relation}{num_sentences}句话，每句以。！？之一结尾。",
            "注意句数：你的回答要有{relation_alt}{num_sentences}句。",
        ),
    },
)


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


declare(
    "length_constraints:number_paragraphs",
    avoids=("yes_no", "classification"),
    phrasings={
        "en": (
            "Divide your response into exactly {num_paragraphs} paragraphs, with a line containing only *** between "
            "consecutive paragraphs.",
            "Your answer needs {num_paragraphs} paragraphs, no more and no fewer, separated by the markdown divider ***.",
            "Structure your reply as {num_paragraphs} paragraphs and put *** between each pair of neighbouring "
            "paragraphs.",
            "Use *** as the only paragraph separator and write exactly {num_paragraphs} paragraphs in your response.",
        ),
        "zh": (
            "回答请恰好写{num_paragraphs}段，相邻两段之间用一行 *** 分隔。",
            "你的回答须分成{num_paragraphs}个段落，不多不少，段与段之间以 markdown 分隔线 *** 隔开。",
            "请把回答组织成{num_paragraphs}段，每两段之间插入 ***。",
            "回答只用 *** 分段，并且正好{num_paragraphs}段。",
        ),
    },
)


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


declare(
    "length_constraints:nth_paragraph_first_word",
    avoids=("yes_no", "classification"),
    topic_kwargs={"first_word": "present"},
    phrasings={
        "en": (
            "Write exactly {num_paragraphs} paragraphs separated by blank lines (one empty line between paragraphs, "
            "none inside them); paragraph {nth_paragraph} must open with the word \"{first_word}\".",
            "Your response should have {num_paragraphs} paragraphs, divided by two newlines, and the first word of "
            "paragraph {nth_paragraph} must be {first_word}.",
            "Use {num_paragraphs} paragraphs separated only by blank lines, starting paragraph {nth_paragraph} with "
            "\"{first_word}\".",
            "Give your answer in {num_paragraphs} blank-line-separated paragraphs; make \"{first_word}\" the very "
            "first word of paragraph number {nth_paragraph}.",
        ),
    },
)

