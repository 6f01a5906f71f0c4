"""Per-checker cases for the IFEval constraints, including the counting rules the official code defines."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_rewards import check
from raif_rewards.checkers.content import count_placeholders
from raif_rewards.checkers.format import count_bullets, has_title
from raif_rewards.text import Text, loose_variants

AL, LT = "at least", "less than"

CASES = [
    # (id, kwargs, response, expected)
    ("keywords:existence", {"keywords": ["river", "Moon"]}, "The RIVER under the moon.", True),
    ("keywords:existence", {"keywords": ["river", "moon"]}, "The river at noon.", False),
    ("keywords:existence", {"keywords": ["riv"]}, "rivers", True),  # substring, as IFEval
    ("keywords:frequency", {"keyword": "cat", "frequency": 3, "relation": AL}, "cat Cat CAT", True),
    ("keywords:frequency", {"keyword": "cat", "frequency": 3, "relation": LT}, "cat Cat CAT", False),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "至少"}, "cat cat", True),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "concatenate", True),  # whole words only
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "a Cat.", False),
    ("keywords:letter_frequency", {"letter": "A", "let_frequency": 3, "let_relation": AL}, "aAa", True),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 1, "let_relation": LT}, "no such letter", True),
    ("length_constraints:number_words", {"num_words": 3, "relation": AL}, "one, two-three", True),
    ("length_constraints:number_words", {"num_words": 3, "relation": LT}, "one two three", False),
    ("length_constraints:number_words", {"num_words": 10, "relation": "至少"}, "我今天非常高兴见到你们", True),
    ("length_constraints:number_words", {"num_words": 5, "relation": "少于"}, "我今天非常高兴见到你们", False),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": AL}, "Dr. Smith came. He left.", True),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": LT}, "Mr. Brown is here.", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "至少"}, "你好。我很好！你呢？", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "one\n***\ntwo", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "***\none\n***\ntwo\n***", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "one\n***\n\n***\ntwo", False),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Then"},
        "First part.\n\n\"Then, second.",
        True,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "then"},
        "a\n\nthen b",
        False,
    ),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] at [address]", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name\n] [x]", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\np. s. later", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nPPS later", False),
    ("detectable_content:postscript", {"postscript_marker": "Note:"}, "Body\nNOTE: x", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n- b\n** not", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "text\n  * indented", True),
    ("detectable_format:constrained_response", {}, "Well... My answer is maybe.", True),
    ("detectable_format:constrained_response", {}, "my answer is yes", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "** ** and * *", False),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}, "Section 1\na\nSection 2\nb", True),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2}, "SECTION 1 only", False),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True),
    ("detectable_format:json_format", {}, "{'a': 1}", False),
    ("detectable_format:json_format", {}, "[" * 100000 + "]" * 100000, False),  # too deep: no crash
    ("detectable_format:xml_format", {}, "```xml\n<a><b x='1'>t</b></a>\n```", True),
    ("detectable_format:xml_format", {}, "<a><b></a>", False),
    ("detectable_format:xml_format", {}, '<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', False),
    ("detectable_format:title", {}, "<<My Title>>\nbody", True),
    ("detectable_format:title", {}, "<< >> and <<\n>>", False),
    ("combination:two_responses", {}, "first\n******\nsecond", True),
    ("combination:two_responses", {}, "same\n******\nsame", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "  write a POEM. Here it is", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "Sure! Write a poem.", False),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Text. any other questions?"', True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Any other questions? Bye", False),
    ("startend:quotation", {}, '  "quoted"  ', True),
    ("startend:quotation", {}, '"', False),
    ("change_case:english_capital", {}, "THIS IS AN ENGLISH SENTENCE ABOUT THE WEATHER TODAY.", True),
    ("change_case:english_capital", {}, "THIS IS MOSTLY upper", False),
    ("change_case:english_lowercase", {}, "this is an english sentence about the weather today.", True),
    ("change_case:english_lowercase", {}, "ceci est une phrase en français sur la météo du jour.", False),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": AL}, "NASA and ESA-like FBI", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": LT}, "NASA and FBI", False),
    ("punctuation:no_comma", {}, "no commas, here", False),
    ("punctuation:no_comma", {}, "中文逗号，不算", True),
    ("punctuation:no_comma", {"include_fullwidth": True}, "中文逗号，算", False),
    ("language:response_language", {"language": "fr"}, "Bonjour, je suis très heureux de vous voir aujourd'hui.", True),
    ("language:response_language", {"language": "zh"}, "今天天气很好，我们一起去公园散步吧。", True),
    ("language:response_language", {"language": "de"}, "This answer is written in English, not German.", False),
]


@pytest.mark.parametrize("cid,kwargs,response,expected", CASES)
def test_checker_case(cid, kwargs, response, expected):
    assert check(cid, response, kwargs) is expected


def test_blank_response_follows_nothing():
    assert not check("punctuation:no_comma", "   \n")
    assert not check("punctuation:no_comma", "", loose=True)


def test_loose_accepts_variants():
    response = "Sure, here you go:\nall lowercase text here about the weather today and tomorrow."
    assert not check("punctuation:no_comma", response)
    assert check("punctuation:no_comma", response, loose=True)
    assert len(loose_variants(response)) == 8


def test_cjk_word_count_counts_characters():
    t = Text("我爱北京 and Tokyo")
    assert t.word_count == 3  # IFEval's \w+ runs: "我爱北京", "and", "Tokyo"
    assert t.cjk_word_count == 6


# --- linear scans are the official regexes, exactly -------------------------------------------------

_ALPHABET = st.text(alphabet=list("*-<>[] \n\tab\x0b\u00a0"), max_size=60)


@settings(max_examples=400, deadline=None)
@given(_ALPHABET)
def test_bullet_scan_equals_official_regex(text):
    official = len(re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)) + len(
        re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
    )
    assert count_bullets(text) == official


@settings(max_examples=400, deadline=None)
@given(_ALPHABET)
def test_placeholder_scan_equals_official_regex(text):
    assert count_placeholders(text) == len(re.findall(r"\[.*?\]", text))


@settings(max_examples=400, deadline=None)
@given(_ALPHABET)
def test_title_scan_equals_official_regex(text):
    official = any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))
    assert has_title(text) == official


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=list("pPsS. \n\tx"), max_size=40))
def test_postscript_equals_official_regex(text):
    for marker, pattern in (("P.S.", r"\s*p\.\s?s\..*$"), ("P.P.S", r"\s*p\.\s?p\.\s?s.*$")):
        official = bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))
        assert check("detectable_content:postscript", text, {"postscript_marker": marker}) == (
            official and bool(text.strip())
        )


ADVERSARIAL = ["<" * 200_000, "\n" * 200_000, " " * 200_000, "[" * 200_000, "*a" * 100_000, "-\n " * 70_000]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda s: repr(s[:4]))
def test_no_catastrophic_backtracking(text):
    """The official regexes take hours on these (quadratic); the checks must finish at once.
    The bound is generous (a correctness guard, not a speed target)."""
    start = time.perf_counter()
    for cid, kw in [
        ("detectable_format:number_bullet_lists", {"num_bullets": 1}),
        ("detectable_format:title", {}),
        ("detectable_content:number_placeholders", {"num_placeholders": 1}),
        ("detectable_content:postscript", {"postscript_marker": "P.S."}),
        ("detectable_format:number_highlighted_sections", {"num_highlights": 1}),
    ]:
        check(cid, text, kw, loose=True)
    assert time.perf_counter() - start < 20


_CASE_TEXT = st.text(alphabet=list("aAbBcCnNtTiIoO ..,'’\"-!?()É é\u01c5xX"), max_size=40)
_CASE_PIECES = ["can", "not", "gon", "na", "I", "n't", "'s", "Can", "NOT", "U.S.", "D'ye", "Gimme", "GIMme", "CANnot",
                "Hello", "É", "é", "ǅ", "x", "(A)", "--", '"Q"', ".", "!", " ", "wanna", "WANna", "Lemme", "gotta",
                "An't", "DOn't", "Én't", " 'Tis", " 'Twas", "'É", "N'T", "whaTcha"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_CASE_PIECES) | _CASE_TEXT, max_size=12).map("".join))
def test_upper_token_shortcut_is_exact(text):
    from raif_rewards.text import may_have_upper_token, treebank_tokenizer

    count = sum(1 for tok in treebank_tokenizer().tokenize(text) if tok.isupper())
    if not may_have_upper_token(text):
        assert count == 0


@pytest.mark.parametrize("text,upper", [("An't go", 1), ("DOn't stop", 1), ("He said 'Tis fine", 0), ("Hello There", 0)])
def test_upper_token_known_splits(text, upper):
    from raif_rewards.text import count_upper_words

    assert count_upper_words(text) == upper


def test_upper_word_count_equals_word_tokenize_on_conformance_texts(conformance_dir):
    import json

    from raif_rewards.text import count_upper_words, word_tokenize

    path = conformance_dir / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"
    texts = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        texts.update(loose_variants(json.loads(line)["response"]))
    mismatched = [t[:50] for t in texts if count_upper_words(t) != sum(w.isupper() for w in word_tokenize(t))]
    assert len(texts) > 2000 and mismatched == []
