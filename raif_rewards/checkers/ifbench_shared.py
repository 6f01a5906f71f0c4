"""Features shared by the IFBench checkers: IFBench's sentence split, punctuation tables, stop words,
emoji and syllable lookups, and the offline first-token POS tagger (``words:start_verb``)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import pickle
import re
import string
from functools import lru_cache
from pathlib import Path

from raif_rewards import text as _text
from raif_rewards.errors import RaifError
from raif_rewards.text import CJK_WORD_RE, Text, fast_treebank, sentence_spans, view

#: IFBench's 58 out-of-distribution instruction ids (for conflict tables and tests).
IFBENCH_IDS = tuple(
    """
    count:conjunctions count:keywords_multiple count:numbers count:person_names count:pronouns
    count:punctuation count:unique_word_count count:word_count_range count:words_japanese
    custom:character_reverse custom:csv_city custom:csv_quotes custom:csv_special_character
    custom:date_format_list custom:european_capitals_sort custom:mcq_count_length custom:multiples
    custom:reverse_newline custom:sentence_alphabet custom:word_reverse format:emoji
    format:line_indent format:list format:newline format:no_bullets_bullets format:no_whitespace
    format:options format:output_template format:parentheses format:quote_unquote format:quotes
    format:sub-bullets format:thesis format:title_case ratio:overlap ratio:sentence_balance
    ratio:sentence_type ratio:sentence_words ratio:stop_words repeat:repeat_change
    repeat:repeat_simple repeat:repeat_span sentence:alliteration_increment sentence:increment
    sentence:keyword words:alphabet words:consonants words:keywords_specific_position
    words:last_first words:no_consecutive words:odd_even_syllables words:palindrome
    words:paragraph_last_first words:prime_lengths words:repeats words:start_verb words:vowel
    words:words_position
    """.split()
)

PUNCT = string.punctuation
#: ``str.strip`` argument IFBench uses everywhere: ASCII punctuation plus the space.
STRIP = PUNCT + " "
#: ``str.translate`` table deleting ASCII punctuation.
DELETE_PUNCT = str.maketrans("", "", PUNCT)

# Chinese sentences end at 。！？ (and their ASCII forms); closing quotes stay with the sentence.
_ZH_SENTENCE = re.compile(r"[^。！？!?]*(?:[。！？!?]+[」』”’\"'）)】]*|$)")
#: Chinese end punctuation -> the ASCII mark IFBench's sentence-type checks look for.
ZH_END = str.maketrans({"。": ".", "？": "?", "！": "!"})


# Sentence tuples are shared by the constraints and loose variants of recent responses; 1024 keeps
# the cache's memory bounded for long RL responses.
@lru_cache(maxsize=1024)
def _punkt_sentences(raw: str) -> tuple[str, ...]:
    return tuple(_text.sentences(raw))


@lru_cache(maxsize=1024)
def _zh_sentences(raw: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _ZH_SENTENCE.findall(raw) if s.strip())


def chinese_sentences(t: Text) -> bool:
    """Whether ``t`` is split at Chinese end punctuation: CJK-dominant text that uses 。！？
    (Korean, which ends sentences with ".", keeps Punkt)."""
    return t.cjk_dominant and ("。" in t.raw or "！" in t.raw or "？" in t.raw)


def sentences(t: Text) -> tuple[str, ...]:
    """IFBench's ``split_into_sentences`` (``nltk.sent_tokenize``: the English Punkt model).

    Chinese text (:func:`chinese_sentences`) is split at 。！？ instead; IFBench's own responses never
    take that path, so the official split is unchanged there.
    """
    if chinese_sentences(t):
        return _zh_sentences(t.raw)
    return _punkt_sentences(t.raw)


def punkt_sentences(t: Text) -> tuple[str, ...]:
    """IFBench's split on any text (checkers declared for English only keep it on CJK text too)."""
    return _punkt_sentences(t.raw)


def sentence_end(sentence: str) -> str:
    """The sentence's last character, with Chinese end punctuation read as its ASCII mark."""
    return sentence[-1:].translate(ZH_END)


