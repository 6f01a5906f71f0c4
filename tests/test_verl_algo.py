"""veRL backend on CPU tensors: our GRPO advantage, k3 KL and PPO loss equal veRL's own functions; the
agent loop's prompt surgery, the superior-CoT mask and the combined BC loss match the native backend.

Needs veRL (the [verl] extra; scripts/ci_verl.sh runs this file in .venv-verl).
"""

from __future__ import annotations

import asyncio
import json
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from tensordict import TensorDict
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, kl_penalty
from verl.utils import tensordict_utils as tu
from verl.workers.config import ActorConfig
from verl.workers.rollout.replica import TokenOutput
from verl.workers.utils.losses import ppo_loss

from raif_train import algo
from raif_train.local.rollout import render_prompt
from raif_train.local.tiny import build_tiny_tokenizer
from raif_train.verl.agent_loop import RaifAgentLoop
from raif_train.verl.loss import BC_DENOM_KEY, EXPERT_KEY, KEEP_KEY, PG_DENOM_KEY, raif_actor_loss
from raif_train.verl.masks import direct_suffix, is_direct_session, keep_mask, mask_advantages, reward_fields
from raif_train.verl.trainer import mask_rows

# ----------------------------------------------------------------------------- GRPO advantage, k3 KL


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=10_000),
    st.booleans(),
)
def test_group_advantages_equal_verl_grpo(group_sizes, seed, norm):
    rng = random.Random(seed)
    ids = [f"p{g}" for g, n in enumerate(group_sizes) for _ in range(n)]
    rng.shuffle(ids)  # veRL groups by uid, not by position
    # float64 on both sides: a group like (2.9983, 3.0) has std ~1e-3, where float32 cancellation
    # alone moves veRL's advantages by ~1e-4; the algorithms must agree, not their rounding.
    scores = torch.tensor([rng.choice([-3.0, -1.0, 0.5, 1.0, 3.0, rng.uniform(-3, 3)]) for _ in ids], dtype=torch.float64)
    T = 5
    mask = torch.ones(len(ids), T, dtype=torch.float64)
    token_rewards = torch.zeros(len(ids), T, dtype=torch.float64)
    token_rewards[:, -1] = scores  # outcome reward on the last token, as veRL's reward managers place it
    ref, _ = compute_grpo_outcome_advantage(
        token_rewards, mask, np.array(ids, dtype=object), norm_adv_by_std_in_grpo=norm
    )
    ours = algo.group_advantages(scores, ids, eps=1e-6, norm_by_std=norm)
    # veRL keeps float32 constants for one-sample groups (1/(1+1e-6) differs by ~5e-8): hence 1e-6.
    torch.testing.assert_close(ours[:, None] * mask, ref, rtol=1e-6, atol=1e-7)


def test_k3_equals_verl_low_var_kl():
    g = torch.Generator().manual_seed(0)
    lp = torch.randn(6, 9, generator=g) * 3
    ref = torch.randn(6, 9, generator=g) * 3
    lp[0, 0], ref[0, 0] = -40.0, 0.0  # exercises the clamps
    torch.testing.assert_close(algo.k3_kl(lp, ref), kl_penalty(lp, ref, "low_var_kl"))


# ----------------------------------------------------------------------------- actor loss


def _actor_config(agg: str, kl_coef: float, **extra) -> ActorConfig:
    return ActorConfig(
        strategy="fsdp",
        ppo_mini_batch_size=4,
        ppo_micro_batch_size_per_gpu=1,
        rollout_n=1,
        loss_agg_mode=agg,
        use_kl_loss=kl_coef > 0,
        kl_loss_coef=kl_coef,
        kl_loss_type="low_var_kl",
        clip_ratio_low=0.2,
        clip_ratio_high=0.28,
        entropy_coeff=0.0,
        **extra,
    )


