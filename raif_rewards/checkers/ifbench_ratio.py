"""IFBench ``ratio:*`` constraints: stop-word share, sentence-type ratios, trigram overlap with a
reference text, equal-length sentences (IFBench's exact semantics; Chinese sentence ends read)."""

from __future__ import annotations

from functools import lru_cache

from raif_rewards.checkers._common import int_schema
from raif_rewards.checkers.ifbench_shared import (
    STOP_WORDS,
    chinese_sentences,
    no_kwargs,
    phrasings,
    sentence_end,
    sentences,
)
from raif_rewards.registry import register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need

_SRC = "ifbench"


@register(
    "ratio:stop_words",
    group="ratio",
    schema={"properties": {"percentage": int_schema(0, 100)}, "required": ["percentage"]},
    sample=lambda rng, lang: {"percentage": rng.randrange(20, 61, 5)},
    **phrasings(
        (
            "Ensure that stop words constitute no more than {percentage}% of the total words in your response.",
            "Keep stop words (the, and, of, ...) to at most {percentage}% of all the words you write.",
        )
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(avoid_words=tuple(STOP_WORDS)),
)
def stop_words(t: Text, percentage: float) -> bool:
    """Stop words (NLTK's English list) are at most the given percentage of the ``\\w+`` words."""
    if not t.word_count:
        return False
    stops = sum(1 for w in t.words if w.lower() in STOP_WORDS)
    return (stops / t.word_count) * 100 <= percentage


def _ends(t: Text) -> tuple[int, int, int]:
    if chinese_sentences(t):
        ends = [sentence_end(s) for s in sentences(t)]
    else:
        ends = [s[-1:] for s in sentences(t)]
    return ends.count("."), ends.count("?"), ends.count("!")


@register(
    "ratio:sentence_type",
    group="ratio",
    sample=no_kwargs,
    **phrasings(
        (
            "Maintain a 2:1 ratio of declarative to interrogative sentences.",
            "Write exactly twice as many declarative sentences as questions.",
        ),
        ("陈述句与疑问句的数量之比须为2:1。", "请让陈述句的数量恰好是疑问句的两倍。"),
    ),
    conflicts=("ratio:sentence_balance",),
    source=_SRC,
    witness=lambda kw, ctx: Need(sentence_marks=(".", ".", "?")),
)
def sentence_type(t: Text) -> bool:
    """Sentences ending in "." number exactly twice those ending in "?" (Punkt sentences; in Chinese text "。" and "？" count as the same marks)."""
    dot, question, _ = _ends(t)
    return dot == 2 * question


@register(
    "ratio:sentence_balance",
    group="ratio",
    sample=no_kwargs,
    **phrasings(
        (
            "Ensure that the ratio of sentence types (declarative, interrogative, exclamatory) is balanced.",
            "Use the same number of declarative, interrogative and exclamatory sentences.",
        ),
        ("陈述句、疑问句和感叹句的数量必须相同。", "请让陈述句、疑问句、感叹句三种句子的数量保持一致。"),
    ),
    source=_SRC,
    witness=lambda kw, ctx: Need(sentence_marks=(".", "?", "!")),
)
def sentence_balance(t: Text) -> bool:
    """Equal numbers of sentences ending in ".", "?" and "!" (Chinese 。？！ read alike)."""
    dot, question, bang = _ends(t)
    return dot == question == bang


def _trigrams(s: str) -> frozenset[str]:
    return frozenset(s[i : i + 3] for i in range(len(s) - 2))


# The reference (the prompt) repeats across a group's rollouts; responses do not, and their
# trigram sets are large, so only the reference side is cached.
_reference_trigrams = lru_cache(maxsize=256)(_trigrams)


@register(
    "ratio:overlap",
    group="ratio",
    schema={
        "properties": {"reference_text": {"type": "string"}, "percentage": int_schema(0, 100)},
        "required": ["reference_text", "percentage"],
    },
    # The reference text is the seed prompt (IFBench's data) and is filled in by the pipeline.
    sample=lambda rng, lang: {"percentage": rng.randrange(10, 61, 5)},
    prompt_kwargs=("reference_text",),
    **phrasings(
        (
            "Maintain a trigram overlap of {percentage}% (±2%) with the provided reference text.",
            "About {percentage}% (give or take 2%) of your character trigrams should also occur in the reference text.",
        ),
        ("你的回答与给定参考文本的三元组（连续三个字符）重合率应为{percentage}%（误差±2%）。",),
    ),
    conflicts=("detectable_format:constrained_response",),
    source=_SRC,
    witness=lambda kw, ctx: Need(overlap=(kw["reference_text"], kw["percentage"])),
)
def overlap(t: Text, reference_text: str, percentage: float) -> bool:
    """The share of the response's distinct character trigrams that also occur in the reference text is within ±2 points of the percentage (IFBench: ``nltk.ngrams`` over characters)."""
    mine = _trigrams(t.raw)
    if not mine:
        return False
    share = len(mine & _reference_trigrams(reference_text)) / len(mine)
    return percentage - 2 <= share * 100 <= percentage + 2


@register(
    "ratio:sentence_words",
    group="ratio",
    sample=no_kwargs,
    **phrasings(
        (
            "Respond with three sentences, all containing the same number of characters but using all different words.",
            "Answer in exactly three sentences of identical character length, with no word repeated.",
        ),
        ("请用三个句子作答，三句话的字符数相同，但用词各不相同。",),
    ),
    conflicts=(
        "length_constraints:number_sentences",
        "length_constraints:number_words",
        "count:word_count_range",
        "detectable_format:constrained_response",
    ),
    source=_SRC,
    # the words differ, as the instruction says (the check itself reads only the lengths)
    witness=lambda kw, ctx: Need(sentences=(3, 3), equal_sentences=True, distinct=True),
)
def sentence_words(t: Text) -> bool:
    """Exactly three sentences with the same stripped length (IFBench checks no word rule)."""
    parts = sentences(t)
    return len(parts) == 3 and len({len(s.strip()) for s in parts}) == 1
