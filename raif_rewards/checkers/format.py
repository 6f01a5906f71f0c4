"""Detectable format: bullets, highlights, sections, JSON, XML, titles, fixed answers (IFEval semantics).

Several IFEval regexes backtrack quadratically on adversarial text; those are re-implemented here as
linear scans with the same matches (each function says which regex it reproduces).
"""

from __future__ import annotations

import json
import re

from raif_rewards.checkers._common import IFEVAL_IDS, PatternTimeout, int_schema, never_in_loose, user_regex
from raif_rewards.registry import declare, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need

_WS_RUN = re.compile(r"\s*")


def count_bullets(text: str) -> int:
    """``len(findall(r"^\\s*\\*[^\\*].*$", M)) + len(findall(r"^\\s*-.*$", M))`` in linear time.

    From a line start, ``\\s*`` (newlines included) reaches the first non-space character; the line
    is a bullet if that is ``-``, or ``*`` followed by any character but ``*`` (a newline too: the
    match then runs to the end of the next line, as the regex does).
    """
    n = len(text)
    stars = _count_bullet_kind(text, n, star=True) if "*" in text else 0
    return stars + (_count_bullet_kind(text, n, star=False) if "-" in text else 0)


def _count_bullet_kind(text: str, n: int, *, star: bool) -> int:
    count = 0
    start = 0  # always a line start
    while start <= n:
        e = _WS_RUN.match(text, start).end()  # type: ignore[union-attr]  # `\s*` always matches
        end_of_match = -1
        if star:
            if e + 1 < n and text[e] == "*" and text[e + 1] != "*":
                nl = text.find("\n", e + 2)
                end_of_match = n if nl < 0 else nl
        elif e < n and text[e] == "-":
            nl = text.find("\n", e + 1)
            end_of_match = n if nl < 0 else nl
        if end_of_match >= 0:
            count += 1
            resume = end_of_match
        else:
            resume = e
        # Every line start up to ``e`` shares this whitespace run and fails the same way.
        nl = text.find("\n", resume)
        if nl < 0:
            break
        start = nl + 1
    return count


@register(
    "detectable_format:number_bullet_lists",
    group="format",
    schema={"properties": {"num_bullets": int_schema(0)}, "required": ["num_bullets"]},
    sample=lambda rng, lang: {"num_bullets": rng.randint(1, 5)},
    templates={
        "en": (
            "Your answer must contain exactly {num_bullets} bullet points. Use the markdown bullet points such as:\n"
            "* This is point 1. \n* This is point 2",
            "Give exactly {num_bullets} markdown bullet points (lines starting with '* ').",
        ),
        "zh": (
            "回答必须恰好包含{num_bullets}个要点，使用 markdown 列表符号，例如：\n* 这是第一点。\n* 这是第二点",
            "请用恰好{num_bullets}个以“* ”开头的 markdown 要点作答。",
        ),
    },
    witness=lambda kw, ctx: Need(bullets=kw["num_bullets"]),
)
def number_bullet_lists(t: Text, num_bullets: int) -> bool:
    """Exactly N markdown bullets (``*`` or ``-`` items)."""
    return count_bullets(t.raw) == num_bullets


declare(
    "detectable_format:number_bullet_lists",
    avoids=("yes_no",),
    phrasings={
        "en": (
            "Format your response as a markdown list of exactly {num_bullets} bullet points (lines starting with "
            "'* '), and start no other line with '*' or '-'.",
            "Your answer should consist of {num_bullets} markdown bullets - no more, no fewer - such as:\n* first point\n"
            "* second point",
            "Present your reply as exactly {num_bullets} bullet points using markdown '* ' markers; no other lines may "
            "begin with '*' or '-'.",
            "Use precisely {num_bullets} markdown bullet points ('* item') in your response.",
        ),
        "zh": (
            "请把回答写成恰好{num_bullets}条 markdown 要点（每条以“* ”开头），其他行不要以“*”或“-”开头。",
            "你的回答应包含{num_bullets}个 markdown 列表项，不多不少，例如：\n* 第一点\n* 第二点",
            "回答中只能有{num_bullets}个以“* ”开头的要点。",
            "请用正好{num_bullets}条“* ”开头的列表项来组织回答，其余各行不要以“*”或“-”开头。",
        ),
    },
)


