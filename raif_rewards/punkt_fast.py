"""NLTK's Punkt sentence splitter, ported for speed: same spans as
``PunktSentenceTokenizer(params).span_tokenize(text)`` for any :class:`PunktParameters`.

NLTK builds a PunktToken per word and runs each regex through ``nltk.redos`` (``regex`` under a
timeout). This port compiles NLTK's own patterns with stdlib ``re`` (NLTK's compile runs instead
on a text where the two engines could disagree: :mod:`raif_rewards.regex_compat`), classifies
each candidate end from its small context with plain strings, and caches those decisions.
"""

from __future__ import annotations

import re
from functools import lru_cache

from raif_rewards.regex_compat import Dual, disagreements

# str.isspace is wider: NLTK finds the word before a candidate with string.whitespace.
_ASCII_SPACE_BUT_BLANK = "\t\n\r\x0b\x0c"
_NUMBER = "##number##"
# The commonest context: ASCII letters, a period, whitespace, ASCII letters and maybe a comma.
_WORD_PERIOD_WORD = re.compile(r"([A-Za-z]+)\.[ \t\n\r\x0b\x0c]+([A-Za-z]+),?")


class FastPunkt:
    """Punkt sentence boundaries for ``params`` with NLTK's default language variables."""

    def __init__(self, params):
        from nltk.tokenize import punkt

        lv = punkt.PunktLanguageVars()
        self._candidates = Dual(lv.period_context_re())
        self._words = Dual(lv._word_tokenizer_re())
        self._realign = Dual(lv.re_boundary_realignment)
        self._numeric = Dual(punkt.PunktToken._RE_NUMERIC)
        # NLTK's number pattern needs "-", ".", "," or a decimal digit first, never a letter.
        self._numbers_start_unlettered = self._numeric.exact.pattern == r"^-?[\.,]?\d[\d,\.-]*\.?$"
        self._ellipsis = Dual(punkt.PunktToken._RE_ELLIPSIS).fast  # no character classes
        self._initial = Dual(punkt.PunktToken._RE_INITIAL)
        self._sent_end_chars = tuple(lv.sent_end_chars)
        self._punctuation = tuple(punkt.PunktSentenceTokenizer.PUNCTUATION)
        self._abbrevs = params.abbrev_types
        self._collocations = params.collocations
        self._starters = params.sent_starters
        self._ortho = params.ortho_context
        self._lc, self._uc = punkt._ORTHO_LC, punkt._ORTHO_UC
        self._mid_uc, self._beg_lc = punkt._ORTHO_MID_UC, punkt._ORTHO_BEG_LC
        # Loose variants and similar responses repeat most contexts.
        self._breaks = lru_cache(maxsize=1 << 16)(self._context_has_break)

    # -- public API ---------------------------------------------------------------------------

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` of each sentence, as NLTK's ``span_tokenize`` (boundaries realigned)."""
        mask = disagreements(text)
        return self._realigned(text, self._slices(text, mask), mask)

    def tokenize(self, text: str) -> list[str]:
        """The sentences of ``text``, as NLTK's ``tokenize``."""
        return [text[s:e] for s, e in self.span_tokenize(text)]

    # -- NLTK's _match_potential_end_contexts and _slices_from_text ----------------------------

    def _slices(self, text: str, mask: int) -> list[tuple[int, int]]:
        """NLTK's ``_slices_from_text``: sentence slices before realignment."""
        # NLTK's _match_potential_end_contexts: each candidate's context starts at the word before
        # it, found with string.whitespace; with no whitespace but at offset 0 since the previous
        # candidate, the word reaches back to the previous word's start and the previous
        # candidate, whose word now overlaps, is dropped.
        kept = []
        prev = None
        prev_start = prev_stop = 0
        rfind = text.rfind
        for m in self._candidates.on(mask).finditer(text):
            start = m.start()
            i = rfind(" ", prev_stop, start)
            lo = i + 1 if i >= 0 else prev_stop
            if not text[lo:start].isprintable():  # only then can other whitespace follow the space
                for ch in _ASCII_SPACE_BUT_BLANK:
                    j = rfind(ch, lo, start)
                    if j > i:
                        i = j
            word_start = i + 1 if i > prev_stop else prev_start
            if prev is not None and prev_stop <= word_start:
                kept.append((prev, prev_start))
            prev, prev_start, prev_stop = m, word_start, start
        if prev is not None:
            kept.append((prev, prev_start))

        slices = []
        last_break = 0
        breaks = self._breaks
        for m, word_start in kept:
            end = m.end()
            # With the stock language variables "?" and "!" are tokens of their own followed by
            # another token, so they always break.
            if text[end - 1] != "." or breaks(text[word_start:end] + m.group("after_tok")):
                slices.append((last_break, end))
                next_tok = m.start("next_tok")
                last_break = next_tok if next_tok >= 0 else end
        slices.append((last_break, len(text.rstrip())))
        return slices

    def _realigned(self, text: str, slices: list[tuple[int, int]], mask: int) -> list[tuple[int, int]]:
        out = []
        realign = 0
        realign_match = self._realign.on(mask).match
        last = len(slices) - 1
        for k, (start, stop) in enumerate(slices):
            start += realign
            if k == last:
                if start < stop:
                    out.append((start, stop))
                break
            next_start, next_stop = slices[k + 1]
            # endpos makes the pattern see the next slice alone, as NLTK's text[slice] does.
            m = realign_match(text, next_start, next_stop)
            if m:
                out.append((start, next_start + len(m.group(0).rstrip())))
                realign = m.end() - next_start
            else:
                realign = 0
                if start < stop:
                    out.append((start, stop))
        return out

    # -- NLTK's text_contains_sentbreak on one context -----------------------------------------

    def _type(self, tok: str) -> str:
        low = tok.lower()  # may hold characters the token did not (U+0130 -> i + U+0307)
        if self._numbers_start_unlettered and low[:1].isalpha():
            return low
        numeric = self._numeric.fast if low.isascii() else self._numeric.on(disagreements(low))
        return numeric.sub(_NUMBER, low)

    def _first_pass_break(self, tok: str) -> bool:
        """NLTK's first annotation pass: does ``tok`` end a sentence by its type alone."""
        if tok in self._sent_end_chars:
            return True
        if not tok.endswith(".") or tok.endswith("..") or self._ellipsis.match(tok):
            return False
        low = tok[:-1].lower()
        return not (low in self._abbrevs or low.split("-")[-1] in self._abbrevs)

    def _context_has_break(self, context: str) -> bool:
        """Whether a token other than the last of ``context`` ends a sentence (Punkt's first and
        second annotation passes, run only on the tokens that need them)."""
        simple = _WORD_PERIOD_WORD.fullmatch(context)
        if simple is not None:
            # Punkt's word regex splits this into exactly [word + ".", next word (, ",")].
            word, nxt = simple.groups()
            tok = word + "."
            is_break = self._first_pass_break(tok)
            return self._second_pass(tok, nxt, is_break, not is_break, len(word) == 1, False)
        mask = disagreements(context)
        words = self._words.on(mask)
        if "\n" in context:
            toks = []
            for line in context.split("\n"):
                if line.strip():
                    toks += words.findall(line)
        else:
            toks = words.findall(context)
        initial = self._initial.on(mask)
        first_pass_break = self._first_pass_break
        for i in range(len(toks) - 1):
            tok = toks[i]
            if not tok.endswith("."):
                # The second pass only revisits period-final tokens.
                if tok in self._sent_end_chars:
                    return True
                continue
            is_break = first_pass_break(tok)
            # An ellipsis ("..", "...") is neither a break nor an abbreviation in the first pass.
            abbr_or_ellipsis = not is_break and (
                not tok.endswith("..") or self._ellipsis.match(tok) is not None
            )
            nxt = toks[i + 1]
            is_initial = initial.match(tok) is not None
            if self._second_pass(tok, nxt, is_break, abbr_or_ellipsis, is_initial, first_pass_break(nxt)):
                return True
        return False

    def _second_pass(
        self, tok: str, nxt: str, is_break: bool, abbr_or_ellipsis: bool, is_initial: bool, next_break: bool
    ) -> bool:
        """NLTK's ``_second_pass_annotation`` for a period-final ``tok``: its final sentbreak."""
        typ = self._type(tok)
        if len(typ) > 1 and typ[-1] == ".":
            typ = typ[:-1]
        next_typ = self._type(nxt)
        if next_break and len(next_typ) > 1 and next_typ[-1] == ".":
            next_typ = next_typ[:-1]
        if (typ, next_typ) in self._collocations:
            return False
        if abbr_or_ellipsis and not is_initial:
            if self._ortho_heuristic(nxt, next_typ) is True:
                return True
            if nxt[0].isupper() and next_typ in self._starters:
                return True
        if is_initial or typ == _NUMBER:
            starter = self._ortho_heuristic(nxt, next_typ)
            if starter is False:
                return False
            if (
                starter is None
                and is_initial
                and nxt[0].isupper()
                and not (self._ortho.get(next_typ, 0) & self._lc)
            ):
                return False
        return is_break

    def _ortho_heuristic(self, tok: str, typ: str) -> bool | None:
        """Whether ``tok`` starts a sentence; ``None`` for NLTK's "unknown"."""
        if tok in self._punctuation:
            return False
        context = self._ortho.get(typ, 0)
        if tok[0].isupper() and context & self._lc and not context & self._mid_uc:
            return True
        if tok[0].islower() and (context & self._uc or not context & self._beg_lc):
            return False
        return None