def word_count(t: Text) -> int:
    """IFBench's ``count_words`` (``\\w+`` runs); each CJK character is a word in Chinese text."""
    return t.cjk_word_count if t.cjk_dominant else t.word_count


@lru_cache(maxsize=1024)
def cjk_words(s: str) -> tuple[str, ...]:
    """Words of Chinese text: each CJK character, and each run of other word characters."""
    return tuple(CJK_WORD_RE.findall(s))


def sentences_of(s: str) -> tuple[str, ...]:
    """:func:`sentences` of a piece of a response (a line, a paragraph)."""
    return sentences(view(s))


def _plain(value):
    # IFBench's data stores counts as floats (128.0); an instruction says "128".
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def phrasings(en: tuple[str, ...], zh: tuple[str, ...] = ()) -> dict:
    """``templates`` and ``render`` for :func:`raif_rewards.registry.register`: ``str.format`` phrasings per language, with integral floats written as integers."""
    templates = {"en": en, **({"zh": zh} if zh else {})}

    def render(kwargs, lang: str, variant: int) -> str:
        options = templates.get(lang) or templates["en"]
        return options[variant % len(options)].format(**{k: _plain(v) for k, v in kwargs.items()})

    return {"templates": templates, "render": render}


def no_kwargs(rng, lang: str) -> dict:
    """Sampler of a constraint without arguments."""
    return {}


# NLTK's English stop-word list (the Snowball/SMART-derived corpus shipped as nltk_data
# ``corpora/stopwords/english``). IFBench tokenises on ``\w+``, so entries with an apostrophe
# ("don't", "you're") can never match; only the apostrophe-free entries are kept. They are the
# same in every version of the list since 2017.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
    her hers herself it its itself they them their theirs themselves what which who whom this that
    these those am is are was were be been being have has had having do does did doing a an the and
    but if or because as until while of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once here
    there when where why how all any both each few more most other some such no nor not only own
    same so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn
    doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
    """.split()
)


def is_emoji(ch: str) -> bool:
    import emoji

    return emoji.is_emoji(ch)


@lru_cache(maxsize=65536)
def syllables(word: str) -> int:
    """syllapy's count (its word table, then its vowel-group rule), as IFBench uses it."""
    import syllapy

    return syllapy.count(word)


# --- words:start_verb: the first token's tag under an averaged perceptron POS tagger ----------
#
# IFBench calls ``nltk.pos_tag``, whose ``averaged_perceptron_tagger_eng`` data NLTK downloads at run
# time and raif may not ship. raif instead reads Honnibal's original model, the MIT-licensed
# ``trontagger-0.1.0.pickle`` that the PyPI package ``textblob-aptagger==0.2.0`` installs (same
# features and algorithm as NLTK's port, a different training run: docs/ifbench.md gives the
# measured disagreement). The tag of the FIRST token only depends on the token itself and the next
# two tokens (the previous tags are the fixed start symbols), so only that position is scored, the
# way NLTK's ``AveragedPerceptron.predict`` scores it.

_START_FEATURES = (
    "bias",
    "i-1 tag -START-",
    "i-2 tag -START2-",
    "i tag+i-2 tag -START- -START2-",
)
_TAGGER_PACKAGE = "textblob_aptagger"
_TAGGER_PICKLE = "trontagger-0.1.0.pickle"
#: the file textblob-aptagger 0.2.0 ships: anything else is refused before it is unpickled
_TAGGER_SHA256 = "1109164b3d28dce58f96b763128bab2fd8754c3921fd3330de2724ac6d1ada7c"

TaggerModel = tuple[dict[str, dict[str, float]], dict[str, str], tuple[str, ...]]


class TaggerModelError(RaifError):
    """The POS tagger model of ``words:start_verb`` is missing or not the expected file."""


class _ModelUnpickler(pickle.Unpickler):
    """Unpickles only plain data: the model is a Python 2 pickle of dicts, strings, floats and one
    ``set``; any other global (the door to code execution) is refused."""

    _ALLOWED = {("__builtin__", "set"): set, ("builtins", "set"): set}

    def find_class(self, module: str, name: str) -> type:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a tagger model") from None


