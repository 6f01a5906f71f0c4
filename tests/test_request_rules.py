"""Request-dependent rules that close the traps found by reading evolved rows: constraints that do not
suit a request are not drawn for it, conflicts that depend on the request's text are decided on that
text, spans to copy lie inside the request, and "at the end of your response" stays in the last step."""

from __future__ import annotations

import inspect
import random

import pytest

from raif_data import tasks
from raif_data.defects import known_traps
from raif_data.instruct import build_pool, compose_instruction, for_request, make_leaf
from raif_data.recipe import InstructConfig
from raif_data.seeds import Seed
from raif_rewards import compose, registry
from raif_rewards.registry import SINGLE_ANSWER_KINDS
from raif_rewards.text import view


def Request(text: str, lang: str = "en", task_type: str = "general") -> registry.Request:
    return tasks.request(text, lang, task_type)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Is coffee bad for your heart?", "en", True),
        ("Should I learn Rust before C++?", "en", True),
        ("Should companies publish salaries? Weigh both sides.", "en", False),
        ("What are the strengths of GDP as a measure?", "en", False),
        ("Write a poem about rain.", "en", False),
        ("喝咖啡对心脏有害吗？", "zh", True),
        ("请介绍一下长城。", "zh", False),
        ("如何提高写作能力？", "zh", False),
    ],
)
def test_yes_no_question(text, lang, expected):
    # one reading of the request's kinds for drawing and for the trap detectors (raif_data.tasks)
    assert ("yes_no" in tasks.request_kinds(text, lang, "general")) is expected


def test_request_kinds_from_text_and_task_type():
    assert "code" in tasks.request_kinds("Write a Python function that reverses a list.", "en", "writing")
    assert "code" in tasks.request_kinds("Anything at all", "en", "coding")
    assert "code" not in tasks.request_kinds("Write a cover letter for a nurse.", "en", "writing")
    assert tasks.request_kinds("Extract the dates.", "en", "extraction") & SINGLE_ANSWER_KINDS
    assert not tasks.request_kinds("Write a poem.", "en", "creative") & SINGLE_ANSWER_KINDS
    # a seed without a task type gets the heuristic's (raif_data.seeds), which reads a classification
    assert tasks.classify("Classify each review as positive or negative.", "en") == "classification"
    assert Request("Anything", "en", "coding").task_type == "code"  # the registry's kind, canonicalised


def _ids_drawn(seed: Seed, sources=("ifeval", "raif"), n=600) -> list[list[str]]:
    cfg = InstructConfig(sources=list(sources))
    return [compose_instruction(random.Random(i), seed, cfg).constraint_ids for i in range(n)]


def test_unsuitable_constraints_are_never_drawn_for_the_request():
    code = Seed("c", "Write a Python function that merges two sorted lists, in linear time.", "en", "coding")
    drawn = {cid for ids in _ids_drawn(code) for cid in ids}
    assert not drawn & {"change_case:english_capital", "change_case:english_lowercase",
                        "detectable_format:constrained_response", "punctuation:no_comma"}
    assert "combination:repeat_prompt" in drawn
    # the request has a comma: repeating it and "no commas" never meet (a conflict on the request's text)
    trip = Seed("t", "Plan a weekend in Rome, Paris or Berlin for two friends.", "en", "planning")
    trip_ids = _ids_drawn(trip)
    drawn = {cid for ids in trip_ids for cid in ids}
    assert "punctuation:no_comma" in drawn and "combination:repeat_prompt" in drawn
    assert all(not {"punctuation:no_comma", "combination:repeat_prompt"} <= set(ids) for ids in trip_ids)
    question = Seed("q", "Is it safe to swim right after eating?", "en", "qa")
    drawn = {cid for ids in _ids_drawn(question) for cid in ids}
    assert "detectable_format:constrained_response" in drawn and "combination:two_responses" not in drawn
    # IFTrain: no bracketed, paired or hyphen-joined code, no dots or "!" banned in it
    drawn = {cid for ids in _ids_drawn(code, ("iftrain",)) for cid in ids}
    assert not drawn & {"detectable_format:square_brackets", "detectable_format:bigram_wrapping",
                        "detectable_format:sentence_hyphens", "punctuation:punctuation_dot",
                        "punctuation:punctuation_exclamation", "count:count_unique", "keywords:no_adjacent_consecutive"}
    assert {"keywords:word_once", "copy:copy", "paragraphs:paragraphs"} <= drawn
    drawn = {cid for ids in _ids_drawn(question, ("iftrain",)) for cid in ids}
    assert not drawn & {"count:counting_composition", "letters:letter_counting2", "paragraphs:paragraphs"}


