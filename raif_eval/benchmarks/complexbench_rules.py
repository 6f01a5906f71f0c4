"""ComplexBench's rule language (the authors' ``con_rule.py``, re-implemented): a scoring question's
``rule`` such as ``model_length:[300,10000]`` is checked on the parts of the answer an extractor
picked out (``segments``: one string per extracted part, ``[answer]`` for "all", ``[]`` for none).

Semantics kept from the authors, including their punctuation normalisation (ASCII punctuation is
mapped to full-width forms before keyword and start/end comparisons), the "empty extraction"
defaults (most rules fail on it; ``forbidden``/``not_*`` rules pass) and their reading of arguments:
a text argument keeps its spaces (``model_startswith: 因`` needs the space), list items are
stripped except in ``model_keyword_num_each``, and an argument their code cannot read (a missing
or malformed list, an empty one where a number is needed) is False here, where their script stops.
"""

from __future__ import annotations

import ast
import re
import string
from typing import Any

_ZH_PUNCT = "！\"＃＄％＆'（）＊+，-。/：；<=>？@[＼]＾_`{|}~"
_TO_ZH = str.maketrans(string.punctuation, _ZH_PUNCT)


class UnknownRule(ValueError):
    """A rule name this implementation does not know (the question is then judged instead)."""


def zh_punct(text: str) -> str:
    return text.translate(_TO_ZH).replace("“", '"').replace("”", '"')


def unquote(s: str) -> str:
    """Leading newlines dropped and one pair of surrounding quotes/backticks removed."""
    if not s:
        return ""
    s = s.lstrip("\n")
    if s and s[0] in '"“`' and s[-1] in '"”`':
        return s[1:-1]
    return s


def has_keywords(s: str, words: list[str]) -> bool:
    return all(zh_punct(w) in s for w in words)


def no_forbidden(s: str, words: list[str]) -> bool:
    return not any(zh_punct(w) in s for w in words)


def starts(s: str, prefix: str) -> bool:
    p = zh_punct(prefix)
    return s.startswith(p) or s.startswith(p + "。") or s.startswith(p + "？")


def ends(s: str, suffix: str) -> bool:
    p = zh_punct(suffix)
    return s.endswith(p) or s.endswith(p + "。") or s.endswith(p + "？")


