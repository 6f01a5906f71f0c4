"""Features shared by the IFBench checkers: IFBench's sentence split, punctuation tables, stop words,
emoji and syllable lookups, and the offline first-token POS tagger (``words:start_verb``)."""

from __future__ import annotations

import gzip
import json
import re
import string
from functools import lru_cache
from importlib import resources

from raif_rewards.text import CJK_WORD_RE, Text, punkt_tokenizer, treebank_tokenizer, view

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
    return tuple(punkt_tokenizer().tokenize(raw))


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


# --- words:start_verb: the first token's tag under NLTK's averaged perceptron tagger -----------
#
# ``nltk.pos_tag`` needs ``averaged_perceptron_tagger_eng``, which NLTK downloads at run time. The
# tag of the FIRST token only depends on the token itself and the next two tokens (the previous
# tags are the fixed start symbols), so the features that can fire there are a fixed subset of
# the model. raif ships that subset (assets/ifbench_pos_first_token.json.gz; provenance in
# docs/ifbench.md) and scores it exactly as NLTK's ``AveragedPerceptron.predict`` does.

_START_FEATURES = (
    "bias",
    "i-1 tag -START-",
    "i-2 tag -START2-",
    "i tag+i-2 tag -START- -START2-",
)
_ASSET = "ifbench_pos_first_token.json.gz"


@lru_cache(maxsize=1)
def _first_token_model() -> tuple[dict, dict, tuple[str, ...]]:
    data = resources.files("raif_rewards").joinpath("assets", _ASSET).read_bytes()
    doc = json.loads(gzip.decompress(data))
    return doc["weights"], doc["tagdict"], tuple(doc["classes"])


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
    sentences (Punkt's span generator is lazy) unless the full token list is already cached."""
    if "nltk_words" in t.__dict__:
        return t.nltk_words[:k]
    return list(_leading_tokens(t.raw, k))


@lru_cache(maxsize=1024)
def _leading_tokens(raw: str, k: int) -> tuple[str, ...]:
    out: list[str] = []
    treebank = treebank_tokenizer()
    for start, end in punkt_tokenizer().span_tokenize(raw):
        out.extend(treebank.tokenize(raw[start:end]))
        if len(out) >= k:
            break
    return tuple(out[:k])


_FIRST_TOKEN_CONSTANT = frozenset(
    (*_START_FEATURES, "i-1 word -START2-", "i-1 suffix T2-", "i-2 word -START-")
)
_FIRST_TOKEN_PREFIXES = (
    "i suffix ",
    "i pref1 ",
    "i word ",
    "i-1 tag+i word -START- ",
    "i+1 word ",
    "i+1 suffix ",
    "i+2 word ",
)


def first_token_subset(weights: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The rows of an averaged perceptron's weights that can fire at the first position, zero
    weights dropped: how ``assets/ifbench_pos_first_token.json.gz`` was cut from NLTK's model
    (``averaged_perceptron_tagger_eng.weights.json``)."""
    out = {}
    for feat, row in weights.items():
        if feat in _FIRST_TOKEN_CONSTANT or feat.startswith(_FIRST_TOKEN_PREFIXES):
            kept = {label: w for label, w in row.items() if w}
            if kept:
                out[feat] = kept
    return out


def first_token_tag(tokens: list[str], model: tuple[dict, dict, tuple[str, ...]] | None = None) -> str:
    """The tag NLTK's English perceptron tagger gives ``tokens[0]`` (``tokens`` non-empty);
    ``model`` (weights, tagdict, classes) defaults to the shipped first-token table."""
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
