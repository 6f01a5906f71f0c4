"""Detectable content: placeholders in square brackets, a postscript (IFEval semantics)."""

from __future__ import annotations

import re

from raif_rewards.checkers._common import PatternTimeout, UserRegex, int_schema, never_in_loose, user_regex
from raif_rewards.registry import declare, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need


def count_placeholders(text: str) -> int:
    """``len(re.findall(r"\\[.*?\\]", text))`` in linear time.

    The regex rescans a line from every ``[`` that has no ``]`` after it, which is quadratic on
    adversarial input; a ``]`` closes the nearest open ``[`` on the same line (``.`` stops at ``\\n``).
    """
    if "[" not in text:
        return 0
    count = 0
    for line in text.split("\n"):
        pos = 0
        while True:
            start = line.find("[", pos)
            if start < 0:
                break
            end = line.find("]", start + 1)
            if end < 0:
                break
            count += 1
            pos = end + 1
    return count


@register(
    "detectable_content:number_placeholders",
    group="content",
    schema={"properties": {"num_placeholders": int_schema(0)}, "required": ["num_placeholders"]},
    sample=lambda rng, lang: {"num_placeholders": rng.randint(1, 4)},
    templates={
        "en": (
            "The response must contain at least {num_placeholders} placeholders represented by square brackets, "
            "such as [address].",
            "Include at least {num_placeholders} placeholders in square brackets, for example [name].",
        ),
        "zh": (
            "回答中必须至少包含{num_placeholders}个用方括号表示的占位符，例如[地址]。",
            "请在回答里放入至少{num_placeholders}个方括号占位符，比如[姓名]。",
        ),
    },
    loose_settled=never_in_loose,  # brackets pair within a line, and variants keep whole lines
    witness=lambda kw, ctx: Need(placeholders=kw["num_placeholders"]),
)
def number_placeholders(t: Text, num_placeholders: int) -> bool:
    """At least N ``[placeholder]`` spans."""
    return count_placeholders(t.raw) >= num_placeholders


declare(
    "detectable_content:number_placeholders",
    avoids=("yes_no", "classification", "math", "extraction"),
    phrasings={
        "en": (
            "Leave at least {num_placeholders} blanks in your response for the reader to fill in, each written in "
            "square brackets like [date].",
            "Your answer should contain {num_placeholders} or more placeholders in square brackets, e.g. [company name].",
            "Use square-bracket placeholders such as [your name] at least {num_placeholders} times in your reply.",
            "Include no fewer than {num_placeholders} fill-in fields written as [field] in your response.",
        ),
        "zh": (
            "回答中请留出至少{num_placeholders}处待填写的内容，用方括号表示，例如[日期]。",
            "你的回答须包含不少于{num_placeholders}个方括号占位符，比如[公司名称]。",
            "请在回答里使用至少{num_placeholders}个像[你的名字]这样的占位符。",
            "回答要有{num_placeholders}个或更多用[ ]括起来的占位符。",
        ),
    },
)


_PS = re.compile(r"p\.\s?s\.")
_PPS = re.compile(r"p\.\s?p\.\s?s")


@register(
    "detectable_content:postscript",
    group="content",
    schema={
        "properties": {"postscript_marker": {"type": "string", "minLength": 1}},
        "required": ["postscript_marker"],
    },
    sample=lambda rng, lang: {"postscript_marker": rng.choice(("P.S.", "P.P.S"))},
    templates={
        "en": (
            "At the end of your response, please explicitly add a postscript starting with {postscript_marker}",
            "End your answer with a postscript that begins with {postscript_marker}",
        ),
        "zh": (
            "请在回答的末尾明确加上一段以{postscript_marker}开头的附言。",
            "回答最后请附上以{postscript_marker}开头的附言。",
        ),
    },
    witness=lambda kw, ctx: Need(postscript=kw["postscript_marker"].strip()),
    at_end=True,
)
def postscript(t: Text, postscript_marker: str) -> bool:
    """A line contains the postscript marker (case-insensitive; ``P.S.``/``P.P.S`` allow a space).

    IFEval searches ``\\s*MARKER.*$``; the leading ``\\s*`` and trailing ``.*$`` cannot change whether
    a match exists, and dropping them avoids quadratic scans over long whitespace runs.
    """
    marker = postscript_marker.strip()
    pattern: re.Pattern[str] | UserRegex
    if marker == "P.P.S":
        pattern = _PPS
    elif marker == "P.S.":
        pattern = _PS
    else:
        pattern = user_regex(marker.lower(), re.MULTILINE)
    try:
        return pattern.search(t.lower) is not None
    except PatternTimeout:
        return False


declare(
    "detectable_content:postscript",
    avoids=("classification", "extraction"),
    phrasings={
        "en": (
            "Close your response with a postscript that starts with {postscript_marker}",
            "After the main part of your answer, add a note beginning with {postscript_marker}",
            "Finish your reply with a short postscript introduced by {postscript_marker}",
            "Append a postscript to the end of your response, opening it with {postscript_marker}",
        ),
        "zh": (
            "回答结尾处请加一段附言，以{postscript_marker}开头。",
            "请在你的回答正文之后写一句以{postscript_marker}开头的附言。",
            "回答的最后附上一段附言，开头写{postscript_marker}。",
            "请以一段{postscript_marker}开头的附言结束你的回答。",
        ),
    },
)