def in_len(s: str, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= len(s) <= bounds[1]


def in_word_len(s: str, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= len(s.split()) <= bounds[1]


def only_punct(s: str, allowed: list[str]) -> bool:
    allowed = [zh_punct(p) for p in allowed]
    return not any((p := zh_punct(ch)) in s and p not in allowed for ch in string.punctuation)


class _Unreadable(Exception):
    """An argument the authors' code cannot read (their script stops on it); the verdict is False."""


def _pattern(name: str, listy: bool) -> re.Pattern[str]:
    # The authors' regexes: a list argument runs from "[" to a "]" that ends the rule (one line);
    # a text argument is everything after the colon to the end of the rule, spaces included.
    if listy:
        return re.compile(re.escape(name) + r":(\[.*?\])$")
    return re.compile(re.escape(name) + r":(.*?)$", re.DOTALL)


_LIST_RULES = (
    "model_keyword_each",
    "model_keyword_num_each",
    "model_keyword_num",
    "model_keyword",
    "model_forbidden_word_each",
    "model_forbidden_word",
    "model_number_each",
    "model_length_each",
    "model_length_word_each",
    "model_length_word",
    "model_length",
    "model_starts_with_list_each",
    "model_constraint_punc_each",
    "model_constraint_punc",
)
_TEXT_RULES = (
    "model_startswith_each",
    "model_startswith",
    "model_endswith_each",
    "model_endswith",
    "model_not_startswith",
    "model_not_endswith_each",
    "model_not_endswith",
)
_PATTERNS = {n: _pattern(n, True) for n in _LIST_RULES} | {n: _pattern(n, False) for n in _TEXT_RULES}
_START_END = re.compile(r"model_startswith:(.*?)\nmodel_endswith:(.*?)$", re.DOTALL)
_NUM_FORBIDDEN = re.compile(
    r"model_keyword_num_each:(\[.*?\])\nmodel_forbidden_word_each:(\[.*?\])$", re.DOTALL
)


def _arg(rule: str, name: str) -> str:
    found = _PATTERNS[name].search(rule)
    if found is None:
        raise _Unreadable(name)
    return found.group(1)


def _items(arg: str, strip: bool = True) -> list[str]:
    """A ``[a, b]`` argument's items; the authors strip them except in ``model_keyword_num_each``."""
    parts = arg.strip("[]").split(",")
    return [p.strip() for p in parts] if strip else parts


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Unreadable(text) from None


def _bounds(arg: str) -> Any:
    """A ``[lo, hi]`` argument read as a literal (the authors ``eval`` it); its items are looked up
    only when a length is compared, as theirs are."""
    try:
        return ast.literal_eval(arg)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise _Unreadable(arg) from None


def within(n: int, b: Any) -> bool:
    # not a chained comparison: the authors test the lower bound first, and a one-item list is
    # read only that far when the length falls below it
    return n >= b[0] and n <= b[1]  # noqa: PLR1716


def check_rule(rule: str, segments: list[str]) -> bool:
    """Whether the extracted ``segments`` satisfy ``rule``, as the authors' ``decompose_judge``
    decides it: rules are recognised by name in their order, arguments are read by their regexes
    (whitespace kept), and an argument their code cannot read (it stops their script) is False."""
    try:
        return _check(rule, list(segments))
    except _Unreadable:
        return False
    except (TypeError, IndexError, KeyError):  # bounds such as model_length:['a'] or [1]
        return False


def _check(point: str, rs: list[str]) -> bool:
    empty = not rs or (len(rs) == 1 and rs[0] == "")
    parts = [r for r in rs if r != ""]

    if "model_keyword_each" in point:
        if empty:
            return False
        keys = _items(_arg(point, "model_keyword_each"))
        return all(has_keywords(zh_punct(r), keys) for r in parts)
    if "model_keyword_num_each" in point and "model_forbidden_word_each" in point:
        if empty:
            return False
        found = _NUM_FORBIDDEN.search(point)
        if found is None:
            raise _Unreadable(point)
        spec, banned = _items(found.group(1), strip=False), _items(found.group(2), strip=False)
        if len(spec) < 2:
            raise _Unreadable(found.group(1))
        lo, hi, keys = _int(spec[0]), _int(spec[1]), spec[2:]
        return all(
            lo <= sum(has_keywords(r, [k]) for k in keys) <= hi
            and not any(has_keywords(r, [f]) for f in banned)
            for r in parts
        )
    if "model_keyword_num_each" in point:
        if empty:
            return False
        spec = _items(_arg(point, "model_keyword_num_each"), strip=False)
        if len(spec) < 2:
            raise _Unreadable(point)
        lo, hi, keys = _int(spec[0]), _int(spec[1]), spec[2:]
        return all(lo <= sum(has_keywords(r, [k]) for k in keys) <= hi for r in parts)
    if "model_keyword_num" in point:
        if empty:
            return False
        spec = _items(_arg(point, "model_keyword_num"))
        if len(spec) < 2:
            raise _Unreadable(point)
        lo, hi, keys = _int(spec[0]), _int(spec[1]), spec[2:]
        return lo <= sum(has_keywords(rs[0], [k]) for k in keys) <= hi
    if "model_keyword" in point:
        if empty:
            return False
        return has_keywords(rs[0], _items(_arg(point, "model_keyword")))
    if "model_forbidden_word_each" in point:
        if empty:
            return True
        banned = _items(_arg(point, "model_forbidden_word_each"))
        return all(no_forbidden(zh_punct(r), banned) for r in parts)
    if "model_forbidden_word" in point:
        if empty:
            return True
        return no_forbidden(rs[0], _items(_arg(point, "model_forbidden_word")))
    if "model_number_each" in point:
        if empty:
            return False
        return within(len(rs), _bounds(_arg(point, "model_number_each")))
    if "model_length_each" in point:
        if empty:
            return False
        b = _bounds(_arg(point, "model_length_each"))
        return all(within(len(r), b) or within(len(unquote(r)), b) for r in parts)
    if "model_length_word_each" in point:
        if empty:
            return False
        b = _bounds(_arg(point, "model_length_word_each"))
        return all(within(len(r.split()), b) or within(len(unquote(r).split()), b) for r in parts)
    if "model_length_word" in point:
        if empty:
            return False
        b = _bounds(_arg(point, "model_length_word"))
        return within(len(rs[0].split()), b) or within(len(unquote(rs[0]).split()), b)
    if "model_length:" in point:
        if empty:
            return False
        b = _bounds(_arg(point, "model_length"))
        return within(len(unquote(rs[0])), b) or within(len(rs[0]), b)
    if "model_startswith_each" in point:
        if empty:
            return False
        prefix = _arg(point, "model_startswith_each")
        return all(starts(zh_punct(r), prefix) for r in parts)
    if "model_starts_with_list_each" in point:
        if empty:
            return False
        prefixes = _items(_arg(point, "model_starts_with_list_each"))
        return len(rs) == len(prefixes) and all(
            r == "" or starts(zh_punct(r), p) for r, p in zip(rs, prefixes, strict=True)
        )
    if "model_startswith" in point and "model_endswith" in point:
        if empty:
            return False
        found = _START_END.search(point)
        if found is None:
            raise _Unreadable(point)
        first = zh_punct(rs[0])
        return starts(first, found.group(1)) and ends(first, found.group(2))
    if "model_startswith" in point:
        if empty:
            return False
        return starts(zh_punct(rs[0]), _arg(point, "model_startswith"))
    if "model_endswith_each" in point:
        if empty:
            return False
        suffix = _arg(point, "model_endswith_each")
        targets = rs[:-1] if len(rs) != 1 else rs  # the authors skip the last part
        return all(
            r == "" or ends(unquote(zh_punct(r)), suffix) or ends(zh_punct(r), suffix) for r in targets
        )
    if "model_endswith" in point:
        if empty:
            return False
        return ends(zh_punct(rs[0]), _arg(point, "model_endswith"))
    if "model_constraint_punc_each" in point:
        if empty:
            return False
        allowed = _items(_arg(point, "model_constraint_punc_each"))
        return all(
            only_punct(unquote(zh_punct(r)), allowed) or only_punct(zh_punct(r), allowed) for r in parts
        )
    if "model_constraint_punc" in point:
        if empty:
            return False
        return only_punct(unquote(rs[0]), _items(_arg(point, "model_constraint_punc")))
    if "model_not_startswith" in point:
        if empty:
            return True
        return not starts(zh_punct(rs[0]), _arg(point, "model_not_startswith"))
    if "model_not_endswith_each" in point:
        if empty:
            return True
        suffix = _arg(point, "model_not_endswith_each")
        return all(not ends(zh_punct(r), suffix) for r in parts)
    if "model_not_endswith" in point:
        if empty:
            return True
        return not ends(zh_punct(rs[0]), _arg(point, "model_not_endswith"))
    # the authors return 2 ("not a rule of mine") here, which their aggregation counts as satisfied;
    # we ask the judge instead
    raise UnknownRule(f"unknown rule {point!r}")


# what the authors' extractor prompt asks to precede the extracted object, and the notes GPT-4 adds
# after it, which their ``preprocess`` cuts off
_OBJECT_HEADER = "【模型回复中评分问题的评测对象】\n"
_NOTES = ("\n\n请注意", "\n\n**注意", "\n\n注意")
_MARKERS = ("评分对象：", "评测对象：")
OUR_MARKER = "Extracted:"  # our English extractor prompt's


def parse_extraction(answer: str, reply: str) -> list[str]:
    """Segments from the extractor's reply, as the authors' ``preprocess`` reads it: the part after
    the object header; trailing notes cut; then the text after the last ``评分对象：`` or ``评测对象：``
    (or after our ``Extracted:``), else after the last full-width colon, else the whole reply.
    Starting with ``all`` -> the whole answer; containing ``None`` -> nothing; else the parts split
    on ``||``, each stripped. (The text is not stripped before the ``all`` test, as theirs is not.)"""
    text = reply
    if _OBJECT_HEADER in text:
        text = text.rsplit(_OBJECT_HEADER, 1)[1]
    for note in _NOTES:
        text = text.rsplit(note, 1)[0]
    for marker in _MARKERS:
        if marker in text:
            tail = text.rsplit(marker, 1)[1]
            break
    else:
        if OUR_MARKER in text:
            tail = text.rsplit(OUR_MARKER, 1)[1].lstrip(" ")  # "Extracted: all": the space is ours
        elif "：" in text:
            tail = text.rsplit("：", 1)[1]
        else:
            tail = text
    if tail.startswith("all"):
        return [answer]
    if "None" in tail:
        return []
    return [p.strip() for p in tail.split("||")]
