"""IFTrain (IFBench's 29 training constraints, open-instruct's IFEvalG ids): hand-computed verdicts per
checker, including the cases where this project deliberately differs from IFEvalG, and the source's
shape (29 ids, all sampled, none in the IFBench test set)."""

from __future__ import annotations

import random

import pytest

from raif_rewards import check, registry
from raif_rewards.checkers.ifbench_shared import IFBENCH_IDS
from raif_rewards.checkers.iftrain_shared import IFTRAIN_IDS, paragraphs

REQ = "Write a haiku about rain."

# (id, kwargs, response, expected) -- strict verdicts, each worked out by hand.
CASES = [
    # copy
    ("copy:copy", {"prompt_to_repeat": REQ}, "  write a HAIKU about rain.\n", True),
    ("copy:copy", {"prompt_to_repeat": REQ}, "Write a haiku about rain", False),
    ("copy:copying_simple", {"prompt_to_repeat": REQ}, REQ, True),
    ("copy:copying_simple", {"prompt_to_repeat": REQ}, REQ + " Rain falls softly.", False),
    ("copy:copying_multiple", {"prompt_to_repeat": REQ, "N": 2}, f"{REQ}\n******\n{REQ}", True),
    ("copy:copying_multiple", {"prompt_to_repeat": REQ, "N": 3}, f"{REQ}\n******\n{REQ}", False),
    ("copy:copying_multiple", {"prompt_to_repeat": REQ, "N": 2}, f"{REQ}\n*****\n{REQ}", False),
    # characters 6..12 of the request, both ends included ("W" is index 0)
    ("new:copy_span_idx", {"prompt_to_repeat": REQ, "n_start": 6, "n_end": 12}, "a haiku", True),
    # IFEvalG's [n_start:n_end] would want "a haik": the text says "including", so that fails here
    ("new:copy_span_idx", {"prompt_to_repeat": REQ, "n_start": 6, "n_end": 12}, "a haik", False),
    ("new:copy_span_idx", {"prompt_to_repeat": "短请求", "n_start": 5, "n_end": 9}, "短请求", False),
    (
        "copy:repeat_phrase",
        {"phrase": "Good friends make long roads feel short", "small_n": 2},
        "Good friends make long paths feel short. Then: Good pals make long roads feel short.",
        True,
    ),
    (  # the second copy changes two words
        "copy:repeat_phrase",
        {"phrase": "Good friends make long roads feel short", "small_n": 2},
        "Good friends make long paths feel short. Good pals make wide roads feel short.",
        False,
    ),
    (  # an unchanged copy does not count as transformed
        "copy:repeat_phrase",
        {"phrase": "Good friends make long roads feel short", "small_n": 1},
        "Good friends make long roads feel short.",
        False,
    ),
    # format
    ("detectable_format:sentence_hyphens", {}, "I like tea.-It is warm.-Rain falls.", True),
    ("detectable_format:sentence_hyphens", {}, "I like tea. - It is warm.", False),
    ("detectable_format:sentence_hyphens", {}, "A well-known fact.-Rain is wet.", False),
    ("detectable_format:square_brackets", {}, "[Rain] [falls,] [softly.]", True),
    ("detectable_format:square_brackets", {}, "[Rain] falls", False),
    ("detectable_format:square_brackets", {}, "", False),
    ("detectable_format:bigram_wrapping", {}, "<<I am>> <<at home>> <<with my>> <<cute dog>>", True),
    ("detectable_format:bigram_wrapping", {}, "<<I am>> <<at home>> alone", True),  # odd last token unchecked
    ("detectable_format:bigram_wrapping", {}, "<<I am at>> <<home>>", False),
    ("paragraphs:paragraphs", {}, "First part.\n***\nSecond part.", True),
    ("paragraphs:paragraphs", {}, "***\nFirst.\n***\nSecond.\n***", True),
    ("paragraphs:paragraphs", {}, "First.\n***\n\n***\nSecond.", False),
    ("paragraphs:paragraphs", {}, "One.\n***\nTwo.\n***\nThree.", False),
    ("paragraphs:paragraphs2", {}, "First paragraph.\n\nSecond paragraph.", True),
    ("paragraphs:paragraphs2", {}, "First.\nStill first.\n\nSecond.\n", True),
    ("paragraphs:paragraphs2", {}, "One.\n\nTwo.\n\nThree.", False),
    ("paragraphs:paragraphs2", {}, "第一段。\n\n第二段。", True),
    ("punctuation:punctuation_dot", {}, "No dots here, only commas!", True),
    ("punctuation:punctuation_dot", {}, "Pi is 3.14", False),
    ("punctuation:punctuation_exclamation", {}, "Calm. Quiet.", True),
    ("punctuation:punctuation_exclamation", {}, "Wow!", False),
    (
        "count:counting_composition",
        {"n_sent": 2, "n_words": 3},
        "I love rain. It is calm.\n***\nWe stay in. Tea is hot.\n***\nNight falls soon. Stars come out.",
        True,
    ),
    (  # "* * *" is not the divider the text names
        "count:counting_composition",
        {"n_sent": 2, "n_words": 3},
        "I love rain. It is calm.\n* * *\nWe stay in. Tea is hot.\n* * *\nNight falls soon. Stars come out.",
        False,
    ),
    (  # a four-word sentence in the last paragraph
        "count:counting_composition",
        {"n_sent": 2, "n_words": 3},
        "I love rain. It is calm.\n***\nWe stay in. Tea is hot.\n***\nNight falls very soon. Stars come out.",
        False,
    ),
    # words
    ("keywords:word_once", {"keyword": "river"}, "The River is wide.", True),
    ("keywords:word_once", {"keyword": "river"}, "A river, another river.", False),
    ("keywords:word_once", {"keyword": "river"}, "No water here.", False),
    ("keywords:word_once", {"keyword": "河流"}, "这条河流很长。", True),
    (
        "keywords:word_count_different_numbers",
        {"keyword": "tea", "frequency": 2, "relation": "at least"},
        "Tea and more tea.",
        True,
    ),
    (
        "keywords:word_count_different_numbers",
        {"keyword": "tea", "frequency": 2, "relation": "less than"},
        "Tea and more tea.",
        False,
    ),
    (
        "keywords:word_count_different_numbers",
        {"keyword": "茶叶", "frequency": 2, "relation": "至少"},
        "茶叶好，茶叶香。",
        True,
    ),
    ("keywords:exclude_word_harder", {"keyword": "river"}, "We walked along the bank.", True),
    # IFEvalG looks for " river " only: both of these passed there though the text forbids the word
    ("keywords:exclude_word_harder", {"keyword": "river"}, "We saw the river.", False),
    ("keywords:exclude_word_harder", {"keyword": "river"}, "River banks are green", False),
    ("keywords:exclude_word_harder", {"keyword": "river"}, "Rivers and riverside paths", True),
    ("keywords:exclude_word_harder", {"keyword": "河流"}, "这条河流很长。", False),
    ("keywords:no_adjacent_consecutive", {}, "Cats eat good fish", True),
    ("keywords:no_adjacent_consecutive", {}, "A big dog", False),  # a -> b
    ("keywords:no_adjacent_consecutive", {}, "Zebras eat apples", True),  # z -> e, e -> a
    ("keywords:palindrome", {}, "We saw a racecar today.", True),
    ("keywords:palindrome", {}, "Level, said Anna.", True),
    ("keywords:palindrome", {}, "I saw a dog.", False),  # "I" and "a" are too short to count
    (
        "keywords:keyword_specific_position",
        {"keyword": "rain", "n": 2, "m": 3},
        "It is cold. I love rain so much.",
        True,
    ),
    (
        "keywords:keyword_specific_position",
        {"keyword": "rain", "n": 2, "m": 1},
        "It is cold. Rain, again, falls.",
        True,
    ),  # case and the comma token do not matter here
    (
        "keywords:keyword_specific_position",
        {"keyword": "rain", "n": 2, "m": 3},
        "It is cold. I love the rain.",
        False,
    ),
    ("keywords:keyword_specific_position", {"keyword": "rain", "n": 3, "m": 1}, "Rain. Rain.", False),
    ("keywords:start_end", {}, "Rain falls on the quiet town, rain", True),
    ("keywords:start_end", {}, "Rain falls on the quiet town, rain.", False),
    ("keywords:start_end", {}, "Rain", False),
    ("first_word:first_word_sent", {"first_word": "river"}, "River, wide and slow. River runs on.", True),
    ("first_word:first_word_sent", {"first_word": "river"}, "River runs. The sea waits.", False),
    ("first_word:first_word_answer", {"first_word": "river"}, "  River: a long story.", True),
    ("first_word:first_word_answer", {"first_word": "river"}, "The river.", False),
    ("last_word:last_word_sent", {"last_word": "home"}, "I walk home. We all go home!", True),
    ("last_word:last_word_sent", {"last_word": "home"}, "I walk home. We stay.", False),
    ("last_word:last_word_answer", {"last_word": "home"}, "At last we are HOME.", True),
    ("last_word:last_word_answer", {"last_word": "home"}, "Home is far.", False),
    ("last_word:last_word_answer", {"last_word": "home"}, "   ", False),
    ("count:lowercase_counting", {"N": 2}, "THE rain IS falls", True),  # rain, falls: 2
    ("count:lowercase_counting", {"N": 2}, "the rain is here", False),
    ("count:count_unique", {}, "Rain falls. Birds sing.", True),  # two full stops are not repeated words
    ("count:count_unique", {}, "The cat saw the dog", False),  # "The" and "the"
    (
        "count:count_increment_word",
        {"keyword1": "sun", "keyword2": "moon"},
        "Sun, moon and another moon.",
        True,
    ),
    ("count:count_increment_word", {"keyword1": "sun", "keyword2": "moon"}, "Sun and moon.", False),
    ("letters:letter_counting", {"N": 5, "relation": "at least"}, "ab cd 123 e", True),
    ("letters:letter_counting", {"N": 5, "relation": "less than"}, "ab cd 123 e", False),
    ("letters:letter_counting", {"N": 5, "relation": "less than"}, "ab 12 c", True),
    (
        "letters:letter_counting2",
        {"letter": "e", "let_frequency": 3, "let_relation": "at least"},
        "Eve sees",
        True,
    ),
    (
        "letters:letter_counting2",
        {"letter": "e", "let_frequency": 3, "let_relation": "less than"},
        "Eve",
        True,
    ),
    (
        "letters:letter_counting2",
        {"letter": "e", "let_frequency": 2, "let_relation": "less than"},
        "Eve",
        False,
    ),
]


