"""IFBench ``format:*`` constraints: nesting, options, one word per line, emoji endings, indent
stairs, quotes, custom bullets, HTML italics, sub-bullets, title case, templates, no whitespace."""

from __future__ import annotations

import re
import string
from collections import defaultdict, deque
from functools import lru_cache
from itertools import pairwise

from raif_rewards.checkers._common import IFEVAL_IDS
from raif_rewards.checkers.ifbench_shared import (
    DELETE_PUNCT,
    IFBENCH_IDS,
    STRIP,
    is_emoji,
    no_kwargs,
    phrasings,
    sentences,
    sentences_of,
)
from raif_rewards.registry import register
from raif_rewards.text import Text
from raif_rewards.witness_spec import INF, Need

_SRC = "ifbench"
_PAIRS = {")": "(", "]": "[", "}": "{"}
# Four levels, not three: the first mark may close a quote opened before it (an answer wrapped in
# double quotes) and three levels still open and close after it. The words after it stay unquoted,
# so that format:quote_unquote holds beside it.
_NESTED_QUOTE = {
    "en": "\"Ann said 'Bob wrote \"read 'Tom' now\" today' at noon\" was the note",
    "zh": "\"小明说'老师讲\"要读'好书'\"很重要'\"这句话",
}


@register(
    "format:parentheses",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Nest parentheses (and [brackets {{and braces}}]) at least 5 levels deep.",
            "Somewhere in your answer, nest brackets at least five levels deep, e.g. ( [ {{ ( [ ... ] ) }} ] ).",
        ),
        ("回答中需要把括号（圆括号、方括号、花括号，用英文半角符号）嵌套至少5层。",),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=(("((((( deep )))))", 1),)),
)
def parentheses(t: Text) -> bool:
    """A correctly matched bracket group reaches depth 5 (a mismatched closer resets the count)."""
    stack: list[str] = []
    deepest = 0
    for ch in t.raw:
        if ch in "([{":
            stack.append(ch)
            deepest = max(deepest, len(stack))
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
                if deepest >= 5:
                    return True
            else:
                stack, deepest = [], 0
    return False


@register(
    "format:quotes",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Include quotes within quotes within quotes, at least 3 levels deep, alternating between double quotes and single quotes.",
            "Nest quotations at least three levels deep, alternating \" and ' marks.",
        ),
        ("回答中要有至少3层的引号嵌套，交替使用英文双引号(\")和单引号(')。",),
    ),
    conflicts=("detectable_format:constrained_response",),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=((_NESTED_QUOTE["zh" if ctx.lang == "zh" else "en"], 1),)),
)
def quotes(t: Text) -> bool:
    """IFBench's quote stack: a quote mark equal to the innermost open one closes it; any other ``"`` or ``'`` opens a level. True once three levels below the deepest point have closed."""
    stack: list[str] = []
    deepest = depth = 0
    for ch in t.raw:
        if stack and ch == stack[-1]:
            stack.pop()
            depth -= 1
            if deepest - depth >= 3:
                return True
        elif ch == '"' or ch == "'":
            stack.append(ch)
            depth += 1
            deepest = max(deepest, depth)
    return False


_OPTIONS_BANK = ("yes/no/maybe", "I know or I don't know", "a), b), c), d)")
_ABC = re.compile(r"\W*[aA]\W*[bB]\W*[cC]\W*")


@lru_cache(maxsize=1024)
def _parse_options(options: str) -> tuple[bool, tuple[str, ...]]:
    strict = _ABC.match(options) is not None
    # IFBench's separator choice, "or" as a plain substring test included.
    sep = "/" if "/" in options else "or" if "or" in options else ","
    return strict, tuple(o.strip() for o in options.split(sep))


