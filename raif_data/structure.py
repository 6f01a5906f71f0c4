"""Sub-task structure written by a model (RAIF's Chain and Selection items): the steps of a chain become
sub-tasks that depend on each other, and a selection gets a condition about what the request asks.

This module holds the prompts, reads the model's JSON replies and renders the new text; the calls, the
round trip and the counts are in :mod:`raif_data.enrich`. The tree's checks never change: a chain keeps
its steps' constraints (so its witness still holds); a selection gets the model's condition and the
branch it decided (the witness is then composed again and verified).
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Sequence
from typing import Any

from raif_data import wording

CHAIN_PROMPT = (
    "Here is a user request:\n---\n{request}\n---\n"
    "Break the request into exactly {n} sub-tasks that are done in order, where every sub-task after the "
    "first uses the output of the one before it (for example: \"List three facts about X.\", then \"Using "
    "those facts, write ...\"). Together the sub-tasks must carry out the request. Say only what to do in "
    "each one: no requirements on length, format, wording or punctuation (those are given separately) and "
    "no step numbers or labels. Write them in the language of the request.\n"
    'Reply with JSON only: {{"steps": ["<sub-task 1>", ..., "<sub-task {n}>"]}}'
)

SELECTION_PROMPT = (
    "Here is a user request:\n---\n{request}\n---\n"
    "Write one condition about the content of this request (what it asks for, its topic, purpose, audience "
    "or genre) that a reader can decide from the request alone. It must not be about the request's surface "
    "form (its length, words, letters, digits or punctuation). Write a condition that is clearly {truth} for "
    "this request, not a borderline case that readers could judge either way. {form}\n"
    'Reply with JSON only: {{"condition": "...", "negation": "...", "holds": true or false}}; holds says '
    "whether the condition is true for this request."
)
_FORM = {
    "en": 'Write the condition as a clause that starts with "the request above" (e.g. "the request above asks '
          'for advice about a personal decision") and its negation as a clause that starts with "it" (e.g. "it '
          'does not ask for advice about a personal decision"), in English, without final punctuation.',
    "zh": 'Write both in Chinese, each as a clause that starts with "上面的请求" (e.g. condition "上面的请求是在'
          '征求关于个人决定的建议", negation "上面的请求不是在征求关于个人决定的建议"), without final punctuation.',
}
#: the opening a condition and its negation must have (what the selection framings read naturally with)
_OPENINGS = {"en": (("the request above",), ("it ", "the request above")),
             "zh": (("上面的请求",), ("上面的请求",))}
#: longest sub-task or condition kept (a longer one is a paragraph, not one line of a scaffold)
MAX_CHARS = 300

# Conditions about the request's form (what the offline scaffold already asks) rather than its content.
_SURFACE = {
    "en": re.compile(r"\b(digits?|numerals?|question marks?|punctuation|word count|number of (words|characters)|"
                     r"(more|fewer|less) than \d+ (words|characters)|\d+ (words|characters) or (fewer|more)|"
                     r"ends with|starts with|begins with|contains the (letter|character|word))\b", re.IGNORECASE),
    "zh": re.compile(r"阿拉伯数字|问号|标点|字数|个字|以.{0,8}(结尾|开头)"),
}
_LABEL = re.compile(r"^(?:step|步骤|第)\s*\d+\s*步?\s*[:.：、)\-–—]*\s*", re.IGNORECASE)
_END = re.compile(r"[.!?。！？]$")
_TRAILING = ".。!！?？;；,，:： "


def _lang(lang: str) -> str:
    return "zh" if lang == "zh" else "en"


def chain_prompt(request: str, n: int) -> str:
    return CHAIN_PROMPT.format(request=request, n=n)


def selection_prompt(request: str, holds: bool, lang: str) -> str:
    return SELECTION_PROMPT.format(request=request, truth="true" if holds else "false", form=_FORM[_lang(lang)])


def json_object(reply: str) -> dict | None:
    """The JSON object in a reply (fenced or not), or None."""
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(reply[start : end + 1])
    except (json.JSONDecodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _line(text: str) -> str:
    return " ".join(text.split())


def parse_steps(reply: str, n: int, lang: str) -> tuple[list[str] | None, str]:
    """(the ``n`` sub-tasks, "") or (None, why): ``unparsable`` (not the JSON asked for, an empty or
    overlong sub-task) or ``step_count`` (another number of sub-tasks)."""
    obj = json_object(reply)
    steps = obj.get("steps") if obj is not None else None
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        return None, "unparsable"
    if len(steps) != n:
        return None, "step_count"
    out = []
    for step in steps:
        text = _LABEL.sub("", _line(step))
        if not text or len(text) > MAX_CHARS:
            return None, "unparsable"
        if not _END.search(text):
            text += "。" if _lang(lang) == "zh" else "."
        out.append(text)
    return out, ""


def parse_condition(reply: str, lang: str) -> tuple[tuple[str, str, bool] | None, str]:
    """((condition, negation, holds), "") or (None, why): ``unparsable`` (not the JSON asked for),
    ``condition_form`` (not one line opening as asked, or the negation the same as the condition),
    ``surface_condition`` (about the request's length, digits, punctuation ... instead of its content)."""
    obj = json_object(reply)
    if obj is None:
        return None, "unparsable"
    cond, neg, holds = obj.get("condition"), obj.get("negation"), obj.get("holds")
    if not (isinstance(cond, str) and isinstance(neg, str) and isinstance(holds, bool)):
        return None, "unparsable"
    lang = _lang(lang)
    cond, neg = _line(cond).rstrip(_TRAILING), _line(neg).rstrip(_TRAILING)
    if lang == "en":
        cond, neg = cond[:1].lower() + cond[1:], neg[:1].lower() + neg[1:]
    cond_open, neg_open = _OPENINGS[lang]
    if (not cond.lower().startswith(cond_open) or not neg.lower().startswith(neg_open) or cond == neg
            or len(cond) > MAX_CHARS or len(neg) > MAX_CHARS):
        return None, "condition_form"
    if _SURFACE[lang].search(cond) or _SURFACE[lang].search(neg):
        return None, "surface_condition"
    return (cond, neg, holds), ""


def with_condition(tree: dict, condition: str, active: int) -> dict:
    """A copy of ``tree`` whose selection (the root, or a child of the root's "and") has this condition
    and active branch."""
    out = copy.deepcopy(tree)
    nodes = [out, *out.get("children", ())]
    for node in nodes:
        if node.get("op") == "selection":
            node["condition"], node["active"] = condition, active
            return out
    raise ValueError("the tree has no selection")


def render(rng: random.Random, parts: dict[str, Any], lang: str, *, tasks: Sequence[str] | None = None,
           condition: tuple[str, str] | None = None) -> str:
    """The instruction text after the request: the chain with its sub-tasks, or the selection with its
    condition, then what followed the scaffold (``parts`` from :class:`raif_data.instruct.Instruction`)."""
    if parts["inner"] == "chain":
        body = wording.chain_text(rng, parts["marker"], parts["bodies"], lang, tasks=tasks)
    else:
        if condition is None:
            raise ValueError("a selection needs its condition")
        body = wording.selection_text(rng, condition[0], condition[1], parts["branches"], lang)
    return body + parts["tail"]
