"""IFBench ``count:*`` constraints (word ranges, unique words, conjunctions, names, numbers,
punctuation, Japanese words, pronouns, keyword counts), with IFBench's exact semantics."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from raif_rewards.checkers._common import WORDS, int_schema, sample_words
from raif_rewards.checkers.ifbench_shared import (
    DELETE_PUNCT,
    STRIP,
    cjk_words,
    no_kwargs,
    phrasings,
    word_count,
)
from raif_rewards.registry import register
from raif_rewards.text import Text
from raif_rewards.witness_spec import INF, Need

_SRC = "ifbench"


def _n_schema(name: str = "N", minimum: int = 0) -> dict:
    return {"properties": {name: int_schema(minimum)}, "required": [name]}


def _sample_range(rng: random.Random, lang: str) -> dict:
    low = rng.randrange(50, 401, 10) if lang != "zh" else rng.randrange(100, 801, 50)
    return {"min_words": low, "max_words": low + rng.randint(int(low * 0.05), int(low * 0.1))}


@register(
    "count:word_count_range",
    group="counting",
    schema={
        "properties": {"min_words": int_schema(0), "max_words": int_schema(0)},
        "required": ["min_words", "max_words"],
    },
    sample=_sample_range,
    **phrasings(
        (
            "The response must contain between {min_words} and {max_words} words.",
            "Write no fewer than {min_words} and no more than {max_words} words.",
        ),
        ("回答的字数必须在{min_words}到{max_words}字之间。", "请用{min_words}至{max_words}个字作答。"),
    ),
    conflicts=("length_constraints:number_words",),
    source=_SRC,
    witness=lambda kw, ctx: Need(words=(kw["min_words"], kw["max_words"])),
)
def word_count_range(t: Text, min_words: int, max_words: int) -> bool:
    """Between min and max words inclusive (``\\w+`` runs; each CJK character in Chinese text)."""
    return min_words <= word_count(t) <= max_words


@register(
    "count:unique_word_count",
    group="counting",
    schema=_n_schema(),
    sample=lambda rng, lang: {"N": rng.randrange(30, 201, 5)},
    **phrasings(
        (
            "Use at least {N} unique words in the response.",
            "Your answer must contain at least {N} different words.",
        ),
        ("回答中至少使用{N}个不同的字词。", "请在回答里用到至少{N}个互不相同的字词。"),
    ),
    source=_SRC,
    # Chinese counts distinct characters: twice N characters of distinct words leave enough of them
    witness=lambda kw, ctx: Need(distinct=True, words=(kw["N"] * 2 if ctx.lang == "zh" else kw["N"] + 5, INF)),
)
def unique_word_count(t: Text, N: int) -> bool:
    """At least N distinct whitespace tokens, lower-cased and stripped of ASCII punctuation.

    As in IFBench, a token of punctuation only leaves the empty string, which counts as one word.
    Chinese text has no spaces: there each CJK character is a word.
    """
    if t.cjk_dominant:
        return len({w.lower() for w in cjk_words(t.raw)}) >= N
    return len({w.strip(STRIP) for w in t.lower.split()}) >= N


_CONJUNCTIONS = frozenset(("and", "but", "for", "nor", "or", "so", "yet"))


@register(
    "count:conjunctions",
    group="counting",
    schema=_n_schema("small_n"),
    sample=lambda rng, lang: {"small_n": rng.randint(2, 6)},
    **phrasings(
        (
            "Use at least {small_n} different coordinating conjunctions in the response.",
            "Include at least {small_n} distinct coordinating conjunctions (and, but, for, nor, or, so, yet).",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=tuple((c, 1) for c in ("and", "but", "or", "so", "yet", "nor", "for")[: kw["small_n"]])),
)
def conjunctions(t: Text, small_n: int) -> bool:
    """At least N different coordinating conjunctions (FANBOYS).

    IFBench compares the tokens as written, so "and" and "And," count as two different ones.
    """
    found = {w for w in t.raw.split() if w.strip(STRIP).lower() in _CONJUNCTIONS}
    return len(found) >= small_n


_NAMES = (
    "Emma Liam Sophia Jackson Olivia Noah Ava Lucas Isabella Mason Mia Ethan Charlotte Alexander "
    "Amelia Benjamin Harper Leo Zoe Daniel Chloe Samuel Lily Matthew Grace Owen Abigail Gabriel Ella "
    "Jacob Scarlett Nathan Victoria Elijah Layla Nicholas Audrey David Hannah Christopher Penelope "
    "Thomas Nora Andrew Aria Joseph Claire Ryan Stella Jonathan"
).split()
# One alternation instead of IFBench's 50 searches: whole-word matches cannot overlap, so the set
# of names found is the same.
_NAME_RE = re.compile(r"\b(?:" + "|".join(map(re.escape, _NAMES)) + r")\b")
_NAME_LIST = ", ".join(_NAMES)


@register(
    "count:person_names",
    group="counting",
    schema=_n_schema(),
    sample=lambda rng, lang: {"N": rng.randint(1, 10)},
    **phrasings(
        (
            "Mention at least {N} different person names in the response, from this list of person names: "
            + _NAME_LIST
            + " .",
            "Name at least {N} different people, choosing the names from this list: " + _NAME_LIST + ".",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=tuple((name, 1) for name in _NAMES[: kw["N"]])),
)
def person_names(t: Text, N: int) -> bool:
    """At least N of IFBench's 50 first names occur as whole words (case-sensitive)."""
    return len(set(_NAME_RE.findall(t.raw))) >= N