@register(
    "format:options",
    group="format",
    schema={"properties": {"options": {"type": "string", "minLength": 1}}, "required": ["options"]},
    sample=lambda rng, lang: {"options": rng.choice(_OPTIONS_BANK)},
    **phrasings(
        (
            "Answer with one of the following options: {options}. Do not give any explanation.",
            "Reply with exactly one of these options and nothing else: {options}.",
        ),
        ("只能从以下选项中选择一个作答：{options}。不要做任何解释。",),
    ),
    conflicts=tuple(
        i for i in IFBENCH_IDS + IFEVAL_IDS if i not in ("format:options", "format:no_whitespace")
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(fixed=_parse_options(kw["options"])[1][0]),
)
def options(t: Text, options: str) -> bool:
    """The response is one of the options: exactly, for lettered options ("a), b), c)"); else case-insensitively with edge punctuation and spaces ignored."""
    strict, choices = _parse_options(options)
    if strict:
        return t.raw in choices
    answer = t.raw.strip(STRIP).lower()
    return any(o.strip(STRIP).lower() == answer for o in choices)


@register(
    "format:newline",
    group="format",
    sample=no_kwargs,
    **phrasings(("Write each word on a new line.", "Put every single word of your answer on its own line.")),
    conflicts=("format:no_whitespace", "format:line_indent", "words:paragraph_last_first"),
    source=_SRC,
    witness=lambda kw, ctx: Need(shape="word_per_line"),
)
def newline(t: Text) -> bool:
    """Punctuation deleted, the number of non-empty lines equals the number of words."""
    bare = t.raw.translate(DELETE_PUNCT).strip()
    lines = sum(1 for line in bare.split("\n") if line != "")
    return lines == len(bare.split())


@register(
    "format:emoji",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Please use an emoji at the end of every sentence.",
            "End each sentence of your answer with an emoji.",
        ),
        ("请在每句话的结尾使用一个表情符号（emoji）。", "回答中每个句子都要以emoji结尾。"),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(sentence_marks=(" \U0001F642.",)),
)
def emoji_end(t: Text) -> bool:
    """Every sentence (punctuation deleted, stripped) ends with an emoji in its last or second-to-last character, or the next sentence starts with one (Punkt splits after "!")."""
    parts = [s.translate(DELETE_PUNCT).strip() for s in sentences(t)]
    for i, part in enumerate(parts):
        if not part:
            return False
        if is_emoji(part[-1]) or is_emoji(part[-2] if len(part) > 1 else part[-1]):
            continue
        if i == len(parts) - 1 or not parts[i + 1] or not is_emoji(parts[i + 1][0]):
            return False
    return True


def _stairs_lines(raw: str) -> list[str]:
    """IFBench's lines after ``for line in lines: if not line.strip(): lines.remove(line)``.

    Removing during iteration skips the element after each blank line, and ``remove`` deletes
    the FIRST equal string (possibly an earlier skipped blank line). Everything after the cursor
    is untouched, so the cursor walks the original list: +2 after a blank line, +1 otherwise.
    The first remaining copy of each blank string is found with a queue per string: linear time
    where the official loop is quadratic.
    """
    lines = raw.split("\n")
    positions: dict[str, deque[int]] = defaultdict(deque)
    for i, line in enumerate(lines):
        if not line.strip():
            positions[line].append(i)
    removed = set()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            removed.add(positions[lines[i]].popleft())
            i += 2
        else:
            i += 1
    return [line for i, line in enumerate(lines) if i not in removed]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@register(
    "format:line_indent",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Create stairs by incrementally indenting each new line.",
            "Indent every line with more leading spaces than the line above it, like a staircase.",
        ),
        ("请让每一行比上一行缩进更多（用空格），形成阶梯状。",),
    ),
    conflicts=("format:newline",),
    source=_SRC,
    witness=lambda kw, ctx: Need(shape="staircase"),
)
def line_indent(t: Text) -> bool:
    """Each line has more leading spaces than the one before (blank lines removed the way IFBench's loop removes them)."""
    lines = _stairs_lines(t.raw)
    return all(_indent(b) > _indent(a) for a, b in pairwise(lines))


_QUOTE_EDGE = string.digits + string.punctuation.replace('"', "")


@register(
    "format:quote_unquote",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Every quoted phrase must be followed by an unquoted explanation.",
            "After each phrase in double quotes, add an explanation that is not in quotes.",
        )
    ),
    conflicts=("startend:quotation",),  # an answer wrapped in double quotes ends on a quote
    source=_SRC,
    witness=lambda kw, ctx: Need(include=(('"plan" means a clear step', 1),), text_rules=("open_end",)),
)
def quote_unquote(t: Text) -> bool:
    """With whitespace removed (and the literal '"' dropped), no two double quotes touch and the text, digits and other punctuation stripped from its ends, does not end with a quote."""
    bare = "".join(t.raw.replace("'\"'", "").split())
    if '""' in bare:
        return False
    rest = bare.strip(_QUOTE_EDGE)
    return not rest.endswith('"')


_SEPARATORS = ("...", "SEPARATOR", "!?!?", "-")


@register(
    "format:list",
    group="format",
    schema={"properties": {"sep": {"type": "string", "minLength": 1}}, "required": ["sep"]},
    sample=lambda rng, lang: {"sep": rng.choice(_SEPARATORS)},
    **phrasings(
        (
            "Answer with a list of items, instead of bullet points use {sep}.",
            "Format your answer as a list, marking each item with {sep} instead of a bullet point.",
        ),
        ("请以列表形式作答，不要使用项目符号，而用 {sep} 标记每一项。",),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=((kw["sep"], 2),)),
)
def special_list(t: Text, sep: str) -> bool:
    """The separator occurs at least twice (non-overlapping occurrences)."""
    return t.raw.count(sep) >= 2


