"""Punctuation constraints: no commas (IFEval; the full-width Chinese comma on request)."""

from __future__ import annotations

from raif_rewards.registry import declare, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need


@register(
    "punctuation:no_comma",
    group="punctuation",
    schema={"properties": {"include_fullwidth": {"type": "boolean"}}},
    # A Chinese "no commas" instruction means ，and 、 too; IFEval's English check sees only ",".
    sample=lambda rng, lang: {"include_fullwidth": True} if lang == "zh" else {},
    templates={
        "en": (
            "In your entire response, refrain from the use of any commas.",
            "Do not use any commas anywhere in your answer.",
        ),
        "zh": ("整个回答中不要使用任何逗号（包括“，”和“、”）。", "回答里请不要出现任何逗号或顿号。"),
    },
    witness=lambda kw, ctx: Need(no_comma=True, no_fullwidth_comma=bool(kw.get("include_fullwidth"))),
)
def no_comma(t: Text, include_fullwidth: bool = False) -> bool:
    """No ``,`` in the response (nor ``，``/``、`` when ``include_fullwidth``)."""
    if "," in t.raw:
        return False
    return not (include_fullwidth and ("，" in t.raw or "、" in t.raw))


declare(
    "punctuation:no_comma",
    avoids=("code",),
    phrasings={
        "en": (
            "Write your response without a single comma.",
            "Commas are not allowed anywhere in your answer.",
            "Avoid the comma character (,) completely in your reply.",
            "Do not put any commas in your response; use other punctuation or shorter sentences instead.",
        ),
        "zh": (
            "回答中不能出现逗号，中文逗号“，”、顿号“、”和英文逗号“,”都不要用。",
            "请完全不用逗号作答（包括，、和 ,）。",
            "你的回答里不要有任何逗号或顿号，可以改用句号等其他标点。",
            "回答中禁止使用“，”“、”“,”这几种逗号类符号。",
        ),
    },
)