def _flags(data: TensorDict, agg: str, keep=None, expert=None) -> TensorDict:
    """The four per-row fields the trainer writes before every update, with the counts of this batch as
    its whole mini-batch: kept policy sequences (tokens for token-mean) and expert response tokens."""
    B = data.batch_size[0]
    keep = torch.ones(B, dtype=torch.bool) if keep is None else keep.bool()
    expert = torch.zeros(B, dtype=torch.bool) if expert is None else expert.bool()
    lengths = data["response_mask"].sum(-1)
    policy = keep & ~expert
    pg = float((lengths * policy).sum()) if agg == "token-mean" else float(policy.sum())
    data[KEEP_KEY] = keep.long()
    data[EXPERT_KEY] = expert.long()
    data[PG_DENOM_KEY] = torch.full((B,), pg)
    data[BC_DENOM_KEY] = torch.full((B,), float((lengths * expert).sum()))
    return data


def _batch(seed: int, B: int = 4, P: int = 3, R: int = 5):
    """Padded prompts/responses like veRL's batches, plus log-probs laid out as its model output."""
    g = torch.Generator().manual_seed(seed)
    resp_len = torch.tensor([R, 2, 4, 1][:B])
    response_mask = (torch.arange(R)[None, :] < resp_len[:, None]).long()
    attention = torch.cat([torch.ones(B, P, dtype=torch.long), response_mask], dim=1)
    log_prob = -torch.rand(B, R, generator=g) * 2
    old = log_prob + 0.3 * torch.randn(B, R, generator=g)
    ref = log_prob + 0.5 * torch.randn(B, R, generator=g)
    adv = torch.randn(B, generator=g)
    # The model emits one log-prob per token of the unpadded sequence; position t predicts t+1, so a
    # response token's log-prob sits one position before it (veRL's no_padding_2_padding undoes this).
    flat = []
    for i in range(B):
        seq = torch.zeros(P + int(resp_len[i]))
        seq[P - 1 : P - 1 + int(resp_len[i])] = log_prob[i, : int(resp_len[i])]
        flat.append(seq)
    data = TensorDict(
        {
            "prompts": torch.ones(B, P, dtype=torch.long),
            "responses": torch.ones(B, R, dtype=torch.long),
            "attention_mask": attention,
            "response_mask": response_mask,
            "old_log_probs": old,
            "ref_log_prob": ref,
            "advantages": adv[:, None] * response_mask,
        },
        batch_size=B,
    )
    tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=None, global_batch_size=None)
    lp_flat = torch.cat(flat).requires_grad_(True)
    return data, {"log_probs": lp_flat}, log_prob, old, ref, adv, response_mask


@pytest.mark.parametrize("agg", ["seq-mean-token-mean", "token-mean"])
@pytest.mark.parametrize("kl_coef", [0.0, 0.001, 0.1])
def test_verl_ppo_loss_equals_native_terms(agg, kl_coef):
    data, out, lp, old, ref, adv, mask = _batch(1)
    cfg = _actor_config(agg, kl_coef)
    verl_loss, _ = ppo_loss(cfg, out, data)
    # every row kept, no expert rows, this batch as the mini-batch: exactly veRL's ppo_loss
    loss, _ = raif_actor_loss(cfg, out, _flags(data, agg), bc_coef=1.0)
    torch.testing.assert_close(loss, verl_loss)
    pg, _ = algo.ppo_clip_loss(lp, old, adv, mask, 0.2, 0.28, agg)
    expected = pg + kl_coef * algo.agg_loss(algo.k3_kl(lp, ref), mask, agg)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bc_coef", [1.0, 0.5])
def test_combined_loss_is_ppo_on_policy_rows_plus_bc_nll_on_expert_rows(bc_coef):
    data, out, lp, old, ref, adv, mask = _batch(2)
    expert = torch.tensor([0, 1, 0, 1])
    _flags(data, "seq-mean-token-mean", expert=expert)
    cfg = _actor_config("seq-mean-token-mean", 0.001)
    loss, metrics = raif_actor_loss(cfg, out, data, bc_coef=bc_coef)
    pol = expert == 0
    pg, _ = algo.ppo_clip_loss(lp[pol], old[pol], adv[pol], mask[pol], 0.2, 0.28)
    kl = algo.agg_loss(algo.k3_kl(lp[pol], ref[pol]), mask[pol])
    nll = algo.agg_loss(-lp[~pol], mask[~pol], "token-mean")  # prompt tokens never enter response_mask
    torch.testing.assert_close(loss, pg + 0.001 * kl + bc_coef * nll, rtol=1e-5, atol=1e-6)
    assert metrics["actor/bc_nll"].values[0] == pytest.approx(float(nll), rel=1e-5)
    loss.backward()  # the BC term reaches the expert rows' log-probs
    assert out["log_probs"].grad is not None and out["log_probs"].grad.abs().sum() > 0


