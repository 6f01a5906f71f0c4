"""Start/end constraints: an exact closing phrase, quotation marks around everything (IFEval)."""

from __future__ import annotations

from raif_rewards.registry import register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need

_ENDINGS = {
    "en": (
        "Any other questions?",
        "Is there anything else I can help with?",
        "Let me know if you need more details.",
        "That is all for now.",
        "Hope this helps!",
    ),
    "zh": ("还有其他问题吗？", "希望对你有帮助！", "以上就是全部内容。"),
}


@register(
    "startend:end_checker",
    group="startend",
    schema={"properties": {"end_phrase": {"type": "string", "minLength": 1}}, "required": ["end_phrase"]},
    sample=lambda rng, lang: {"end_phrase": rng.choice(_ENDINGS.get(lang, _ENDINGS["en"]))},
    templates={
        "en": (
            "Finish your response with this exact phrase: {end_phrase} No other words should follow this phrase.",
            "End your answer with the exact phrase \"{end_phrase}\" and write nothing after it.",
        ),
        "zh": ("请以这句话结束你的回答：{end_phrase} 这句话之后不要再有任何内容。",),
    },
    witness=lambda kw, ctx: Need(end=kw["end_phrase"].strip()),
    at_end=True,
)
def end_checker(t: Text, end_phrase: str) -> bool:
    """The response ends with the phrase (case-insensitive, outer quotes and spaces ignored)."""
    return t.stripped.strip('"').lower().endswith(end_phrase.strip().lower())


@register(
    "startend:quotation",
    group="startend",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Wrap your entire response with double quotation marks.",
            "Put your whole answer inside double quotation marks.",
        ),
        "zh": ('请用英文双引号 " 把整个回答括起来。',),
    },
    conflicts=("detectable_format:title",),
    witness=lambda kw, ctx: Need(wrap="quotes"),
)
def quotation(t: Text) -> bool:
    """The stripped response starts and ends with a double quotation mark."""
    value = t.stripped
    return len(value) > 1 and value[0] == '"' and value[-1] == '"'
