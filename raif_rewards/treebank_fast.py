"""NLTK's Treebank word tokenizer (``NLTKWordTokenizer.tokenize``, as ``nltk.word_tokenize`` calls
it), ported for speed: the same substitutions, compiled by stdlib ``re`` wherever that matches
exactly as NLTK's ``regex`` engine does (:mod:`raif_rewards.regex_compat`), each skipped when a
character it needs is absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from raif_rewards.regex_compat import SPACE, Dual, disagreements

# A substitution whose pattern cannot match without one of these characters is skipped when none
# is present. Keyed by NLTK's pattern text, so a pattern NLTK changes simply runs every time.
_NEEDS = {
    "([«“‘„]|[`]+)": "«“‘„`",
    '^\\"': '"',
    "(``)": "`",
    "([ \\(\\[{<])(\\\"|\\'{2})": "\"'",
    "(?i)(?<!\\w)(\\')(?!(?:re|ve|ll|m|t|s|d|n)\\b)(?=\\w)": "'",
    "([^\\.])(\\.)([\\]\\)}>\"\\'»”’ ]*+)\\s*$": ".",
    "([:,])([^\\d])": ":,",
    "([:,])$": ":,",
    "\\.{2,}": ".",
    "[;@#$%&]": ";@#$%&",
    "[\\u2012-\\u2015]": "\u2012\u2013\u2014\u2015",
    "([^\\.])(\\.)([\\]\\)}>\"\\']*)\\s*$": ".",
    "[?!]": "?!",
    "([^'])' ": "'",
    "[*]": "*",
    "[\\]\\[\\(\\)\\{\\}\\<\\>]": "[](){}<>",
    "--": "-",
    "([»”’])": "»”’",
    "''": "'",
    '"': '"',
    "([^' ])('[sS]|'[mM]|'[dD]|') ": "'",
    "([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ": "'",
}
# Substitutions that only pad single characters with spaces (``r" \g<0> "`` or ``r" \1 "`` of a
# one-character group), done with str.replace; keyed by NLTK's (pattern, replacement).
_PADS = {
    ("[;@#$%&]", r" \g<0> "): ";@#$%&",
    ("[\\u2012-\\u2015]", r" \g<0> "): "\u2012\u2013\u2014\u2015",
    ("[?!]", r" \g<0> "): "?!",
    ("[*]", r" \g<0> "): "*",
    ("[\\]\\[\\(\\)\\{\\}\\<\\>]", r" \g<0> "): "[](){}<>",
    ("([»”’])", r" \1 "): "»”’",
}
# Substitutions of a plain string (leftmost, non-overlapping, as str.replace).
_LITERALS = {
    ("(``)", r" \1 "): ("``", " `` "),
    ("--", r" -- "): ("--", " -- "),
    ("''", " '' "): ("''", " '' "),
    ('"', " '' "): ('"', " '' "),
}
# Rules anchored at the end of the text, and where their one possible match can start: the final
# period's match begins right before the last period (a period is not among the characters
# allowed after it), a final colon's at most two characters from the end ($ also matches before
# a trailing newline). They run on that suffix only.
_FINAL_PERIOD_RULES = ("([^\\.])(\\.)([\\]\\)}>\"\\'»”’ ]*+)\\s*$", "([^\\.])(\\.)([\\]\\)}>\"\\']*)\\s*$")
_FINAL_COLON_RULE = "([:,])$"
# The literal text each case-insensitive contraction pattern needs, checked on lower-cased ASCII.
_CONTRACTION_NEEDS = {
    r"(?i)\b(can)(?#X)(not)\b": "cannot",
    r"(?i)\b(d)(?#X)('ye)\b": "d'ye",
    r"(?i)\b(gim)(?#X)(me)\b": "gimme",
    r"(?i)\b(gon)(?#X)(na)\b": "gonna",
    r"(?i)\b(got)(?#X)(ta)\b": "gotta",
    r"(?i)\b(lem)(?#X)(me)\b": "lemme",
    r"(?i)\b(more)(?#X)('n)\b": "more'n",
    r"(?i)\b(wan)(?#X)(na)(?=\s)": "wanna",
    r"(?i) ('t)(?#X)(is)\b": " 'tis",
    r"(?i) ('t)(?#X)(was)\b": " 'twas",
}
_NON_SPACE = re.compile(r"\S+")
# What NLTK's final-period rule lets follow a sentence's last period (besides whitespace).
_CLOSERS = "])}>\"'»”’"
# A run of whitespace-separated ASCII chunks none of which can yield an all-capitals token: every
# capital is followed by a lower-case letter, not by "n't", and not preceded by a quote (see
# raif_rewards.text.may_have_upper_token). Each character is taken by exactly one branch.
_ASCII_SAFE_CHUNK = r"(?:[^\sA-Z']|'(?![A-Z])|[A-Z](?=[a-z])(?!n't))+"
_ASCII_SAFE_RUN = re.compile(rf"(?<!\S){_ASCII_SAFE_CHUNK}(?:\s+{_ASCII_SAFE_CHUNK})*(?!\S)")
_SPACES_AND_CLOSERS = re.compile(rf"[\s{re.escape(_CLOSERS)}]*")
_NON_SPACE_OR_EMPTY = re.compile(r"\S*")


def _step(rx, repl) -> tuple:
    """(kind, what, replacement, characters one of which a match needs or None, characters the
    replacement may add)."""
    key = (rx.pattern, repl)
    if key in _PADS:
        return (_PAD, {ch: f" {ch} " for ch in _PADS[key]}, None, frozenset(_PADS[key]), frozenset(" "))
    if key in _LITERALS:
        old, new = _LITERALS[key]
        return (_LITERAL, old, new, frozenset(old), frozenset(new))
    needs = _NEEDS.get(rx.pattern)
    added = frozenset(_GROUP_REFERENCE.sub("", repl))
    kind = _REGEX
    if rx.pattern == "\\s+" and repl == " ":
        kind = _SPACES
    elif rx.pattern == "\\.{2,}":
        kind = _PERIOD_RUN
    elif rx.pattern in _FINAL_PERIOD_RULES:
        kind = _FINAL_PERIOD
    elif rx.pattern == _FINAL_COLON_RULE:
        kind = _FINAL_COLON
    return (kind, Dual(rx), repl, None if needs is None else frozenset(needs), added)


_PAD, _LITERAL, _REGEX, _FINAL_PERIOD, _FINAL_COLON, _SPACES, _PERIOD_RUN = range(7)
_GROUP_REFERENCE = re.compile(r"\\(?:\d+|g<\w+>)")


def _run(steps: list[tuple], text: str, mask: int) -> str:
    # A superset of the characters in text: substitutions only add what their replacement holds.
    present = set(text)
    for kind, a, b, needs, added in steps:
        if needs is not None and needs.isdisjoint(present):
            continue
        if kind == _PAD:
            for ch, padded in a.items():
                if ch in present:
                    text = text.replace(ch, padded)
        elif kind == _LITERAL:
            text = text.replace(a, b)
        elif kind == _REGEX:
            text = a.on(mask).sub(b, text)
        elif kind == _SPACES:
            if mask & a.uses:
                text = a.exact.sub(b, text)
            else:  # stdlib \s is exactly str.isspace
                words = " ".join(text.split())
                if not words:
                    text = " " if text else ""
                else:
                    text = (" " if text[0].isspace() else "") + words + (" " if text[-1].isspace() else "")
        elif kind == _PERIOD_RUN:
            if ".." in text:
                text = a.on(mask).sub(b, text)
        else:
            start = text.rfind(".") - 1 if kind == _FINAL_PERIOD else len(text) - 2
            if start >= 0:
                text = text[:start] + a.on(mask).sub(b, text[start:])
            elif kind == _FINAL_COLON:
                text = a.on(mask).sub(b, text)
        present |= added
    return text


class FastTreebank:
    """``tokenize(sentence)`` equal to ``NLTKWordTokenizer().tokenize(sentence)``."""

    def __init__(self):
        from nltk.tokenize.destructive import NLTKWordTokenizer as nltk_tokenizer

        before = [*nltk_tokenizer.STARTING_QUOTES, *nltk_tokenizer.PUNCTUATION]
        before += [nltk_tokenizer.PARENS_BRACKETS, nltk_tokenizer.DOUBLE_DASHES]
        self._before_padding = [_step(rx, repl) for rx, repl in before]
        self._after_padding = [_step(rx, repl) for rx, repl in nltk_tokenizer.ENDING_QUOTES]
        # NLTK compiles these with stdlib re itself.
        self._contractions = [
            (rx, _CONTRACTION_NEEDS.get(rx.pattern))
            for rx in (*nltk_tokenizer.CONTRACTIONS2, *nltk_tokenizer.CONTRACTIONS3)
        ]
        # Collapsed sentences repeat ("a I a ...").
        self._upper_in = lru_cache(maxsize=1 << 14)(self._count_upper_tokens)

    def tokenize(self, text: str) -> list[str]:
        """NLTK's tokens of ``text`` (one sentence, as ``nltk.word_tokenize`` passes it)."""
        # The substitutions only add ASCII spaces, quotes and backticks, which both engines class
        # alike, so the input's disagreements hold for every intermediate string.
        mask = disagreements(text)
        text = " " + _run(self._before_padding, text, mask) + " "
        text = _run(self._after_padding, text, mask)
        # Case-insensitive literals can be looked up in the lower-cased text when it is ASCII.
        lowered = text.lower() if text.isascii() else None
        for rx, needs in self._contractions:
            if lowered is None or needs is None or needs in lowered:
                text, n = rx.subn(r" \1 \2 ", text)
                if n and lowered is not None:
                    lowered = text.lower()  # the added spaces can make " 'tis" appear
        return text.split()

    def _count_upper_tokens(self, text: str) -> int:
        return sum(1 for tok in self.tokenize(text) if tok.isupper())

    def count_upper(self, sentence: str, may_have_upper_token: Callable[[str], bool]) -> int:
        """How many tokens of ``tokenize(sentence)`` are all capitals.

        Only whitespace-separated chunks that can yield such a token (``may_have_upper_token``)
        are tokenised, in place, with every run of other chunks collapsed to one lower-case
        word: Treebank's rules see across whitespace only at the sentence's start and end (the
        final-period rule reaches back over closing brackets and quotes, so that tail is kept
        whole), and where two rules would consume the same separating space only the spacing
        between two tokens changes.
        """
        if disagreements(sentence) & SPACE:
            return self._upper_in(sentence)
        tail_start = self._tail_start(sentence)
        head = sentence[:tail_start]
        if head.isascii():
            head = _ASCII_SAFE_RUN.sub("a", head)
        else:
            head = self._collapse(head, may_have_upper_token)
        return self._upper_in(head + sentence[tail_start:])

    @staticmethod
    def _tail_start(sentence: str) -> int:
        """Start of the chunk holding the last character that is neither whitespace nor a closer."""
        backwards = sentence[::-1]
        skipped = _SPACES_AND_CLOSERS.match(backwards).end()  # type: ignore[union-attr]  # a `*` pattern always matches
        return len(sentence) - _NON_SPACE_OR_EMPTY.match(backwards, skipped).end()  # type: ignore[union-attr]  # a `*` pattern always matches

    @staticmethod
    def _collapse(head: str, may_have_upper_token: Callable[[str], bool]) -> str:
        out: list[str] = []
        pos = 0
        collapsing = False
        for m in _NON_SPACE.finditer(head):
            if may_have_upper_token(m.group()):
                out += (head[pos : m.start()], m.group())
                collapsing = False
            elif not collapsing:
                out += (head[pos : m.start()], "a")
                collapsing = True
            pos = m.end()
        out.append(head[pos:])
        return "".join(out)
