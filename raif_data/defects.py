"""Hard defects of an evolved row: instructions nobody can satisfy, or whose correct reading fails the
reward (the traps found by reading rows, each with a named detector), and whether the row has a
verified witness (an answer that earns the full reward), for ``raif-data stats``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from raif_data import tasks
from raif_rewards.checkers._common import has_comma
from raif_rewards.compose import And, Chain, Check, Node, RuleTruth, Selection, parse_ground_truth
from raif_rewards.registry import AT_LEAST, SHORT_ANSWER_KINDS, SINGLE_ANSWER_KINDS, Request
from raif_rewards.witness import compose_witness

_REPEATS = ("repeat:repeat_span", "repeat:repeat_change", "repeat:repeat_simple")
_SPANS = ("repeat:repeat_span", "new:copy_span_idx")
# IFTrain rules that working code cannot follow: every token bracketed or paired in << >>, no token
# twice, sentences as the unit (first/last words, counts, hyphens between them), banned initials
_SHAPES_BREAKING_CODE = frozenset({
    "detectable_format:square_brackets", "detectable_format:bigram_wrapping", "detectable_format:sentence_hyphens",
    "count:count_unique", "count:counting_composition", "keywords:no_adjacent_consecutive",
    "first_word:first_word_sent", "last_word:last_word_sent",
})
# IFTrain bans of a character that code needs (attribute access, decimals; "!=" and negation) and that a
# copied request may hold
_MARK_BANS = {"punctuation:punctuation_dot": (".", "dot"), "punctuation:punctuation_exclamation": ("!", "exclamation")}
_ALNUM = re.compile(r"\w")


def scopes(node: Node, in_step: tuple[int, int] | None = None) -> Iterator[tuple[list[Check], tuple[int, int] | None]]:
    """Each group of checks that apply to one text (a whole answer or one chain step), with the step
    (index, count) it belongs to; selection branches that do not apply are skipped."""
    here: list[Check] = []
    nested: list[tuple[list[Check], tuple[int, int] | None]] = []

    def walk(n: Node) -> None:
        if isinstance(n, Check):
            here.append(n)
        elif isinstance(n, And):
            for child in n.children:
                walk(child)
        elif isinstance(n, Selection):
            walk(n.branches[n.active])
        elif isinstance(n, Chain):
            for i, step in enumerate(n.steps):
                nested.extend(scopes(step, (i, len(n.steps))))

    walk(node)
    yield here, in_step
    yield from nested


def _span_broken(kw: dict) -> bool:
    text, start, end = kw["prompt_to_repeat"], int(kw["n_start"]), int(kw["n_end"])
    span = text[start:end + 1]
    if not span.strip():
        return True
    cut_left = start > 0 and start < len(text) and _ALNUM.match(text[start - 1]) and _ALNUM.match(text[start])
    cut_right = end + 1 < len(text) and _ALNUM.match(text[end]) and _ALNUM.match(text[end + 1])
    return bool(cut_left or cut_right) and not any("\u4e00" <= ch <= "\u9fff" for ch in span)


def known_traps(truth: RuleTruth, req: Request) -> list[str]:
    """Names of the known traps in ``truth`` asked of request ``req`` (see docs/data.md).

    The request's kinds are read as the generator reads them (:func:`raif_data.tasks.request_kinds`),
    so a detector fires when a declaration (``suits``/``avoids``, ``request_ok``) stops covering a trap."""
    kinds = tasks.request_kinds(req.text, req.lang, req.task_type)
    found: list[str] = []
    for checks, step in scopes(truth.tree):
        ids = {c.id for c in checks}
        if "combination:repeat_prompt" in ids and "punctuation:no_comma" in ids and has_comma(req.text):
            found.append("repeat_request_with_comma+no_comma")
        if "combination:repeat_prompt" in ids:
            for cid, (mark, name) in _MARK_BANS.items():
                if cid in ids and mark in req.text:  # the copied request brings the banned mark
                    found.append(f"repeat_request_with_{name}+no_{name}")
        if "detectable_format:xml_format" in ids and ids & set(_REPEATS):
            found.append("repeat+xml_wrapper")
        if "detectable_format:title" in ids and "length_constraints:nth_paragraph_first_word" in ids:
            found.append("title+paragraph_first_word")
        if step is not None and step[0] < step[1] - 1 and "detectable_content:postscript" in ids:
            found.append("postscript_in_non_final_step")
        for c in checks:
            kw = dict(c.kwargs)
            if c.id in _SPANS and _span_broken(kw):
                found.append("repeat_span_empty_or_cut")
            elif "code" in kinds and c.id in _SHAPES_BREAKING_CODE:
                found.append("word_shape_rule_on_code")
            elif "code" in kinds and c.id in _MARK_BANS:
                found.append(f"no_{_MARK_BANS[c.id][1]}_on_code")
            elif c.id == "detectable_format:constrained_response" and "yes_no" not in kinds:
                found.append("yes_no_answer_to_non_yes_no_request")
            elif c.id in ("change_case:english_capital", "change_case:english_lowercase") and "code" in kinds:
                found.append("whole_case_on_code")
            elif (c.id == "keywords:letter_frequency" and truth.lang == "zh" and kw["let_relation"] in AT_LEAST
                  and kw["let_frequency"] > 0):
                found.append("latin_letters_in_chinese_answer")
            elif c.id == "combination:two_responses" and kinds & SINGLE_ANSWER_KINDS:
                found.append("two_responses_to_single_answer_task")
            elif (c.id == "length_constraints:number_words" and kw["relation"] in AT_LEAST and kw["num_words"] > 100
                  and kinds & SHORT_ANSWER_KINDS):
                found.append("long_answer_for_short_answer_task")
    return sorted(set(found))


def request_of(prompt: str, truth: RuleTruth) -> str:
    """The seed request inside an evolved prompt: a repeat constraint's copy when there is one (exact),
    else the prompt's first paragraph (the pipeline writes the request, a blank line, the constraints)."""
    for checks, _ in scopes(truth.tree):
        for c in checks:
            if "prompt_to_repeat" in c.kwargs:
                return str(c.kwargs["prompt_to_repeat"])
    return prompt.split("\n\n", 1)[0]


def row_defects(prompt: str, ground_truth: str, lang: str, task_type: str, key: str = "") -> tuple[list[str], str]:
    """(known traps, "" when a verified witness exists else why not) of one rule-style row."""
    truth = parse_ground_truth(ground_truth)
    if not isinstance(truth, RuleTruth):
        raise TypeError("row_defects reads rule ground truths only")
    req = tasks.request(request_of(prompt, truth), lang, task_type)
    witness, why = compose_witness(truth, req.text, key)
    return known_traps(truth, req), ("" if witness is not None else why)
