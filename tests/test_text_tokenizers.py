"""The fast Punkt and Treebank ports against real NLTK: conformance responses and their loose
variants, generated texts rich in the characters the rules and the two regex engines care about,
and hostile inputs that must stay linear."""

from __future__ import annotations

import json
import time
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_rewards import text as T
from raif_rewards.punkt_fast import FastPunkt
from raif_rewards.regex_compat import DIGIT, FOLD, SPACE, WORD, disagreements
from raif_rewards.treebank_fast import FastTreebank


@lru_cache(maxsize=1)
def _nltk():
    """NLTK's own tokenizers: Punkt with the English parameters, and nltk.word_tokenize's Treebank."""
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(T.punkt_tokenizer()._params), NLTKWordTokenizer()


def nltk_spans(text: str) -> list[tuple[int, int]]:
    return list(_nltk()[0].span_tokenize(text))


@lru_cache(maxsize=1 << 16)
def _nltk_words(sentence: str) -> tuple[str, ...]:
    return tuple(_nltk()[1].tokenize(sentence))


def nltk_words(sentence: str) -> list[str]:
    return list(_nltk_words(sentence))


def nltk_upper(sentence: str) -> int:
    return sum(1 for tok in nltk_words(sentence) if tok.isupper())


def _conformance_texts(conformance_dir) -> list[str]:
    responses = []
    for name in ("ifeval/input_response_data_gpt4_20231107_145030.jsonl", "ifbench/sample_output.jsonl"):
        for line in (conformance_dir / name).read_text(encoding="utf-8").splitlines():
            responses.append(json.loads(line)["response"])
    for name in ("ifeval/input_data.jsonl", "ifbench/IFBench_test.jsonl"):  # prompts: more text
        for line in (conformance_dir / name).read_text(encoding="utf-8").splitlines():
            responses.append(json.loads(line)["prompt"])
    return list(dict.fromkeys(v for r in responses for v in T.loose_variants(r)))


def test_ports_equal_nltk_on_conformance_texts(conformance_dir):
    texts = _conformance_texts(conformance_dir)
    fast_punkt, fast_treebank = FastPunkt(T.punkt_tokenizer()._params), FastTreebank()
    span_mismatch, word_mismatch, upper_mismatch = [], [], []
    sentences = set()
    for text in texts:
        spans = nltk_spans(text)
        if fast_punkt.span_tokenize(text) != spans:
            span_mismatch.append(text[:60])
        if T.count_sentences(text) != len(spans):
            span_mismatch.append(text[:60])
        sents = [text[s:e] for s, e in spans]
        sentences.update(sents)
        if T.count_upper_words(text) != sum(nltk_upper(s) for s in sents):
            upper_mismatch.append(text[:60])
    for sent in sentences:
        if fast_treebank.tokenize(sent) != nltk_words(sent):
            word_mismatch.append(sent[:60])
        if fast_treebank.count_upper(sent, T.may_have_upper_token) != nltk_upper(sent):
            upper_mismatch.append(sent[:60])
    assert len(texts) > 3500 and len(sentences) > 10000
    assert span_mismatch == [] and word_mismatch == [] and upper_mismatch == []


def test_word_tokenize_equals_nltk_on_a_conformance_sample(conformance_dir):
    for text in _conformance_texts(conformance_dir)[::40]:
        expected = [tok for s, e in nltk_spans(text) for tok in nltk_words(text[s:e])]
        assert T.word_tokenize(text) == expected
        assert T.view(text).nltk_words == expected