_CONSTRAINED = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@register(
    "detectable_format:constrained_response",
    group="format",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Answer with one of the following options: ('My answer is yes.', 'My answer is no.', 'My answer is maybe.')",
            "Reply with exactly one of: \"My answer is yes.\", \"My answer is no.\", \"My answer is maybe.\"",
        ),
        "zh": ("请只用以下英文选项之一作答：'My answer is yes.'、'My answer is no.'、'My answer is maybe.'",),
    },
    conflicts=IFEVAL_IDS,
    witness=lambda kw, ctx: Need(fixed=_CONSTRAINED[0]),
)
def constrained_response(t: Text) -> bool:
    """The response contains one of the fixed answers (My answer is yes./no./maybe.)."""
    return any(option in t.stripped for option in _CONSTRAINED)


declare(
    "detectable_format:constrained_response",
    suits=("yes_no",),
    phrasings={
        "en": (
            "Reply only with one of these exact sentences: \"My answer is yes.\", \"My answer is no.\" or \"My answer "
            "is maybe.\"",
            "Choose one of the following verbatim as your response: 'My answer is yes.' / 'My answer is no.' / "
            "'My answer is maybe.'",
            "Your entire answer must be one of: My answer is yes. | My answer is no. | My answer is maybe.",
            "Answer with exactly one of the three sentences \"My answer is yes.\", \"My answer is no.\", \"My answer "
            "is maybe.\" and nothing else.",
        ),
        "zh": (
            "请从以下三句英文中选一句原样作答：“My answer is yes.”“My answer is no.”“My answer is maybe.”",
            "你的回答只能是下列句子之一（保持英文原文）：My answer is yes. / My answer is no. / My answer is maybe.",
            "请只回复这三句中的一句：'My answer is yes.'、'My answer is no.' 或 'My answer is maybe.'",
            "回答时请原封不动地使用以下选项之一：\"My answer is yes.\"、\"My answer is no.\"、\"My answer is maybe.\"",
        ),
    },
)


_HIGHLIGHT = re.compile(r"\*[^\n\*]*\*")
_DOUBLE_HIGHLIGHT = re.compile(r"\*\*[^\n\*]*\*\*")


@register(
    "detectable_format:number_highlighted_sections",
    group="format",
    schema={"properties": {"num_highlights": int_schema(0)}, "required": ["num_highlights"]},
    sample=lambda rng, lang: {"num_highlights": rng.randint(1, 4)},
    templates={
        "en": (
            "Highlight at least {num_highlights} sections in your answer with markdown, i.e. *highlighted section*.",
            "Use markdown to highlight at least {num_highlights} parts of your answer, like *this part*.",
        ),
        "zh": (
            "请用 markdown 在回答中至少突出显示{num_highlights}处内容，例如 *重点内容*。",
            "回答中至少要有{num_highlights}处用 *星号* 标出的重点。",
        ),
    },
    loose_settled=never_in_loose,  # spans never cross a line; removing asterisks removes them all
    witness=lambda kw, ctx: Need(highlights=kw["num_highlights"]),
)
def number_highlighted_sections(t: Text, num_highlights: int) -> bool:
    """At least N non-empty ``*highlighted*`` (or ``**bold**``) spans."""
    if "*" not in t.raw:
        return num_highlights <= 0
    count = sum(1 for h in _HIGHLIGHT.findall(t.raw) if h.strip("*").strip())
    count += sum(1 for h in _DOUBLE_HIGHLIGHT.findall(t.raw) if h[2:-2].strip())
    return count >= num_highlights


declare(
    "detectable_format:number_highlighted_sections",
    phrasings={
        "en": (
            "Mark at least {num_highlights} passages of your response as *highlighted* with markdown "
            "asterisks.",
            "Your answer should highlight at least {num_highlights} separate parts by wrapping each in single asterisks, "
            "like *key point*.",
            "Emphasise at least {num_highlights} phrases in your reply using markdown highlighting (*phrase*).",
            "Put at least {num_highlights} short highlights in your response, each written as *text between asterisks* "
            "on one line.",
        ),
        "zh": (
            "请在回答中用星号标出至少{num_highlights}处重点，写成 *重点* 的形式。",
            "你的回答须包含至少{num_highlights}个用 markdown 突出显示的片段，例如 *关键句*。",
            "回答里至少要有{num_highlights}处以 *……* 包裹的强调内容（同一行内）。",
            "请用 markdown 星号强调回答中的至少{num_highlights}个部分，如 *这样*。",
        ),
    },
)


