"""Change-case constraints: all capitals, all lowercase, N capitalised words (IFEval semantics)."""

from __future__ import annotations

from raif_rewards.checkers._common import (
    RELATION_SCHEMA,
    compare,
    int_schema,
    sample_relation,
)
from raif_rewards.checkers._request import is_code_request
from raif_rewards.registry import register
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
    suits=lambda req, kw: not is_code_request(req),  # code cannot be all capitals
)
def english_capital(t: Text) -> bool:
    """The response is in English and entirely upper case."""
    return t.raw.isupper() and _is_english(t)


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
    suits=lambda req, kw: not is_code_request(req),
)
def english_lowercase(t: Text) -> bool:
    """The response is in English and entirely lower case."""
    return t.raw.islower() and _is_english(t)


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
