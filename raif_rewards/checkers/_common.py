"""Pieces shared by checker modules: relations, kwargs schema fragments, samplers, word lists."""

from __future__ import annotations

import random
import re
import sys
from functools import lru_cache

from raif_rewards.registry import AT_LEAST, LESS_THAN, RELATIONS
from raif_rewards.text import Text

RELATION_SCHEMA = {"type": "string", "enum": list(RELATIONS)}


def has_comma(text: str) -> bool:
    """Whether ``text`` has a comma of either width or a Chinese enumeration comma (what
    ``punctuation:no_comma`` can forbid)."""
    return "," in text or "，" in text or "、" in text


def int_schema(minimum: int = 0, maximum: int | None = None) -> dict:
    s: dict = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        s["maximum"] = maximum
    return s


def compare(actual: int, relation: str, threshold: int) -> bool:
    """``actual`` against ``threshold`` under an IFEval relation (English or Chinese wording)."""
    if relation in LESS_THAN:
        return actual < threshold
    if relation in AT_LEAST:
        return actual >= threshold
    return False


def relation_zh(relation: str) -> str:
    return "少于" if relation in LESS_THAN else "至少"


def sample_relation(rng: random.Random) -> str:
    return rng.choice(("less than", "at least"))


#: seconds one search of a pattern that could backtrack without end may run (see :func:`user_regex`)
USER_REGEX_TIMEOUT = 0.25
#: alternatives (``a|b``, ``x?``) one match attempt of a stdlib-run pattern may try at most
_MAX_BRANCHINGS = 256


class PatternTimeout(Exception):
    """A keyword pattern's search ran out of its time budget: the checker counts as not satisfied."""


class UserRegex:
    """A keyword from a ground truth, as the regex IFEval makes of it, searched in bounded time.

    Patterns without repetition (every real keyword: words, phrases, ``P.S.``, ``colou?r``) run
    under stdlib ``re`` exactly as IFEval runs them, in time linear in the text. Any other pattern
    (``(a+)+$`` took 11 s on 26 characters) runs under the ``regex`` engine, which reads such
    patterns the same way but can stop a search after :data:`USER_REGEX_TIMEOUT` seconds; then
    :class:`PatternTimeout` is raised and the checker's verdict is "not satisfied".
    """

    __slots__ = ("pattern", "_re", "_bounded")

    def __init__(self, pattern: str, flags: int, core: str | None = None):
        self.pattern = pattern
        self._bounded = None
        try:
            self._re = re.compile(pattern, flags)
        except (re.error, RecursionError, OverflowError):
            self._re = re.compile(re.escape(pattern), flags)
            return
        if not _linear(core if core is not None else pattern, flags):
            import regex

            try:
                self._bounded = regex.compile(pattern, flags)
            except Exception:  # a pattern only stdlib re reads: match it literally
                self._re = re.compile(re.escape(pattern), flags)

    def _call(self, name: str, text: str):
        if self._bounded is None:
            return getattr(self._re, name)(text)
        try:
            return getattr(self._bounded, name)(text, timeout=USER_REGEX_TIMEOUT)
        except TimeoutError:
            raise PatternTimeout(f"pattern {self.pattern[:80]!r} ran past {USER_REGEX_TIMEOUT}s") from None

    def search(self, text: str):
        return self._call("search", text)

    def findall(self, text: str) -> list:
        return self._call("findall", text)

    def split(self, text: str) -> list:
        return self._call("split", text)


@lru_cache(maxsize=4096)
def user_regex(pattern: str, flags: int = re.IGNORECASE, core: str | None = None) -> UserRegex:
    """IFEval treats keywords as regular expressions; one that does not compile is matched
    literally instead of raising. Searches raise :class:`PatternTimeout` past their time budget.
    ``core`` is the user's part of a pattern built around it (judged for linear time instead)."""
    return UserRegex(pattern, flags, core)


def _linear(pattern: str, flags: int) -> bool:
    """Whether a backtracking search of ``pattern`` is linear in the text: no repetition but ``?``,
    no backreference or lookaround, and few alternatives per attempt."""
    if sys.version_info >= (3, 11):
        from re import _parser as sre_parse
    else:
        import sre_parse
    try:
        tree = sre_parse.parse(pattern, flags)
    except Exception:
        return False
    return _branchings(list(tree.data)) <= _MAX_BRANCHINGS


