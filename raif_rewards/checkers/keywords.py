"""Lexical constraints: keywords that must appear, appear N times, must not appear; letter counts."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from raif_rewards.checkers._common import (
    RELATION_SCHEMA,
    PatternTimeout,
    ascii_literal,
    compare,
    int_schema,
    sample_relation,
    sample_words,
    user_regex,
)
from raif_rewards.registry import declare, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need, count_range

_KEYWORD_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}


@register(
    "keywords:existence",
    group="lexical",
    schema={"properties": {"keywords": _KEYWORD_LIST}, "required": ["keywords"]},
    sample=lambda rng, lang: {"keywords": sorted(sample_words(rng, rng.randint(1, 3), lang))},
    templates={
        "en": (
            "Include keywords {keywords} in the response.",
            "Make sure your answer uses the words {keywords}.",
        ),
        "zh": ("回答中请包含关键词{keywords}。", "请确保你的回答用到以下词语：{keywords}。"),
    },
    witness=lambda kw, ctx: Need(include=tuple((k, 1) for k in kw["keywords"])),
)
def existence(t: Text, keywords: list[str]) -> bool:
    """Every keyword occurs (case-insensitive; IFEval matches each keyword as a regex)."""
    try:
        return all(_occurs(k, t) for k in keywords)
    except PatternTimeout:
        return False


declare(
    "keywords:existence",
    topic_kwargs={"keywords": "present"},
    phrasings={
        "en": (
            "Work the following words into your response: {keywords}.",
            "Your answer has to mention each of these words at least once: {keywords}.",
            "Be sure to use every one of these terms somewhere in your response: {keywords}.",
            "The words {keywords} must all appear in your reply.",
        ),
        "zh": (
            "回答里要用上这些词：{keywords}，每个至少出现一次。",
            "请在回答中自然地写进以下词语：{keywords}。",
            "你的回答必须出现{keywords}这几个词。",
            "写作时务必用到下列每一个词：{keywords}。",
        ),
    },
)


def _occurs(pattern: str, t: Text) -> bool:
    literal = ascii_literal(pattern, t)
    if literal is not None:
        return literal in t.lower
    return user_regex(pattern).search(t.raw) is not None


def _sample_frequency(rng: random.Random, lang: str) -> dict:
    relation = sample_relation(rng)
    # "less than 1 times" reads badly and is forbidden_words in disguise: start at 2 there.
    low = 2 if relation == "less than" else 1
    return {"keyword": sample_words(rng, 1, lang)[0], "frequency": rng.randint(low, 4), "relation": relation}


def _frequency_witness(kw: Mapping[str, Any], ctx: object) -> Need:
    low, high = count_range(kw["relation"], kw["frequency"])
    keyword = kw["keyword"].strip()
    return Need(include=((keyword, low),) if low else (), cap=((keyword, high),) if high < 10**9 else ())


@register(
    "keywords:frequency",
    group="lexical",
    schema={
        "properties": {
            "keyword": {"type": "string", "minLength": 1},
            "frequency": int_schema(0),
            "relation": RELATION_SCHEMA,
        },
        "required": ["keyword", "frequency", "relation"],
    },
    sample=lambda rng, lang: _sample_frequency(rng, lang),
    templates={
        "en": (
            "In your response, the word {keyword} should appear {relation} {frequency} times.",
            'Use the word "{keyword}" {relation} {frequency} times in your answer.',
        ),
        "zh": ("词语“{keyword}”在回答中出现的次数应{relation}{frequency}次。", "请让“{keyword}”这个词出现{relation}{frequency}次。"),
    },
    witness=_frequency_witness,
)
def frequency(t: Text, keyword: str, frequency: int, relation: str) -> bool:
    """The keyword occurs at least / less than N times (case-insensitive regex matches)."""
    keyword = keyword.strip()
    literal = ascii_literal(keyword, t)
    # str.count and re.findall both count leftmost non-overlapping matches
    try:
        n = t.lower.count(literal) if literal is not None else len(user_regex(keyword).findall(t.raw))
    except PatternTimeout:
        return False  # the count is unknown: not verified
    return compare(n, relation, frequency)


declare(
    "keywords:frequency",
    topic_kwargs={"keyword": "count:relation"},
    phrasings={
        "en": (
            'Count your uses of "{keyword}" (in any case, also inside longer words): your response should contain '
            'it {relation_alt} {frequency} times.',
            'The string "{keyword}" has to occur {relation} {frequency} times in your answer, counting every '
            'occurrence, even within other words.',
            'Mind how often "{keyword}" shows up in your response - {relation} {frequency} times, where each '
            'appearance counts, on its own or inside another word.',
            'Use "{keyword}" {relation_alt} {frequency} times in your reply (each occurrence counts, in any case, '
            'including inside longer words).',
        ),
        "zh": (
            "“{keyword}”一词在回答中应出现{relation_alt}{frequency}次。",
            "请注意“{keyword}”的出现次数：{relation}{frequency}次。",
            "你的回答里，“{keyword}”要出现{relation_alt}{frequency}次。",
            "回答中“{keyword}”这个词的使用次数须{relation}{frequency}次。",
        ),
    },
)


@register(
    "keywords:forbidden_words",
    group="lexical",
    schema={"properties": {"forbidden_words": _KEYWORD_LIST}, "required": ["forbidden_words"]},
    sample=lambda rng, lang: {"forbidden_words": sorted(sample_words(rng, rng.randint(1, 3), lang))},
    templates={
        "en": (
            "Do not include keywords {forbidden_words} in the response.",
            "Your answer must not use any of these words: {forbidden_words}.",
        ),
        "zh": ("回答中不要出现关键词{forbidden_words}。", "你的回答不得使用以下任何词语：{forbidden_words}。"),
    },
    conflicts=("keywords:existence",),
    witness=lambda kw, ctx: Need(forbid=tuple(kw["forbidden_words"])),
)
def forbidden_words(t: Text, forbidden_words: list[str]) -> bool:
    """No forbidden word occurs as a whole word (case-insensitive)."""
    try:
        return not any(_occurs_as_word(w, t) for w in forbidden_words)
    except PatternTimeout:
        return False  # absence could not be verified


declare(
    "keywords:forbidden_words",
    topic_kwargs={"forbidden_words": "absent"},
    phrasings={
        "en": (
            "Avoid these words entirely in your response: {forbidden_words}.",
            "None of the following words may appear in your answer: {forbidden_words}.",
            "Write your reply without ever using the words {forbidden_words}.",
            "Steer clear of the words {forbidden_words}; they must not show up in your response.",
        ),
        "zh": (
            "回答中请完全避开这些词：{forbidden_words}。",
            "以下词语一个都不能出现在你的回答里：{forbidden_words}。",
            "请不要在回答中使用{forbidden_words}这些词。",
            "写的时候绕开{forbidden_words}，回答里不能出现它们。",
        ),
    },
)


def _occurs_as_word(word: str, t: Text) -> bool:
    literal = ascii_literal(word, t)
    if literal is not None and literal not in t.lower:
        return False  # the \b-bounded regex cannot match where the bare literal does not
    return user_regex(r"\b" + word + r"\b").search(t.raw) is not None


def _sample_letter(rng: random.Random, lang: str) -> dict:
    relation = sample_relation(rng)
    return {
        "letter": rng.choice("abcdefghijklmnopqrstuvwxyz"),
        "let_frequency": rng.randint(2 if relation == "less than" else 1, 10),
        "let_relation": relation,
    }


@register(
    "keywords:letter_frequency",
    group="lexical",
    schema={
        "properties": {
            "letter": {"type": "string", "minLength": 1, "maxLength": 1},
            "let_frequency": int_schema(0),
            "let_relation": RELATION_SCHEMA,
        },
        "required": ["letter", "let_frequency", "let_relation"],
    },
    sample=_sample_letter,
    templates={
        "en": (
            "In your response, the letter {letter} should appear {let_relation} {let_frequency} times.",
            "Make the letter '{letter}' appear {let_relation} {let_frequency} times in your answer.",
        ),
        # no Chinese: "at least N Latin letters" has no place in a Chinese answer
    },
    witness=lambda kw, ctx: Need(letters=((kw["letter"],) + count_range(kw["let_relation"], kw["let_frequency"]),)),
)
def letter_frequency(t: Text, letter: str, let_frequency: int, let_relation: str) -> bool:
    """A character occurs at least / less than N times, ignoring case.

    Google's current scorer counts a non-letter (``#``, ``!``) as given; older copies replaced it by
    a random letter, so their verdicts changed from run to run. We count it as given.
    """
    return compare(t.lower.count(letter.strip().lower()) if letter.strip() else 0, let_relation, let_frequency)


declare(
    "keywords:letter_frequency",
    phrasings={
        "en": (
            "Count the letter '{letter}' (upper or lower case): your response should contain it {let_relation_alt} "
            "{let_frequency} times.",
            "The letter {letter} must appear {let_relation} {let_frequency} times in your answer, ignoring case.",
            "Keep an eye on the letter '{letter}': {let_relation} {let_frequency} occurrences in your response, "
            "capitals included.",
            "Your reply should use the letter '{letter}' {let_relation_alt} {let_frequency} times (case does not matter).",
        ),
        # no Chinese phrasings: the checker is not drawn for Chinese (see its templates)
    },
)