@register(
    "detectable_format:multiple_sections",
    group="format",
    schema={
        "properties": {
            "section_spliter": {"type": "string", "minLength": 1},
            "num_sections": int_schema(0),
        },
        "required": ["section_spliter", "num_sections"],
    },
    sample=lambda rng, lang: {"section_spliter": rng.choice(("Section", "SECTION")), "num_sections": rng.randint(2, 5)},
    templates={
        "en": (
            "Your response must have {num_sections} sections. Mark the beginning of each section with "
            "{section_spliter} X, such as:\n{section_spliter} 1\n[content of section 1]\n{section_spliter} 2\n"
            "[content of section 2]",
            "Organise your answer into {num_sections} sections, each starting with a line \"{section_spliter} N\" "
            "(N = 1, 2, ...).",
        ),
        "zh": (
            "回答必须分为{num_sections}个部分，每部分以“{section_spliter} X”开头，例如：\n{section_spliter} 1\n"
            "[第一部分内容]\n{section_spliter} 2\n[第二部分内容]",
        ),
    },
    conflicts=("language:response_language", "detectable_format:number_highlighted_sections"),
    witness=lambda kw, ctx: Need(sections=(kw["section_spliter"].strip(), kw["num_sections"])),
)
def multiple_sections(t: Text, section_spliter: str, num_sections: int) -> bool:
    """At least N sections, each opened by ``SPLITTER <number>``."""
    splitter = section_spliter.strip()
    # the \d+ run always ends a match once reached, so the splitter alone decides the search's time
    pattern = user_regex(r"\s?" + splitter + r"\s?\d+\s?", 0, core=splitter)
    try:
        return len(pattern.split(t.raw)) - 1 >= num_sections
    except PatternTimeout:
        return False


declare(
    "detectable_format:multiple_sections",
    avoids=("yes_no", "classification"),
    phrasings={
        "en": (
            "Split your response into {num_sections} sections, opening each with its own label: {section_spliter} 1, "
            "{section_spliter} 2, and so on.",
            "Organise your answer as {num_sections} numbered sections; each one begins with \"{section_spliter}\" "
            "followed by its number.",
            "Your reply must contain {num_sections} sections headed {section_spliter} 1 to {section_spliter} "
            "{num_sections}.",
            "Lay out your response in {num_sections} parts, marking the start of each part with {section_spliter} and "
            "the part's number (e.g. {section_spliter} 1).",
        ),
        "zh": (
            "请把回答分成{num_sections}个部分，依次以“{section_spliter} 1”“{section_spliter} 2”等标记开头。",
            "你的回答须包含{num_sections}个部分，每部分开头写“{section_spliter}”加上序号。",
            "回答要有{num_sections}节，分别以{section_spliter} 1到{section_spliter} {num_sections}开头。",
            "请用“{section_spliter} 序号”标出每一部分的开始，回答共{num_sections}个部分。",
        ),
    },
)


def strip_fences(value: str, lang_tags: tuple[str, ...]) -> str:
    value = value.strip()
    for tag in lang_tags:
        value = value.removeprefix(tag)
    return value.removeprefix("```").removesuffix("```").strip()


@register(
    "detectable_format:json_format",
    group="format",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
            "Return your whole answer as valid JSON (a markdown code fence around it is fine).",
        ),
        "zh": ("整个输出必须是 JSON 格式，可以使用 ``` 之类的 markdown 代码块标记。",),
    },
    conflicts=tuple(i for i in IFEVAL_IDS if i not in ("keywords:forbidden_words", "keywords:existence")),
    witness=lambda kw, ctx: Need(wrap="json"),
)
def json_format(t: Text) -> bool:
    """The whole response (optionally in a ```json fence) parses as JSON."""
    value = strip_fences(t.raw, ("```json", "```Json", "```JSON"))
    try:
        json.loads(value)
    except (ValueError, RecursionError):
        return False
    return True


declare(
    "detectable_format:json_format",
    avoids=("creative", "roleplay", "writing", "rewriting"),
    phrasings={
        "en": (
            "Format your entire output as JSON; wrapping it in a ```json code fence is allowed.",
            "Give the whole response as a single valid JSON value, with no text outside it (a markdown code fence "
            "is fine).",
            "Your reply must be parseable JSON from start to finish; you may put it inside ``` ticks.",
            "Respond only in JSON: the complete answer should be one well-formed JSON document.",
        ),
        "zh": (
            "请把整个回答写成合法的 JSON，可以放在 ```json 代码块中。",
            "你的回答从头到尾都必须是一个有效的 JSON，JSON 之外不要有任何文字（可以用 markdown 代码块包裹）。",
            "请只输出 JSON：整个回答应是一个格式正确的 JSON 文档。",
            "回答必须能被解析为 JSON，允许外面套一层 ``` 标记，除此之外不要写别的内容。",
        ),
    },
)