# Pieces that exercise Punkt's abbreviation, initial, number, ellipsis, collocation, ortho-context
# and realignment rules, Treebank's quote, clitic, contraction, bracket, dash and final-period
# rules, and characters that stdlib re and the regex engine class differently.
# fmt: off
_PIECES = [
    ".", ". ", "?", "!", "...", "..", ". . .", "?!", "\n", "\n\n", "  ", "\t", " ", ",", ":", ";",
    "Dr.", "Mr. Smith", "U.S.", "U.S.A.", "e.g.", "i.e.", "etc.", "vs.", "No.", "Jan.", "St.",
    "J. S. Bach", "A.", "a.", "x.", "3.5", "3.", "1.", "(1)", "-2.5.", "1,000.", "##number##",
    '"', "'", "''", "``", "`", "“", "”", "‘", "’", "«", "»", "„", "(", ")", "[", "]", "{", "}", "<", ">",
    "--", "-", "\u2013", "\u2014", "*", "**", "@", "#", "$", "%", "&",
    "n't", "DOn't", "CAN'T", "can't", "cannot", "CANNOT", "gonna", "Gimme", "wanna ", "lemme", "gotta",
    "d'ye", "more'n", " 'tis", " 'Twas", " 'TIS", "'s", "'S", "'ll", "'RE", "'ve", "'m", "'d",
    "I", "A", "OK", "USA", "NASA's", "AI", "Hello", "World", "THE END", "The", "the", "however",
    "É", "é", "ÉCOLE", "Ǆ", "ǅ", "ß", "ẞ", "İ", "ı", "K", "\u212a", "\u017f", "Σ", "ς", "\u03d2",
    "\u0301", "e\u0301", "E\u0301", "\u200d", "\ufe0f", "\u00a0", "\u2028", "\x1c", "\x1f", "²", "½", "٣",
    "漢字", "。", "！", "？", "「", "」", "😀", "\U0001d400",
]
# fmt: on
_TEXT = st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=30).map("".join) | st.lists(
    st.sampled_from(_PIECES), max_size=30
).map(" ".join)


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_punkt_port_equals_nltk(text):
    assert T.fast_punkt().span_tokenize(text) == nltk_spans(text)


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_treebank_port_equals_nltk(text):
    assert T.fast_treebank().tokenize(text) == nltk_words(text)


@settings(max_examples=1500, deadline=None)
@given(_TEXT)
def test_upper_count_equals_nltk(text):
    assert T.fast_treebank().count_upper(text, T.may_have_upper_token) == nltk_upper(text)
    assert T.count_upper_words(text) == sum(nltk_upper(text[s:e]) for s, e in nltk_spans(text))


# fmt: off
_WORDY = st.lists(
    st.sampled_from(["HELLO", "World", "I", "A.", "U.S.", "ok", '"', "'", ")", "]", "”", "’", ".", "!", "?",
                     " ", " ", " ", "\n", "can", "not", "CAN", "NOT", "'T", "is", "wan", "na", "DOn't", ":", ","]),
    max_size=25,
).map("".join)
# fmt: on


@settings(max_examples=1500, deadline=None)
@given(_WORDY)
def test_upper_count_collapse_equals_nltk_on_word_soup(text):
    """Words, closers and spaces only: the chunk collapse and the kept sentence tail."""
    assert T.fast_treebank().count_upper(text, T.may_have_upper_token) == nltk_upper(text)


def test_disagreeing_characters_are_detected():
    assert disagreements("Plain ASCII text.") == 0
    assert disagreements("caf\u00e9 漢字 \u00a0") == 0
    assert disagreements("e\u0301") & WORD  # a combining mark: \w for regex, not for re
    assert disagreements("a\x1cb") & SPACE
    assert disagreements("x\U00010d40") & DIGIT or disagreements("x\U00010d40") & WORD
    assert disagreements("\u212a") & FOLD  # KELVIN SIGN folds onto k


@pytest.mark.parametrize(
    "text",
    [
        "He said \u2018wait\u2019. Then e\u0301 left.",  # a combining mark: NLTK's own regexes run
        "Cafe\u0301 OK. NASA\u200d\u2019s VIEW!",
        "A\x1cB. C\x1dD.",  # stdlib \s holds U+001C, regex's does not
        "\u212aELVIN's . \u017fome 'tis CANNOT.",
        "x \u00b2. Y \u00bd. 'TIS fine.",
        "\ud800. A \udfff! \x00.\x1c B.",  # lone surrogates and control characters
    ],
)
def test_ports_equal_nltk_where_the_engines_disagree(text):
    spans = nltk_spans(text)
    assert T.fast_punkt().span_tokenize(text) == spans
    assert T.fast_treebank().tokenize(text) == nltk_words(text)
    assert T.count_upper_words(text) == sum(nltk_upper(text[s:e]) for s, e in spans)


