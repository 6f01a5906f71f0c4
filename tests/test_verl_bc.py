"""Behaviour cloning on the veRL backend, on CPU: expert rows tokenised as veRL's agent loop tokenises a
prompt and as the native backend builds its expert batch, drawn like the native backend, placed where veRL's
own split puts them, and appended to the actor update through a real in-process TransferQueue.

Needs veRL (scripts/ci_verl.sh runs it); the TransferQueue test starts a local Ray instance.
"""

from __future__ import annotations

import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.utils import tensordict_utils as tu
from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

from raif_train.local.data import Cursor, SFTRecord
from raif_train.local.tiny import build_tiny_tokenizer
from raif_train.local.trainer import GRPOTrainer
from raif_train.verl.expert import (
    BC_DENOM_KEY,
    EXPERT_KEY,
    KEEP_KEY,
    PG_DENOM_KEY,
    expert_fields,
    expert_indices,
    expert_tokens,
    minibatch_denominators,
    update_order,
)

RECORDS = [
    SFTRecord([{"role": "user", "content": "write in lowercase"}], "<answer> yes </answer>"),
    SFTRecord(
        [{"role": "user", "content": "give a title"}], "<think> a </think> <answer> the title </answer>"
    ),
    SFTRecord(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say yes or no"}],
        "<answer> no </answer>",
    ),
]


# ----------------------------------------------------------------------------- which rows, which tokens


