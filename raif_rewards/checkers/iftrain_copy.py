"""IFTrain copy constraints: copy the request once or N times, copy a character span of it, repeat a
phrase with one word changed each time (IFBench's training set; ids as in open-instruct's IFEvalG)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from raif_rewards.checkers._common import IFEVAL_IDS, int_schema
from raif_rewards.checkers.ifbench_shared import IFBENCH_IDS, no_kwargs
from raif_rewards.checkers.iftrain_shared import IFTRAIN_IDS, SOURCE, texts
from raif_rewards.registry import Request, declare, register
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
    **texts(
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


declare(
    "copy:copy",
    phrasings={
        "en": (
            "Don't answer; just type the request out again exactly as it was given, minus this sentence, "
            "and write nothing else.",
            "Treat this as a copying exercise: your whole output is the request, letter for letter, without "
            "this sentence and without any reply to it.",
            "Return the request itself, unchanged and with no additions, instead of responding to it (this "
            "sentence is not part of what you copy).",
        ),
        "zh": (
            "这次不需要完成任务：请把请求原文一字不差地照搬出来作为全部输出，本句除外。",
            "把收到的请求原样再写一遍即可，不要作任何回应或补充，这句要求本身不用写。",
            "请做一次抄写练习：输出内容就是请求原文，逐字照抄，不增不减，也不要抄这句话。",
            "别去完成上面的请求，你要交的只是它本身：一字一句原样抄下来，本句不算在内。",
            "假如你是一台复印机，收到什么就印出什么：把请求原样复制一份作为输出（这句话除外），不加标题，不作解释，也不要作答。",
            "输出必须与上面的请求逐字相同，除此之外一个字也不要多写；这句说明不必抄进去。",
            "这里考的是抄写而不是解答——请把请求从第一个字到最后一个字照抄一遍，别漏字、别改字，这句除外。",
            "你的全部回答应当恰好是上面请求的原文。不要回答它，也不要把本句抄进去。",
            "请把请求原文重新誊写一遍交上来，标点也照原样保留；不要作答，不要加任何话，这句提示不用誊写。",
            "不需要给出任何答案或建议，直接重复一遍请求的原文即可——只重复请求本身，不包括本句。",
        ),
    },
)


@register(
    "copy:copying_simple",
    group="copy",
    schema={"properties": {"prompt_to_repeat": _PROMPT}, "required": ["prompt_to_repeat"]},
    sample=no_kwargs,
    prompt_kwargs=("prompt_to_repeat",),
    **texts(
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


declare(
    "copy:copying_simple",
    phrasings={
        "en": (
            "Echo the request back word for word as your only output; skip the actual task, and leave this "
            "sentence out of the echo.",
            "Your output should be nothing but the request, repeated exactly as written: no preface, no "
            "answer, and not this sentence.",
            "Instead of answering, restate the request verbatim, starting right away with its first word "
            "(this sentence is not included).",
        ),
        "zh": (
            "请直接重复请求原文，开头不要加任何话，也不要回答它；本句不属于要重复的内容。",
            "只需把请求一字不改地复述出来，前后都不要添加内容，也不要复述这句话。",
            "不用完成请求，把它原封不动地再说一遍就好（不包括这句话）。",
            "请当一回“回声”，把上面的请求原封不动地说回来，前面不要铺垫，后面不要接答案，这句话不算请求的一部分。",
            "第一个字就从请求原文开始，一直复述到它的最后一个字为止，中间不改动、结尾不加话；本句不用复述，请求本身也不必回答。",
            "这一次只做复述，不做解答，输出的内容就是请求原文（不含本句），不要任何开场白。",
            "把请求照原样重复一遍即可。注意，重复之前不要写“好的”之类的话，也不要把这句一并重复。",
            "请不要回应请求的内容，而是照着原文把它逐字重抄一遍，不加前言后语；这句要求本身不用抄。",
            "你的输出只能是上面那条请求的原话：原封不动，不解答、不评论、不加引号，本句除外。",
            "只复述、不作答——把请求一字不差地重说一遍，前面一个字也不要多。这句话不用重说。",
        ),
    },
)


_SEPARATOR = "******"
#: characters of copies beyond which a long request is copied only twice
_COPIED_CHARS = 1500


def _copies_ok(req: Request, kw: Mapping[str, Any]) -> bool:
    """A long request copied three or four times is an answer of pure bulk: twice is enough."""
    return kw["N"] <= 2 or kw["N"] * len(req.text) <= _COPIED_CHARS


@register(
    "copy:copying_multiple",
    group="copy",
    schema={
        "properties": {"prompt_to_repeat": _PROMPT, "N": int_schema(2, 10)},
        "required": ["prompt_to_repeat", "N"],
    },
    sample=lambda rng, lang: {"N": rng.randint(2, 4)},
    prompt_kwargs=("prompt_to_repeat",),
    **texts(
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
    request_ok=_copies_ok,
)
def copying_multiple(t: Text, prompt_to_repeat: str, N: int) -> bool:
    """Split at ``******``: exactly N pieces, each the request (case-insensitive, outer whitespace ignored)."""
    pieces = t.raw.split(_SEPARATOR)
    return len(pieces) == N and all(_same(p, prompt_to_repeat) for p in pieces)


declare(
    "copy:copying_multiple",
    phrasings={
        "en": (
            "Print the request {N} times in a row, unchanged, with a line of six asterisks (******) between "
            "one copy and the next; leave out this sentence and do not answer the request.",
            "Skip the task itself. Output the request verbatim {N} times, separated by ******, with nothing "
            "before, between or after the copies except those separators (this sentence is not part of the "
            "request).",
            "Make {N} exact copies of the request (without this sentence) and separate neighbouring copies "
            "with ******; that is your whole output, with no answer to the request.",
        ),
        "zh": (
            "不要执行请求，只把请求原文（不含本句）照抄{N}遍，相邻两遍之间用六个星号******隔开。",
            "请输出{N}份与请求一字不差的副本，副本之间以******分隔，除此之外不要写任何内容，这句话也不要抄。",
            "把请求原样复制{N}次作为全部输出，每两次之间放一行******；不要回答请求，也不要包括这句话。",
            "请把请求原文连续写{N}遍，写完一遍，换行打上******，再写下一遍。最后一遍后面不要再加******，也不要回答请求或抄入本句。",
            "这是一道抄写题，同一段请求原文要出现{N}次，每两份之间隔一行“******”（六个星号）。本句不抄，请求也不用回答。",
            "输出格式如下——请求原文重复{N}次，相邻两次之间用******隔开，此外不出现任何别的文字，这句话和对请求的回答都不要写。",
            "假设你在测试复制功能，请把上面的请求原封不动地粘贴{N}次，两次粘贴之间插入******，不要作答，也别把这句话粘进去。",
            "不用回应请求。请输出{N}段完全相同的文字，每段都是请求原文（不含本句），段与段之间只放一个分隔符******。",
            "请求原文要在你的输出里出现整整{N}次，中间以六个星号（******）分开；开头和结尾都不要加其他内容，本句也不算请求原文。",
            "{N}遍请求原文，一字不改，用******隔开——这就是你需要输出的全部；请不要回答它，这句话也不要重复。",
        ),
    },
)


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
    **texts(
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


declare(
    "new:copy_span_idx",
    phrasings={
        "en": (
            "Reply only with the part of the request that runs from character {n_start} to character "
            "{n_end}, both included, where the request's first character is character 0.",
            "Count the characters of the request from 0 (spaces and punctuation count too) and output "
            "exactly those at positions {n_start} to {n_end}, inclusive, and nothing else.",
            "Your whole output is a slice of the request: characters {n_start} through {n_end}, zero-based, "
            "with both ends included. Do not answer the request.",
        ),
        "zh": (
            "请从请求的第0个字符开始计数（空格和标点也算），只输出第{n_start}到第{n_end}个字符，两端都包括。",
            "不要完成请求：输出请求中下标{n_start}至下标{n_end}的字符（下标从0开始，含首尾），不加其他内容。",
            "把请求看作一串字符，编号从0开始，你的全部输出就是编号{n_start}到{n_end}（包含两端）的那一段。",
            "给请求里的每个字符编号，第一个字符记为0，标点和空格同样占一个编号。请只输出编号从{n_start}到{n_end}的字符（含{n_start}和{n_end}），不要回答请求。",
            "这是一道截取练习，请从请求原文中截出位置{n_start}到位置{n_end}的内容（位置从0算起，首尾两个位置都要保留），原样作为你的唯一输出。",
            "请只摘出请求的一个片段：它从下标为{n_start}的字符起，到下标为{n_end}的字符止，两头都算在内；下标从0开始，标点空格都计数。",
            "把请求当作一个字符串，输出它在闭区间[{n_start}, {n_end}]内的字符（下标从0开始）。除了这一段，不要写别的。",
            "你的回答只能是请求里的一小段原文：从第{n_start}位数到第{n_end}位（按字符计，从第0位开始数，首尾都包含），一字不改。",
            "不需要作答。数一数请求中的字符（从0开始，标点也算），然后把第{n_start}至第{n_end}个字符照原样输出，这两个位置上的字符都要包括在内。",
            "请输出这样一个片段：它在请求中的起始下标是{n_start}，结束下标是{n_end}（包含该字符）；下标从0起算，每个汉字、字母、空格和标点各占一位。",
        ),
    },
)


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
    **texts(
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


declare(
    "copy:repeat_phrase",
    avoids=("code",),
    topic_kwargs={"phrase": "saying"},
    phrasings={
        "en": (
            'Write {small_n} altered copies of the phrase "{phrase}", no more: keep its first and last '
            "words, and in each copy replace exactly one word between them.",
            'The phrase "{phrase}" should show up {small_n} times, never in its original form: each time, '
            "swap one (and only one) of its inner words for another word.",
            'Work in {small_n} variations of "{phrase}", each on one line with the same opening word, the '
            "same closing word and the same number of words, but with exactly one middle word changed.",
        ),
    },
)


_SPANS: dict[tuple[str, str], re.Pattern] = {}


def _phrase_spans(first: str, last: str) -> re.Pattern:
    pattern = _SPANS.get((first, last))
    if pattern is None:
        if len(_SPANS) > 4096:
            _SPANS.clear()
        pattern = _SPANS[(first, last)] = re.compile(rf"{re.escape(first)} .*? {re.escape(last)}")
    return pattern
