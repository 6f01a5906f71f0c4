"""Start/end constraints: an exact closing phrase, quotation marks around everything (IFEval)."""

from __future__ import annotations

from raif_rewards.registry import declare, register
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


declare(
    "startend:end_checker",
    topic_kwargs={"end_phrase": "phrase"},
    phrasings={
        "en": (
            "The last words of your response must be exactly: {end_phrase}",
            "Close your answer with the sentence \"{end_phrase}\" and add nothing after it.",
            "Make \"{end_phrase}\" the final sentence of your reply, with no text following it.",
            "Your response should end with these exact words: {end_phrase} (nothing may follow them).",
        ),
        "zh": (
            "回答的最后一句必须是：{end_phrase} 其后不要再写任何内容。",
            "请用这句话收尾：“{end_phrase}”，后面不要再加任何文字。",
            "你的回答须以“{end_phrase}”结束，结尾之后没有其他内容。",
            "回答结尾请一字不差地写上：{end_phrase}",
            "请把“{end_phrase}”作为回答的最后一句话，之后不再有任何内容。",
        ),
    },
)


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


declare(
    "startend:quotation",
    avoids=("code",),
    phrasings={
        "en": (
            "Enclose your entire response in double quotation marks, one at the very start and one at the very end.",
            "Your whole answer should begin and end with a double quote (\").",
            "Wrap the reply, from its first character to its last, in double quotes.",
            "Put a \" before the first word and after the last word of your response.",
        ),
        "zh": (
            '请把整个回答放在一对英文双引号 " 之间：开头第一个字符和结尾最后一个字符都是 "。',
            '你的回答必须以英文双引号 " 开头，并以 " 结尾。',
            '请用英文双引号（"）包住你的全部回答。',
            '回答的第一个和最后一个字符都应该是英文双引号 "。',
            '整个回答请用一对英文双引号 "" 括起来。',
        ),
    },
)