@pytest.mark.parametrize(("n", "per_step", "seed"), [(3, 4, 1), (10, 3, 7), (5, 5, 0)])
def test_expert_rows_per_step_are_the_native_cursor_walk_and_resume_without_state(n, per_step, seed):
    native = Cursor(n, seed, True)  # raif_train/local/trainer.py: Cursor(len(sft), seed + 1, True)
    for step in range(1, 6):
        # the native backend takes len(micro-batch) rows at a time; the walk is the same
        drawn = native.take(per_step // 2) + native.take(per_step - per_step // 2)
        assert expert_indices(n, per_step, step, seed) == drawn
    assert expert_indices(n, per_step, 9, seed) != expert_indices(n, per_step, 9, seed + 1) or n == 1


@pytest.mark.parametrize("fmt", ["think_answer", "r1", "plain"])
def test_expert_tokens_are_the_agent_loop_prompt_and_the_native_bc_sequence(fmt):
    tok = build_tiny_tokenizer()
    builder = create_continuous_token_builder(tok)  # what veRL's agent loop tokenises prompts with
    max_p, max_r = 6, 24  # every expert response fits: longer ones are left out before, never cut
    native_self = types.SimpleNamespace(
        tok=tok,
        sft=RECORDS,
        sft_cursor=Cursor(len(RECORDS), 0, False),
        r=types.SimpleNamespace(
            model=types.SimpleNamespace(response_format=fmt),
            data=types.SimpleNamespace(max_prompt_length=max_p, max_response_length=max_r),
        ),
        device="cpu",
        _bc_cache={},
    )
    ids, att, loss_mask = GRPOTrainer._bc_batch(native_self, len(RECORDS))  # the native expert batch
    for i, rec in enumerate(RECORDS):
        p, r = expert_tokens(
            rec,
            lambda m: builder.build_initial_tokens(m),
            tok.eos_token_id,
            lambda text: tok.encode(text, add_special_tokens=False),
            max_p,
            max_r,
        )
        n = int(att[i].sum())
        assert p + r == ids[i, :n].tolist()
        assert [0] * len(p) + [1] * len(r) == loss_mask[i, :n].tolist()  # prompt tokens are no target
        assert r[-1] == tok.eos_token_id and len(r) <= max_r
        full_prompt = builder.build_initial_tokens(rec.messages)
        assert p == full_prompt[-max_p:]  # left-truncated like veRL's agent loop


def test_an_expert_response_longer_than_the_limit_is_refused_not_cut():
    tok = build_tiny_tokenizer()
    rec = RECORDS[0]

    def encode(text):
        return tok.encode(text, add_special_tokens=False)

    n = len(encode(rec.response)) + 1
    p, r = expert_tokens(rec, lambda m: [1, 2], tok.eos_token_id, encode, 4, n)
    assert r[-1] == tok.eos_token_id and len(r) == n
    with pytest.raises(ValueError, match="fitting_experts"):
        expert_tokens(rec, lambda m: [1, 2], tok.eos_token_id, encode, 4, n - 1)


def test_expert_fields_have_veRL_per_sample_layout():
    rows = [([4, 5, 6], [7, 1]), ([4, 8], [9, 9, 1])]
    td = expert_fields(rows, with_ref=True)
    assert td[EXPERT_KEY].tolist() == [1, 1] and td[KEEP_KEY].tolist() == [0, 0]
    for i, (p, r) in enumerate(rows):
        assert td["prompts"][i].tolist() == p and td["responses"][i].tolist() == r
        assert td["input_ids"][i].tolist() == p + r
        assert td["position_ids"][i].tolist() == list(range(len(p) + len(r)))
        assert td["response_mask"][i].tolist() == [1] * len(r)
        assert td["loss_mask"][i].tolist() == [0] * len(r)
        for key in ("advantages", "old_log_probs", "ref_log_prob"):
            assert td[key][i].tolist() == [0.0] * len(r)
    assert "ref_log_prob" not in expert_fields(rows, with_ref=False).keys()


# ----------------------------------------------------------------------------- placement vs veRL's split


def _verl_minibatches(n_rows: int, dp: int, n_mb: int) -> list[list[int]]:
    """Global mini-batches as veRL forms them: KVBatchMeta.chunk over dp ranks (the dispatch), then
    tu.make_iterator on each rank without shuffling (train_mini_batch)."""
    meta = KVBatchMeta(keys=[str(i) for i in range(n_rows)], tags=[{}] * n_rows)
    per_rank = [[int(k) for k in chunk.keys] for chunk in meta.chunk(dp)]
    out: list[list[int]] = [[] for _ in range(n_mb)]
    for rows in per_rank:
        td = TensorDict({"row": torch.tensor(rows)}, batch_size=len(rows))
        it = tu.make_iterator(td, mini_batch_size=len(rows) // n_mb, epochs=1, seed=0, dataloader_kwargs={})
        for m, mb in enumerate(it):
            out[m] += mb["row"].tolist()
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 3),
    st.sampled_from(["seq-mean-token-mean", "token-mean"]),
    st.integers(0, 10_000),
)
def test_update_order_keeps_verl_placement_and_denominators_count_each_verl_minibatch(
    dp, n_mb, p_per, e_per, agg, seed
):
    g = torch.Generator().manual_seed(seed)
    n_policy, n_expert = dp * n_mb * p_per, dp * n_mb * e_per
    order = update_order(n_policy, n_expert, dp, n_mb)
    assert sorted(i for e, i in order if not e) == list(range(n_policy))
    assert sorted(i for e, i in order if e) == list(range(n_expert))
    # every policy row stays in the global mini-batch veRL gives it without expert rows
    alone = _verl_minibatches(n_policy, dp, n_mb)
    combined = _verl_minibatches(len(order), dp, n_mb)
    for m in range(n_mb):
        rows = [order[j] for j in combined[m]]
        assert sorted(i for e, i in rows if not e) == sorted(alone[m])
        assert sum(e for e, _ in rows) == dp * e_per
    lengths = torch.randint(1, 9, (len(order),), generator=g).tolist()
    keep = (torch.rand(len(order), generator=g) < 0.6).tolist()
    expert = [e for e, _ in order]
    policy = [k and not e for k, e in zip(keep, expert, strict=True)]
    pg, bc = minibatch_denominators(lengths, policy, expert, dp, n_mb, agg)
    for m in range(n_mb):
        rows = combined[m]
        want_pg = sum((lengths[j] if agg == "token-mean" else 1) for j in rows if policy[j])
        want_bc = sum(lengths[j] for j in rows if expert[j])
        assert {pg[j] for j in rows} == {float(want_pg)} and {bc[j] for j in rows} == {float(want_bc)}


