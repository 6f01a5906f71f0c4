"""Pieces shared by checker modules: relations, kwargs schema fragments, samplers, word lists."""

from __future__ import annotations

import random
import re
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


@lru_cache(maxsize=4096)
def user_regex(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern:
    """IFEval treats keywords as regular expressions; one that does not compile is matched
    literally instead of raising."""
    try:
        return re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        return re.compile(re.escape(pattern), flags)


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
