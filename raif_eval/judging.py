"""The judge the adapters call: free-form replies at temperature 0 and YES/NO verdicts.

Both go through the shared cached client (``raif_rewards.llm.LLMClient``), so re-scoring a run
re-asks nothing the judge has already answered.
"""

from __future__ import annotations

import math
import re
from typing import Any

from raif_eval.answer import split_reasoning


class Judge:
    """``text(messages)`` -> the judge's answer (reasoning removed), greedy;
    ``yes_no(messages)`` -> True / False / None (neither)."""

    def __init__(self, client: Any, *, max_tokens: int = 4096):
        self.client = client
        self.max_tokens = max_tokens

    async def text(self, messages: list[dict]) -> str:
        result = await self.client.chat(messages, temperature=0.0, max_tokens=self.max_tokens)
        answer, _ = split_reasoning(result.text, result.reasoning)
        return answer

    async def yes_no(self, messages: list[dict]) -> bool | None:
        result = await self.client.chat(messages, temperature=0.0, max_tokens=8, logprobs=True, top_logprobs=20)
        return verdict_from(result.text, result.logprobs)


_WORD = re.compile(r"[A-Za-z]+")


def _label(token: str) -> str | None:
    word = token.strip().strip("'\"*.:`").lower()
    if word in ("yes", "是"):
        return "yes"
    if word in ("no", "否"):
        return "no"
    return None


def verdict_from(text: str | None, logprobs: list[dict[str, float]] | None) -> bool | None:
    """YES/NO from the first generated token's top log-probabilities (probability mass of YES-like
    versus NO-like tokens); without usable log-probabilities, from the text as InFoBench's scorer
    reads it (starts with yes/no, else YES xor NO in it)."""
    if logprobs:
        mass = {"yes": 0.0, "no": 0.0}
        for token, lp in logprobs[0].items():
            label = _label(token)
            if label:
                mass[label] += math.exp(lp)
        if mass["yes"] or mass["no"]:
            return mass["yes"] > mass["no"]
    answer = (text or "").strip()
    low = answer.lower()
    if low.startswith("yes") or answer.startswith("是"):
        return True
    if low.startswith("no") or answer.startswith("否"):
        return False
    has_yes, has_no = "YES" in answer, "NO" in answer
    if has_yes != has_no:
        return has_yes
    return None
