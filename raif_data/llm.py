"""The pipeline's use of the shared async client (raif_rewards.llm): construction from the recipe, a
reachability check that fails fast with a clear message, and splitting a completion into think/answer.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from raif_data.recipe import LLMConfig
from raif_rewards.endpoints import endpoint_urls
from raif_rewards.errors import EndpointError
from raif_rewards.llm import ChatResult, Choice, LLMClient, run_sync

__all__ = ["ChatResult", "Choice", "LLMClient", "run_sync", "make_client", "preflight", "split_answer",
           "as_training_text"]


def preflight(base_url: str | list[str], timeout: float = 10.0) -> None:
    """Fail now, in one line, when nothing listens at ``base_url`` (each of them, for a list) instead
    of after every retry."""
    for one in endpoint_urls(base_url):
        _preflight_one(one, timeout)


def _preflight_one(base_url: str, timeout: float) -> None:
    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # something answers HTTP there; authentication or routing errors show up per request
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointError(f"{base_url}: endpoint unreachable ({reason}); is the server running? "
                            "(recipe: llm.base_url / --base-url)") from None


def make_client(cfg: LLMConfig, output_dir: str | Path, *, base_url: str | list[str] | None = None,
                model: str | None = None, check: bool = True) -> LLMClient:
    """A client for the recipe's endpoint (or the given one), caching into ``<output_dir>/llm_cache.sqlite``."""
    url = base_url or cfg.base_url
    name = model or cfg.model
    if not url or not name:
        raise EndpointError("an endpoint needs both a base URL and a model name (llm.base_url, llm.model)")
    if check:
        preflight(url, timeout=min(cfg.timeout, 10.0))
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    cache = cfg.cache or str(Path(output_dir) / "llm_cache.sqlite")
    return LLMClient(url, name, api_key=key, concurrency=cfg.concurrency, timeout=cfg.timeout,
                     max_retries=cfg.max_retries, cache_path=cache)


_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def split_answer(choice: Choice | ChatResult) -> tuple[str, str]:
    """(reasoning, answer) of a completion: the server's reasoning_content, or an inline think block;
    an ``<answer>`` block, when present, is the answer."""
    text = choice.text or ""
    reasoning = choice.reasoning or ""
    if "</think>" in text:
        head, _, text = text.rpartition("</think>")
        reasoning = reasoning or head.replace("<think>", "")
    m = _ANSWER.search(text)
    if m:
        text = m.group(1)
    return reasoning.strip(), text.strip()


def as_training_text(reasoning: str, answer: str) -> str:
    """A response in the trainer's default format (RAIF's ``<think>…</think><answer>…</answer>``)."""
    return f"<think>\n{reasoning}\n</think>\n<answer>\n{answer}\n</answer>"
