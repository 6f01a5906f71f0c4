"""Separating a completion's reasoning from its answer: only the answer is ever scored.

Reasoning comes from ``<think>...</think>`` blocks in the text or from the server's ``reasoning_content``.
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def split_reasoning(text: str | None, server_reasoning: str | None = None) -> tuple[str, str]:
    """(answer, reasoning) of one completion.

    - Text up to the last ``</think>`` is reasoning (a leading ``<think>`` tag is dropped); what
      follows is the answer.
    - An opened ``<think>`` that never closes means the model ran out of tokens while thinking: the
      whole text is reasoning and the answer is empty (scoring a half thought would flatter it).
    - ``server_reasoning`` (vLLM/SGLang ``reasoning_content``) is prepended to the reasoning.
    """
    text = text or ""
    closes = list(_CLOSE.finditer(text))
    if closes:
        cut = closes[-1]
        reasoning, answer = text[: cut.start()], text[cut.end() :]
        reasoning = _OPEN.sub("", reasoning, count=1)
    elif _OPEN.search(text):
        reasoning, answer = _OPEN.sub("", text, count=1), ""
    else:
        reasoning, answer = "", text
    parts = [p.strip() for p in (server_reasoning or "", reasoning) if p and p.strip()]
    return answer.strip(), "\n\n".join(parts)
