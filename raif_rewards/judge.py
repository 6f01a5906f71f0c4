"""LLM-judged soft constraints: one YES/NO question about the answer text, decided by the judge's
probability of YES against NO from its top logprobs (temperature 0, one token, no sampling).

Batched and cached by content hash; a judge outage is retried and then reported as unscored (``None``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from raif_rewards.errors import EndpointError
from raif_rewards.llm import ChatResult, LLMClient, run_sync

N = TypeVar("N", int, float)

DEFAULT_SYSTEM = (
    "You are a strict and impartial grader. You will see the instruction a response was written for, "
    "the response and one yes/no question about it. Judge only the response as written. "
    "Reply with exactly one word: YES or NO."
)
DEFAULT_TEMPLATE = (
    "[Response]\n{answer}\n[End of response]\n\n"
    "Question: {question}\n"
    "Answer YES or NO."
)
#: put before the template when the caller gives the instruction (RAIF's judge prompt shows it: a soft
#: requirement such as "stay on topic" cannot be judged without it)
DEFAULT_INSTRUCTION_BLOCK = "[Instruction]\n{instruction}\n[End of instruction]\n\n"

#: one question: (answer, question) or (answer, question, instruction)
JudgeItem = tuple[str, str] | tuple[str, str, str]


@dataclass(frozen=True)
class JudgeVerdict:
    """``yes`` is ``None`` when the question could not be scored (``error`` says why)."""

    yes: bool | None
    p_yes: float = 0.0
    p_no: float = 0.0
    error: str = ""
    cached: bool = False
    #: unscored because the endpoint failed after its retries (not because the judge said neither)
    outage: bool = False


def yes_no_probabilities(top: dict[str, float]) -> tuple[float, float]:
    """P(YES) and P(NO) summed over the spellings a tokenizer may produce (``YES``, `` Yes``, ``yes.``)."""
    p_yes = p_no = 0.0
    for token, logprob in top.items():
        word = token.strip().strip(".!:\"'").upper()
        if word == "YES":
            p_yes += math.exp(logprob)
        elif word == "NO":
            p_no += math.exp(logprob)
    return p_yes, p_no


def verdict_from_result(result: ChatResult) -> JudgeVerdict:
    """YES when P(YES) > P(NO) at the first generated token (a tie is NO: the judge must be sure)."""
    if result.text.lstrip().startswith("<think>") or (
            result.logprobs and "<think" in max(result.logprobs[0], key=result.logprobs[0].__getitem__, default="")):
        # a judge that begins by thinking gives no verdict (docs/eval.md): a YES far down its first
        # token's alternatives, or in its musing, is not one
        return JudgeVerdict(None, error="the judge began with <think> (use a judge that answers directly)",
                            cached=result.cached)
    if result.logprobs:
        p_yes, p_no = yes_no_probabilities(result.logprobs[0])
        if p_yes or p_no:
            return JudgeVerdict(p_yes > p_no, p_yes, p_no, cached=result.cached)
        return JudgeVerdict(None, 0.0, 0.0, f"neither YES nor NO among the top logprobs ({sorted(result.logprobs[0])[:5]})",
                            cached=result.cached)
    # an endpoint without logprobs: its greedy token is the verdict
    word = result.text.strip().strip(".!:\"'").upper()
    if word in ("YES", "NO"):
        return JudgeVerdict(word == "YES", float(word == "YES"), float(word == "NO"), cached=result.cached)
    return JudgeVerdict(None, error=f"judge answered {result.text[:40]!r}, not YES/NO", cached=result.cached)


class Judge:
    """Asks YES/NO questions about answers through any OpenAI-compatible endpoint."""

    def __init__(
        self,
        client: LLMClient,
        *,
        system: str = DEFAULT_SYSTEM,
        template: str = DEFAULT_TEMPLATE,
        instruction_block: str = DEFAULT_INSTRUCTION_BLOCK,
        top_logprobs: int = 20,
    ):
        if "{answer}" not in template or "{question}" not in template:
            raise ValueError("judge template needs {answer} and {question} fields")
        if "{instruction}" not in instruction_block:
            raise ValueError("judge instruction block needs an {instruction} field")
        self.client, self.system, self.template, self.top_logprobs = client, system, template, top_logprobs
        self.instruction_block = instruction_block
        self._memo: dict[str, JudgeVerdict] = {}

    @classmethod
    def from_endpoint(
        cls,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        cache_path: str | Path | None = None,
        concurrency: int = 32,
        timeout: float = 60.0,
        max_retries: int = 5,
        **kwargs: Any,
    ) -> Judge:
        client = LLMClient(base_url, model, api_key=api_key, concurrency=concurrency, timeout=timeout,
                           max_retries=max_retries, cache_path=cache_path)
        return cls(client, **kwargs)

    def _messages(self, answer: str, question: str, instruction: str = "") -> list[dict]:
        user = self.template.format(answer=answer, question=question)
        if instruction:
            user = self.instruction_block.format(instruction=instruction) + user
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def _params(self) -> dict:
        return {"temperature": 0.0, "max_tokens": 1, "logprobs": True, "top_logprobs": self.top_logprobs}

    def _key(self, answer: str, question: str, instruction: str = "") -> str:
        body = [self.client.model, self.system, self.template, answer, question, self.top_logprobs]
        if instruction:
            body += [self.instruction_block, instruction]
        return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()

    async def ask_many(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        """Verdicts for ``(answer, question)`` or ``(answer, question, instruction)`` items, in order;
        identical items are asked once, and an endpoint failure after retries gives
        ``JudgeVerdict(yes=None, error=...)``. With an instruction the judge sees it above the answer."""
        triples = [(it[0], it[1], it[2] if len(it) > 2 else "") for it in items]
        keys = [self._key(*t) for t in triples]
        todo: dict[str, tuple[str, str, str]] = {}
        for key, item in zip(keys, triples, strict=True):
            if key not in self._memo and key not in todo:
                todo[key] = item
        errors: dict[str, JudgeVerdict] = {}
        if todo:
            results = await self.client.chat_many([(self._messages(*t), self._params()) for t in todo.values()])
            for key, result in zip(todo, results, strict=True):
                # failures are not memoised: the next batch asks again once the endpoint is back
                if isinstance(result, EndpointError):
                    errors[key] = JudgeVerdict(None, error=str(result), outage=True)
                    continue
                verdict = verdict_from_result(result)
                if verdict.yes is None:
                    errors[key] = verdict
                else:
                    self._memo[key] = verdict
        return [self._memo.get(k) or errors[k] for k in keys]

    def ask_many_sync(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        return run_sync(self.ask_many(items))


#: Settings a judge is built from, each with the environment variable that stands in for it.
JUDGE_SETTINGS = {
    "judge_base_url": "RAIF_JUDGE_BASE_URL",
    "judge_model": "RAIF_JUDGE_MODEL",
    "judge_api_key": "RAIF_JUDGE_API_KEY",
    "judge_cache": "RAIF_JUDGE_CACHE",
}


def judge_from_settings(settings: Mapping[str, object] | None = None) -> Judge | None:
    """The judge that ``settings`` (``judge_base_url``, ``judge_model``, ``judge_api_key``,
    ``judge_cache``, ``judge_concurrency``, ``judge_timeout``) or, for the first four, the
    ``RAIF_JUDGE_*`` environment variables name; ``None`` without a base URL and a model. Both training
    backends build their judge here, so one set of variables configures either."""
    settings = settings or {}
    given = {k: settings.get(k) or os.environ.get(env) for k, env in JUDGE_SETTINGS.items()}
    value = {k: None if v is None else str(v) for k, v in given.items()}  # YAML may read a key as a number
    if not (value["judge_base_url"] and value["judge_model"]):
        return None
    return Judge.from_endpoint(
        value["judge_base_url"],
        value["judge_model"],
        api_key=value["judge_api_key"],
        cache_path=value["judge_cache"],
        concurrency=_number_setting(settings, "judge_concurrency", int, 32),
        timeout=_number_setting(settings, "judge_timeout", float, 60.0),
    )


def _number_setting(settings: Mapping[str, object], key: str, kind: type[N], default: N) -> N:
    """``settings[key]`` as ``kind`` (null or absent: ``default``); anything else is a one-line error."""
    raw: Any = settings.get(key)
    if raw is None:
        return default
    try:
        return kind(raw)
    except (TypeError, ValueError):
        from raif_rewards.reward import RewardConfigError

        expected = "an integer" if kind is int else "a number"
        raise RewardConfigError(key, f"expected {expected}, got {raw!r}") from None