def _branchings(items: list) -> int:
    """How many ways one match attempt may try; over ``_MAX_BRANCHINGS`` for a construct whose
    backtracking is not bounded by the pattern alone."""
    total = 1
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN", "AT", "CATEGORY"):
            ways = 1
        elif name == "SUBPATTERN":
            ways = _branchings(list(arg[-1]))
        elif name == "BRANCH":
            ways = sum(_branchings(list(b)) for b in arg[1])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[1] <= 1:
            ways = 2 * _branchings(list(arg[2]))  # "x?": taken or not
        else:  # unbounded repetition, backreferences, lookarounds: the bounded engine's
            return _MAX_BRANCHINGS + 1
        total *= ways
        if total > _MAX_BRANCHINGS:
            return total
    return total


def never_in_loose(t: Text, **kwargs) -> bool:
    """``loose_settled`` of an "at least N" count that no loose variant can raise: the count is a sum
    over lines of something that removing other lines, outer whitespace or asterisks cannot add to."""
    return True


_PLAIN_ASCII = re.compile(r"[A-Za-z0-9 ]+")


@lru_cache(maxsize=4096)
def _plain_lower(pattern: str) -> str | None:
    return pattern.lower() if _PLAIN_ASCII.fullmatch(pattern) else None


def ascii_literal(pattern: str, t: Text) -> str | None:
    """The lower-cased ``pattern`` when a case-insensitive regex search for it in ``t`` is the same as
    a substring search in ``t.lower``: a plain ASCII literal (letters, digits, spaces) in an ASCII
    text. ``None`` otherwise (in Unicode texts, re's case folding also pairs ASCII letters with e.g.
    U+017F and U+0131), and the caller uses the regex."""
    plain = _plain_lower(pattern)
    return plain if plain is not None and t.is_ascii else None


# Common, unambiguous English nouns for sampled keywords (written for this project).
WORDS = (
    "river mountain garden window engine market teacher student doctor village harbor bridge "
    "library kitchen forest island planet rocket camera museum orchestra festival journey "
    "puzzle lantern compass ladder mirror violin notebook painter farmer sailor pilot castle "
    "desert glacier meadow valley canyon thunder rainbow sunrise sunset breeze autumn winter "
    "summer spring harvest recipe bakery coffee tea chocolate honey pepper ginger lemon apple "
    "orange banana cherry tomato potato carrot onion garlic butter cheese bread cookie pizza "
    "budget invoice contract meeting project deadline strategy customer partner feedback "
    "network server database algorithm protocol browser keyboard battery signal circuit "
    "telescope microscope magnet crystal fossil volcano ocean coral dolphin eagle falcon tiger "
    "elephant giraffe penguin rabbit turtle butterfly spider beetle ticket passport luggage "
    "airport station highway tunnel bicycle scooter subway helmet jacket sweater umbrella "
    "blanket pillow candle diamond silver copper marble granite velvet cotton leather paper "
    "pencil eraser chalk canvas sculpture poem novel chapter legend myth history science "
    "theory experiment evidence research policy election justice freedom courage patience "
    "kindness wisdom humor memory dream shadow silence echo whisper melody rhythm harmony"
).split()

WORDS_ZH = (
    "河流 山脉 花园 窗户 引擎 市场 老师 学生 医生 村庄 港口 桥梁 图书馆 厨房 森林 岛屿 星球 "
    "相机 博物馆 节日 旅程 灯笼 指南针 镜子 笔记本 农民 城堡 沙漠 草原 山谷 彩虹 日出 秋天 "
    "冬天 夏天 春天 收获 食谱 咖啡 茶叶 蜂蜜 苹果 预算 合同 会议 项目 策略 客户 反馈 网络 "
    "数据库 算法 电池 望远镜 火山 海洋 海豚 老虎 熊猫 护照 车站 自行车 雨伞 蜡烛 诗歌 小说 "
    "历史 科学 实验 证据 政策 勇气 耐心 智慧 记忆 梦想 影子 旋律"
).split()


def sample_words(rng: random.Random, k: int, lang: str = "en") -> list[str]:
    return rng.sample(WORDS_ZH if lang == "zh" else WORDS, k)


#: Google IFEval's 25 instruction ids (for conflict tables that name "all of IFEval").
IFEVAL_IDS = (
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "combination:repeat_prompt",
    "combination:two_responses",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:constrained_response",
    "detectable_format:json_format",
    "detectable_format:multiple_sections",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:title",
    "keywords:existence",
    "keywords:forbidden_words",
    "keywords:frequency",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:nth_paragraph_first_word",
    "length_constraints:number_paragraphs",
    "length_constraints:number_sentences",
    "length_constraints:number_words",
    "punctuation:no_comma",
    "startend:end_checker",
    "startend:quotation",
)
