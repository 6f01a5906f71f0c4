"""The judge the adapters call: free-form replies at temperature 0 and YES/NO verdicts.

Both go through the shared cached client (``raif_rewards.llm.LLMClient``), so re-scoring a run
re-asks nothing the judge has already answered.
"""

from __future__ import annotations

from typing import Any

from raif_eval.answer import split_reasoning


class Judge:
    """``text(messages)`` -> the judge's answer (reasoning removed), greedy;
    ``yes_no(messages)`` -> True / False / None (neither). Endpoint failures raise
    :class:`~raif_rewards.errors.EndpointError`: a judge outage must not read as NO."""

    def __init__(self, client: Any, *, max_tokens: int = 4096):
        self.client = client
        self.max_tokens = max_tokens

    async def text(self, messages: list[dict]) -> str:
        result = await self.client.chat(messages, temperature=0.0, max_tokens=self.max_tokens)
        answer, _ = split_reasoning(result.text, result.reasoning)
        return answer

    async def yes_no(self, messages: list[dict]) -> bool | None:
        # same request and decision rule as raif_rewards.judge: one token, P(YES) vs P(NO)
        result = await self.client.chat(
            messages, temperature=0.0, max_tokens=1, logprobs=True, top_logprobs=20
        )
        return decide(result)


def decide(result: Any) -> bool | None:
    """YES/NO of a judge reply: ``raif_rewards.judge``'s rule (probability mass of YES against NO in
    the first token's top log-probabilities, or the reply word itself); a reply it cannot read is
    read as InFoBench's scorer reads text (starts with yes/no, else exactly one of YES/NO in it)."""
    from raif_rewards.judge import verdict_from_result

    verdict = verdict_from_result(result)
    if verdict.yes is not None:
        return verdict.yes
    return text_verdict(result.text)


def text_verdict(text: str | None) -> bool | None:
    answer = (text or "").strip()
    if answer.startswith("<think>"):
        # a thinking judge gives no verdict (docs/eval.md): its YES/NO words may be its musing
        return None
    low = answer.lower()
    if low.startswith("yes") or answer.startswith("是"):
        return True
    if low.startswith("no") or answer.startswith("否"):
        return False
    has_yes, has_no = "YES" in answer, "NO" in answer
    if has_yes != has_no:
        return has_yes
    return None