def test_update_order_refuses_uneven_splits():
    with pytest.raises(ValueError, match="do not split"):
        update_order(8, 3, 2, 2)


# ----------------------------------------------------------------------------- trainer hook on TransferQueue


@pytest.fixture(scope="module")
def transfer_queue():
    """A real TransferQueue (controller and storage are Ray actors) in a local Ray instance."""
    ray = pytest.importorskip("ray")
    import transfer_queue as tq

    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    try:
        tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
        yield tq
    finally:
        try:
            tq.close()
        finally:
            ray.shutdown()


class _ActorGroup:
    """Stands in for the actor worker group: resolves the batch through veRL's own TransferQueue bridge
    (what a worker's dispatch does) and records what the update receives."""

    def __init__(self, dp: int):
        self._dispatch_info = {"actor": list(range(dp))}
        self.calls: list[tuple[KVBatchMeta, TensorDict]] = []

    def update_actor(self, meta: KVBatchMeta):
        from verl.utils.transferqueue_utils import _meta_to_realdata

        self.calls.append((meta, _meta_to_realdata(meta)))
        return {"metrics": {"pg_loss": [0.0], "mfu": [0.0]}}


def _trainer(dp: int, sft: list[SFTRecord], *, bc_rows: int | None, agg: str = "seq-mean-token-mean"):
    from raif_train.verl.trainer import RaifTrainer

    trainer = object.__new__(RaifTrainer)  # no Ray workers: the update hook and its data only
    trainer.config = OmegaConf.create(
        {
            "actor_rollout_ref": {
                "actor": {
                    "ppo_mini_batch_size": 2,  # prompts: 2 x n=2 = 4 samples per mini-batch
                    "shuffle": False,
                    "loss_agg_mode": agg,
                    "calculate_entropy": False,
                    "entropy_coeff": 0.0,
                    "ppo_epochs": 1,
                    "data_loader_seed": 0,
                },
                "rollout": {"n": 2, "temperature": 1.0},
                "model": {"path": "unused"},
            },
            # every expert row fits (longer ones are left out when loaded, never cut)
            "data": {"max_prompt_length": 8, "max_response_length": 16, "apply_chat_template_kwargs": {}},
            "trainer": {},
            "raif": {"bc_rows_per_step": bc_rows, "bc_seed": 1},
        }
    )
    trainer.tokenizer = build_tiny_tokenizer()
    trainer._ct_builder = create_continuous_token_builder(trainer.tokenizer)
    trainer._sft = sft
    trainer.global_steps, trainer.parameter_sync_step, trainer.local_trigger_step = 3, 1, 0
    trainer.actor_rollout_wg = _ActorGroup(dp)
    trainer.distillation_config = None
    return trainer


def _policy_rows(tq, n: int, step: str) -> KVBatchMeta:
    """Rows as they stand after the advantage step: agent-loop fields, log-probs, advantages, flags."""
    lens = [1 + (i % 3) for i in range(n)]
    nested = lambda rows: torch.nested.as_nested_tensor(rows, layout=torch.jagged)  # noqa: E731
    fields = TensorDict(
        {
            "prompts": nested([torch.tensor([4, 5]) for _ in lens]),
            "responses": nested([torch.full((k,), 7) for k in lens]),
            "input_ids": nested([torch.tensor([4, 5] + [7] * k) for k in lens]),
            "position_ids": nested([torch.arange(2 + k) for k in lens]),
            "response_mask": nested([torch.ones(k, dtype=torch.int64) for k in lens]),
            "loss_mask": nested([torch.ones(k, dtype=torch.int64) for k in lens]),
            "rm_scores": nested([torch.zeros(k) for k in lens]),
            "old_log_probs": nested([torch.full((k,), -1.0) for k in lens]),
            "ref_log_prob": nested([torch.full((k,), -1.1) for k in lens]),
            "advantages": nested([torch.full((k,), 0.5) for k in lens]),
            KEEP_KEY: torch.tensor([i % 4 != 1 for i in range(n)], dtype=torch.int64),
            EXPERT_KEY: torch.zeros(n, dtype=torch.int64),
        },
        batch_size=n,
    )
    keys = [f"{step}_{i}" for i in range(n)]
    tags = [{"status": "success", "response_len": k} for k in lens]
    tq.kv_batch_put(keys=keys, partition_id="train", fields=fields, tags=tags)
    return KVBatchMeta(keys=keys, tags=tags, partition_id="train", extra_info={"temperature": 1.0})


