"""The witness protocol: what a checker declares about how to satisfy it (a :class:`Need`), and how
two declarations merge. The composer that turns merged needs into an answer is :mod:`raif_rewards.witness`.

A checker registered with ``witness=fn`` gets ``fn(kwargs, ctx) -> Need``: a small declarative
contribution (content to include, counts, layout, a wrapper, a case), never a finished string. Needs
of constraints that apply to the same text are merged field by field (:meth:`Need.merge`); a pair
that cannot hold together raises :class:`Clash` naming the field. Only the composer writes text, so
"lowercase + at least 300 words + 3 bullets + keyword x2 + end phrase" composes without any checker
knowing about the others.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

INF = 10**9

#: merge rule of each field (see Need.merge)
_ADD, _MAX, _RANGE, _SAME, _OR = "add", "max", "range", "same", "or"


class Clash(ValueError):
    """Two needs that cannot be met by one text; ``reason`` is a short stable key for counting."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class WitnessContext:
    """What a witness may read besides its kwargs: the row's language and the seed request."""

    lang: str = "en"
    request: str = ""


@dataclass(frozen=True)
class Need:
    """One constraint's declarative contribution to a witness answer (every field optional).

    Counts are inclusive ``(low, high)`` ranges measured the way the checkers measure them (words:
    ``\\w+`` runs, each CJK character one word in Chinese; sentences: Punkt, or Chinese end
    punctuation). ``INF`` is "no upper bound".
    """

    include: tuple[tuple[str, int], ...] = ()  # (phrase, minimum occurrences), placed in sentences
    cap: tuple[tuple[str, int], ...] = ()  # (phrase, maximum occurrences, case-insensitive substring)
    forbid: tuple[str, ...] = ()  # words the answer never contains
    words: tuple[int, int] = (0, INF)
    sentences: tuple[int, int] = (0, INF)
    capitals: tuple[int, int] = (0, INF)  # ALL-CAPS words
    letters: tuple[tuple[str, int, int], ...] = ()  # (letter, low, high) occurrences, case-insensitive
    bullets: int | None = None  # exact number of markdown "* " items
    highlights: int = 0  # minimum *highlighted* spans
    placeholders: int = 0  # minimum [placeholder] spans
    sections: tuple[str, int] | None = None  # (splitter, count): lines "<splitter> 1", "<splitter> 2", ...
    paragraphs: int | None = None  # exact number of paragraphs
    paragraph_sep: str | None = None  # "***" (markdown divider) or "\n\n" (blank line)
    first_words: tuple[tuple[int, str], ...] = ()  # (paragraph number, first word)
    title: bool = False  # a <<title>> line
    distinct: bool = False  # filler words never repeat
    avoid_words: tuple[str, ...] = ()  # exact words the filler never uses (stop words)
    word_rule: str | None = None  # a named rule every filler word obeys (see witness.WORD_RULES)
    placed: tuple[tuple[int, int, str], ...] = ()  # (sentence, word position, word); negative = from the end
    sentence_marks: tuple[str, ...] | None = None  # end marks the sentences cycle through (".", "?", "!")
    linked: bool = False  # each sentence starts with the previous sentence's last word
    increment: int | None = None  # each sentence has exactly this many more words than the one before
    sub_bullets: bool = False  # every bullet item carries a "- " sub-item
    shape: str | None = None  # "staircase", "word_per_line", "no_whitespace", "hyphen_joined", "square_brackets"
    # or "bigram_wrapped": reshapes the whole text
    case: str | None = None  # "lower", "upper" or "title": applied to the whole text last
    language: str | None = None  # the answer's language when it is not the row's
    wrap: str | None = None  # "json", "xml" or "quotes": the outermost layer
    prefix: str | None = None  # text the answer starts with (a repeated request)
    end: str | None = None  # text the answer ends with
    postscript: str | None = None  # marker of a closing postscript line (P.S.)
    no_comma: bool = False
    no_fullwidth_comma: bool = False  # also no "，" and "、"
    fixed: str | None = None  # the whole answer is exactly this text
    two: bool = False  # two different answers separated by a line of six asterisks
    # rules on the finished answer's tokens and lines (raif_rewards.witness_rules.TEXT_RULES): "alphabet",
    # "no_consecutive", "odd_even", "japanese:<N>", "line_ends"
    text_rules: tuple[str, ...] = ()
    one_line: bool = False  # the whole answer on one line
    vowels: int | None = None  # the answer uses at most this many of the vowels a, e, i, o, u
    overlap: tuple[str, int] | None = None  # (reference, percentage): share of distinct character trigrams, ±2
    equal_sentences: bool = False  # every sentence has the same number of characters
    alliteration: bool = False  # each sentence has a longer alliterative run than the one before

    def merge(self, other: Need) -> Need:
        """Both needs at once; raises :class:`Clash` when they cannot share one text."""
        if other is EMPTY:
            return self
        if self is EMPTY:
            return other
        mine, theirs = self.__dict__, other.__dict__
        out: dict[str, Any] = mine.copy()
        for name, rule, default, keeps in _MERGE_PLAN:
            b = theirs[name]
            if keeps and b is default:  # an untouched field of other: self's value stands (a + (), a or None)
                continue
            a = mine[name]
            if a == b and rule != _ADD:
                out[name] = a
            elif rule == _ADD:
                out[name] = a + b
            elif rule == _MAX:
                out[name] = max(a, b)
            elif rule == _OR:
                out[name] = a or b
            elif rule == _RANGE:
                lo, hi = max(a[0], b[0]), min(a[1], b[1])
                if lo > hi:
                    raise Clash(f"range:{name}")
                out[name] = (lo, hi)
            elif a is not None and b is not None:
                raise Clash(f"differ:{name}")
            else:
                out[name] = a if a is not None else b
        return Need(**out)


