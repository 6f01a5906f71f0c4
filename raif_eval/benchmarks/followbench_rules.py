"""FollowBench's rule-checked sources (the authors' ``rule_based_evaluation.py``, re-implemented):
sources with a verifiable target, the two format examples checked by rules, and example constraints.

Each check takes (generation, target, level) and says whether the generation satisfies all the
constraints of that level (the summarisation sources add one constraint per level).
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable

_SENT_END = re.compile(r"[.!?]")
_PUNCT = set(string.punctuation)


def sentences(text: str) -> list[str]:
    return [s for s in _SENT_END.split(text) if s]


def has_word(text: str, word: str) -> bool:
    return re.search(r"\b" + re.escape(word) + r"\b", text) is not None


def nth_sentence_has(text: str, n: int, word: str) -> bool:
    sents = sentences(text)
    return len(sents) >= n and has_word(sents[n - 1], word)


def present_perfect(sentence: str) -> bool:
    return re.search(r"\b(has|have)\s+\w+", sentence) is not None


def present_continuous(sentence: str) -> bool:
    return re.search(r"\b(am|is|are)\s+\w+ing\b", sentence) is not None


def n_words(text: str) -> int:
    return len(text.split(" "))


def _levels(*checks: Callable[[str], bool]) -> Callable[[str, str, int], bool]:
    """A source whose level L must pass the first L checks."""
    return lambda gen, target, level: all(check(gen) for check in checks[:level])


def _last_match(pattern: str) -> Callable[[str, str, int], bool]:
    def check(gen: str, target: str, level: int) -> bool:
        found = re.findall(pattern, gen)
        return bool(found) and found[-1] == target

    return check


def _conll(gen: str, target: str, level: int) -> bool:
    try:
        options = ast.literal_eval(target)
    except (ValueError, SyntaxError):
        return False
    return gen in options


RULES: dict[str, Callable[[str, str, int], bool]] = {
    "E2E": lambda g, t, lv: g == t,
    "text_editing": lambda g, t, lv: g == t,
    "WIKIEVENTS": lambda g, t, lv: all(line in t.split("\n") for line in g.split("\n")),
    "CONLL2003": _conll,
    "self_made_space": lambda g, t, lv: t in g,
    "BBH_logical": _last_match(r"\([A-Z]\)"),
    "BBH_time": _last_match(r"\d{2}/\d{2}/\d{4}"),
    "gsm_8k": _last_match(r"\$\d+"),
    "cnn_dailymail": _levels(
        lambda g: len(sentences(g)) == 3,
        lambda g: all(len(s.split()) < 15 for s in sentences(g)),
        lambda g: (
            nth_sentence_has(g, 1, "Potter")
            and nth_sentence_has(g, 2, "actor")
            and nth_sentence_has(g, 3, "films")
        ),
        lambda g: not nth_sentence_has(g, 2, "lavish"),
        lambda g: len(sentences(g)) >= 3 and present_perfect(sentences(g)[2]),
    ),
    "xsum": _levels(
        lambda g: len(sentences(g)) == 1,
        lambda g: n_words(g) < 20,
        lambda g: not has_word(g, "Newton Stewart"),
        present_continuous,
        lambda g: has_word(g, "operation"),
    ),
    "samsum": _levels(
        lambda g: len(sentences(g)) == 1,
        lambda g: n_words(g) < 15,
        lambda g: has_word(g, "stuff"),
        lambda g: re.search("procrast", g, re.IGNORECASE) is None,
        lambda g: sum(ch in _PUNCT for ch in g) == 1,
    ),
    "gigaword": _levels(
        lambda g: n_words(g) == 8,
        lambda g: not any(ch in _PUNCT for ch in g),
        str.islower,
        lambda g: not has_word(g, "bus"),
        lambda g: has_word(g, "in"),
    ),
    "arxiv": _levels(
        lambda g: len(sentences(g)) == 1,
        lambda g: n_words(g) <= 20,
        lambda g: g[:2] == "We",
        lambda g: has_word(g, "activations"),
        lambda g: not has_word(g, "transformer"),
    ),
}

RULE_FORMAT_EXAMPLES = (22, 30)  # format-category example ids the authors check by rules


def _paragraphs_numbered(text: str) -> bool:
    return all(re.match(r"\d+\.", p.lstrip()) for p in text.split("\n\n") if p.lstrip())


def format_22(gen: str, level: int) -> bool:
    paras = gen.split("\n\n")
    checks = [
        lambda: len(paras) == 3,
        lambda: len(paras) >= 3 and all(len(sentences(p)) < 3 for p in paras[:3]),
        lambda: all(len(s.split()) > 20 for s in sentences(gen)),
        lambda: _paragraphs_numbered(gen),
    ]
    if level <= 4:
        return all(c() for c in checks[:level])
    # level 5 adds a closing paragraph "Those are suggestions", so four paragraphs are expected
    return len(paras) == 4 and all(c() for c in checks[1:]) and gen.endswith("Those are suggestions")


_SPLIT_30 = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?)\s")


def format_30(gen: str, level: int) -> bool:
    sents = _SPLIT_30.split(gen)
    keyed = [s for s in sents if any(f"{n}." in s for n in range(1, 6))]
    checks = [
        "**" in gen,
        len(re.findall(r"\*\*[\d].+?:", gen)) == 5,
        all(len(s.split(".")) < 3 for s in keyed),
        all(10 <= len(s.split()) <= 15 for s in sents),
        all(not w.endswith("-ly") for s in sents for w in s.split()),
    ]
    return all(checks[:level])


def example_template_match(target: str, generation: str) -> bool:
    """Example constraints: the answer must fill the target template (``{answer}`` is a wildcard)."""
    template = target.replace("{instruction}\n", "").replace("{{", "{").replace("}}", "}")
    pieces = template.split("{answer}")
    pattern = ".*".join(re.escape(p) for p in pieces)
    return re.fullmatch(pattern, generation) is not None
