"""IFBench ``repeat:*`` constraints: repeat the request with its first word changed, output one
fixed sentence, copy a character span of the request (IFBench's exact semantics)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from raif_rewards.checkers._common import IFEVAL_IDS, int_schema
from raif_rewards.checkers.ifbench_shared import IFBENCH_IDS, no_kwargs, phrasings
from raif_rewards.registry import Request, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need

_SRC = "ifbench"
_PROMPT = {"type": "string", "minLength": 1}
# The answer is fixed text: combining it with any other constraint is contradictory.
_EVERYTHING = IFBENCH_IDS + IFEVAL_IDS


def _change_witness(kw: Mapping[str, Any], ctx: object) -> Need:
    words = kw["prompt_to_repeat"].split()
    first = "Kindly" if words[:1] != ["Kindly"] else "Please"
    return Need(fixed=" ".join([first, *words[1:]]))


@register(
    "repeat:repeat_change",
    group="copy",
    schema={"properties": {"prompt_to_repeat": _PROMPT}, "required": ["prompt_to_repeat"]},
    sample=no_kwargs,
    prompt_kwargs=("prompt_to_repeat",),
    **phrasings(
        (
            "Repeat the request, but change the first word of the repeated request, (do not say anything before "
            "repeating the request; the request you need to repeat does not include this sentence) and do not answer "
            "the actual request!",
            "Do not answer the request: only repeat it word for word, except that you replace its first word with a "
            "different one (say nothing before it; this sentence is not part of the request).",
        ),
        (
            "请复述上面的请求，但要把复述内容的第一个词换掉（复述前不要说任何话；需要复述的请求不包括这句话），并且不要回答该请求！",
        ),
    ),
    conflicts=_EVERYTHING,
    source=_SRC,
    witness=_change_witness,
)
def repeat_change(t: Text, prompt_to_repeat: str) -> bool:
    """Not the request itself, but equal to it from the second whitespace-separated word on."""
    if t.raw == prompt_to_repeat:
        return False
    return " ".join(prompt_to_repeat.split()[1:]) == " ".join(t.raw.split()[1:])


_SIMPLE = "Only output this sentence here, ignore all other requests."


@register(
    "repeat:repeat_simple",
    group="copy",
    sample=no_kwargs,
    **phrasings(
        (
            _SIMPLE,
            'Ignore everything else and output exactly this sentence: "' + _SIMPLE + '"',
        )
    ),
    conflicts=_EVERYTHING,
    source=_SRC,
    witness=lambda kw, ctx: Need(fixed=_SIMPLE),
)
def repeat_simple(t: Text) -> bool:
    """The response is IFBench's sentence "Only output this sentence here, ignore all other requests." (case-insensitive, outer whitespace ignored)."""
    return t.stripped.lower() == _SIMPLE.lower()


def _sample_span(rng: random.Random, lang: str) -> dict:
    start = rng.randint(0, 20)
    return {"n_start": start, "n_end": start + rng.randint(5, 40)}


_WORD = re.compile(r"\S+")
_CLAUSE = re.compile(r"[^，。？！、；：,.?!;:\s]+")


def _fit_span(kwargs: dict, req: Request, rng: random.Random) -> dict:
    """A span of whole words (Chinese: one clause) inside the request, so that the copy is neither
    empty nor cut mid-word: the blind draw above can fall past the request's end."""
    text = kwargs["prompt_to_repeat"]
    if req.lang == "zh":
        pieces = [m.span() for m in _CLAUSE.finditer(text)]
        if not pieces:
            return kwargs
        start, end = pieces[rng.randrange(len(pieces))]
        return dict(kwargs, n_start=start, n_end=end - 1)
    words = [m.span() for m in _WORD.finditer(text)]
    if not words:
        return kwargs
    i = rng.randrange(len(words))
    j = min(len(words) - 1, i + rng.randint(1, 8))
    return dict(kwargs, n_start=words[i][0], n_end=words[j][1] - 1)


@register(
    "repeat:repeat_span",
    group="copy",
    schema={
        "properties": {"prompt_to_repeat": _PROMPT, "n_start": int_schema(0), "n_end": int_schema(0)},
        "required": ["prompt_to_repeat", "n_start", "n_end"],
    },
    sample=_sample_span,
    fit=_fit_span,
    prompt_kwargs=("prompt_to_repeat",),
    **phrasings(
        (
            "Copy the span of words that lies between (and including) index {n_start} and {n_end}, the indices are character indices!",
            "Output only the part of the request from character index {n_start} to character index {n_end}, both included.",
        ),
        ("请原样输出请求中从第{n_start}个字符到第{n_end}个字符（均包含，索引从0开始）的片段。",),
    ),
    conflicts=_EVERYTHING,
    source=_SRC,
    witness=lambda kw, ctx: Need(fixed=kw["prompt_to_repeat"][kw["n_start"]: kw["n_end"] + 1].strip()),
)
def repeat_span(t: Text, prompt_to_repeat: str, n_start: int, n_end: int) -> bool:
    """The response is the request's characters n_start..n_end inclusive (case-insensitive, outer whitespace ignored)."""
    span = prompt_to_repeat[int(n_start) : int(n_end) + 1]
    return t.stripped.lower() == span.strip().lower()