def test_bc_nll_matches_native_bc_on_logits():
    """The expert term is the native backend's bc_nll: same tokens, same masking of the prompt."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 7, 11, generator=g)
    ids = torch.randint(0, 11, (2, 7), generator=g)
    loss_mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0, 0]])
    native = algo.bc_nll(logits, ids, loss_mask)
    lp = algo.token_log_probs(logits[:, :-1], ids[:, 1:])
    ours = algo.agg_loss(-lp, loss_mask[:, 1:], "token-mean")
    torch.testing.assert_close(ours, native)


def _subset(full: dict, rows: list[int], **non_tensor):
    """Rows `rows` of a padded batch laid out as veRL's micro-batches: per-row fields and flat log-probs."""
    P, R = full["P"], full["R"]
    resp_len = full["resp_len"][rows]
    B = len(rows)
    response_mask = (torch.arange(R)[None, :] < resp_len[:, None]).long()
    fields = {
        "prompts": torch.ones(B, P, dtype=torch.long),
        "responses": torch.ones(B, R, dtype=torch.long),
        "attention_mask": torch.cat([torch.ones(B, P, dtype=torch.long), response_mask], dim=1),
        "response_mask": response_mask,
        "old_log_probs": full["old"][rows],
        "ref_log_prob": full["ref"][rows],
        "advantages": full["adv"][rows][:, None] * response_mask,
    }
    fields.update({k: v[rows] for k, v in full["flags"].items()})
    data = TensorDict(fields, batch_size=B)
    tu.assign_non_tensor(data, **({"dp_size": 1, "batch_num_tokens": None, "global_batch_size": None} | non_tensor))
    flat = []
    for i, row in enumerate(rows):
        seq = torch.zeros(P + int(resp_len[i]))
        seq[P - 1 : P - 1 + int(resp_len[i])] = full["lp"][row, : int(resp_len[i])]
        flat.append(seq)
    return data, {"log_probs": torch.cat(flat)}


def _full(seed: int, B: int = 8, P: int = 3, R: int = 6) -> dict:
    g = torch.Generator().manual_seed(seed)
    resp_len = torch.randint(1, R + 1, (B,), generator=g)
    lp = -torch.rand(B, R, generator=g) * 2
    return {
        "P": P,
        "R": R,
        "resp_len": resp_len,
        "lp": lp,
        "old": lp + 0.3 * torch.randn(B, R, generator=g),
        "ref": lp + 0.5 * torch.randn(B, R, generator=g),
        "adv": torch.randn(B, generator=g),
        "flags": {},
    }


def _native_step_loss(full, keep, expert, agg, kl_coef, bc_coef):
    """The native backend's update on one mini-batch (raif_train/local/trainer.py `_update`): PPO and KL on
    the response mask times `keep`, denominators of the kept rows, plus bc_coef x token-mean expert NLL."""
    R = full["R"]
    mask = (torch.arange(R)[None, :] < full["resp_len"][:, None]).float()
    pol = ~expert
    kmask = mask[pol] * keep[pol].float()[:, None]
    lens = full["resp_len"][pol]
    denom = float((lens * keep[pol]).sum()) if agg == "token-mean" else float(keep[pol].sum())
    lp, old, ref = full["lp"][pol], full["old"][pol], full["ref"][pol]
    pg, _ = algo.ppo_clip_loss(lp, old, full["adv"][pol], kmask, 0.2, 0.28, agg, denom)
    kl = algo.agg_loss(algo.k3_kl(lp, ref), kmask, agg, denom)
    nll = algo.agg_loss(-full["lp"][expert], mask[expert], "token-mean")
    return pg + kl_coef * kl + bc_coef * nll


