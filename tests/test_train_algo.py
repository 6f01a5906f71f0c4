"""raif_train.algo against hand-computed values (and veRL's own functions when veRL is installed)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_train import algo

torch.set_num_threads(1)
EPS = 1e-6


def t(x, dtype=torch.float64):
    return torch.tensor(x, dtype=dtype)


# ---------------------------------------------------------------- advantages
@pytest.mark.parametrize(
    "scores, groups, expected",
    [
        # mean .5, unbiased std sqrt(1/3)
        ([1, 0, 0, 1], ["a"] * 4, [0.5 / (math.sqrt(1 / 3) + EPS) * s for s in (1, -1, -1, 1)]),
        # group a: mean 2, std 1; singleton b: mean 0, std 1 (veRL's convention)
        ([1, 2, 3, 5], [0, 0, 0, 1], [-1 / (1 + EPS), 0.0, 1 / (1 + EPS), 5 / (1 + EPS)]),
        # all equal: no signal
        ([0.7, 0.7, 0.7], ["x"] * 3, [0.0, 0.0, 0.0]),
        # interleaved groups
        ([0, 1, 1, 0], ["p", "q", "p", "q"], [s * 0.5 / (math.sqrt(0.5) + EPS) for s in (-1, 1, 1, -1)]),
    ],
)
def test_group_advantages_hand_computed(scores, groups, expected):
    adv = algo.group_advantages(t(scores), groups)
    assert torch.allclose(adv, t(expected), atol=1e-9)


def test_group_advantages_without_std_is_centred_reward():
    adv = algo.group_advantages(t([1.0, 0.0, 0.5]), [1, 1, 1], norm_by_std=False)
    assert torch.allclose(adv, t([0.5, -0.5, 0.0]))


def test_group_advantages_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="group ids"):
        algo.group_advantages(t([1.0, 2.0]), [0, 0, 0])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=8),
    st.floats(-3, 3),
    st.floats(0.5, 4),
)
def test_group_advantages_affine_invariant_and_centred(xs, shift, scale):
    x = t(xs)
    a = algo.group_advantages(x, [0] * len(xs))
    b = algo.group_advantages(x * scale + shift, [0] * len(xs))
    assert abs(float(a.sum())) < 1e-6
    if float(x.std()) > 1e-3:  # eps matters only for near-constant groups
        assert torch.allclose(a, b, atol=1e-4)


# ---------------------------------------------------------------- aggregation
LOSS = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = t([[1, 1, 0], [1, 0, 0]])


@pytest.mark.parametrize(
    "mode, expected",
    [("seq-mean-token-mean", (1.5 + 4.0) / 2), ("token-mean", 7 / 3), ("seq-mean-token-sum", (3 + 4) / 2)],
)
def test_agg_loss_modes(mode, expected):
    assert float(algo.agg_loss(LOSS, MASK, mode)) == pytest.approx(expected)


def test_agg_loss_skips_fully_masked_sequences_and_unknown_mode():
    mask = t([[1, 1, 0], [0, 0, 0]])
    assert float(algo.agg_loss(LOSS, mask, "seq-mean-token-mean")) == pytest.approx(1.5)
    assert float(algo.agg_loss(LOSS, torch.zeros_like(mask), "token-mean")) == 0.0
    with pytest.raises(ValueError, match="token-mean"):
        algo.agg_loss(LOSS, MASK, "sum-everything")


@pytest.mark.parametrize("mode", algo.AGG_MODES)
def test_agg_loss_micro_batches_sum_to_full_batch(mode):
    g = torch.Generator().manual_seed(0)
    loss = torch.rand(6, 5, generator=g, dtype=torch.float64)
    mask = (torch.rand(6, 5, generator=g) > 0.4).double()
    mask[2] = 0  # a dropped sequence
    full = algo.agg_loss(loss, mask, mode)
    denom = mask.sum() if mode == "token-mean" else (mask.sum(-1) > 0).sum()
    parts = sum(algo.agg_loss(loss[i : i + 2], mask[i : i + 2], mode, denom) for i in range(0, 6, 2))
    assert float(parts) == pytest.approx(float(full))


# ---------------------------------------------------------------- PPO loss
def test_ppo_clip_loss_hand_computed():
    lp = t([[math.log(1.5), math.log(1.5), math.log(0.5), math.log(0.5)]])
    old = torch.zeros_like(lp)
    adv = t([[1.0, -1.0, 1.0, -1.0]])
    # ratio 1.5,A=1 -> max(-1.5,-1.2)=-1.2 ; 1.5,A=-1 -> max(1.5,1.2)=1.5
    # ratio 0.5,A=1 -> max(-0.5,-0.8)=-0.5 ; 0.5,A=-1 -> max(0.5,0.8)=0.8
    loss, clip_frac = algo.ppo_clip_loss(lp, old, adv, torch.ones_like(lp), agg_mode="token-mean")
    assert float(loss) == pytest.approx((-1.2 + 1.5 - 0.5 + 0.8) / 4)
    assert float(clip_frac) == pytest.approx(0.5)


def test_ppo_clip_loss_on_policy_gradient_is_minus_advantage():
    lp = t([[-1.0, -2.0, -3.0], [-0.5, -0.1, -9.0]]).requires_grad_()
    mask = t([[1, 1, 1], [1, 1, 0]])
    adv = t([2.0, -1.0])  # per sequence
    loss, _ = algo.ppo_clip_loss(lp, lp.detach(), adv, mask, agg_mode="seq-mean-token-mean")
    loss.backward()
    # d/dlp of mean_seq(mean_tok(-A r)) at r=1: -A / (n_tok * n_seq)
    expected = t([[-2 / 6, -2 / 6, -2 / 6], [1 / 4, 1 / 4, 0.0]])
    assert torch.allclose(lp.grad, expected)


def test_ppo_dual_clip_caps_negative_advantage_loss_hand_computed():
    # ratios 4, 4, 0.5, 1.5 with A = -1, +1, -1, -2; clip 0.2, dual clip c = 3
    lp = t([[math.log(4.0), math.log(4.0), math.log(0.5), math.log(1.5)]])
    old = torch.zeros_like(lp)
    adv = t([[-1.0, 1.0, -1.0, -2.0]])
    ones = torch.ones_like(lp)
    # without dual clip: max(4, 1.2)=4 ; max(-4,-1.2)=-1.2 ; max(.5,.8)=.8 ; max(3,2.4)=3
    plain, _ = algo.ppo_clip_loss(lp, old, adv, ones, agg_mode="token-mean")
    assert float(plain) == pytest.approx((4.0 - 1.2 + 0.8 + 3.0) / 4)
    # dual clip caps A<0 tokens at -A*c: min(4, 3)=3 ; A>0 untouched -1.2 ; min(.8, 3)=.8 ; min(3, 6)=3
    dual, _ = algo.ppo_clip_loss(lp, old, adv, ones, agg_mode="token-mean", dual_clip_c=3.0)
    assert float(dual) == pytest.approx((3.0 - 1.2 + 0.8 + 3.0) / 4)
    # the capped token carries no gradient (its loss is the constant -A*c)
    lpg = lp.clone().requires_grad_()
    algo.ppo_clip_loss(lpg, old, adv, ones, agg_mode="token-mean", dual_clip_c=3.0)[0].backward()
    assert float(lpg.grad[0, 0]) == 0.0 and float(lpg.grad[0, 3]) != 0.0


@pytest.mark.parametrize("c", [1.0, 0.5, -3.0])
def test_ppo_dual_clip_needs_c_above_one(c):
    x = t([[0.0]])
    with pytest.raises(ValueError, match="dual_clip_c"):
        algo.ppo_clip_loss(x, x, x, x, dual_clip_c=c)


# ---------------------------------------------------------------- KL
@pytest.mark.parametrize(
    "logp, ref, expected",
    [
        (0.0, math.log(2), 2 - math.log(2) - 1),
        (0.0, -math.log(2), 0.5 + math.log(2) - 1),
        (-1.3, -1.3, 0.0),
        (0.0, 50.0, 10.0),  # log-ratio clamped to 20, then estimate clamped to 10
        (50.0, 0.0, math.exp(-20) + 20 - 1 if math.exp(-20) + 19 <= 10 else 10.0),
    ],
)
def test_k3_kl_hand_computed(logp, ref, expected):
    assert float(algo.k3_kl(t([logp]), t([ref]))) == pytest.approx(expected)


# ---------------------------------------------------------------- superior CoT
def test_superior_cot_mask_cases():
    # group 0: reasoning 1,.5,.2,0(format fail) ; direct .5,.3 -> baseline mean .4
    # group 1: reasoning .1,.2(format fail) ; direct .3,.5 -> all below min direct .3 -> dropped
    # group 2: no direct, offline baseline .6 -> reasoning .7 kept, .5 not
    # group 3: no direct, no offline baseline -> all reasoning kept
    # group 4: reasoning .3,.6 ; direct .4,.8 -> mean .6: .6 kept (tie), .3 not; not dropped
    scores = [1.0, 0.5, 0.2, 0.0, 0.5, 0.3, 0.1, 0.2, 0.3, 0.5, 0.7, 0.5, 0.0, 0.0, 0.3, 0.6, 0.4, 0.8]
    groups = [0] * 6 + [1] * 4 + [2] * 2 + [3] * 2 + [4] * 4
    direct = [0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    fmt_fail = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    nan = float("nan")
    offline = [nan] * 10 + [0.6, 0.6] + [nan] * 6
    mask, kept = algo.superior_cot_mask(
        t(scores), groups, t(direct, torch.bool), t(fmt_fail, torch.bool), t(offline)
    )
    expected = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    assert mask.tolist() == [bool(e) for e in expected]
    assert kept == pytest.approx(7 / 12)


def test_superior_cot_mask_max_baseline_and_no_direct():
    scores, groups = t([0.6, 0.45, 0.4, 0.5]), [0, 0, 0, 0]
    direct = t([0, 0, 1, 1], torch.bool)
    assert algo.superior_cot_mask(scores, groups, direct)[0].tolist() == [True, True, False, False]
    assert algo.superior_cot_mask(scores, groups, direct, baseline="max")[0].tolist() == [
        True,
        False,
        False,
        False,
    ]
    none_direct = torch.zeros(4, dtype=torch.bool)
    mask, kept = algo.superior_cot_mask(scores, groups, none_direct)
    assert mask.all() and kept == 1.0


def test_group_with_equal_reasoning_scores_is_not_dropped():
    # The paper's second condition: 6 reasoning samples that all failed the format (-2 each) next to
    # two good direct answers (+2): every reasoning score is below every direct one, but they are all
    # equal, so the group stays and the gate failures keep their negative gradient.
    scores = t([-2.0] * 6 + [2.0, 2.0])
    direct = t([0] * 6 + [1, 1], torch.bool)
    failed = t([1] * 6 + [0, 0], torch.bool)
    mask, kept = algo.superior_cot_mask(scores, [0] * 8, direct, failed)
    assert mask.tolist() == [True] * 6 + [False, False] and kept == 1.0
    # equal scores without a gate failure: not dropped, but each is below the baseline on its own
    mask, _ = algo.superior_cot_mask(t([0.5] * 6 + [2.0, 2.0]), [0] * 8, direct)
    assert not mask.any()
    # unequal, all below every direct answer: dropped, the gate failure too
    mask, _ = algo.superior_cot_mask(t([-2.0, 0.5, 0.5, 0.5, 0.5, 0.5, 2.0, 2.0]), [0] * 8, direct,
                                     t([1, 0, 0, 0, 0, 0, 0, 0], torch.bool))
    assert not mask.any()


def test_exempt_samples_are_always_kept():
    # a math group (exempt) next to an instruction group: the math samples are kept whatever their
    # score, even under an offline baseline they all miss
    scores = t([-1.5, -2.0, 2.0, -1.5, 0.5, 0.2, 1.0, 1.0])
    groups = [0] * 4 + [1] * 4
    direct = t([0, 0, 0, 0, 0, 0, 1, 1], torch.bool)
    exempt = t([1, 1, 1, 1, 0, 0, 0, 0], torch.bool)
    offline = t([2.0] * 4 + [float("nan")] * 4)
    mask, kept = algo.superior_cot_mask(scores, groups, direct, offline_baseline=offline, exempt=exempt)
    # group 1: reasoning .5, .2 vs direct 1, 1 -> all below and unequal -> dropped
    assert mask.tolist() == [True] * 4 + [False] * 4 and kept == pytest.approx(4 / 6)


# ---------------------------------------------------------------- behaviour cloning
def test_bc_nll_masks_prompt_tokens():
    ids = torch.tensor([[0, 1, 0]])
    logits = t([[[0.0, math.log(3)], [0.0, 0.0], [5.0, -5.0]]])
    both = algo.bc_nll(logits, ids, t([[0, 1, 1]]))
    assert float(both) == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)
    last = algo.bc_nll(logits, ids, t([[0, 0, 1]]))
    assert float(last) == pytest.approx(math.log(2))


def test_token_log_probs_temperature():
    logits = t([[[0.0, 2.0]]])
    lp = algo.token_log_probs(logits, torch.tensor([[1]]), temperature=2.0)
    assert float(lp) == pytest.approx(1 - math.log(1 + math.e))


# ---------------------------------------------------------------- DAPO filter
def test_nonzero_variance_mask():
    keep = algo.nonzero_variance_mask(t([1, 1, 0, 1, 0.5, 0.5, 3]), ["a"] * 4 + ["b"] * 2 + ["c"])
    assert keep.tolist() == [True] * 4 + [False] * 3


# ---------------------------------------------------------------- veRL parity (only where veRL is installed)
def test_matches_verl_functions():
    core = pytest.importorskip("verl.trainer.ppo.core_algos")
    import numpy as np

    g = torch.Generator().manual_seed(1)
    scores = torch.rand(12, generator=g)
    index = np.array([f"u{i // 4}" for i in range(12)], dtype=object)
    mask = torch.ones(12, 3)
    token_rewards = torch.zeros(12, 3)
    token_rewards[:, -1] = scores
    verl_adv, _ = core.compute_grpo_outcome_advantage(token_rewards, mask, index)
    ours = algo.group_advantages(scores, list(index))
    assert torch.allclose(verl_adv[:, 0], ours, atol=1e-6)
    lp, ref = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    assert torch.allclose(core.kl_penalty(lp, ref, "low_var_kl"), algo.k3_kl(lp, ref), atol=1e-6)


def test_dual_clip_matches_verl_policy_loss():
    core = pytest.importorskip("verl.trainer.ppo.core_algos")
    from omegaconf import OmegaConf

    g = torch.Generator().manual_seed(2)
    lp, old = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    adv = torch.randn(6, 5, generator=g) * 2
    mask = (torch.rand(6, 5, generator=g) > 0.2).float()
    cfg = OmegaConf.create({"clip_ratio": 0.2, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "clip_ratio_c": 3.0,
                            "global_batch_info": {}})
    theirs = core.compute_policy_loss_vanilla(old, lp, adv, mask, "token-mean", cfg)[0]
    ours, _ = algo.ppo_clip_loss(lp, old, adv, mask, 0.2, 0.28, "token-mean", dual_clip_c=3.0)
    assert torch.allclose(theirs, ours, atol=1e-6)
    plain, _ = algo.ppo_clip_loss(lp, old, adv, mask, 0.2, 0.28, "token-mean")
    assert not torch.allclose(plain, ours)  # the draw has negative-advantage tokens past the dual bound
