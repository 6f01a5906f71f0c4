"""Combination constraints: two different responses, repeat the request then answer (IFEval)."""

from __future__ import annotations

from raif_rewards.checkers._common import IFEVAL_IDS
from raif_rewards.checkers._request import has_comma, is_single_answer
from raif_rewards.registry import register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need


@register(
    "combination:two_responses",
    group="combination",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Give two different responses. Responses and only responses should be separated by 6 asterisk symbols: ******.",
            "Write two different answers, separated by a line of six asterisks (******) and nothing else.",
        ),
        "zh": ("请给出两个不同的回答，两个回答之间且仅在它们之间用6个星号 ****** 分隔。",),
    },
    conflicts=tuple(
        i
        for i in IFEVAL_IDS
        if i
        not in (
            "keywords:forbidden_words",
            "keywords:existence",
            "language:response_language",
            "detectable_format:title",
            "punctuation:no_comma",
        )
    ),
    witness=lambda kw, ctx: Need(two=True),
    suits=lambda req, kw: not is_single_answer(req),
)
def two_responses(t: Text) -> bool:
    """Exactly two different non-empty responses separated by ``******``."""
    parts = t.raw.split("******")
    valid = []
    for index, part in enumerate(parts):
        if not part.strip():
            if index != 0 and index != len(parts) - 1:
                return False
        else:
            valid.append(part)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


@register(
    "combination:repeat_prompt",
    group="combination",
    schema={
        "properties": {"prompt_to_repeat": {"type": "string", "minLength": 1}},
        "required": ["prompt_to_repeat"],
    },
    sample=lambda rng, lang: {},
    prompt_kwargs=("prompt_to_repeat",),
    templates={
        "en": (
            "First repeat the request word for word without change, then give your answer (1. do not say any words "
            "or characters before repeating the request; 2. the request you need to repeat does not include this "
            "sentence)",
            "Begin by copying the request above exactly, word for word, then answer it (say nothing before the "
            "copy, and do not copy this sentence).",
        ),
        "zh": ("请先一字不差地重复上面的请求（不包括这句话），然后再作答；重复之前不要输出任何内容。",),
    },
    conflicts=tuple(
        i for i in IFEVAL_IDS if i not in ("keywords:existence", "detectable_format:title", "punctuation:no_comma")
    ),
    witness=lambda kw, ctx: Need(prefix=kw["prompt_to_repeat"].strip()),
    # the repeated request carries its own commas
    request_conflicts=lambda req: ("punctuation:no_comma",) if has_comma(req.text) else (),
)
def repeat_prompt(t: Text, prompt_to_repeat: str) -> bool:
    """The response starts with the request, repeated verbatim (case-insensitive)."""
    return t.stripped.lower().startswith(prompt_to_repeat.strip().lower())