@pytest.mark.parametrize("agg", ["seq-mean-token-mean", "token-mean", "seq-mean-token-sum"])
@pytest.mark.parametrize("n_micro", [1, 2, 4])
def test_keep_mask_and_expert_rows_give_the_native_loss_across_micro_batches(agg, n_micro):
    """Masked rows leave PG, KL and the denominators; expert rows only feed the NLL. With the trainer's
    per-mini-batch counts the micro-batch losses sum to the native mini-batch loss, veRL's own counts
    (batch_num_tokens of every loss_mask token, global_batch_size of every row) notwithstanding."""
    from raif_train.verl.expert import minibatch_denominators

    full = _full(5)
    expert = torch.tensor([0, 0, 1, 0, 0, 1, 0, 0], dtype=torch.bool)
    keep = torch.tensor([1, 0, 0, 1, 1, 0, 0, 1], dtype=torch.bool)  # masked policy rows 1 and 6
    lengths = full["resp_len"].tolist()
    pg_d, bc_d = minibatch_denominators(lengths, (keep & ~expert).tolist(), expert.tolist(), 1, 1, agg)
    full["flags"] = {
        EXPERT_KEY: expert.long(),
        KEEP_KEY: keep.long(),
        PG_DENOM_KEY: torch.tensor(pg_d),
        BC_DENOM_KEY: torch.tensor(bc_d),
    }
    cfg = _actor_config(agg, 0.01)
    B = len(expert)
    total = torch.zeros(())
    for k in range(n_micro):
        rows = list(range(k * B // n_micro, (k + 1) * B // n_micro))
        # what veRL's engine assigns: every response token of the mini-batch, every row of it
        data, out = _subset(full, rows, batch_num_tokens=int(sum(lengths)), global_batch_size=B)
        loss, metrics = raif_actor_loss(cfg, out, data, bc_coef=0.5)
        total = total + loss
    expected = _native_step_loss(full, keep, expert, agg, 0.01, 0.5)
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-6)


def test_masked_rows_change_kl_and_denominators_not_only_advantages():
    """Zeroed advantages alone leave the masked rows in the KL term and the denominators (veRL's plain
    ppo_loss); the keep flag removes them, which moves the loss."""
    full = _full(7, B=4)
    keep = torch.tensor([1, 0, 1, 0], dtype=torch.bool)
    full["adv"] = full["adv"] * keep  # what mask_rows already did
    cfg = _actor_config("seq-mean-token-mean", 0.1)
    plain, out = _subset(full, list(range(4)))
    verl_loss, _ = ppo_loss(cfg, out, plain)
    flagged, out = _subset(full, list(range(4)))
    _flags(flagged, "seq-mean-token-mean", keep=keep)
    ours, _ = raif_actor_loss(cfg, out, flagged, bc_coef=1.0)
    native = _native_step_loss(full, keep, torch.zeros(4, dtype=torch.bool), "seq-mean-token-mean", 0.1, 1.0)
    torch.testing.assert_close(ours, native, rtol=1e-5, atol=1e-6)
    assert abs(float(verl_loss) - float(ours)) > 1e-4


def test_a_micro_batch_of_masked_rows_only_is_a_finite_zero_ppo_term():
    full = _full(9, B=2)
    data, out = _subset(full, [0, 1])
    for agg in ("seq-mean-token-mean", "token-mean"):
        _flags(data, agg, keep=torch.zeros(2, dtype=torch.bool))
        loss, _ = raif_actor_loss(_actor_config(agg, 0.1), out, data, bc_coef=1.0)
        assert float(loss) == 0.0


@pytest.mark.parametrize("absent", [KEEP_KEY, EXPERT_KEY, PG_DENOM_KEY, BC_DENOM_KEY])
def test_a_batch_without_the_trainer_fields_is_an_error_not_plain_ppo_loss(absent):
    """The loss is only ever installed by RaifTrainer, which writes these fields for every row: a batch
    without one of them means they did not reach the worker, and falling back would train masked rows."""
    data, out, *_ = _batch(4)
    _flags(data, "seq-mean-token-mean", keep=torch.tensor([1, 0, 1, 1]))
    del data[absent]
    with pytest.raises(RuntimeError, match=absent):
        raif_actor_loss(_actor_config("seq-mean-token-mean", 0.1), out, data, bc_coef=1.0)


# ----------------------------------------------------------------------------- superior-CoT mask


def _info(score, answer, fmt, direct):
    return {"score": score, "answer_score": answer, "format_ok": float(fmt), "direct_answer": float(direct)}


class _Wrapped:
    """TransferQueue returns NonTensorData-like objects with `.data`."""

    def __init__(self, data):
        self.data = data


def test_mask_rows_matches_native_mask_and_zeroes_after_normalisation():
    G = 4
    # group a: reasoning 2.0 / 0.5 vs direct 1.0 -> keep the first; group b: every reasoning sample below
    # every direct answer -> dropped, the format failure too; group c: offline baseline only (no direct):
    # a baseline_score of 1.0 (every constraint met) is +2 on the answer scale, so only the 2.0 answer and
    # the format failure keep their gradient.
    infos = [
        _info(3.0, 2.0, True, False), _info(1.5, 0.5, True, False), _info(2.0, 1.0, True, True), _info(2.0, 1.0, True, True),
        _info(0.0, -1.0, True, False), _info(-3.0, -2.0, False, False), _info(2.0, 1.0, True, True), _info(2.5, 1.5, True, True),
        _info(3.0, 2.0, True, False), _info(0.5, -0.5, True, False), _info(2.0, 1.0, True, False), _info(-3.0, -2.0, False, False),
    ]  # fmt: skip
    uids = ["a"] * G + ["b"] * G + ["c"] * G
    rows = [{"baseline_score": None}] * 8 + [{"baseline_score": 1.0}] * 4
    scores = torch.tensor([i["score"] for i in infos])
    adv = algo.group_advantages(scores, uids)
    adv_rows = [a * torch.ones(3) for a in adv]
    new, flags, metrics = mask_rows(uids, [_Wrapped({"reward_extra_info": i}) for i in infos], rows, adv_rows, {})
    # the native backend's composition on the same inputs
    direct = torch.tensor([bool(i["direct_answer"]) for i in infos])
    keep, ratio = algo.superior_cot_mask(
        torch.tensor([i["answer_score"] for i in infos], dtype=torch.float64),
        uids,
        direct,
        torch.tensor([not i["format_ok"] for i in infos]),
        torch.tensor([float("nan")] * 8 + [2.0] * 4, dtype=torch.float64),
        "mean",
    )
    assert keep.tolist() == [True, False, False, False, False, False, False, False, True, False, False, True]
    assert flags.tolist() == keep.tolist()  # the flags the loss drops masked rows by
    for row, a, k in zip(new, adv, keep.tolist(), strict=True):
        torch.testing.assert_close(row, (a if k else 0.0) * torch.ones(3))
    assert metrics["raif/kept_ratio"] == pytest.approx(ratio) == pytest.approx(3 / 8)
    assert metrics["raif/direct_share"] == pytest.approx(4 / 12)


def test_keep_mask_follows_the_native_signal_on_gate_math_and_unscored_samples():
    """The veRL mask reads the same reward fields as the native one: an answer-gate failure (format fine,
    reasoning empty) keeps its negative gradient, math samples are exempt, an unscored sample never learns."""

    def info(answer, *, answered=True, math=False, unscored=False, direct=False):
        return {"score": answer + 1.0, "answer_score": answer, "format_ok": 1.0, "direct_answer": float(direct),
                "answered": float(answered), "style_math": float(math), "unscored": float(unscored)}

    infos = [
        # group g: direct answers at 1.0; a 0.5 answer is masked, the gate failure is kept
        info(2.0), info(0.5), info(-2.0, answered=False), info(1.0, direct=True),
        # group m: math, no direct answers: every sample kept whatever its score
        info(-2.0, math=True), info(2.0, math=True), info(-2.0, math=True), info(-2.0, math=True),
        # group u: an unscored sample is never kept, even where its group would keep it
        info(2.0), info(2.0, unscored=True), info(2.0), info(1.0, direct=True),
    ]  # fmt: skip
    f = reward_fields(infos, [None] * 12)
    keep, _ = keep_mask(f, ["g"] * 4 + ["m"] * 4 + ["u"] * 4)
    assert keep.tolist() == [True, False, True, False, True, True, True, True, True, False, True, False]


def test_math_rows_are_recognised_for_reasoning_only_groups():
    from raif_train.verl.masks import is_math_row

    assert is_math_row({"style": "math", "ground_truth": '{"style": "math", "answer": "4"}'})
    assert is_math_row(_Wrapped({"style": "rule", "ground_truth": '{"style": "math", "answer": "4"}'}))
    assert not is_math_row({"style": "rule", "ground_truth": '{"style": "rule", "lang": "en", "tree": {}}'})
    assert not is_math_row(None)
    assert not is_math_row({"style": "rule", "ground_truth": '{"style": "math"'})  # malformed: the reward reports it


def test_the_judge_sees_the_last_user_message():
    from raif_train.verl.masks import last_user_message, row_style

    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "a"}, {"role": "user", "content": "Write a haiku."}]
    assert last_user_message(msgs) == "Write a haiku."
    assert last_user_message([]) == ""
    gt = json.dumps({"style": "judge", "lang": "en", "questions": ["Is it a haiku?"],
                     "tree": {"op": "check", "id": "punctuation:no_comma", "kwargs": {}}})
    assert row_style({"style": "judge", "ground_truth": gt}) == "judge"