@pytest.mark.parametrize(
    ("cid", "breaking", "harmless"),
    [
        ("punctuation:punctuation_dot", "Plan a trip. Keep it cheap", "Plan a cheap trip"),
        ("punctuation:punctuation_exclamation", "Plan a trip now!", "Plan a trip now"),
        ("count:count_unique", "Plan a trip and a party", "Plan one cheap trip"),
        ("keywords:no_adjacent_consecutive", "Plan a big cat show", "Plan one trip"),
        ("count:lowercase_counting", "Plan a cheap trip for me", "Plan A Trip"),
        ("paragraphs:paragraphs2", "Plan a trip.\n\nKeep it cheap.", "Plan a trip.\nKeep it cheap."),
    ],
)
def test_iftrain_rules_the_request_text_breaks_never_meet_a_repeated_request(cid, breaking, harmless):
    """Repeating a request that has a dot with "no dots" (or a repeated word with "unique words", ...)
    cannot hold: the conflict is decided on the request's text, both ways, and only for that text."""
    pool = build_pool(("ifeval", "iftrain"), "en", (), ())
    hit = for_request(pool, Request(breaking, "en", "planning"))
    assert "combination:repeat_prompt" in hit.conflicts[cid] and cid in hit.conflicts["combination:repeat_prompt"]
    assert "combination:repeat_prompt" not in for_request(pool, Request(harmless, "en", "planning")).conflicts[cid]
    if cid == "paragraphs:paragraphs2":
        return  # two paragraphs already: the answer after them would be a third
    checker = registry.get(cid)
    kw = {"N": 3} if cid == "count:lowercase_counting" else {}
    # the checker itself agrees: the copied request alone already breaks the rule (or not)
    assert not checker.fn(view(breaking), **kw) and checker.fn(view(harmless), **kw)


def test_iftrain_words_of_the_request_are_never_counted_against_a_repeated_request():
    # "faucet" exactly once, drawn from the request, cannot hold once the request is copied in
    for cid in ("keywords:word_once", "count:count_increment_word", "first_word:first_word_answer",
                "first_word:first_word_sent", "last_word:last_word_sent", "keywords:keyword_specific_position"):
        assert "combination:repeat_prompt" in registry.conflicts_of(cid), cid


def test_long_requests_are_copied_twice_at_most():
    c = registry.get("copy:copying_multiple")
    long = Seed("l", "Plan a weekend trip for two friends on a small budget, with trains only. " * 10, "en", "planning")
    short = Seed("s", "Plan a weekend trip.", "en", "planning")
    assert all(make_leaf(random.Random(i), c, long).kwargs["N"] == 2 for i in range(100))
    assert {make_leaf(random.Random(i), c, short).kwargs["N"] for i in range(100)} == {2, 3, 4}


def test_request_conflicts_are_symmetric_and_only_for_that_request():
    pool = build_pool(("ifeval",), "en", (), ())
    with_comma = for_request(pool, Request("Plan a trip to Rome, Paris and Berlin.", "en", "planning"))
    without = for_request(pool, Request("Plan a trip to Rome.", "en", "planning"))
    assert "punctuation:no_comma" in with_comma.conflicts["combination:repeat_prompt"]
    assert "combination:repeat_prompt" in with_comma.conflicts["punctuation:no_comma"]
    assert "punctuation:no_comma" not in without.conflicts["combination:repeat_prompt"]


