"""IFTrain copy constraints: copy the request once or N times, copy a character span of it, repeat a
phrase with one word changed each time (IFBench's training set; ids as in open-instruct's IFEvalG)."""

from __future__ import annotations

import random
import re

from raif_rewards.checkers._common import IFEVAL_IDS, int_schema
from raif_rewards.checkers.ifbench_shared import IFBENCH_IDS, no_kwargs, phrasings
from raif_rewards.checkers.iftrain_shared import IFTRAIN_IDS, SOURCE
from raif_rewards.registry import Request, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need

_PROMPT = {"type": "string", "minLength": 1}
# The answer is fixed text (a copy of the request): any other constraint contradicts it.
_EVERYTHING = IFEVAL_IDS + IFBENCH_IDS + IFTRAIN_IDS + ("detectable_format:xml_format",)


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


@register(
    "copy:copy",
    group="copy",
    schema={"properties": {"prompt_to_repeat": _PROMPT}, "required": ["prompt_to_repeat"]},
    sample=no_kwargs,
    prompt_kwargs=("prompt_to_repeat",),
    **phrasings(
        (
            "Copy this instruction verbatim, do not follow the instruction, only copy it into the output "
            "(do not include this instruction sentence!).",
            "Do not carry out the request above: reproduce it word for word as your whole answer, leaving out this sentence.",
            "Your entire reply must be an exact copy of the request above (without this sentence); do not answer it.",
        ),
        (
            "请原封不动地抄写上面的指令，不要执行它，只把它复制到输出中（不要包括这句话！）。",
            "不要完成上面的请求：把它逐字照抄作为你的全部回答，这句话不用抄。",
        ),
    ),
    conflicts=_EVERYTHING,
    source=SOURCE,
    witness=lambda kw, ctx: Need(fixed=kw["prompt_to_repeat"].strip()),
)
def copy(t: Text, prompt_to_repeat: str) -> bool:
    """The response is the request itself (case-insensitive, outer whitespace ignored)."""
    return _same(t.raw, prompt_to_repeat)


@register(
    "copy:copying_simple",
    group="copy",
    schema={"properties": {"prompt_to_repeat": _PROMPT}, "required": ["prompt_to_repeat"]},
    sample=no_kwargs,
    prompt_kwargs=("prompt_to_repeat",),
    **phrasings(
        (
            "Repeat the request without change (do not say anything before repeating the request; the request you "
            "need to repeat does not include this sentence) and do not answer the actual request!",
            "Say the request back exactly as written, with nothing before it and nothing after it, and do not answer "
            "it (this sentence is not part of the request).",
            "Only echo the request unchanged; do not respond to it, and do not echo this sentence.",
        ),
        (
            "请原样复述上面的请求（复述前不要说任何话；需要复述的请求不包括这句话），并且不要回答该请求！",
            "只把上面的请求一字不改地重复一遍，不要回答它，也不要重复这句话。",
        ),
    ),
    conflicts=_EVERYTHING,
    source=SOURCE,
    witness=lambda kw, ctx: Need(fixed=kw["prompt_to_repeat"].strip()),
)
def copying_simple(t: Text, prompt_to_repeat: str) -> bool:
    """The response is the request itself (case-insensitive, outer whitespace ignored)."""
    return _same(t.raw, prompt_to_repeat)


_SEPARATOR = "******"


@register(
    "copy:copying_multiple",
    group="copy",
    schema={
        "properties": {"prompt_to_repeat": _PROMPT, "N": int_schema(2, 10)},
        "required": ["prompt_to_repeat", "N"],
    },
    sample=lambda rng, lang: {"N": rng.randint(2, 4)},
    prompt_kwargs=("prompt_to_repeat",),
    **phrasings(
        (
            "Repeat the request without change {N} times, separated by 6 asterisk symbols (do not say anything before "
            "repeating the request; the request you need to repeat does not include this sentence) and do not answer "
            "the actual request!",
            "Write the request out {N} times, unchanged, with ****** between consecutive copies; add nothing else, "
            "leave out this sentence, and do not answer it.",
            "Do not answer: output {N} identical copies of the request (without this sentence), separated by six "
            "asterisks (******).",
        ),
        (
            "请把上面的请求原样重复{N}遍，每两遍之间用6个星号（******）隔开（复述前不要说任何话；需要复述的请求不包括这句话），并且不要回答该请求！",
            "不要回答请求，只把它一字不改地写{N}遍（不含这句话），相邻两遍之间用******分隔。",
        ),
    ),
    conflicts=_EVERYTHING,
    source=SOURCE,
    witness=lambda kw, ctx: Need(fixed="\n******\n".join([kw["prompt_to_repeat"].strip()] * kw["N"])),
)
def copying_multiple(t: Text, prompt_to_repeat: str, N: int) -> bool:
    """Split at ``******``: exactly N pieces, each the request (case-insensitive, outer whitespace ignored)."""
    pieces = t.raw.split(_SEPARATOR)
    return len(pieces) == N and all(_same(p, prompt_to_repeat) for p in pieces)


_WORD = re.compile(r"\S+")
_CLAUSE = re.compile(r"[^，。？！、；：,.?!;:\s]+")