def test_update_actor_appends_expert_rows_through_transfer_queue(transfer_queue):
    tq = transfer_queue
    dp, n_policy = 2, 8  # 2 mini-batches of 4 policy rows, split over 2 ranks
    trainer = _trainer(dp, RECORDS, bc_rows=None)  # default: one expert row per policy sample
    batch = _policy_rows(tq, n_policy, "a")
    metrics: dict = {}
    assert trainer._update_actor(batch, metrics) is batch
    ((meta, data),) = trainer.actor_rollout_wg.calls
    assert len(meta) == 16 and metrics["raif/bc_rows"] == 8.0
    # veRL's mini-batch for this call holds both kinds: 4 policy + 4 expert rows
    assert meta.extra_info["mini_batch_size"] == meta.extra_info["global_batch_size"] == 8
    assert trainer.config.actor_rollout_ref.actor.ppo_mini_batch_size == 2  # restored after the update
    expert = data[EXPERT_KEY].bool()
    assert int(expert.sum()) == 8
    # every field reaches every row; veRL-only fields the experts cannot have are not requested
    assert "rm_scores" not in data.keys() and "ref_log_prob" in data.keys()
    # the expert rows are this step's native draw, tokenised as the agent loop would
    tok = trainer.tokenizer
    want = [
        expert_tokens(
            RECORDS[i],
            trainer._ct_builder.build_initial_tokens,
            tok.eos_token_id,
            lambda t: tok.encode(t, add_special_tokens=False),
            8,
            16,
        )
        for i in expert_indices(len(RECORDS), 8, 3, 1)
    ]
    got = [(data["prompts"][j].tolist(), data["responses"][j].tolist()) for j in range(16) if expert[j]]
    assert got == want
    # denominators of each veRL mini-batch: kept policy sequences, expert response tokens
    for rows in _verl_minibatches(16, dp, 2):
        assert int(expert[rows].sum()) == 4  # each mini-batch: its 4 policy rows and 4 expert rows
        kept = [j for j in rows if not expert[j] and int(data[KEEP_KEY][j])]
        bc_tokens = sum(int(data["response_mask"][j].sum()) for j in rows if expert[j])
        assert {float(data[PG_DENOM_KEY][j]) for j in rows} == {float(len(kept))}
        assert {float(data[BC_DENOM_KEY][j]) for j in rows} == {float(bc_tokens)}
    # the expert rows are gone from TransferQueue; the policy rows remain for veRL's metrics
    left = set(tq.kv_list(partition_id="train").get("train", {}))
    assert not any(k.startswith("raif_expert_") for k in left) and set(batch.keys) <= left
    tq.kv_clear(keys=batch.keys, partition_id="train")


def test_update_actor_without_bc_only_writes_the_denominators(transfer_queue):
    tq = transfer_queue
    trainer = _trainer(1, [], bc_rows=None, agg="token-mean")
    batch = _policy_rows(tq, 8, "b")
    trainer._update_actor(batch, {})
    ((meta, data),) = trainer.actor_rollout_wg.calls
    assert meta.keys == batch.keys and not bool(data[EXPERT_KEY].any())
    lens = [int(m.sum()) for m in data["response_mask"].unbind(0)]
    keep = data[KEEP_KEY].tolist()
    for rows in ([0, 1, 2, 3], [4, 5, 6, 7]):  # token-mean: kept policy tokens of the mini-batch
        assert {float(data[PG_DENOM_KEY][j]) for j in rows} == {float(sum(lens[j] for j in rows if keep[j]))}
    tq.kv_clear(keys=batch.keys, partition_id="train")