def test_offline_baseline_is_put_on_the_answer_scale():
    infos = [{"score": 1.0, "answer_score": 0.0, "format_ok": 1.0, "direct_answer": 0.0}]
    rows = [{"baseline_score": 0.0}]
    assert reward_fields(infos, rows).offline.tolist() == [-2.0]  # RAIF: none satisfied -> -2
    assert reward_fields(infos, rows, accuracy="fraction").offline.tolist() == [0.0]
    assert reward_fields(infos, [{"baseline_score": 0.5}]).offline.tolist() == [0.5]


def test_keep_mask_dynamic_sampling_and_no_superior_cot():
    infos = [_info(1.0, 1.0, True, False)] * 4 + [_info(s, s, True, False) for s in (0.0, 1.0, 2.0, 3.0)]
    f = reward_fields(infos, [None] * 8)
    keep, _ = keep_mask(f, ["x"] * 4 + ["y"] * 4, superior_cot=False, dynamic_sampling=True)
    assert keep.tolist() == [False] * 4 + [True] * 4
    torch.testing.assert_close(mask_advantages(torch.ones(8, 2), keep), keep.float()[:, None].expand(8, 2))
    with pytest.raises(KeyError, match="answer_score"):
        reward_fields([{"score": 1.0}], [None])


@pytest.mark.parametrize(("G", "D", "expected"), [(8, 2, [6, 7]), (4, 0, []), (3, 2, [1, 2])])
def test_direct_sessions_are_the_native_ones(G, D, expected):
    assert [j for j in range(G) if is_direct_session(j, G, D)] == expected
    with pytest.raises(ValueError):
        is_direct_session(G, G, D)


