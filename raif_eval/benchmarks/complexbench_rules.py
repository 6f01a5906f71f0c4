"""ComplexBench's rule language (the authors' ``con_rule.py``, re-implemented): a scoring question's
``rule`` such as ``model_length:[300,10000]`` is checked on the parts of the answer an extractor
picked out (``segments``: one string per extracted part, ``[answer]`` for "all", ``[]`` for none).

Semantics kept from the authors, including their punctuation normalisation (ASCII punctuation is
mapped to full-width forms before keyword and start/end comparisons) and the "empty extraction"
defaults (most rules fail on it; ``forbidden``/``not_*`` rules pass).
"""

from __future__ import annotations

import ast
import string

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


def _list_arg(raw: str) -> list[str]:
    return [x.strip() for x in raw.strip().strip("[]").split(",")]


def _range_arg(raw: str) -> tuple[int, int]:
    value = ast.literal_eval(raw.strip())
    return int(value[0]), int(value[1])


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


def parse_rule(rule: str) -> dict[str, str]:
    """``name:arg`` lines -> {name: arg}; argument text runs to the end of its line."""
    out = {}
    for line in rule.strip().split("\n"):
        name, sep, arg = line.partition(":")
        if not sep:
            raise UnknownRule(f"cannot read rule line {line!r}")
        out[name.strip()] = arg.strip()
    return out


def check_rule(rule: str, segments: list[str]) -> bool:
    """Whether the extracted ``segments`` satisfy ``rule``."""
    parts = parse_rule(rule)
    names = set(parts)
    segs = [s for s in segments]
    empty = not segs or (len(segs) == 1 and segs[0] == "")
    nonblank = [s for s in segs if s != ""]

    if names == {"model_keyword_num_each", "model_forbidden_word_each"}:
        if empty:
            return False
        lo, hi, *keys = _list_arg(parts["model_keyword_num_each"])
        banned = _list_arg(parts["model_forbidden_word_each"])
        return all(
            int(lo) <= sum(has_keywords(r, [k]) for k in keys) <= int(hi)
            and not any(has_keywords(r, [f]) for f in banned)
            for r in nonblank
        )
    if names == {"model_startswith", "model_endswith"}:
        if empty:
            return False
        first = zh_punct(segs[0])
        return starts(first, parts["model_startswith"]) and ends(first, parts["model_endswith"])
    if len(names) != 1:
        raise UnknownRule(f"unknown rule combination {sorted(names)}")
    ((name, arg),) = parts.items()

    # rules that pass on an empty extraction
    if name == "model_forbidden_word_each":
        return empty or all(no_forbidden(zh_punct(r), _list_arg(arg)) for r in nonblank)
    if name == "model_forbidden_word":
        return empty or no_forbidden(segs[0], _list_arg(arg))
    if name == "model_not_startswith":
        return empty or not starts(zh_punct(segs[0]), arg)
    if name in ("model_not_endswith_each", "model_not_endswith"):
        targets = nonblank if name.endswith("_each") else segs[:1]
        return empty or all(not ends(zh_punct(r), arg) for r in targets)
    if empty:
        return False

    if name == "model_keyword_each":
        return all(has_keywords(zh_punct(r), _list_arg(arg)) for r in nonblank)
    if name == "model_keyword":
        return has_keywords(segs[0], _list_arg(arg))
    if name in ("model_keyword_num_each", "model_keyword_num"):
        lo, hi, *keys = _list_arg(arg)
        targets = nonblank if name.endswith("_each") else segs[:1]
        return all(int(lo) <= sum(has_keywords(r, [k]) for k in keys) <= int(hi) for r in targets)
    if name == "model_number_each":
        least, most = _range_arg(arg)
        return least <= len(segs) <= most
    if name == "model_length_each":
        b = _range_arg(arg)
        return all(in_len(r, b) or in_len(unquote(r), b) for r in nonblank)
    if name == "model_length_word_each":
        b = _range_arg(arg)
        return all(in_word_len(r, b) or in_word_len(unquote(r), b) for r in nonblank)
    if name == "model_length_word":
        b = _range_arg(arg)
        return in_word_len(segs[0], b) or in_word_len(unquote(segs[0]), b)
    if name == "model_length":
        b = _range_arg(arg)
        return in_len(unquote(segs[0]), b) or in_len(segs[0], b)
    if name == "model_startswith_each":
        return all(starts(zh_punct(r), arg) for r in nonblank)
    if name == "model_starts_with_list_each":
        prefixes = _list_arg(arg)
        return len(segs) == len(prefixes) and all(
            r == "" or starts(zh_punct(r), p) for r, p in zip(segs, prefixes, strict=True)
        )
    if name == "model_startswith":
        return starts(zh_punct(segs[0]), arg)
    if name == "model_endswith_each":
        targets = segs[:-1] if len(segs) != 1 else segs  # the authors skip the last part
        return all(r == "" or ends(unquote(zh_punct(r)), arg) or ends(zh_punct(r), arg) for r in targets)
    if name == "model_endswith":
        return ends(zh_punct(segs[0]), arg)
    if name == "model_constraint_punc_each":
        allowed = _list_arg(arg)
        return all(
            only_punct(unquote(zh_punct(r)), allowed) or only_punct(zh_punct(r), allowed) for r in nonblank
        )
    if name == "model_constraint_punc":
        return only_punct(unquote(segs[0]), _list_arg(arg))
    raise UnknownRule(f"unknown rule {name!r}")


def parse_extraction(
    answer: str, reply: str, markers: tuple[str, ...] = ("Extracted:", "评分对象：", "评测对象：")
) -> list[str]:
    """Segments from the extractor's reply: the text after the last marker (ours, or the authors'
    Chinese ones; else the whole reply); ``all`` -> the whole answer, ``None`` -> nothing, else the
    parts split on ``||`` (the authors' ``preprocess``)."""
    tail = reply
    for marker in markers:
        if marker in reply:
            tail = reply.rsplit(marker, 1)[1]
            break
    tail = tail.strip()
    if tail.startswith("all"):
        return [answer]
    if "None" in tail:
        return []
    return [p.strip() for p in tail.split("||")]