def test_update_actor_refuses_what_it_cannot_honour(transfer_queue):
    tq = transfer_queue
    trainer = _trainer(1, RECORDS, bc_rows=None)
    batch = _policy_rows(tq, 8, "c")
    weights = torch.nested.as_nested_tensor([torch.ones(1 + (i % 3)) for i in range(8)], layout=torch.jagged)
    tq.kv_batch_put(
        keys=batch.keys,
        partition_id="train",
        fields=TensorDict({"rollout_is_weights": weights}, batch_size=8),
    )
    with pytest.raises(RuntimeError, match="rollout_is_weights"):
        trainer._update_actor(batch, {})
    trainer.config.actor_rollout_ref.actor.shuffle = True
    with pytest.raises(RuntimeError, match="shuffle=false"):
        trainer._update_actor(batch, {})
    assert not trainer.actor_rollout_wg.calls
    tq.kv_clear(keys=batch.keys, partition_id="train")


# ----------------------------------------------------------------------------- veRL's own descriptors, end to end


def _reward(answer: float, direct: bool) -> dict:
    """compute_score's dict as the reward loop stores it (format always met: the mask decides alone)."""
    return {"score": answer + 1.0, "answer_score": answer, "format_ok": 1.0, "direct_answer": float(direct)}


def _agent_loop_rows(tq, answers: dict[str, list[float]], G: int) -> tuple[KVBatchMeta, list[int]]:
    """Rows written the way veRL's v1 pipeline writes them: the agent loop's fields through veRL's own
    list_of_dict_to_tensordict (keys `{uid}_{session}_0`, last sample of each group the direct one), then
    the log-prob passes' fields by a second put. Returns that put's descriptor, whose field list
    TransferQueue fixes, as every veRL step hands on, and the response lengths."""
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    rows, keys, tags, lengths = [], [], [], []
    for uid, scores in answers.items():
        for session, answer in enumerate(scores):
            n = 1 + (len(keys) % 3)
            direct = session == G - 1
            prompt, response = torch.tensor([4, 5], dtype=torch.int64), torch.full((n,), 7, dtype=torch.int64)
            info = _reward(answer, direct)
            rows.append(
                {
                    "prompts": prompt,
                    "responses": response,
                    "response_mask": torch.ones(n, dtype=torch.int64),
                    "loss_mask": torch.ones(n, dtype=torch.int64),
                    "input_ids": torch.cat([prompt, response]),
                    "position_ids": torch.arange(2 + n),
                    "rm_scores": torch.cat([torch.zeros(n - 1), torch.tensor([info["score"]])]),
                    "uid": uid,
                    "extra_fields": {"reward_extra_info": info},
                    "extra_info": {"baseline_score": None},
                }
            )
            keys.append(f"{uid}_{session}_0")
            tags.append({"status": "success", "response_len": n})
            lengths.append(n)
    tq.kv_batch_put(keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(rows), tags=tags)
    g = torch.Generator().manual_seed(11)
    old = [-torch.rand(n, generator=g) for n in lengths]
    ref = [o + 0.3 * torch.randn(n, generator=g) for o, n in zip(old, lengths, strict=True)]
    nested = lambda xs: torch.nested.as_nested_tensor(xs, layout=torch.jagged)  # noqa: E731
    meta = tq.kv_batch_put(
        keys=keys,
        partition_id="train",
        fields=TensorDict({"old_log_probs": nested(old), "ref_log_prob": nested(ref)}, batch_size=len(keys)),
    )
    return meta, lengths