# ----------------------------------------------------------------------------- agent loop on CPU


class _EchoServer:
    """Stands in for veRL's LLM server client: answers every prompt with fixed token ids."""

    def __init__(self, reply: list[int]):
        self.reply, self.prompts = reply, []

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kw):
        self.prompts.append(list(prompt_ids))
        return TokenOutput(token_ids=self.reply)


def _loop_config(G: int, D: int, fmt: str):
    return OmegaConf.create(
        {
            "actor_rollout_ref": {
                "rollout": {"n": G, "prompt_length": 64, "response_length": 16, "full_determinism": False}
            },
            "data": {"apply_chat_template_kwargs": {}},
            "raif": {"group_size": G, "direct_per_group": D, "response_format": fmt},
        }
    )


@pytest.mark.parametrize("fmt", ["think_answer", "r1"])
def test_agent_loop_forces_the_native_direct_prompt_and_flags_it(fmt):
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tok = build_tiny_tokenizer()
    messages = [{"role": "user", "content": "write one answer in lowercase words"}]
    reply = tok.encode("<answer> yes </answer>", add_special_tokens=False) + [tok.eos_token_id]
    cfg = _loop_config(4, 1, fmt)
    outs, prompts = [], []

    async def one(session: int):
        # veRL's agent loop binds the running event loop when constructed: build it inside one.
        server = _EchoServer(reply)
        loop = RaifAgentLoop(
            trainer_config=DictConfigWrap(cfg),
            server_manager=server,
            tokenizer=tok,
            processor=None,
            dataset_cls=RLHFDataset,
            data_config=DictConfigWrap(cfg.data),
        )
        out = await loop.run({"temperature": 1.0}, raw_prompt=messages, session_id=session)
        return loop, out, tok.decode(server.prompts[0])

    for session in range(4):
        loop, out, text = asyncio.run(one(session))
        outs.append(out)
        prompts.append(text)
    for session, (out, text) in enumerate(zip(outs, prompts, strict=True)):
        direct = session == 3
        native, _ = render_prompt(tok, messages, fmt, direct=direct)
        # The tiny tokenizer decodes words joined by spaces: compare token sequences, not raw strings.
        assert text == tok.decode(tok.encode(native, add_special_tokens=False))
        assert out.extra_fields["direct_answer"] is direct
        assert out.response_ids == reply
        assert out.prompt_ids == outs[0].prompt_ids + (loop.forced_suffix_ids(messages) if direct else [])
    assert "</think>" in direct_suffix(tok, messages, fmt)


