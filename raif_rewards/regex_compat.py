"""NLTK's regexes under stdlib ``re``, used only where they match exactly as NLTK runs them.

NLTK 3.10 runs every pattern through ``nltk.redos``: the third-party ``regex`` engine under a
timeout, which is slow on short strings. Both engines read NLTK's pattern text the same way except
for what ``\\w``, ``\\s`` and ``\\d`` contain (combining marks, superscript digits, U+001C..U+001F
...) and which non-ASCII characters match an ASCII letter case-insensitively. A :class:`Dual`
pattern therefore uses its stdlib compile on a string unless a character of the string gets
different answers from the two engines for a class the pattern uses; then it uses NLTK's own.
"""

from __future__ import annotations

import re
from functools import lru_cache

WORD, SPACE, DIGIT, FOLD = 1, 2, 4, 8
ALL = WORD | SPACE | DIGIT | FOLD
_CLASS_PROBES = ((WORD, r"\w"), (SPACE, r"\s"), (DIGIT, r"\d"), (FOLD, "(?i)[a-z]"))
_USES = ((WORD, re.compile(r"\\[wWbB]")), (SPACE, re.compile(r"\\[sS]")), (DIGIT, re.compile(r"\\[dD]")))
_INLINE_IGNORECASE = re.compile(r"\(\?[a-zA-Z]*i")
_KEEP_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE

_probes: list = []
_verdicts: dict[str, int] = {}


def _disagreement(ch: str) -> int:
    """The classes on which the two engines answer differently for ``ch``."""
    if not _probes:
        import regex

        _probes.extend((bit, re.compile(p), regex.compile(p)) for bit, p in _CLASS_PROBES)
    mask = 0
    for bit, std, other in _probes:
        std_hit, other_hit = std.match(ch) is not None, other.match(ch) is not None
        # NLTK's patterns hold only ASCII letters: a non-ASCII character that folds onto one
        # (KELVIN SIGN, LONG S, dotless i ...) is left to NLTK whatever the engines say.
        if std_hit != other_hit or (bit == FOLD and (std_hit or other_hit) and not ch.isascii()):
            mask |= bit
    return mask


def disagreements(text: str) -> int:
    """The classes (bit mask) on which some character of ``text`` gets different answers."""
    if text.isascii():
        mask = 0
        for ch, classes in _ascii_disagreeing():
            if ch in text:
                mask |= classes
        return mask
    mask = 0
    for ch in set(text):
        verdict = _verdicts.get(ch)
        if verdict is None:
            if len(_verdicts) > 65536:
                _verdicts.clear()
            verdict = _verdicts[ch] = _disagreement(ch)
        mask |= verdict
    return mask


@lru_cache(maxsize=1)
def _ascii_disagreeing() -> tuple[tuple[str, int], ...]:
    verdicts = ((chr(i), _disagreement(chr(i))) for i in range(128))
    return tuple((ch, verdict) for ch, verdict in verdicts if verdict)


def classes_used(pattern) -> int:
    """The classes a pattern's text refers to (over-approximated: an escaped backslash counts)."""
    src = pattern.pattern
    mask = sum(bit for bit, probe in _USES if probe.search(src))
    if pattern.flags & re.IGNORECASE or _INLINE_IGNORECASE.search(src):
        mask |= FOLD
    return mask


class Dual:
    """A pattern compiled by stdlib ``re`` next to NLTK's own compile of the same text."""

    __slots__ = ("fast", "exact", "uses")

    def __init__(self, nltk_pattern):
        self.exact = nltk_pattern
        self.fast = re.compile(nltk_pattern.pattern, nltk_pattern.flags & _KEEP_FLAGS)
        self.uses = classes_used(nltk_pattern)

    def on(self, mask: int):
        """The compile to run on a string whose :func:`disagreements` are ``mask``."""
        return self.exact if mask & self.uses else self.fast