_DIGITS = re.compile(r"\d+")


@register(
    "count:numbers",
    group="counting",
    schema=_n_schema(),
    sample=lambda rng, lang: {"N": rng.randint(1, 6)},
    **phrasings(
        ("Include exactly {N} numbers in the response.", "Your answer must contain exactly {N} numbers."),
        ("回答中必须恰好包含{N}个数字。", "请在回答里使用正好{N}个数。"),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=tuple((str(10 + i), 1) for i in range(kw["N"]))),
)
def numbers(t: Text, N: int) -> bool:
    """Exactly N digit runs once ASCII punctuation is deleted (so 3.14 and 1,000 are one number)."""
    return len(_DIGITS.findall(t.raw.translate(DELETE_PUNCT))) == N


_MARKS = frozenset(".,!?;:")


@register(
    "count:punctuation",
    group="counting",
    sample=no_kwargs,
    **phrasings(
        (
            "Use every standard punctuation mark at least once, including semicolons, colons, and the interrobang (?!).",
            "Your answer must use each of . , ! ? ; : at least once, plus an interrobang (?! or ‽).",
        )
    ),
    conflicts=("punctuation:no_comma",),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=(("wait?! really? yes; so: well, fine!", 1),)),
)
def punctuation(t: Text) -> bool:
    """An interrobang (``?!``, ``!?`` or ``‽``) and each of ``. , ! ? ; :`` elsewhere.

    IFBench removes the first ``?!`` (else the first ``!?``) before looking for the six marks, so
    an interrobang's own ``?`` and ``!`` do not count.
    """
    raw = t.raw
    if "!?" not in raw and "?!" not in raw and "‽" not in raw:
        return False
    rest = raw.replace("?!", "", 1)
    if len(rest) == len(raw):
        rest = raw.replace("!?", "", 1)
    return _MARKS <= set(rest)


_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _ordinal(n) -> str:
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@register(
    "count:words_japanese",
    group="counting",
    schema=_n_schema("N", 1),
    sample=lambda rng, lang: {"N": rng.randint(2, 30)},
    templates={"en": ("Every Nth word of your response must be in Japanese.",)},
    render=lambda kw, lang, v: (
        f"Every {_ordinal(kw['N'])} word of your response must be in Japanese.",
        f"Write every {_ordinal(kw['N'])} word of your answer in Japanese.",
    )[v % 2],
    # Japanese words have no Latin consonants or initials; a set reply has no room for them
    conflicts=("words:consonants", "words:alphabet", "detectable_format:constrained_response"),
    source=_SRC,
    # at least N words, so that the answer has a Japanese word to show (a shorter one passes vacuously)
    witness=lambda kw, ctx: Need(text_rules=(f"japanese:{int(kw['N'])}",), words=(int(kw["N"]), INF)),
)
def words_japanese(t: Text, N: int) -> bool:
    """Every N-th whitespace token (stripped of ASCII punctuation; empty and all-digit tokens exempt) contains a kana or CJK character."""
    for i, word in enumerate(t.raw.split(), 1):
        if i % N == 0:
            word = word.strip(STRIP)
            if word and not word.isdigit() and not _JAPANESE.search(word):
                return False
    return True


