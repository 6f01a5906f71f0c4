"""IFBench ``words:*`` constraints: letter games, vowels and consonants, palindromes, word lengths,
a leading verb, repeats, syllables, word chains and keyword positions (IFBench's exact semantics)."""

from __future__ import annotations

import random
import string
from collections import Counter
from itertools import pairwise

from raif_rewards.checkers._common import WORDS, int_schema
from raif_rewards.checkers.ifbench_shared import (
    DELETE_PUNCT,
    PUNCT,
    STRIP,
    first_token_tag,
    leading_tokens,
    no_kwargs,
    phrasings,
    punkt_sentences,
    syllables,
)
from raif_rewards.registry import register
from raif_rewards.text import Text, word_tokenize
from raif_rewards.witness_spec import INF, Need

_SRC = "ifbench"
_ALPHABET = string.ascii_lowercase


@register(
    "words:alphabet",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Each word must start with the next letter of the alphabet, looping back to 'A' after 'Z'.",
            "Start every word with the letter that follows the previous word's first letter in the alphabet (after Z comes A).",
        )
    ),
    # a sentence's last word opening the next one puts one word twice in a row
    conflicts=("words:no_consecutive", "words:last_first", "detectable_format:constrained_response"),
    source=_SRC,
    witness=lambda kw, ctx: Need(text_rules=("alphabet",)),
)
def alphabet(t: Text) -> bool:
    """Word i+1 starts with the letter after word i's first letter (cyclic a-z), punctuation deleted, case ignored; the first word must start with a letter a-z."""
    words = t.raw.translate(DELETE_PUNCT).strip(STRIP).split()
    if not words:
        return False
    letter = words[0][0].lower()
    if len(letter) != 1 or letter not in _ALPHABET:
        return False
    for word in words[1:]:
        word = word.strip(STRIP).lower()
        if not word:
            continue
        letter = _ALPHABET[(_ALPHABET.index(letter) + 1) % 26]
        if word[0] != letter:
            return False
    return True


_VOWELS = frozenset("aeiou")


@register(
    "words:vowel",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Write a paragraph using words that contain only three types of vowels.",
            "Answer in a single paragraph whose words use at most three of the five vowels a, e, i, o, u.",
        )
    ),
    conflicts=(
        "length_constraints:number_paragraphs",
        "detectable_format:multiple_sections",
        "detectable_format:number_bullet_lists",
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(one_line=True, vowels=3),
)
def vowel(t: Text) -> bool:
    """One line (after stripping) using at most three distinct vowels a, e, i, o, u."""
    lines = t.stripped.split("\n")
    return len(lines) == 1 and len(_VOWELS & set(lines[0].lower())) <= 3


_CONSONANTS = frozenset("bcdfghjklmnpqrstvwxyz")


@register(
    "words:consonants",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Ensure each word in your response has at least one consonant cluster (two or more consonants together).",
            "Every word you write must contain two consonants in a row somewhere.",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(word_rule="consonant_pair"),
)
def consonants(t: Text) -> bool:
    """Every whitespace token (lower-cased) has two adjacent consonants."""
    for word in t.lower.split():
        if not any(a in _CONSONANTS and b in _CONSONANTS for a, b in pairwise(word)):
            return False
    return True


@register(
    "words:palindrome",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Include at least 10 single-word palindromes, each at least 5 characters long.",
            "Use ten or more palindromic words of five or more letters (like 'level' or 'radar').",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=tuple((p, 2) for p in ("level", "radar", "civic", "refer", "kayak"))),
)
def palindrome(t: Text) -> bool:
    """At least 10 palindromic tokens of length >= 5 (punctuation deleted, lower-cased; repeats count)."""
    words = t.raw.translate(DELETE_PUNCT).lower().split()
    return sum(1 for w in words if len(w) >= 5 and w == w[::-1]) >= 10


_PRIMES = frozenset(
    (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)
)


@register(
    "words:prime_lengths",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Use only words with lengths that are prime numbers.",
            "Every word you use must have a prime number of letters (2, 3, 5, 7, 11, ...).",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(word_rule="prime_length"),
)
def prime_lengths(t: Text) -> bool:
    """Every token (punctuation deleted) has a prime length up to 97."""
    return all(len(w) in _PRIMES for w in t.raw.translate(DELETE_PUNCT).split())


@register(
    "words:start_verb",
    group="words",
    sample=no_kwargs,
    **phrasings(("The response must start with a verb.", "Begin your answer with a verb.")),
    source=_SRC,
    witness=lambda kw, ctx: Need(first_words=((1, "Try to"),)),  # the tagger reads "Try" as a verb before "to"
)
def start_verb(t: Text) -> bool:
    """The first ``nltk.word_tokenize`` token gets a VB* tag from an averaged perceptron POS tagger: textblob-aptagger's model, not NLTK's (their verb decisions differ on 2.75% of sentences: docs/ifbench.md)."""
    tokens = leading_tokens(t, 3)
    return bool(tokens) and "VB" in first_token_tag(tokens)