# ----------------------------------------------------------------------------- trainer glue


def test_trainer_masks_the_advantages_it_reads_back_from_transfer_queue(monkeypatch):
    """RaifTrainer._compute_advantage on veRL's data shapes (nested advantages, NonTensorStack fields),
    with TransferQueue replaced by a dict: the rows written back are the native mask's."""
    import sys
    import types

    from tensordict import NonTensorData, NonTensorStack
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    from raif_train.verl.trainer import RaifTrainer

    infos = [_info(3.0, 2.0, True, False), _info(0.0, 0.0, True, False), _info(2.0, 1.0, True, True)] * 2
    uids = ["a"] * 3 + ["b"] * 3
    lengths = [2, 3, 1, 4, 2, 2]
    adv = [torch.full((n,), float(i + 1)) for i, n in enumerate(lengths)]
    store = {
        "uid": NonTensorStack(*[NonTensorData(u) for u in uids]),
        "advantages": torch.nested.as_nested_tensor(adv, layout=torch.jagged),
        "extra_fields": NonTensorStack(*[NonTensorData({"reward_extra_info": i}) for i in infos]),
        "extra_info": NonTensorStack(*[NonTensorData({"baseline_score": None}) for _ in infos]),
    }
    written = {}
    fake_tq = types.SimpleNamespace(
        kv_batch_get=lambda keys, partition_id, select_fields: TensorDict(
            {k: store[k] for k in select_fields}, batch_size=len(keys)
        ),
        kv_batch_put=lambda keys, partition_id, fields: written.update(fields=fields),
    )
    monkeypatch.setitem(sys.modules, "transfer_queue", fake_tq)
    monkeypatch.setattr(PPOTrainerSync, "_compute_advantage", lambda self, batch, metrics: batch)

    class Meta:
        keys, partition_id, fields = [f"k{i}" for i in range(6)], "train", None  # None: "fetch all"

        def __len__(self):
            return 6

    trainer = object.__new__(RaifTrainer)  # no Ray, no workers: only the advantage step is exercised
    trainer.config = OmegaConf.create({"raif": {"superior_cot": True, "direct_baseline": "mean"}})
    metrics: dict = {}
    trainer._compute_advantage(Meta(), metrics)
    out = written["fields"]["advantages"]
    assert out.is_nested
    keep = [True, False, False, True, False, False]  # 2.0 >= direct 1.0 kept; 0.0 < 1.0 masked; direct never
    for row, a, k in zip(out.unbind(0), adv, keep, strict=True):
        torch.testing.assert_close(row, a if k else torch.zeros_like(a))
    assert metrics["raif/kept_ratio"] == pytest.approx(0.5)
    # the loss's row flags travel with the advantages: kept rows, and no row of the rollout is an expert
    assert written["fields"][KEEP_KEY].tolist() == [int(k) for k in keep]
    assert written["fields"][EXPERT_KEY].tolist() == [0] * 6


def test_row_flags_on_a_jagged_mask_keep_its_padded_width():
    """TransferQueue hands the loss jagged masks; the flagged mask must pad like the fields beside it."""
    from raif_train.verl.loss import rows_to_tokens

    lens = [1, 2, 3]
    mask = torch.nested.as_nested_tensor([torch.ones(n, dtype=torch.int64) for n in lens], layout=torch.jagged)
    flagged = rows_to_tokens(mask, torch.tensor([True, False, True]))
    assert flagged.to_padded_tensor(0).tolist() == [[1, 0, 0], [0, 0, 0], [1, 1, 1]]
