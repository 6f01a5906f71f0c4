"""RAIF's reward for one rollout: think/answer parsing, format reward, accuracy reward, final scalar.

Every weight lives in :class:`RewardConfig` (defaults = RAIF's released values); the same pure
functions serve data quality control, the native trainer and the veRL plugin.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raif_rewards import typedconfig
from raif_rewards.compose import (
    And,
    Chain,
    Check,
    GroundTruth,
    JudgeTruth,
    LeafVerdict,
    MathTruth,
    Node,
    RuleTruth,
    Selection,
    TreeScore,
    parse_ground_truth,
    score_tree,
)
from raif_rewards.errors import RaifError

RESPONSE_FORMATS = ("think_answer", "r1", "plain")
ACCURACY_MODES = ("raif", "fraction")
#: End-of-turn strings of common chat templates: a completion decoded with special tokens kept
#: still ends where the model stopped.
DEFAULT_STOPS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<｜end▁of▁sentence｜>")


class RewardConfigError(RaifError, ValueError):
    """A reward configuration key that does not exist or has the wrong type (names the key path)."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class RewardConfig:
    """Every weight and switch of the reward; the defaults reproduce RAIF.

    final = answer score + format score. The answer score is computed only when the format is valid,
    the reasoning is non-empty (unless the sample is a direct answer) and the answer is non-empty;
    otherwise it is ``invalid_answer``.
    """

    #: "think_answer": <think>…</think><answer>…</answer>; "r1": <think>…</think>answer;
    #: "plain": the whole completion is the answer (no format reward terms apply but ``format_ok``)
    response_format: str = "think_answer"
    #: r1 only: the chat template already opened ``<think>``, so the completion starts inside it
    think_prefilled: bool = False
    stop: tuple[str, ...] = DEFAULT_STOPS
    format_ok: float = 1.0
    format_bad: float = -1.0
    #: "raif": all satisfied -> all_satisfied, none -> none_satisfied, else k/n; "fraction": k/n
    accuracy: str = "raif"
    all_satisfied: float = 2.0
    none_satisfied: float = -2.0
    invalid_answer: float = -2.0
    math_correct: float = 2.0
    math_wrong: float = -1.5
    math_no_boxed: float = -2.0
    #: seconds allowed for one math equivalence check (parse + verify)
    math_timeout: float = 5.0
    #: IFEval's loose variants when checking constraints (RAIF: strict)
    loose: bool = False

    def __post_init__(self) -> None:
        if self.response_format not in RESPONSE_FORMATS:
            raise RewardConfigError("response_format", f"{self.response_format!r} is not one of {RESPONSE_FORMATS}")
        if self.accuracy not in ACCURACY_MODES:
            raise RewardConfigError("accuracy", f"{self.accuracy!r} is not one of {ACCURACY_MODES}")
        if self.math_timeout <= 0:
            raise RewardConfigError("math_timeout", "must be positive")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                # a NaN weight makes every reward NaN (and NaN compares false everywhere)
                raise RewardConfigError(f.name, f"must be a finite number, got {value}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, path: str = "reward") -> RewardConfig:
        """A config from a YAML/JSON mapping: unknown keys and wrong types fail with their key path."""
        try:
            return typedconfig.build(cls, dict(data or {}), _CONFIG_RULES)
        except RewardConfigError as exc:  # from a field check or __post_init__: add where the mapping is
            raise RewardConfigError(f"{path}.{exc.path}", str(exc).split(": ", 1)[1]) from None

    def replace(self, **changes: Any) -> RewardConfig:
        return self.from_mapping({**dataclasses.asdict(self), **changes})


_CONFIG_RULES = typedconfig.Rules(
    error=RewardConfigError,
    unknown_key=lambda key, known: f"unknown key (known: {', '.join(known)})",
)


DEFAULT_CONFIG = RewardConfig()

# ------------------------------------------------------------------------------------------- parsing

_THINK_OPEN, _THINK_CLOSE, _ANSWER_OPEN, _ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"
#: a prompt that ends with an empty, closed think block asks for a direct answer
_DIRECT_PROMPT_RE = re.compile(r"<think>\s*</think>\s*$")


@dataclass(frozen=True, slots=True)
class Parsed:
    """A completion split into reasoning and answer; ``problem`` says why the format is invalid."""

    reasoning: str
    answer: str
    format_ok: bool
    problem: str = ""


def cut_at_stop(text: str, stops: tuple[str, ...] = DEFAULT_STOPS) -> str:
    """``text`` up to the first stop string (exclusive)."""
    end = len(text)
    for stop in stops:
        if stop:
            i = text.find(stop, 0, end)
            if i != -1:
                end = i
    return text[:end]


def prompt_is_direct(prompt: str) -> bool:
    """Whether a rendered prompt ends with an empty closed think block (``<think>\\n\\n</think>``)."""
    return _DIRECT_PROMPT_RE.search(prompt) is not None


def parse_response(completion: str, config: RewardConfig = DEFAULT_CONFIG, *, direct: bool = False) -> Parsed:
    """Split ``completion`` (cut at the stop strings) into reasoning and answer.

    Formats: ``think_answer`` needs each of ``<think> </think> <answer> </answer>`` exactly once and
    in that order (text outside the tags is ignored, not scored); ``r1`` needs ``<think>`` and
    ``</think>`` once each, the answer being everything after ``</think>``; ``plain`` takes the whole
    text. ``direct=True`` (the prompt closed an empty think block) requires no think tags at all and
    takes the ``<answer>`` body when present, else the whole text.
    """
    text = cut_at_stop(completion, config.stop)
    fmt = config.response_format
    if fmt == "plain":
        return Parsed("", text.strip(), True)
    if direct:
        if _THINK_OPEN in text or _THINK_CLOSE in text:
            return Parsed("", "", False, "think tags in a direct-answer completion")
        if fmt == "think_answer" and (_ANSWER_OPEN in text or _ANSWER_CLOSE in text):
            return _answer_block(text, "")
        return Parsed("", text.strip(), True)
    if fmt == "r1" and config.think_prefilled:
        text = _THINK_OPEN + text
    n_open, n_close = text.count(_THINK_OPEN), text.count(_THINK_CLOSE)
    if n_open != 1 or n_close != 1:
        return Parsed("", "", False, f"expected one {_THINK_OPEN} and one {_THINK_CLOSE}, got {n_open} and {n_close}")
    i_open, i_close = text.index(_THINK_OPEN), text.index(_THINK_CLOSE)
    if i_close < i_open:
        return Parsed("", "", False, f"{_THINK_CLOSE} before {_THINK_OPEN}")
    reasoning = text[i_open + len(_THINK_OPEN) : i_close].strip()
    rest = text[i_close + len(_THINK_CLOSE) :]
    if fmt == "r1":
        return Parsed(reasoning, rest.strip(), True)
    if _ANSWER_OPEN in text[:i_close] or _ANSWER_CLOSE in text[:i_close]:
        return Parsed(reasoning, "", False, "answer tags inside or before the think block")
    return _answer_block(rest, reasoning)


def _answer_block(text: str, reasoning: str) -> Parsed:
    n_open, n_close = text.count(_ANSWER_OPEN), text.count(_ANSWER_CLOSE)
    if n_open != 1 or n_close != 1:
        return Parsed(reasoning, "", False, f"expected one {_ANSWER_OPEN} and one {_ANSWER_CLOSE}, got {n_open} and {n_close}")
    i_open, i_close = text.index(_ANSWER_OPEN), text.index(_ANSWER_CLOSE)
    if i_close < i_open:
        return Parsed(reasoning, "", False, f"{_ANSWER_CLOSE} before {_ANSWER_OPEN}")
    return Parsed(reasoning, text[i_open + len(_ANSWER_OPEN) : i_close].strip(), True)


def format_score(parsed: Parsed, config: RewardConfig = DEFAULT_CONFIG) -> float:
    return config.format_ok if parsed.format_ok else config.format_bad


def gate(parsed: Parsed, config: RewardConfig = DEFAULT_CONFIG, *, direct: bool = False) -> str:
    """Why the answer may not be scored ("" when it may): invalid format, empty reasoning (not
    required for direct answers or plain mode), or empty answer."""
    if not parsed.format_ok:
        return parsed.problem or "invalid format"
    if not parsed.reasoning and not direct and config.response_format != "plain":
        return "empty reasoning"
    if not parsed.answer:
        return "empty answer"
    return ""


def worst_score(config: RewardConfig = DEFAULT_CONFIG) -> float:
    """The lowest reward any completion can get: what a rollout whose scoring failed receives, so that
    no answer can earn more by making its own scoring raise."""
    answer = min(config.invalid_answer, config.none_satisfied, config.math_wrong, config.math_no_boxed, 0.0)
    return min(config.format_ok, config.format_bad) + answer


def accuracy_score(satisfied: int, total: int, config: RewardConfig = DEFAULT_CONFIG) -> float:
    """RAIF's scale: every constraint met -> ``all_satisfied`` (+2), none -> ``none_satisfied`` (-2),
    otherwise the fraction k/n; ``accuracy="fraction"`` gives k/n throughout."""
    if total <= 0:
        return config.all_satisfied if config.accuracy == "raif" else 1.0
    if config.accuracy == "fraction":
        return satisfied / total
    if satisfied >= total:
        return config.all_satisfied
    if satisfied <= 0:
        return config.none_satisfied
    return satisfied / total


def accuracy_from_fraction(fraction: float, config: RewardConfig = DEFAULT_CONFIG) -> float:
    """A share of satisfied constraints (e.g. the offline ``baseline_score``, a mean over direct answers)
    put on the answer-score scale: RAIF's map 1 -> ``all_satisfied``, 0 -> ``none_satisfied``, else the
    fraction; the identity in ``fraction`` mode. The map is strictly increasing, so comparing a
    reasoning answer's score with the mapped baseline orders them exactly as their fractions do."""
    if config.accuracy == "fraction":
        return fraction
    if fraction >= 1.0:
        return config.all_satisfied
    if fraction <= 0.0:
        return config.none_satisfied
    return fraction


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RewardResult:
    """One rollout's reward and why: ``score = answer_score + format_score``.

    ``answer_score`` is ``None`` only when the sample could not be scored at all (a judge outage);
    ``unscored`` counts judge questions without a verdict.
    """

    score: float
    format_ok: bool
    format_score: float
    answer_score: float | None
    style: str
    direct: bool = False
    answered: bool = False
    problem: str = ""
    satisfied: int = 0
    total: int = 0
    verdicts: tuple[LeafVerdict, ...] = ()
    judge_yes: int = 0
    judge_questions: int = 0
    unscored: int = 0
    math: str = ""  # correct / wrong / no_boxed / timeout (math style only)
    checker_errors: int = 0
    reward_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        if self.style == "math":
            return 1.0 if self.math == "correct" else 0.0
        return self.satisfied / self.total if self.total else 0.0


def _result(parsed: Parsed, config: RewardConfig, style: str, direct: bool, problem: str,
            answer_score: float | None, **fields: Any) -> RewardResult:
    fmt = format_score(parsed, config)
    score = fmt + (answer_score if answer_score is not None else 0.0)
    return RewardResult(score=score, format_ok=parsed.format_ok, format_score=fmt, answer_score=answer_score,
                        style=style, direct=direct, answered=not problem, problem=problem, **fields)


def score_rule(
    completion: str,
    ground_truth: RuleTruth | Node | str | Mapping | list,
    config: RewardConfig = DEFAULT_CONFIG,
    *,
    direct: bool = False,
) -> RewardResult:
    """The reward of a completion against constraint checks (a tree, a rule ground truth or the list
    shorthand). Only the answer text is checked; the reasoning never is."""
    tree: Node | GroundTruth
    if isinstance(ground_truth, (RuleTruth, JudgeTruth, Check, And, Chain, Selection)):
        tree = ground_truth
    else:
        tree = parse_ground_truth(ground_truth)
    if isinstance(tree, MathTruth):
        raise TypeError("score_rule got a math ground truth; use score_math or dispatch.score_sample")
    parsed = parse_response(completion, config, direct=direct)
    problem = gate(parsed, config, direct=direct)
    if problem:
        applicable = score_tree(tree, "").applicable  # for the metrics: how many were asked
        return _result(parsed, config, "rule", direct, problem, config.invalid_answer, total=applicable)
    ts = score_tree(tree, parsed.answer, loose=config.loose)
    return _rule_result(parsed, config, direct, ts)


def _rule_result(parsed: Parsed, config: RewardConfig, direct: bool, ts: TreeScore) -> RewardResult:
    return _result(parsed, config, "rule", direct, "", accuracy_score(ts.satisfied, ts.applicable, config),
                   satisfied=ts.satisfied, total=ts.applicable, verdicts=ts.verdicts, checker_errors=ts.errors)


def score_math(
    completion: str, reference: str | MathTruth, config: RewardConfig = DEFAULT_CONFIG, *, direct: bool = False
) -> RewardResult:
    """RAIF's math reward: the last ``\\boxed{}`` of the answer against the reference: +2 equivalent,
    -1.5 not (or the check timed out), -2 no boxed answer (or the format gate failed)."""
    from raif_rewards.mathcheck import check_answer

    ref = reference.answer if isinstance(reference, MathTruth) else reference
    parsed = parse_response(completion, config, direct=direct)
    problem = gate(parsed, config, direct=direct)
    if problem:
        return _result(parsed, config, "math", direct, problem, config.invalid_answer)
    verdict = check_answer(parsed.answer, ref, timeout=config.math_timeout)
    answer = {"correct": config.math_correct, "wrong": config.math_wrong, "timeout": config.math_wrong,
              "no_boxed": config.math_no_boxed}[verdict]
    return _result(parsed, config, "math", direct, "", answer, math=verdict)


def combine_judge(
    parsed: Parsed,
    config: RewardConfig,
    *,
    direct: bool,
    verdicts: list[bool | None],
    tree_score: TreeScore | None,
) -> RewardResult:
    """A judge-style reward from the judge's yes/no verdicts (``None`` = unscored after retries) and
    the optional hard-constraint tree: k/n over the scored questions and the applicable leaves.

    Unscored questions leave both k and n; if nothing at all was scored the answer score is ``None``.
    """
    problem = gate(parsed, config, direct=direct)
    n_q = len(verdicts)
    if problem:
        total = n_q + (tree_score.applicable if tree_score else 0)
        return _result(parsed, config, "judge", direct, problem, config.invalid_answer, total=total,
                       judge_questions=n_q)
    scored = [v for v in verdicts if v is not None]
    yes = sum(1 for v in scored if v)
    sat = yes + (tree_score.satisfied if tree_score else 0)
    tot = len(scored) + (tree_score.applicable if tree_score else 0)
    unscored = n_q - len(scored)
    answer = accuracy_score(sat, tot, config) if tot else None
    return _result(parsed, config, "judge", direct, "", answer, satisfied=sat, total=tot,
                   verdicts=tree_score.verdicts if tree_score else (), judge_yes=yes, judge_questions=n_q,
                   unscored=unscored, checker_errors=tree_score.errors if tree_score else 0)


def score(
    completion: str,
    ground_truth: GroundTruth | str | Mapping | list,
    config: RewardConfig = DEFAULT_CONFIG,
    *,
    direct: bool = False,
) -> RewardResult:
    """The reward for a rule or math ground truth (judge ground truths need a judge: see
    :func:`raif_rewards.dispatch.score_sample`)."""
    gt = parse_ground_truth(ground_truth)
    if isinstance(gt, MathTruth):
        return score_math(completion, gt, config, direct=direct)
    if isinstance(gt, JudgeTruth):
        raise TypeError("a judge ground truth needs a judge client: use raif_rewards.dispatch.score_sample")
    return score_rule(completion, gt, config, direct=direct)