@register(
    "words:repeats",
    group="words",
    schema={"properties": {"small_n": int_schema(0)}, "required": ["small_n"]},
    sample=lambda rng, lang: {"small_n": rng.randint(1, 5)},
    **phrasings(
        (
            "The response should not repeat any word more than {small_n} times.",
            "Do not use any word more than {small_n} times.",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(distinct=True),
)
def repeats(t: Text, small_n: int) -> bool:
    """No token (lower-cased, punctuation deleted) occurs more than N times."""
    counts = Counter(t.lower.translate(DELETE_PUNCT).split())
    return all(c <= small_n for c in counts.values())


@register(
    "words:odd_even_syllables",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Alternate between words with odd and even numbers of syllables.",
            "Make consecutive words alternate between an odd and an even number of syllables.",
        )
    ),
    conflicts=("words:last_first", "detectable_format:constrained_response"),  # a word twice in a row: one parity
    source=_SRC,
    witness=lambda kw, ctx: Need(text_rules=("odd_even",)),
)
def odd_even_syllables(t: Text) -> bool:
    """Syllable-count parity (syllapy) alternates from word to word (punctuation deleted)."""
    parities = [syllables(w) % 2 for w in t.raw.translate(DELETE_PUNCT).lower().split()]
    return all(a != b for a, b in pairwise(parities))


@register(
    "words:last_first",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "The last word of each sentence must become the first word of the next sentence.",
            "Begin every sentence with the word that ended the sentence before it.",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(linked=True),
)
def last_first(t: Text) -> bool:
    """Each sentence's last word equals the next sentence's first word (case-insensitive; edge punctuation stripped)."""
    parts = punkt_sentences(t)
    for a, b in pairwise(parts):
        last, first = a.rstrip(STRIP).split(), b.lstrip(STRIP).split()
        if not last or not first or last[-1].lower() != first[0].lower():
            return False
    return True


@register(
    "words:paragraph_last_first",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "Each paragraph must end with the same word it started with, separate paragraphs with a newline.",
            "Start and end every paragraph with the same word; put each paragraph on its own line.",
        )
    ),
    # a line that ends with its first word repeats it
    conflicts=("count:count_unique", "detectable_format:constrained_response"),
    source=_SRC,
    witness=lambda kw, ctx: Need(text_rules=("line_ends",)),
)
def paragraph_last_first(t: Text) -> bool:
    """Every non-blank line starts and ends with the same word (lower-cased, edge punctuation stripped)."""
    for line in t.lower.split("\n"):
        words = line.strip().strip(STRIP).split()
        if words and words[0] != words[-1]:
            return False
    return True


@register(
    "words:no_consecutive",
    group="words",
    sample=no_kwargs,
    **phrasings(
        (
            "No two consecutive words can share the same first letter.",
            "Never let two words in a row begin with the same letter.",
        )
    ),
    conflicts=("words:last_first",),  # a sentence's last word opening the next one: one initial twice
    source=_SRC,
    witness=lambda kw, ctx: Need(text_rules=("no_consecutive",)),
)
def no_consecutive(t: Text) -> bool:
    """No two adjacent tokens (lower-cased, punctuation deleted) share their first character."""
    words = t.lower.translate(DELETE_PUNCT).split()
    return all(a[0] != b[0] for a, b in pairwise(words))


def _sample_position(rng: random.Random, lang: str) -> dict:
    return {"keyword": rng.choice(WORDS), "n": rng.randint(1, 5), "m": rng.randint(1, 10)}


@register(
    "words:keywords_specific_position",
    group="words",
    schema={
        "properties": {"keyword": {"type": "string"}, "n": int_schema(1), "m": int_schema(1)},
        "required": ["keyword", "n", "m"],
    },
    sample=_sample_position,
    **phrasings(
        (
            "Include keyword {keyword} in the {n}-th sentence, as the {m}-th word of that sentence.",
            'In sentence number {n} of your answer, word number {m} must be "{keyword}".',
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(placed=((kw["n"], kw["m"], kw["keyword"]),), sentences=(kw["n"], INF)),
)
def keywords_specific_position(t: Text, keyword: str, n: int, m: int) -> bool:
    """The m-th word (``nltk.word_tokenize`` tokens with a letter or digit) of the n-th Punkt sentence is the keyword (case-insensitive)."""
    parts = punkt_sentences(t)
    n, m = int(n), int(m)
    if len(parts) < n:
        return False
    words = [w for w in word_tokenize(parts[n - 1]) if any(ch.isalnum() for ch in w)]
    return len(words) >= m and words[m - 1].lower() == keyword.strip().lower()


@register(
    "words:words_position",
    group="words",
    schema={"properties": {"keyword": {"type": "string"}}, "required": ["keyword"]},
    sample=lambda rng, lang: {"keyword": rng.choice(WORDS)},
    **phrasings(
        (
            "The second word in your response and the second to last word in your response should be the word {keyword}.",
            'Make "{keyword}" both the second word and the second-to-last word of your answer.',
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(placed=((1, 2, kw["keyword"]), (-1, -2, kw["keyword"]))),
)
def words_position(t: Text, keyword: str) -> bool:
    """The second ``nltk.word_tokenize`` token and the second-to-last one (third-to-last when the last token is punctuation) are the keyword (case-insensitive)."""
    words = t.nltk_words
    key = keyword.strip().lower()
    if len(words) < 2:
        return False
    # IFBench tests `token in string.punctuation`: a substring test, so "." and "?" qualify.
    if words[-1] in PUNCT:
        return len(words) >= 3 and words[1].lower() == words[-3].lower() == key
    return words[1].lower() == words[-2].lower() == key