def _fit_span(kwargs: dict, req: Request, rng: random.Random) -> dict:
    """A span of whole words (Chinese: one clause) inside the request: the blind draw can fall past
    its end or cut a word."""
    text = kwargs["prompt_to_repeat"]
    pieces = [m.span() for m in (_CLAUSE if req.lang == "zh" else _WORD).finditer(text)]
    if not pieces:
        return kwargs
    i = rng.randrange(len(pieces))
    j = i if req.lang == "zh" else min(len(pieces) - 1, i + rng.randint(1, 8))
    return dict(kwargs, n_start=pieces[i][0], n_end=pieces[j][1] - 1)


def _sample_span(rng: random.Random, lang: str) -> dict:
    start = rng.randint(0, 15)
    return {"n_start": start, "n_end": start + rng.randint(5, 30)}


@register(
    "new:copy_span_idx",
    group="copy",
    schema={
        "properties": {"prompt_to_repeat": _PROMPT, "n_start": int_schema(0), "n_end": int_schema(0)},
        "required": ["prompt_to_repeat", "n_start", "n_end"],
    },
    sample=_sample_span,
    prompt_kwargs=("prompt_to_repeat",),
    **phrasings(
        (
            "Copy the span of words that lies between (and including) index {n_start} and {n_end}, the indices are "
            "character indices!",
            "Output only the characters of the request from index {n_start} through index {n_end} (counting from 0, "
            "both ends included).",
            "Answer with nothing but the slice of the request that starts at character {n_start} and ends at "
            "character {n_end}, inclusive, counting from zero.",
        ),
        (
            "请只输出请求中从第{n_start}个字符到第{n_end}个字符（均包含，索引从0开始）的片段。",
            "把请求里索引{n_start}到索引{n_end}（从0数起，两端都包含）之间的字符原样输出，不要写别的。",
        ),
    ),
    conflicts=_EVERYTHING,
    source=SOURCE,
    fit=_fit_span,
    witness=lambda kw, ctx: Need(fixed=kw["prompt_to_repeat"][kw["n_start"] : kw["n_end"] + 1].strip()),
)
def copy_span_idx(t: Text, prompt_to_repeat: str, n_start: int, n_end: int) -> bool:
    """The response is the request's characters n_start..n_end, both included (case-insensitive, outer whitespace ignored).

    IFEvalG slices ``[n_start:n_end]``, leaving out the character its own text says to include; here the text
    is what counts, as in IFBench's ``repeat:repeat_span``.
    """
    return _same(t.raw, prompt_to_repeat[n_start : n_end + 1])


def _variants(phrase: str, n: int) -> tuple[tuple[str, int], ...]:
    """``n`` copies of ``phrase``, each with its middle word replaced by a different word."""
    words = phrase.split()
    mid = len(words) // 2
    subs = [w for w in _SUBSTITUTES if w != words[mid]][:n]
    return tuple((" ".join([*words[:mid], sub, *words[mid + 1 :]]), 1) for sub in subs)


_SUBSTITUTES = ("gently", "surely", "often", "rarely", "truly", "simply", "boldly", "calmly")


# Phrases written for this project: the first and last words differ and occur once, so each copy is
# found by its first and last word.
_PHRASES = (
    "Every cloud carries a quiet promise of rain",
    "Small steps often lead to surprising places",
    "Good friends make long roads feel short",
    "Curiosity opens doors that force cannot",
    "A patient gardener always gets a harvest",
    "Bright ideas grow in calm and quiet minds",
    "Honest work leaves the sweetest kind of tiredness",
    "Strong bridges are built one plank at a time",
    "Old maps still tell stories about new lands",
    "Careful listeners hear what others miss",
)


@register(
    "copy:repeat_phrase",
    group="copy",
    schema={
        "properties": {"phrase": {"type": "string", "minLength": 1}, "small_n": int_schema(1, 20)},
        "required": ["phrase", "small_n"],
    },
    sample=lambda rng, lang: {"phrase": rng.choice(_PHRASES), "small_n": rng.randint(2, 3)},
    **phrasings(
        (
            "Repeat the phrase {phrase} exactly {small_n} times, transforming it slightly each time by replacing only "
            "one word in the center of the phrase.",
            'Write the phrase "{phrase}" {small_n} times in total, and in every copy swap exactly one word from the '
            "middle of it for a different word.",
            'Include {small_n} versions of "{phrase}": each keeps the first and last words and all but one of the '
            "middle words, and changes exactly one middle word.",
        ),
    ),
    conflicts=(
        "count:count_unique",
        "detectable_format:square_brackets",
        "detectable_format:bigram_wrapping",
        "detectable_format:sentence_hyphens",
        "count:counting_composition",
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(include=_variants(kw["phrase"], kw["small_n"])),
)
def repeat_phrase(t: Text, phrase: str, small_n: int) -> bool:
    """Exactly ``small_n`` spans on one line from the phrase's first word to its last word (shortest match), each with as many words as the phrase and exactly one word different from it."""
    ref = phrase.split()
    if len(ref) < 2:
        return False
    found = _phrase_spans(ref[0], ref[-1]).findall(t.raw)
    if len(found) != small_n:
        return False
    for span in found:
        got = span.split()
        if len(got) != len(ref) or sum(a != b for a, b in zip(got, ref, strict=True)) != 1:
            return False
    return True


_SPANS: dict[tuple[str, str], re.Pattern] = {}


def _phrase_spans(first: str, last: str) -> re.Pattern:
    pattern = _SPANS.get((first, last))
    if pattern is None:
        if len(_SPANS) > 4096:
            _SPANS.clear()
        pattern = _SPANS[(first, last)] = re.compile(rf"{re.escape(first)} .*? {re.escape(last)}")
    return pattern