def test_long_word_counts_are_not_asked_of_a_short_answer_task():
    c = registry.get("length_constraints:number_words")
    # a classification is never given a word count (task kinds); an extraction only a short one (request_ok)
    assert "classification" in c.avoids
    assert c.id not in {x.id for x in build_pool(("ifeval",), "en", (), (), frozenset({"classification"})).all}
    seed = Seed("k", "Extract every date from this text: May 1, June 3 and July 9.", "en", "extraction")
    kws = [make_leaf(random.Random(i), c, seed).kwargs for i in range(300)]
    assert all(kw["relation"] == "less than" or kw["num_words"] <= 100 for kw in kws)
    assert any(kw["relation"] == "at least" for kw in kws)  # short "at least" counts are still drawn
    # the same draws for a writing task do ask for long answers (the rule is the task's, not the checker's)
    other = [make_leaf(random.Random(i), c, Seed("w", seed.prompt, "en", "writing")).kwargs for i in range(300)]
    assert any(kw["relation"] == "at least" and kw["num_words"] > 100 for kw in other)


@pytest.mark.parametrize("cid", ["repeat:repeat_span", "new:copy_span_idx"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_repeat_spans_are_whole_words_inside_the_request(lang, cid):
    prompt = ("Describe the old lighthouse keeper's daily routine on a stormy island." if lang == "en"
              else "描述一下老灯塔看守人在暴风雨小岛上的日常生活，以及他的心情。")
    seed = Seed("s", prompt, lang, "creative")
    c = registry.get(cid)
    for i in range(200):
        kw = make_leaf(random.Random(i), c, seed).kwargs
        span = prompt[kw["n_start"]: kw["n_end"] + 1]
        assert span.strip() and span == span.strip()
        truth = compose.RuleTruth(compose.check(cid, **kw), lang)
        assert known_traps(truth, Request(prompt, lang)) == []


def test_postscript_never_in_a_step_before_the_last():
    seed = Seed("p", "Write a short story about a lost umbrella.", "en", "creative")
    cfg = InstructConfig(sources=["ifeval"], compositions={"chain": 1.0}, min_constraints=3, max_constraints=4)
    seen_last = False
    for i in range(800):
        ins = compose_instruction(random.Random(i), seed, cfg)
        tree = ins.truth.tree
        if not isinstance(tree, compose.Chain):
            continue
        for k, step in enumerate(tree.steps):
            ids = {leaf.id for leaf in _leaves(step)}
            if "detectable_content:postscript" in ids:
                assert k == len(tree.steps) - 1
                seen_last = True
    assert seen_last


def _leaves(node):
    if isinstance(node, compose.Check):
        return [node]
    kids = getattr(node, "children", None) or getattr(node, "steps", None) or node.branches
    return [leaf for kid in kids for leaf in _leaves(kid)]


def test_declared_conflicts_and_languages_for_the_traps():
    assert "length_constraints:nth_paragraph_first_word" in registry.conflicts_of("detectable_format:title")
    for rid in ("repeat:repeat_span", "repeat:repeat_change", "repeat:repeat_simple"):
        assert rid in registry.conflicts_of("detectable_format:xml_format")
    assert "zh" not in registry.get("keywords:letter_frequency").languages


def _gt(*checks, lang="en", chain=None):
    leaves = [compose.check(cid, **kw) for cid, kw in checks]
    tree = compose.and_(*leaves) if chain is None else compose.chain(*chain)
    return compose.RuleTruth(tree, lang)


@pytest.mark.parametrize(
    ("truth", "request_text", "lang", "task", "trap"),
    [
        (_gt(("combination:repeat_prompt", {"prompt_to_repeat": "Plan a trip, please."}), ("punctuation:no_comma", {})),
         "Plan a trip, please.", "en", "planning", "repeat_request_with_comma+no_comma"),
        (_gt(("repeat:repeat_span", {"prompt_to_repeat": "Plan a trip.", "n_start": 0, "n_end": 10}),
             ("detectable_format:xml_format", {})), "Plan a trip.", "en", "planning", "repeat+xml_wrapper"),
        (_gt(("repeat:repeat_span", {"prompt_to_repeat": "Plan a trip.", "n_start": 40, "n_end": 50})),
         "Plan a trip.", "en", "planning", "repeat_span_empty_or_cut"),
        (_gt(chain=[compose.check("detectable_content:postscript", postscript_marker="P.S."),
                    compose.check("punctuation:no_comma")]),
         "Write a story.", "en", "creative", "postscript_in_non_final_step"),
        (_gt(("detectable_format:title", {}),
             ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "sun"})),
         "Write a story.", "en", "creative", "title+paragraph_first_word"),
        (_gt(("detectable_format:constrained_response", {})), "Write a story.", "en", "creative",
         "yes_no_answer_to_non_yes_no_request"),
        (_gt(("change_case:english_capital", {})), "Write a Python function.", "en", "coding", "whole_case_on_code"),
        (_gt(("keywords:letter_frequency", {"letter": "a", "let_frequency": 3, "let_relation": "至少"}), lang="zh"),
         "写一首诗。", "zh", "creative", "latin_letters_in_chinese_answer"),
        (_gt(("combination:two_responses", {})), "Extract the dates.", "en", "extraction",
         "two_responses_to_single_answer_task"),
        (_gt(("length_constraints:number_words", {"num_words": 300, "relation": "at least"})),
         "Classify this review.", "en", "classification", "long_answer_for_short_answer_task"),
        # IFTrain
        (_gt(("new:copy_span_idx", {"prompt_to_repeat": "Plan a trip.", "n_start": 2, "n_end": 5})),
         "Plan a trip.", "en", "planning", "repeat_span_empty_or_cut"),
        (_gt(("detectable_format:square_brackets", {})), "Write a Python function.", "en", "coding",
         "word_shape_rule_on_code"),
        (_gt(("count:count_unique", {})), "Fix this bug: x = 1/0", "en", "general", "word_shape_rule_on_code"),
        (_gt(("punctuation:punctuation_dot", {})), "Write a Python function.", "en", "coding", "no_dot_on_code"),
        (_gt(("punctuation:punctuation_exclamation", {})), "Write a SQL query.", "en", "writing",
         "no_exclamation_on_code"),
        (_gt(("combination:repeat_prompt", {"prompt_to_repeat": "Plan a trip."}), ("punctuation:punctuation_dot", {})),
         "Plan a trip.", "en", "planning", "repeat_request_with_dot+no_dot"),
        (_gt(("combination:repeat_prompt", {"prompt_to_repeat": "Plan a trip!"}),
             ("punctuation:punctuation_exclamation", {})),
         "Plan a trip!", "en", "planning", "repeat_request_with_exclamation+no_exclamation"),
    ],
)
def test_known_trap_detectors(truth, request_text, lang, task, trap):
    assert known_traps(truth, Request(request_text, lang, task)) == [trap]


def test_task_fit_is_one_declarative_mechanism():
    # task fit is the kinds a checker suits or avoids; request_ok is only the kwargs-dependent rest
    # (both branches once named a field "suits": a dataclass keeps the later one silently)
    assert "suits" not in inspect.signature(registry.register).parameters
    for c in registry.all_checkers():
        assert isinstance(c.suits, frozenset) and isinstance(c.avoids, frozenset), c.id
        assert c.suits | c.avoids <= set(registry.TASK_KINDS), c.id
    assert registry.get("length_constraints:number_words").request_ok is not None
    assert registry.get("detectable_format:constrained_response").suits == {"yes_no"}
