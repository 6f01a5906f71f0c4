"""Inference modes, the paper's baselines: I/O, CoT, SDC, self-consistency and self-refine.

Each mode turns one benchmark chat into a :class:`Rollout` through an async ``chat`` callable
(``raif_rewards.llm.LLMClient.chat``); only the final answer (reasoning removed) is scored.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from raif_eval.answer import split_reasoning

MODES = ("io", "cot", "sdc", "self-consistency", "self-refine")

ChatFn = Callable[..., Awaitable[Any]]  # (messages, **params) -> ChatResult

COT_SUFFIX = (
    "\n\nThink step by step first: reason about what is asked and about every constraint, inside "
    "<think> and </think>. After </think>, write only the final response."
)
DECOMPOSE_PROMPT = (
    "Here is an instruction:\n\n<instruction>\n{instruction}\n</instruction>\n\n"
    "Do not carry it out yet. List, as a numbered list, every task and every constraint (format, "
    "length, content, style, language, order, conditions) a response to it must satisfy."
)
SDC_ANSWER = (
    "{instruction}\n\nBefore answering, the instruction was decomposed into these requirements:\n"
    "{decomposition}\n\nNow write the response to the instruction, satisfying every requirement. "
    "Output only the response."
)
CRITIQUE_PROMPT = (
    "Instruction:\n<instruction>\n{instruction}\n</instruction>\n\nResponse:\n<response>\n{response}\n"
    "</response>\n\nCheck the response against every constraint of the instruction, one by one, and say "
    "which are violated and how to fix them. If every constraint is satisfied, end with the line "
    "ALL CONSTRAINTS SATISFIED."
)
REVISE_PROMPT = (
    "Instruction:\n<instruction>\n{instruction}\n</instruction>\n\nDraft response:\n<response>\n{response}\n"
    "</response>\n\nFeedback on the draft:\n{critique}\n\nRewrite the response so that it satisfies every "
    "constraint of the instruction. Output only the revised response."
)
SATISFIED = "ALL CONSTRAINTS SATISFIED"
SC_JUDGE_PROMPT = (
    "Instruction:\n<instruction>\n{instruction}\n</instruction>\n\nResponse:\n<response>\n{response}\n"
    "</response>\n\nDoes the response follow the instruction and satisfy every one of its constraints? "
    "Answer YES or NO."
)


@dataclass
class GenParams:
    """Sampling settings; greedy (temperature 0) unless a mode samples on purpose."""

    temperature: float = 0.0
    max_tokens: int = 4096
    top_p: float | None = None
    k: int = 5  # self-consistency samples
    sc_temperature: float = 0.7
    sc_select: str = "agreement"  # or "judge"
    refine_rounds: int = 1
    seed: int = 0

    def request(self, **over: Any) -> dict:
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        params.update(over)
        return params


@dataclass
class Rollout:
    id: str
    mode: str
    answer: str = ""
    reasoning: str = ""
    raw: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    error: str | None = None
    trace: list[dict] = field(
        default_factory=list
    )  # intermediate steps: decomposition, critiques, candidates

    def to_json(self) -> dict:
        return asdict(self)


def _usage(result: Any) -> tuple[int, int]:
    usage = getattr(result, "usage", None) or {}
    get = usage.get if isinstance(usage, dict) else (lambda k, d=0: getattr(usage, k, d))
    return int(get("prompt_tokens", 0) or 0), int(get("completion_tokens", 0) or 0)


class _Session:
    """Calls of one rollout: counts tokens and calls across the steps of a mode."""

    def __init__(self, chat: ChatFn, rollout: Rollout):
        self.chat, self.rollout = chat, rollout

    async def ask(self, messages: list[dict], params: dict) -> tuple[str, str, Any]:
        result = await self.chat(messages, **params)
        p, c = _usage(result)
        self.rollout.prompt_tokens += p
        self.rollout.completion_tokens += c
        self.rollout.calls += 1
        answer, reasoning = split_reasoning(getattr(result, "text", ""), getattr(result, "reasoning", None))
        return answer, reasoning, result

    def finish(self, answer: str, reasoning: str, result: Any) -> Rollout:
        self.rollout.answer, self.rollout.reasoning = answer, reasoning
        self.rollout.raw = getattr(result, "text", "") or ""
        self.rollout.finish_reason = getattr(result, "finish_reason", None)
        return self.rollout


def _with_last_user(messages: list[dict], content: str) -> list[dict]:
    return [*messages[:-1], {"role": "user", "content": content}]


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def agreement_order(candidates: list[str]) -> list[int]:
    """Candidate indices, most agreeing first: mean Jaccard word-set similarity to the other
    candidates (the medoid of the samples; ties keep sampling order)."""
    sets = [words(c) for c in candidates]

    def sim(a: set[str], b: set[str]) -> float:
        return len(a & b) / len(a | b) if a | b else 1.0

    scores = []
    for i, si in enumerate(sets):
        others = [sim(si, sj) for j, sj in enumerate(sets) if j != i]
        scores.append(sum(others) / len(others) if others else 0.0)
    return sorted(range(len(candidates)), key=lambda i: (-scores[i], i))


async def generate(
    item_id: str,
    messages: list[dict],
    mode: str,
    chat: ChatFn,
    params: GenParams,
    judge_yes_no: Callable[[list[dict]], Awaitable[bool | None]] | None = None,
) -> Rollout:
    """One rollout of ``messages`` (a chat ending with the user turn to answer) in ``mode``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    rollout = Rollout(id=item_id, mode=mode)
    s = _Session(chat, rollout)
    instruction = str(messages[-1]["content"])
    greedy = params.request(seed=params.seed)

    if mode == "io":
        return s.finish(*await s.ask(messages, greedy))

    if mode == "cot":
        return s.finish(*await s.ask(_with_last_user(messages, instruction + COT_SUFFIX), greedy))

    if mode == "sdc":
        decomposition, _, _ = await s.ask(
            _with_last_user(messages, DECOMPOSE_PROMPT.format(instruction=instruction)), greedy
        )
        rollout.trace.append({"step": "decompose", "text": decomposition})
        prompt = SDC_ANSWER.format(instruction=instruction, decomposition=decomposition)
        return s.finish(*await s.ask(_with_last_user(messages, prompt), greedy))

    if mode == "self-consistency":
        samples = []
        for i in range(params.k):
            samples.append(
                await s.ask(messages, params.request(temperature=params.sc_temperature, seed=params.seed + i))
            )
        answers = [a for a, _, _ in samples]
        order = agreement_order(answers)
        chosen, how = order[0], "agreement"
        verdicts: list[bool | None] = []
        if params.sc_select == "judge" and judge_yes_no is not None:
            for i in order:
                verdict = await judge_yes_no(
                    [
                        {
                            "role": "user",
                            "content": SC_JUDGE_PROMPT.format(instruction=instruction, response=answers[i]),
                        }
                    ]
                )
                verdicts.append(verdict)
                if verdict:
                    chosen, how = i, "judge"
                    break
        rollout.trace.append(
            {"step": "candidates", "answers": answers, "chosen": chosen, "by": how, "judge": verdicts}
        )
        return s.finish(*samples[chosen])

    # self-refine: answer, critique against the constraints, revise while the critique finds faults
    answer, reasoning, result = await s.ask(messages, greedy)
    for _ in range(params.refine_rounds):
        critique, _, _ = await s.ask(
            _with_last_user(messages, CRITIQUE_PROMPT.format(instruction=instruction, response=answer)),
            greedy,
        )
        rollout.trace.append({"step": "critique", "draft": answer, "text": critique})
        if SATISFIED in critique.upper():
            break
        prompt = REVISE_PROMPT.format(instruction=instruction, response=answer, critique=critique)
        answer, reasoning, result = await s.ask(_with_last_user(messages, prompt), greedy)
    return s.finish(answer, reasoning, result)