_PRONOUNS = frozenset(
    """
    i me we us you he him she her it they them my mine our ours your yours his hers its their theirs
    myself ourselves yourself yourselves himself herself itself themselves this that these those who
    whom whose which what whoever whomever whatever whichever anybody anyone anything everybody
    everyone everything nobody nothing somebody someone something each either neither both all some
    any none
    """.split()
)


@register(
    "count:pronouns",
    group="counting",
    schema=_n_schema(),
    sample=lambda rng, lang: {"N": rng.randint(4, 25)},
    **phrasings(
        (
            "The response should include at least {N} pronouns.",
            "Use at least {N} pronouns in your answer.",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=(("they", kw["N"]),)),
)
def pronouns(t: Text, N: int) -> bool:
    """At least N pronoun tokens (``nltk.word_tokenize`` of the lower-cased text, ``/`` read as a space so "she/her" counts twice)."""
    return sum(1 for w in _pronoun_tokens(t.raw) if w in _PRONOUNS) >= N


def _pronoun_tokens(raw: str) -> list[str]:
    from raif_rewards.text import view

    return view(raw.replace("/", " ").lower()).nltk_words


def _sample_keywords(rng: random.Random, lang: str) -> dict:
    words = sample_words(rng, 5, lang) if lang == "zh" else rng.sample(WORDS, 5)
    return {f"keyword{i}": w for i, w in enumerate(words, 1)}


_KEYWORD = {"type": "string"}


def _keywords_multiple_witness(kw: Mapping[str, Any], ctx: object) -> Need:
    counts = tuple((kw[f"keyword{i}"].strip(), n) for i, n in enumerate((1, 2, 3, 5, 7), 1))
    return Need(include=counts, cap=counts)


@register(
    "count:keywords_multiple",
    group="counting",
    schema={
        "properties": {f"keyword{i}": _KEYWORD for i in range(1, 6)},
        "required": [f"keyword{i}" for i in range(1, 6)],
    },
    sample=_sample_keywords,
    **phrasings(
        (
            "Include keyword {keyword1} once in your response, keyword {keyword2} twice in your response, "
            "keyword {keyword3} three times in your response, keyword {keyword4} five times in your response, "
            "and keyword {keyword5} seven times in your response.",
            "Use the word {keyword1} exactly once, {keyword2} exactly twice, {keyword3} exactly three times, "
            "{keyword4} exactly five times and {keyword5} exactly seven times.",
        ),
        (
            "回答中关键词“{keyword1}”出现1次，“{keyword2}”出现2次，“{keyword3}”出现3次，“{keyword4}”出现5次，“{keyword5}”出现7次。",
            "请让“{keyword1}”恰好出现一次、“{keyword2}”两次、“{keyword3}”三次、“{keyword4}”五次、“{keyword5}”七次。",
        ),
    ),
    conflicts=("keywords:forbidden_words",),
    source=_SRC,
    witness=_keywords_multiple_witness,
)
def keywords_multiple(
    t: Text, keyword1: str, keyword2: str, keyword3: str, keyword4: str, keyword5: str
) -> bool:
    """Keywords 1-5 occur exactly 1, 2, 3, 5 and 7 times (case-insensitive substring counts of the stripped keywords, as in IFBench)."""
    text = t.lower
    pairs = zip((keyword1, keyword2, keyword3, keyword4, keyword5), (1, 2, 3, 5, 7), strict=True)
    return all(text.count(k.strip().lower()) == n for k, n in pairs)