@pytest.mark.parametrize(("cid", "kwargs", "response", "expected"), CASES)
def test_iftrain_verdicts(cid, kwargs, response, expected):
    assert check(cid, response, kwargs) is expected


def test_every_iftrain_checker_has_cases_both_ways():
    verdicts: dict[str, set[bool]] = {}
    for cid, _, _, expected in CASES:
        verdicts.setdefault(cid, set()).add(expected)
    assert set(verdicts) == set(IFTRAIN_IDS)
    one_sided = [cid for cid, seen in verdicts.items() if seen != {True, False}]
    assert not one_sided, one_sided


def test_source_is_ifbenchs_training_set():
    ids = registry.ids("iftrain")
    assert sorted(ids) == sorted(IFTRAIN_IDS) and len(ids) == 29
    assert not set(ids) & set(IFBENCH_IDS)  # train and test constraints are disjoint
    for cid in ids:
        checker = registry.get(cid)
        assert checker.sampler is not None and checker.version >= 1
        assert len(checker.templates["en"]) >= 3, f"{cid}: several English phrasings"


def test_ifevalg_argument_names_validate():
    # Ground truths of open-instruct's IF-RLVR data use these argument names.
    assert registry.validate_kwargs("copy:copying_multiple", {"prompt_to_repeat": "x", "N": 2})
    assert registry.validate_kwargs(
        "letters:letter_counting2", {"letter": "a", "let_frequency": 3, "let_relation": "less than"}
    )
    assert registry.validate_kwargs("keywords:keyword_specific_position", {"keyword": "k", "n": 2, "m": 4})


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sampled_keyword_pairs_do_not_contain_each_other(lang):
    checker = registry.get("count:count_increment_word")
    for seed in range(300):
        kw = checker.sample(random.Random(seed), lang)
        assert kw["keyword1"] not in kw["keyword2"] and kw["keyword2"] not in kw["keyword1"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\n***\nb", ["a", "b"]),
        ("***a***b***", ["a", "b"]),
        ("a\n***\n \n***\nb", None),
        ("", []),
        ("x", ["x"]),
    ],
)
def test_divider_paragraphs(raw, expected):
    got = paragraphs(raw)
    assert (None if got is None else [p.strip() for p in got]) == expected


def test_counts_stored_as_floats_render_as_integers():
    # open-instruct's data stores counts as 58.0; an instruction says "58"
    checker = registry.get("letters:letter_counting")
    assert checker.render({"N": 58.0, "relation": "at least"}, "en", 0) == "Answer with at least 58 letters."
    assert "58.0" not in checker.render({"N": 58.0, "relation": "less than"}, "en", 4)
