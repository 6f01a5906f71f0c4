"""Rollouts for the local backend: chat rendering (with the direct-answer variant), batched sampling
with `generate`, and per-token log-probabilities of responses under a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from raif_train.algo import token_log_probs

__all__ = ["Sample", "render_prompt", "generate", "response_log_probs", "pad_batch"]


@dataclass
class Sample:
    prompt_ids: list[int]
    response_ids: list[int]  # generated tokens, EOS included when produced, padding stripped
    prefix: str  # forced assistant text after the generation prompt (e.g. an empty think block)
    response_text: str = ""


def render_prompt(
    tokenizer, messages: list[dict[str, str]], response_format: str, direct: bool
) -> tuple[str, str]:
    """Chat-template the prompt; return (prompt text, prefix to put before the completion for the reward).

    A direct-answer prompt ends with an empty, closed think block (RAIF's forced fast answer); the
    reward then gets the completion alone with `direct=True`. When the template itself opens <think>
    (DeepSeek-R1-Distill), a reasoning completion starts inside the block, so "<think>" is the prefix
    that lets the reward parser see a whole block.
    """
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    opened = text.rstrip().endswith("<think>")
    if direct:
        close = "\n\n</think>\n\n" if response_format == "r1" else "\n\n</think>\n"
        return text + (close if opened else "<think>" + close), ""
    return text, ("<think>\n" if opened and response_format != "plain" else "")


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, left: bool) -> tuple[Tensor, Tensor]:
    n = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        if not s:
            continue
        if left:
            ids[i, n - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[i, n - len(s) :] = 1
        else:
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
    return ids, mask


@torch.no_grad()
def generate(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    pad_id: int,
    eos_id: int | Sequence[int],
    max_new_tokens: int,
    min_new_tokens: int = 0,
    temperature: float,
    top_p: float,
    seed: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> list[list[int]]:
    """Sample one response per prompt with `model.generate`; deterministic in `seed`.

    The global torch RNG (which `generate` uses) is forked, so no outside state changes.
    """
    eos_ids = [eos_id] if isinstance(eos_id, int) else list(eos_id)
    stop = set(eos_ids)
    ids, mask = pad_batch(prompts, pad_id, left=True)
    ids, mask = ids.to(device), mask.to(device)
    was_training = model.training
    model.eval()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _autocast(device, autocast_dtype):
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            pad_token_id=pad_id,
            eos_token_id=eos_ids,
            # The model's generation_config may carry chat defaults (top_k, repetition penalty); any of
            # them would make the sampled distribution differ from the one whose log-probs we train.
            repetition_penalty=1.0,
        )
    model.train(was_training)
    responses = []
    for row in out[:, ids.shape[1] :].tolist():
        # Cut after the first stop token; without one the row is full length (generate pads only
        # after a stop token, so there is nothing else to strip).
        cut = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
        responses.append(row[:cut])
    return responses


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None or device.type != "cuda":
        return torch.autocast(device_type="cpu", enabled=False)
    return torch.autocast(device_type="cuda", dtype=dtype)


def response_log_probs(
    model,
    samples: Sequence[Sample],
    *,
    pad_id: int,
    temperature: float,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Log-probs [B, R] of each sample's response tokens given its prompt, and the response mask.

    Prompts are left-padded and responses right-padded so all responses start at the same column;
    position ids follow the attention mask, as in generation.
    """
    p_ids, p_mask = pad_batch([s.prompt_ids for s in samples], pad_id, left=True)
    r_ids, r_mask = pad_batch([s.response_ids for s in samples], pad_id, left=False)
    ids = torch.cat([p_ids, r_ids], 1).to(device)
    mask = torch.cat([p_mask, r_mask], 1).to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    P, R = p_ids.shape[1], r_ids.shape[1]
    with _autocast(device, autocast_dtype):
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits
    lp = token_log_probs(logits[:, P - 1 : P + R - 1], ids[:, P : P + R], temperature)
    return lp, r_mask.to(device).to(lp.dtype)
