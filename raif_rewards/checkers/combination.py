"""Combination constraints: two different responses, repeat the request then answer (IFEval)."""

from __future__ import annotations

from raif_rewards.checkers._common import IFEVAL_IDS, has_comma
from raif_rewards.registry import SINGLE_ANSWER_KINDS, declare, register
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


declare(
    "combination:two_responses",
    avoids=SINGLE_ANSWER_KINDS,  # two different answers would contradict the one right answer
    phrasings={
        "en": (
            "Provide two different responses, separated by a line of six asterisks (******); use ****** nowhere else.",
            "Write two distinct answers and put exactly ****** between them, and nowhere else.",
            "Give two alternative replies to the request, divided by six asterisks: ******",
            "I want two different versions of your answer; separate the two with ****** and use that separator only "
            "once.",
        ),
        "zh": (
            "请给出两个不同的回答，中间用一行六个星号 ****** 隔开，其他地方不要出现 ******。",
            "请写两版不同的回答，两版之间用 ****** 分隔，且只用这一次。",
            "请提供两个互不相同的答复，并用六个星号（******）把它们分开。",
            "回答请包含两个不同的版本，仅在两者之间放置 ******。",
            "请用 ****** 分隔两个内容不同的回答，****** 只能出现一次。",
        ),
    },
)


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


declare(
    "combination:repeat_prompt",
    phrasings={
        "en": (
            "Start your response by repeating the request above exactly as written (without this instruction), and "
            "only then answer it; write nothing before the repeated request.",
            "Copy the request word for word as the first thing in your answer - leave out these instructions - then "
            "give your answer.",
            "Before answering, restate the request verbatim; nothing may come before it, and this sentence is not "
            "part of it.",
            "Your reply must open with the exact text of the request (not including this line), followed by your "
            "answer.",
        ),
        "zh": (
            "请在回答开头原样复述上面的请求（不包括这些要求），然后再回答；复述之前不要写任何内容。",
            "回答的第一部分必须是一字不改的请求原文（不含本句），之后再作答。",
            "作答前请先逐字重复请求本身，重复的内容之前不能有任何文字，这句话不需要重复。",
            "请先把上面的请求一字不差地抄写一遍（这条要求不用抄），然后给出你的回答。",
            "回答必须以请求的原文开头（不含这些附加要求），复述完再开始回答。",
        ),
    },
)
