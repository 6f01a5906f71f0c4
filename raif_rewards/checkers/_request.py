"""What request-dependent rules read from a seed request: is it a yes/no question, about code, a
single-answer task, a classification. Offline heuristics on the text, plus the seed's task type."""

from __future__ import annotations

import re
from functools import lru_cache

from raif_rewards.registry import Request

_AUX = frozenset(
    "is are am was were do does did can could should would will shall may might must has have had "
    "isn't aren't wasn't weren't don't doesn't didn't can't couldn't shouldn't wouldn't won't hasn't haven't".split()
)
_ZH_YES_NO = re.compile(r"(吗|是否|是不是|能不能|能否|可不可以|会不会|有没有|对不对)")
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$)")
_CODE = re.compile(
    r"\b(code|function|script|program|sql|regex|regular expression|class|method|python|javascript|typescript|java|"
    r"bash|shell|c\+\+|rust|golang|html|css|json schema|api|implement|compile|debug)\b|代码|函数|脚本|程序|编程|正则",
    re.IGNORECASE,
)
_CLASSIFY = re.compile(r"\b(classify|categori[sz]e|which category|label each|sentiment of)\b|分类|归类|归为", re.IGNORECASE)

#: task types whose request has one right answer (two different answers would contradict it)
SINGLE_ANSWER_TASKS = frozenset({"classification", "extraction", "qa", "reasoning", "math"})
#: task types whose answer is short by nature (a long word count is a trap there)
SHORT_ANSWER_TASKS = frozenset({"classification", "extraction"})


@lru_cache(maxsize=8192)
def is_yes_no_question(req: Request) -> bool:
    """The whole request is one question answerable by yes or no ("Is ...?", "Should ...?", "……吗？")."""
    text = req.text.strip()
    if req.lang == "zh":
        return text.endswith(("？", "?")) and _ZH_YES_NO.search(text) is not None and len(_SENTENCE_END.findall(text)) == 1
    if not text.endswith("?") or len(_SENTENCE_END.findall(text)) != 1:
        return False
    first = text.split(maxsplit=1)[0].lower().strip("\"'(")
    return first in _AUX


@lru_cache(maxsize=8192)
def is_code_request(req: Request) -> bool:
    return req.task_type == "coding" or _CODE.search(req.text) is not None


@lru_cache(maxsize=8192)
def is_single_answer(req: Request) -> bool:
    return req.task_type in SINGLE_ANSWER_TASKS or is_yes_no_question(req)


@lru_cache(maxsize=8192)
def is_short_answer(req: Request) -> bool:
    return req.task_type in SHORT_ANSWER_TASKS or _CLASSIFY.search(req.text) is not None


def has_comma(text: str) -> bool:
    return "," in text or "，" in text or "、" in text