def test_plain_grpo_raif_fields_reach_the_loss_through_verls_own_descriptors(transfer_queue):
    """Plain GRPO (no expert rows): veRL's real `_compute_advantage` returns a descriptor whose field list
    was fixed when veRL wrote the advantages; what `_update_actor` hands the worker must still name the
    keep flags and denominators written after it, and RAIF's loss on exactly what the worker resolves is
    the native mini-batch loss (masked and direct rows out of PG, KL and the denominator)."""
    from verl.workers.config import ActorConfig

    from raif_train import algo
    from raif_train.verl.loss import raif_actor_loss

    tq = transfer_queue
    G = 4
    trainer = _trainer(1, [], bc_rows=None)
    trainer.config.actor_rollout_ref.actor.ppo_mini_batch_size = 2  # 2 prompts x 4 = one mini-batch of 8
    trainer.config.actor_rollout_ref.rollout.n = G
    trainer.config.algorithm = {
        "adv_estimator": "grpo",
        "gamma": 1.0,
        "lam": 1.0,
        "norm_adv_by_std_in_grpo": True,
        "use_kl_in_reward": False,
    }
    trainer.config.raif.update({"superior_cot": True, "direct_baseline": "mean", "group_size": G})
    # group p0: reasoning 2.0 beats the direct 1.0, 0.0 and -1.0 do not; group p1: all reasoning beat 0.0
    answers = {"p0": [2.0, 0.0, -1.0, 1.0], "p1": [1.5, 1.5, 2.0, 0.0]}
    keep = torch.tensor([1, 0, 0, 0, 1, 1, 1, 0], dtype=torch.bool)  # by hand; direct answers never learn
    meta, lengths = _agent_loop_rows(tq, answers, G)
    assert meta.fields is not None  # veRL's descriptors name their fields: the case a "fetch all" test misses

    metrics: dict = {}
    after_adv = trainer._compute_advantage(meta, metrics)  # veRL's own advantage step inside ours
    trainer._update_actor(after_adv, metrics)
    ((sent, data),) = trainer.actor_rollout_wg.calls
    assert {KEEP_KEY, EXPERT_KEY, PG_DENOM_KEY, BC_DENOM_KEY} <= set(sent.fields)
    assert data[KEEP_KEY].bool().tolist() == keep.tolist() and not bool(data[EXPERT_KEY].any())
    assert {float(x) for x in data[PG_DENOM_KEY]} == {float(keep.sum())}  # kept sequences of the mini-batch

    # The worker's loss on what it resolved; veRL's engine adds its own counts of every row.
    B, agg, kl_coef = len(lengths), "seq-mean-token-mean", 0.1
    tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=sum(lengths), global_batch_size=B)
    g = torch.Generator().manual_seed(5)
    lp = [o + 0.2 * torch.randn(n, generator=g) for o, n in zip(data["old_log_probs"].unbind(0), lengths, strict=True)]
    # veRL's flat model output: prompt + response slots per row, a response token's log-prob one slot early
    flat = torch.cat([torch.cat([torch.zeros(1), x, torch.zeros(1)]) for x in lp])
    cfg = ActorConfig(
        strategy="fsdp",
        ppo_mini_batch_size=2,
        ppo_micro_batch_size_per_gpu=1,
        rollout_n=G,
        loss_agg_mode=agg,
        use_kl_loss=True,
        kl_loss_coef=kl_coef,
        kl_loss_type="low_var_kl",
        clip_ratio_low=0.2,
        clip_ratio_high=0.28,
        entropy_coeff=0.0,
    )
    loss, _ = raif_actor_loss(cfg, {"log_probs": flat}, data, bc_coef=1.0)

    # The native update by hand: GRPO advantages over all G samples, then zeroed where the mask drops.
    scores = torch.tensor([a + 1.0 for v in answers.values() for a in v], dtype=torch.float64)
    ids = [u for u, v in answers.items() for _ in v]
    adv = algo.group_advantages(scores, ids, eps=1e-6, norm_by_std=True).float() * keep
    R = max(lengths)
    pad = lambda xs: torch.stack([torch.nn.functional.pad(x, (0, R - len(x))) for x in xs])  # noqa: E731
    mask = (torch.arange(R)[None, :] < torch.tensor(lengths)[:, None]).float() * keep[:, None]
    lp_p, old_p, ref_p = pad(lp), pad(list(data["old_log_probs"].unbind(0))), pad(list(data["ref_log_prob"].unbind(0)))
    denom = float(keep.sum())
    pg, _ = algo.ppo_clip_loss(lp_p, old_p, adv, mask, 0.2, 0.28, agg, denom)
    expected = pg + kl_coef * algo.agg_loss(algo.k3_kl(lp_p, ref_p), mask, agg, denom)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    tq.kv_clear(keys=meta.keys, partition_id="train")