@register(
    "detectable_format:xml_format",
    group="format",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Wrap your entire output in well-formed XML with a single root element. You can use markdown ticks such as ```.",
            "Return your whole answer as one well-formed XML document (a ```xml fence around it is fine).",
        ),
        "zh": ("整个输出必须是格式良好、只有一个根元素的 XML，可以用 ``` 代码块包裹。",),
    },
    conflicts=tuple(i for i in IFEVAL_IDS if i not in ("keywords:forbidden_words", "keywords:existence"))
    # a copied span or request is the whole answer: it cannot also be an XML document
    + ("detectable_format:json_format", "repeat:repeat_span", "repeat:repeat_change", "repeat:repeat_simple",
       "format:options"),
    source="raif",
    witness=lambda kw, ctx: Need(wrap="xml"),
)
def xml_format(t: Text) -> bool:
    """The whole response (optionally in a ```xml fence) is one well-formed XML document.

    Parsed with defusedxml: entity expansion and external DTDs are refused, so a hostile response
    can neither blow up memory nor reach the file system.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    value = strip_fences(t.raw, ("```xml", "```XML", "```Xml"))
    if not value.startswith("<"):
        return False
    try:
        fromstring(value)
    except (ParseError, DefusedXmlException, ValueError, RecursionError):
        return False
    return True


declare(
    "detectable_format:xml_format",
    avoids=("creative", "roleplay", "writing", "rewriting"),
    phrasings={
        "en": (
            "Give your entire output as one well-formed XML document with a single root element (a ```xml fence "
            "around it is fine).",
            "Format the whole response as XML: one root element containing everything, nothing outside it.",
            "Your reply must be valid XML from start to finish, with exactly one root element; you may use ``` ticks.",
            "Respond only in XML, with a single top-level element wrapping all of the content.",
        ),
        "zh": (
            "请把整个回答写成一个格式良好的 XML 文档，只有一个根元素（可以放在 ```xml 代码块中）。",
            "你的回答必须全部是 XML：一个根元素包含所有内容，根元素之外不要有任何文字。",
            "请只输出 XML，用唯一的顶层元素包住全部内容。",
            "回答从头到尾都应是合法的 XML，且只有一个根元素；可以用 ``` 标记包裹。",
        ),
    },
)


def has_title(text: str) -> bool:
    """Whether ``re.findall(r"<<[^\\n]+>>")`` yields a title with non-blank text, in linear time.

    On each line the greedy match runs from the first ``<<`` to the last ``>>`` at least one
    character later (quadratic to find by regex on lines full of ``<``); no second match fits.
    """
    for line in text.split("\n"):
        start = line.find("<<")
        if start < 0:
            continue
        end = line.rfind(">>")
        if end >= start + 3 and line[start:end + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


@register(
    "detectable_format:title",
    group="format",
    sample=lambda rng, lang: {},
    templates={
        "en": (
            "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
            "Give your answer a title in double angular brackets, e.g. <<my title>>.",
        ),
        "zh": ("回答必须包含一个用双尖括号括起来的标题，例如<<欢乐之诗>>。",),
    },
    witness=lambda kw, ctx: Need(title=True),
    # the title line would be paragraph 1, so "paragraph N starts with W" could not be read naturally
    conflicts=("length_constraints:nth_paragraph_first_word",),
)
def title(t: Text) -> bool:
    """A ``<<title>>`` with non-blank text on one line."""
    return has_title(t.raw)


declare(
    "detectable_format:title",
    avoids=("yes_no", "classification"),
    phrasings={
        "en": (
            "Give your response a title and put it in double angular brackets, like <<a title here>>.",
            "Start with a title wrapped in << and >>, for example <<notes on the plan>>.",
            "Your answer needs a title written inside double angle brackets, e.g. <<my title>>, on a single line.",
            "Include a title in your reply, enclosed as <<title>>.",
        ),
        "zh": (
            "请给回答加一个标题，并用双尖括号括起来，例如<<标题>>。",
            "你的回答需要一个写在<<和>>之间的标题，比如<<我的想法>>。",
            "回答开头请写一个标题，格式为<<标题内容>>，放在同一行内。",
            "请为回答起个标题，用<<>>包住，例如<<简要说明>>。",
        ),
    },
)