_RULES = {
    "include": _ADD, "cap": _ADD, "forbid": _ADD, "letters": _ADD, "first_words": _ADD,
    "words": _RANGE, "sentences": _RANGE, "capitals": _RANGE,
    "highlights": _MAX, "placeholders": _MAX,
    "title": _OR, "no_comma": _OR, "no_fullwidth_comma": _OR, "two": _OR, "distinct": _OR, "linked": _OR, "sub_bullets": _OR, "increment": _SAME,
    "avoid_words": _ADD, "placed": _ADD, "word_rule": _SAME, "sentence_marks": _SAME, "shape": _SAME,
    "bullets": _SAME, "sections": _SAME, "paragraphs": _SAME, "paragraph_sep": _SAME, "case": _SAME,
    "language": _SAME, "wrap": _SAME, "prefix": _SAME, "end": _SAME, "postscript": _SAME, "fixed": _SAME,
    "text_rules": _ADD, "one_line": _OR, "vowels": _SAME, "overlap": _SAME, "equal_sentences": _OR,
    "alliteration": _OR,
}
if set(_RULES) != {f.name for f in fields(Need)}:
    raise TypeError("every Need field needs a merge rule in _RULES")
_DEFAULTS = {f.name: f.default for f in fields(Need)}
# (field, rule, default value, whether merging the default leaves the other value as it is: adding
# an empty tuple does, and so does "same" against None; a range, a maximum or an "or" is still worked
# out), in _RULES order, which decides which clash is named when several fields clash
_MERGE_PLAN = tuple((name, rule, _DEFAULTS[name], (rule == _ADD and _DEFAULTS[name] == ())
                     or (rule == _SAME and _DEFAULTS[name] is None)) for name, rule in _RULES.items())

EMPTY = Need()


def count_range(relation: str, threshold: int) -> tuple[int, int]:
    """An IFEval relation ("at least"/"less than", or the Chinese words) as an inclusive range."""
    if relation in ("less than", "少于"):
        return (0, threshold - 1)
    return (threshold, INF)