_HOSTILE = [
    "a." * 40000,
    "a.(" * 30000,
    "." * 80000,
    ". " * 40000,
    "!" * 80000,
    "A" * 80000,
    "A " * 40000,
    "x" * 80000 + ".",
    "-" * 80000,
    "'" * 80000,
    '"' * 80000,
    ")" * 80000 + ".",
    "Word. " + ")" * 40000 + " " * 40000,
    "a" + " " * 80000 + "b",
    ". \n" * 30000,
    "U.S. " * 20000,
    "\u0301" * 80000 + ". A",
    "A.\u0301 " * 20000,
    ", :" * 30000,
    "'s " * 30000,
]


@pytest.mark.parametrize("text", _HOSTILE, ids=range(len(_HOSTILE)))
def test_hostile_texts_stay_linear(text):
    start = time.perf_counter()
    T.count_sentences(text)
    T.count_upper_words(text)
    T.fast_treebank().tokenize(text)
    T.fast_treebank().count_upper(text, T.may_have_upper_token)
    assert time.perf_counter() - start < 5.0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_features_never_raise(text):
    t = T.Text(text)
    assert t.sentence_count >= 0 and t.upper_word_count >= 0 and isinstance(t.nltk_words, list)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60) | st.text(max_size=30))
def test_word_count_equals_ifeval_word_regex(text):
    import re

    assert T.Text(text).word_count == len(re.findall(r"\w+", text))


@lru_cache(maxsize=1)
def _model_words() -> list[str]:
    """Words the English model knows: abbreviations, collocations (as "first. second"), sentence
    starters, initials and a slice of the orthographic-context table (what Punkt's second pass
    consults)."""
    params = T.punkt_tokenizer()._params
    words = sorted(params.abbrev_types)[::3] + sorted(params.sent_starters) + list("abjksxz")
    words += [f"{a}. {b}" for a, b in sorted(params.collocations)[::25]]
    words += sorted(params.ortho_context)[::300]
    return [w.replace("##number##", "12") for w in words]


_MODEL_TEXT = st.lists(
    st.tuples(
        st.sampled_from(_model_words()),
        st.sampled_from([str.lower, str.capitalize, str.upper, str.title]),
        st.sampled_from([". ", ".\n", " ", ", ", "? ", ".) ", '." ', "... "]),
    ).map(lambda t: t[1](t[0]) + t[2]),
    max_size=20,
).map("".join)


@settings(max_examples=800, deadline=None)
@given(_MODEL_TEXT)
def test_punkt_port_equals_nltk_on_model_words(text):
    """Abbreviations, initials, numbers, collocations and sentence starters around periods."""
    assert T.fast_punkt().span_tokenize(text) == nltk_spans(text)


@pytest.mark.parametrize(
    "text",
    [
        "a:\n",
        "A,\n",
        "Hi.\n",
        "OK. ) \n",
        'He said "NO."\n',
        "END ...",
        "A. B. C.",
        ".",
        "x.",
        " .",
        "'TIS.",
        "I.\t",
    ],
)
def test_treebank_end_rules_equal_nltk(text):
    """The final-period and final-colon rules ($ also matches before a trailing newline)."""
    assert T.fast_treebank().tokenize(text) == nltk_words(text)
    assert T.fast_treebank().count_upper(text, T.may_have_upper_token) == nltk_upper(text)


def test_stdlib_space_class_is_str_isspace():
    """The Treebank port normalises whitespace runs with str.split() where NLTK's rule is \\s+."""
    import re

    everything = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000)
    assert set(re.findall(r"\s", everything)) == {ch for ch in everything if ch.isspace()}


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_sentence_upper_bound_and_cjk_flag(text):
    import re

    assert T.sentence_count_upper_bound(text) == len(re.findall(r"[.?!]", text)) + 1 >= len(nltk_spans(text))
    assert T.has_cjk(text) == (T._CJK_RE.search(text) is not None)
