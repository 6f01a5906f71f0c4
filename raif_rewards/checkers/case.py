"""Change-case constraints: all capitals, all lowercase, N capitalised words (IFEval semantics)."""

from __future__ import annotations

from raif_rewards.checkers._common import (
    RELATION_SCHEMA,
    compare,
    int_schema,
    sample_relation,
)
from raif_rewards.registry import declare, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need, count_range


def _is_english(t: Text) -> bool:
    # IFEval counts an undetectable language as followed.
    lang = t.language
    return lang is None or lang == "en"


@register(
    "change_case:english_capital",
    group="case",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Your entire response should be in English, and in all capital letters.",
            "Write your whole answer in English using only CAPITAL LETTERS.",
        )
    },
    uses_language_detection=True,
    witness=lambda kw, ctx: Need(case="upper", language="en"),
)
def english_capital(t: Text) -> bool:
    """The response is in English and entirely upper case."""
    return t.raw.isupper() and _is_english(t)


declare(
    "change_case:english_capital",
    avoids=("code", "extraction"),
    phrasings={
        "en": (
            "Write the whole response in English, using CAPITAL LETTERS ONLY.",
            "Your entire answer must be in English and fully upper case - no lowercase letters at all.",
            "Reply in English with every letter capitalised.",
            "Use only uppercase English for your response, from the first word to the last.",
        ),
    },
)


@register(
    "change_case:english_lowercase",
    group="case",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.",
            "Write your whole answer in English in lowercase only; do not use a single capital letter.",
        )
    },
    conflicts=("change_case:english_capital",),
    uses_language_detection=True,
    witness=lambda kw, ctx: Need(case="lower", language="en"),
)
def english_lowercase(t: Text) -> bool:
    """The response is in English and entirely lower case."""
    return t.raw.islower() and _is_english(t)


declare(
    "change_case:english_lowercase",
    avoids=("code", "extraction"),
    phrasings={
        "en": (
            "Write your entire response in English and in lowercase letters only; capital letters are not allowed.",
            "Your whole answer must be in english, all lowercase - not even the first word of a sentence is "
            "capitalised.",
            "Reply in English without a single uppercase letter.",
            "Use only lowercase English letters throughout your response.",
        ),
    },
)


def _sample_capitals(rng) -> dict:
    relation = sample_relation(rng)
    return {"capital_frequency": rng.randint(2 if relation == "less than" else 1, 20), "capital_relation": relation}


@register(
    "change_case:capital_word_frequency",
    group="case",
    schema={
        "properties": {"capital_frequency": int_schema(0), "capital_relation": RELATION_SCHEMA},
        "required": ["capital_frequency", "capital_relation"],
    },
    sample=lambda rng, lang: _sample_capitals(rng),
    templates={
        "en": (
            "In your response, words with all capital letters should appear {capital_relation} {capital_frequency} times.",
            "Use {capital_relation} {capital_frequency} words written in ALL CAPS.",
        ),
        "zh": ("回答中全大写的英文单词出现次数应{capital_relation}{capital_frequency}次。",),
    },
    conflicts=("change_case:english_lowercase", "change_case:english_capital"),
    witness=lambda kw, ctx: Need(capitals=count_range(kw["capital_relation"], kw["capital_frequency"])),
)
def capital_word_frequency(t: Text, capital_frequency: int, capital_relation: str) -> bool:
    """The number of all-capital words (NLTK word tokens) is at least / less than N."""
    if t.upper_word_lower_bound >= capital_frequency:  # decided without tokenising
        return compare(t.upper_word_lower_bound, capital_relation, capital_frequency)
    return compare(t.upper_word_count, capital_relation, capital_frequency)


declare(
    "change_case:capital_word_frequency",
    avoids=("code",),
    phrasings={
        "en": (
            "Write {capital_relation_alt} {capital_frequency} words in ALL CAPITAL LETTERS in your response.",
            "The number of fully capitalised words (like THIS) in your answer should be {capital_relation} "
            "{capital_frequency}.",
            "Use all-caps words {capital_relation} {capital_frequency} times in your reply.",
            "Your response should contain {capital_relation_alt} {capital_frequency} words written entirely in "
            "uppercase.",
        ),
        "zh": (
            "回答中全部大写的英文单词（如 THIS）应有{capital_relation_alt}{capital_frequency}个。",
            "请让你的回答里全大写的英文单词数{capital_relation}{capital_frequency}个。",
            "回答中要使用{capital_relation}{capital_frequency}个全大写的英文单词。",
            "你的回答里像 NOTE 这样全部大写的英文单词，数量须{capital_relation_alt}{capital_frequency}个。",
            "注意全大写英文单词的个数：{capital_relation}{capital_frequency}个。",
        ),
    },
)
