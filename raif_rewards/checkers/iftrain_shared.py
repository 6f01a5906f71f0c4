"""Pieces shared by the IFTrain checkers (IFBench's 29 training constraints, open-instruct's IFEvalG ids):
the id list, keyword sampling, the ``***`` paragraph split and word helpers.

Sentences are NLTK's English Punkt sentences (the split IFBench scores with), not IFEvalG's regex
splitter: one sentence split for every IFBench-family checker in the project.
"""

from __future__ import annotations

import random
import re

from raif_rewards.checkers._common import WORDS, WORDS_ZH
from raif_rewards.registry import SHORT_ANSWER_KINDS

SOURCE = "iftrain"

#: kinds whose answer is not free running text (code, a formula, a yes/no, a label, items copied out):
#: a rule on the shape of every word or sentence of the answer (brackets, initials, counted letters)
#: would bend it, or be met by a one-word answer without trying
SHAPE_AVOIDS = ("code", "math", "yes_no", *sorted(SHORT_ANSWER_KINDS))
#: rules that decide which words the answer may use (their initials, letters, repeats, the words a sentence
#: opens or closes on) also avoid rewriting: a corrected or translated text has its words given
WORD_CHOICE_AVOIDS = (*SHAPE_AVOIDS, "rewriting")
#: the IFEval constraint whose answer opens with the request copied word for word: a rule that the
#: request's own text breaks (a dot, a repeated word, a first word) cannot hold in that answer
REPEAT_PROMPT = "combination:repeat_prompt"

#: IFBench's 29 training constraints, under the ids open-instruct's IFEvalG registry gives them, so
#: ground truths of its released IF-RLVR data score here unchanged.
IFTRAIN_IDS = tuple(
    """copy:copy copy:copying_multiple copy:copying_simple copy:repeat_phrase count:count_increment_word count:count_unique count:counting_composition count:lowercase_counting detectable_format:bigram_wrapping detectable_format:sentence_hyphens detectable_format:square_brackets first_word:first_word_answer first_word:first_word_sent keywords:exclude_word_harder keywords:keyword_specific_position keywords:no_adjacent_consecutive keywords:palindrome keywords:start_end keywords:word_count_different_numbers keywords:word_once last_word:last_word_answer last_word:last_word_sent letters:letter_counting letters:letter_counting2 new:copy_span_idx paragraphs:paragraphs paragraphs:paragraphs2 punctuation:punctuation_dot punctuation:punctuation_exclamation""".split()
)

# The markdown divider between paragraphs, with at most one whitespace character either side.
_DIVIDER = re.compile(r"\s?\*\*\*\s?")
_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def paragraphs(raw: str, divider: re.Pattern | str = _DIVIDER) -> list[str] | None:
    """Pieces of ``raw`` between dividers: empty pieces at either end are dropped (a divider may open or close the response), an empty piece in between makes the layout invalid (``None``)."""
    pieces = divider.split(raw) if isinstance(divider, re.Pattern) else raw.split(divider)
    if pieces and not pieces[0].strip():
        pieces = pieces[1:]
    if pieces and not pieces[-1].strip():
        pieces = pieces[:-1]
    if any(not p.strip() for p in pieces):
        return None
    return pieces


def texts(en: tuple[str, ...], zh: tuple[str, ...] = ()) -> dict:
    """``templates`` for :func:`raif_rewards.registry.register`: the IFTrain wording per language (the first
    English one is IFEvalG's, made faithful to the check where it was not), rendered by the registry so
    that relations are worded in the phrasing's language; the other phrasings come from ``declare``."""
    return {"templates": {"en": en, **({"zh": zh} if zh else {})}}


def words(s: str) -> list[str]:
    """``\\w+`` runs: the words IFEval counts."""
    return _WORD.findall(s)


def has_cjk(s: str) -> bool:
    return _CJK.search(s) is not None


def word_pool(lang: str) -> list[str]:
    return WORDS_ZH if lang == "zh" else WORDS


def distinct_words(rng: random.Random, k: int, lang: str) -> list[str]:
    """``k`` keywords none of which occurs inside another ("tea" and "teacher" would share counts)."""
    pool = word_pool(lang)
    out: list[str] = []
    while len(out) < k:
        w = rng.choice(pool)
        if all(w not in o and o not in w for o in out):
            out.append(w)
    return out