@register(
    "format:thesis",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Each section must begin with a thesis statement in italics, use HTML to indicate the italics.",
            "Start each section with a thesis statement in italics, written with HTML <i> or <em> tags.",
        ),
        ("每个部分都必须以斜体的论点句开头，斜体用HTML标签（<i>或<em>）表示。",),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=(("<i>this is the thesis</i>", 1),)),
)
def thesis(t: Text) -> bool:
    """An HTML italic span (``<i>``, else ``<em>``) with text, followed by more text.

    IFBench slices with the lengths of ``<i>`` and ``</i>`` even for ``<em>``/``</em>``.
    """
    raw = t.raw
    start = raw.find("<i>")
    if start == -1:
        start = raw.find("<em>")
        if start == -1:
            return False
    rest = raw[start:]
    end = rest.find("</i>")
    if end == -1:
        end = rest.find("</em>")
        if end == -1:
            return False
    if not rest[3:end].strip():
        return False
    return rest[end + 4 :].strip() != ""


@register(
    "format:sub-bullets",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Your response must include bullet points denoted by * and at least one sub-bullet point denoted by - for each bullet point.",
            "Use * bullet points, and give every bullet at least one - sub-bullet.",
        ),
        ("回答须使用 * 作为项目符号，并且每个项目下至少有一个用 - 表示的子项目。",),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(sub_bullets=True),
)
def sub_bullets(t: Text) -> bool:
    """Every piece after a ``*`` contains a ``-`` (IFBench's check; a text without ``*`` passes)."""
    return all("-" in piece for piece in t.raw.split("*")[1:])


@register(
    "format:no_bullets_bullets",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Your answer must contain at least two sentences ending in a period followed by at least two bullet points denoted by *.",
            "Write at least two sentences first, then at least two * bullet points, and nothing after them.",
        ),
        ("回答先写至少两个句子，然后写至少两个用 * 标记的要点。",),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(sentences=(2, INF), bullets=2),
)
def no_bullets_bullets(t: Text) -> bool:
    """At least two sentences, then at least two lines starting with ``*`` and nothing else.

    IFBench's loop reuses its "still in the prose" flag for the sentence list, so a blank line
    before the bullets ends the prose: any later non-bullet line fails, as there.
    """
    in_prose = True
    n_sentences = bullets = 0
    for line in t.raw.split("\n"):
        if line.strip().startswith("*"):
            in_prose = False
            if n_sentences < 2:
                return False
            bullets += 1
        elif in_prose:
            found = sentences_of(line.strip())
            in_prose = bool(found)
            n_sentences += len(found)
        else:
            return False
    return bullets >= 2


@register(
    "format:title_case",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Write the entire response in title case (capitalize the first letter of every major word).",
            "Capitalize The First Letter Of Every Word In Your Whole Answer, Like A Title.",
        )
    ),
    conflicts=("change_case:english_lowercase", "change_case:english_capital"),
    source=_SRC,
    witness=lambda kw, ctx: Need(case="title"),
)
def title_case(t: Text) -> bool:
    """No ``nltk.word_tokenize`` token that starts with a letter is all lower-case, a single lower-case letter, or lower-case followed by all capitals."""
    for word in t.nltk_words:
        if not word or not word[0].isalpha():
            continue
        head, tail = word[0], word[1:]
        if not tail:
            if head.islower():
                return False
            continue
        if head.isupper() and tail.islower():
            continue
        if head.islower() and (tail.isupper() or tail.islower()):
            return False
    return True


@register(
    "format:output_template",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "Use this exact template for your response: My Answer: [answer] My Conclusion: [conclusion] Future Outlook: [outlook]",
            "Fill in this template exactly: My Answer: [answer] My Conclusion: [conclusion] Future Outlook: [outlook]",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(include=(("My Answer:", 1), ("My Conclusion:", 1), ("Future Outlook:", 1))),
)
def output_template(t: Text) -> bool:
    """The labels "My Answer:", "My Conclusion:" and "Future Outlook:" all occur."""
    raw = t.raw
    return "My Answer:" in raw and "My Conclusion:" in raw and "Future Outlook:" in raw


@register(
    "format:no_whitespace",
    group="format",
    sample=no_kwargs,
    **phrasings(
        (
            "The output should not contain any whitespace.",
            "Do not use any spaces, tabs or line breaks at all.",
        ),
        ("输出中不得包含任何空白字符（空格、制表符、换行）。",),
    ),
    conflicts=(
        "format:newline",
        "format:line_indent",
        "format:sub-bullets",
        "format:no_bullets_bullets",
        "format:output_template",
        "detectable_format:multiple_sections",
        "detectable_format:number_bullet_lists",
        "detectable_format:title",
        "length_constraints:number_paragraphs",
        "length_constraints:nth_paragraph_first_word",
        "combination:two_responses",
        "combination:repeat_prompt",
        "detectable_content:postscript",
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(shape="no_whitespace"),
)
def no_whitespace(t: Text) -> bool:
    """No character is whitespace (``str.isspace``)."""
    return not any(ch.isspace() for ch in t.raw)