def load_tagger_model(data: bytes, origin: str = "<bytes>") -> TaggerModel:
    """(weights, tagdict, classes) from the bytes of a textblob-aptagger model pickle, read with a
    restricted unpickler; ``classes`` comes back sorted so ties break reproducibly."""
    try:
        obj = _ModelUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # also TypeError, AttributeError, MemoryError ... from malformed opcodes
        raise TaggerModelError(f"{origin}: not a readable tagger model ({type(exc).__name__}: "
                               f"{str(exc)[:200]})") from None
    if not (
        isinstance(obj, tuple)
        and len(obj) == 3
        and isinstance(obj[0], dict)
        and isinstance(obj[1], dict)
        and isinstance(obj[2], set)
    ):
        raise TaggerModelError(f"{origin}: expected a (weights dict, tagdict dict, classes set) tuple")
    weights, tagdict, classes = obj
    return weights, tagdict, tuple(sorted(classes))


@lru_cache(maxsize=1)
def _first_token_model() -> TaggerModel:
    # Read the installed package's data file directly: importing the package pulls in textblob.
    spec = importlib.util.find_spec(_TAGGER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TaggerModelError(
            f"words:start_verb needs the package textblob-aptagger==0.2.0 (module {_TAGGER_PACKAGE} not found)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _TAGGER_PICKLE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TaggerModelError(f"{path}: cannot read the tagger model ({exc.strerror})") from exc
    return load_tagger_model(_verified(data, str(path)), str(path))


def _verified(data: bytes, origin: str) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != _TAGGER_SHA256:
        raise TaggerModelError(f"{origin}: not the model textblob-aptagger 0.2.0 ships (sha256 {digest[:16]}..., "
                               f"expected {_TAGGER_SHA256[:16]}...); reinstall textblob-aptagger==0.2.0")
    return data


def _normalize(word: str) -> str:
    if "-" in word and word[0] != "-":
        return "!HYPHEN"
    if word.isdigit() and len(word) == 4:
        return "!YEAR"
    if word and word[0].isdigit():
        return "!DIGITS"
    return word.lower()


def leading_tokens(t: Text, k: int = 3) -> list[str]:
    """The first ``k`` tokens of ``nltk.word_tokenize(t.raw)``, tokenising only the leading Punkt
    sentences unless the full token list is already cached."""
    if "nltk_words" in t.__dict__:
        return t.nltk_words[:k]
    return list(_leading_tokens(t.raw, k))


@lru_cache(maxsize=1024)
def _leading_tokens(raw: str, k: int) -> tuple[str, ...]:
    out: list[str] = []
    tokenize = fast_treebank().tokenize
    for start, end in sentence_spans(raw):
        out.extend(tokenize(raw[start:end]))
        if len(out) >= k:
            break
    return tuple(out[:k])


def first_token_tag(tokens: list[str], model: TaggerModel | None = None) -> str:
    """The tag a greedy averaged perceptron tagger gives ``tokens[0]`` (``tokens`` non-empty),
    scored as NLTK's ``PerceptronTagger`` does; ``model`` (weights, tagdict, classes) defaults to
    textblob-aptagger's trontagger model."""
    weights, tagdict, classes = model or _first_token_model()
    word = tokens[0]
    tag = tagdict.get(word)
    if tag:
        return tag
    ctx = [_normalize(w) for w in tokens[:3]] + ["-END-", "-END2-"]
    # NLTK's _get_features order, so each label's float sum is added in the same order.
    features = (
        "bias",
        "i suffix " + word[-3:],
        "i pref1 " + word[:1],
        *_START_FEATURES[1:],
        "i word " + ctx[0],
        "i-1 tag+i word -START- " + ctx[0],
        "i-1 word -START2-",
        "i-1 suffix T2-",
        "i-2 word -START-",
        "i+1 word " + ctx[1],
        "i+1 suffix " + ctx[1][-3:],
        "i+2 word " + ctx[2],
    )
    scores: dict[str, float] = {}
    for feat in features:
        row = weights.get(feat)
        if row:
            for label, weight in row.items():
                scores[label] = scores.get(label, 0.0) + weight
    return max(classes, key=lambda label: (scores.get(label, 0.0), label))
