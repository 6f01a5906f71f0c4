"""Model-judged quality control of instructions and answers (RAIF's instruction filter, AutoIF's and
Conifer's checks): yes/no questions scored by the reward's logprob judge (:mod:`raif_rewards.judge`).

The questions are written here and listed in docs/data.md; the recipe's ``quality`` section picks which
ones run and the share of P(YES) each needs. A judge outage is never a silent pass or a silent zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from raif_rewards.errors import EndpointError
from raif_rewards.judge import Judge, JudgeVerdict
from raif_rewards.llm import LLMClient

JUDGE_SYSTEM = (
    "You are a strict and impartial reviewer of training data for an instruction-following model. "
    "Read the text and answer the one yes/no question about it. Reply with exactly one word: YES or NO."
)

#: asked of the final instruction text (after any rewrite or soft requirements)
INSTRUCTION_QUESTIONS: dict[str, str] = {
    "well_defined": (
        "Is this instruction well-defined: does it make clear what task is asked and what each of its "
        "requirements means, so that a capable assistant could carry it out without guessing?"),
    "consistent": (
        "Can a single response satisfy every requirement of this instruction at the same time, that is, "
        "does no requirement contradict another or make the task impossible?"),
    "relevant": (
        "Do the requirements of this instruction suit its request, so that a response meeting all of "
        "them can still be a good, useful answer to what is asked?"),
}

#: asked of each sampled or expert answer that already meets every checkable constraint
ANSWER_QUESTIONS: dict[str, str] = {
    "task_done": (
        "Does the response actually carry out the task the instruction asks for, beyond meeting its "
        "formatting, length or wording requirements (it does not dodge, refuse or only pretend to answer)?"),
    "language": (
        "Is the response written in the language the instruction asks for (the instruction's own "
        "language, unless the instruction names another)?"),
    "no_leaked_reasoning": (
        "Is the response a final answer only, free of step-by-step thinking, planning notes, drafts or "
        "self-corrections that belong in a hidden reasoning block rather than in the answer?"),
}

INSTRUCTION_TEMPLATE = "[Instruction]\n{answer}\n[End of instruction]\n\nQuestion: {question}\nAnswer YES or NO."
#: the answer slot holds :func:`framed` (instruction and response), as the judge sees both
ANSWER_TEMPLATE = "{answer}\n\nQuestion: {question}\nAnswer YES or NO."


def framed(instruction: str, response: str) -> str:
    return f"[Instruction]\n{instruction}\n[End of instruction]\n\n[Response]\n{response}\n[End of response]"


def share_yes(verdict: JudgeVerdict) -> float | None:
    """P(YES) / (P(YES) + P(NO)), or None when the question could not be scored."""
    if verdict.yes is None:
        return None
    total = verdict.p_yes + verdict.p_no
    return verdict.p_yes / total if total > 0 else float(verdict.yes)


def passes(verdict: JudgeVerdict, threshold: float) -> bool | None:
    """Whether the judge said YES with at least ``threshold`` of the YES/NO mass (None: unscored)."""
    share = share_yes(verdict)
    return None if share is None else share >= threshold


def raise_outage(verdicts: Sequence[JudgeVerdict], what: str) -> None:
    """An EndpointError when some verdict is missing because the endpoint failed after its retries:
    the chunk is then not written, and a rerun resumes with every answered question cached."""
    down = [v for v in verdicts if v.yes is None and v.outage]
    if down:
        raise EndpointError(f"{what}: {len(down)} judge question(s) failed after retries (first: "
                            f"{down[0].error}); rerun the same command to resume")


@dataclass
class Gate:
    """The outcome of one text's questions: ``reasons`` names every question it failed (or could not
    be scored: ``<name>_unscored``); it passes when there are none."""

    reasons: list[str]

    @property
    def ok(self) -> bool:
        return not self.reasons


def gate(verdicts: Sequence[JudgeVerdict], names: Sequence[str], thresholds: Mapping[str, float]) -> Gate:
    reasons = []
    for name, verdict in zip(names, verdicts, strict=True):
        ok = passes(verdict, thresholds[name])
        if ok is None:
            reasons.append(f"{name}_unscored")
        elif not ok:
            reasons.append(name)
    return Gate(reasons)


def instruction_judge(client: LLMClient) -> Judge:
    return Judge(client, system=JUDGE_SYSTEM, template=INSTRUCTION_TEMPLATE)


def answer_judge(client: LLMClient) -> Judge:
    return Judge(client, system=JUDGE_SYSTEM, template=ANSWER_TEMPLATE)
