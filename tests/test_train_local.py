"""Local backend: tiny model/tokenizer, shard reading, exact resume, and the import boundary."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from raif_rewards import check
from raif_rewards.errors import InputFileError
from raif_train.local.data import Cursor, load_prompts, load_sft, prune_ground_truth
from raif_train.local.scoring import LibraryScore, Score, ScoreRequest
from raif_train.local.tiny import build_tiny_model, build_tiny_tokenizer
from raif_train.local.trainer import TIMING_KEYS, GRPOTrainer, TrainError
from raif_train.recipe import load_recipe
from tests.openai_stub import openai_stub_fixture  # noqa: F401

torch.set_num_threads(1)

LOWER, NOCOMMA = "change_case:english_lowercase", "punctuation:no_comma"


def rule(tree: dict) -> str:
    return json.dumps({"style": "rule", "lang": "en", "tree": tree})


def chk(cid: str, **kw) -> dict:
    return {"op": "check", "id": cid, "kwargs": kw}


def write_prompt_shard(path: Path, n: int = 16, seed: int = 0) -> Path:
    """A small RLHFDataset-schema shard whose trees use the two tiny-learnable checks."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ids = rng.sample([LOWER, NOCOMMA], rng.choice([1, 2]))
        rows.append(
            {
                "data_source": "raif/ifeval",
                "prompt": [
                    {"role": "user", "content": "write a short answer in lowercase without a comma ."}
                ],
                "ability": "instruction_following",
                "reward_model": {
                    "style": "rule",
                    "ground_truth": rule({"op": "and", "children": [chk(c) for c in ids]}),
                },
                "extra_info": {"index": i, "uid": f"p{i}"},
            }
        )
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "train-00000.parquet")
    return path


def fraction_score(req: ScoreRequest) -> Score:
    """A test-only reward: fraction of the tree's checks satisfied by the whole response (real checkers)."""
    tree = json.loads(req.ground_truth)["tree"]
    leaves = tree["children"] if tree["op"] == "and" else [tree]
    v = sum(check(x["id"], req.response, x["kwargs"]) for x in leaves) / len(leaves)
    return Score(v, v, True)


# ---------------------------------------------------------------- tiny model and tokenizer
def test_tiny_tokenizer_keeps_tags_and_words():
    tok = build_tiny_tokenizer()
    text = "<think> i think so </think> <answer> yes , the end . </answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == text
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert rendered.endswith("<|assistant|> ")


def test_tiny_vocabulary_takes_the_words_of_the_run_texts():
    base = build_tiny_tokenizer()
    expert = "<think>\n- keywords:existence\n</think>\n<answer>\nGecko salmon 我们可以。\n</answer>"
    tok = build_tiny_tokenizer([expert])
    assert tok.unk_token_id in base(expert, add_special_tokens=False)["input_ids"]
    ids = tok(expert, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids  # every word of the expert row is cloned, none lost
    assert tok.decode(ids).split() == "<think> - keywords : existence </think> <answer> Gecko salmon 我 们 可 以 。 </answer>".split()
    # the fixed words keep their ids; the same texts give the same vocabulary
    assert all(tok.convert_tokens_to_ids(w) == base.convert_tokens_to_ids(w) for w in base.get_vocab())
    assert build_tiny_tokenizer([expert]).get_vocab() == tok.get_vocab()


def test_tiny_model_is_small_and_seeded():
    tok = build_tiny_tokenizer()
    a, b, c = build_tiny_model(tok, seed=0), build_tiny_model(tok, seed=0), build_tiny_model(tok, seed=1)
    n = sum(p.numel() for p in a.parameters())
    assert 5e4 < n < 1e6
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


# ---------------------------------------------------------------- data
def test_prune_ground_truth_keeps_subset_and_active_branch():
    gt = {
        "style": "rule",
        "lang": "en",
        "tree": {
            "op": "and",
            "children": [
                chk(LOWER),
                chk("length_constraints:number_words", num_words=5, relation="less than"),
                {"op": "selection", "condition": "c", "active": 1, "branches": [chk(LOWER), chk(NOCOMMA)]},
                {"op": "chain", "marker": "Step", "steps": [chk(NOCOMMA)]},
            ],
        },
    }
    out = prune_ground_truth(gt, {LOWER, NOCOMMA})
    assert out["tree"] == {"op": "and", "children": [chk(LOWER), chk(NOCOMMA)]}
    assert prune_ground_truth(gt, {"detectable_format:title"}) is None
    assert prune_ground_truth({"style": "math", "answer": "2"}, {LOWER}) is None
    assert prune_ground_truth([{"id": LOWER, "kwargs": {}}], {LOWER})["tree"]["children"][0]["id"] == LOWER


def test_load_prompts_and_errors(tmp_path):
    write_prompt_shard(tmp_path / "ok", n=5)
    recs = load_prompts(tmp_path / "ok")
    assert [r.uid for r in recs] == [f"p{i}" for i in range(5)]
    assert recs[0].messages[0]["role"] == "user"
    only_lower = load_prompts(tmp_path / "ok", [LOWER])
    assert 0 < len(only_lower) <= 5
    assert all(LOWER in r.ground_truth and NOCOMMA not in r.ground_truth for r in only_lower)

    bad = tmp_path / "bad"
    bad.mkdir()
    good = rule(chk(LOWER))
    rows = [
        {
            "data_source": "x",
            "prompt": [{"role": "user", "content": "a"}],
            "reward_model": {"ground_truth": good},
        },
        {"data_source": "x", "prompt": [{"role": "user"}], "reward_model": {"ground_truth": good}},
    ]
    pq.write_table(pa.Table.from_pylist(rows), bad / "b.parquet")
    with pytest.raises(InputFileError) as e:
        load_prompts(bad)
    assert "b.parquet:2" in str(e.value) and "'prompt'" in str(e.value)
    rows[1] = {**rows[0], "reward_model": {"ground_truth": rule(chk("no:such_checker"))}}
    pq.write_table(pa.Table.from_pylist(rows), bad / "b.parquet")
    with pytest.raises(InputFileError, match="b.parquet:2: field 'reward_model': bad ground truth"):
        load_prompts(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no \\*.parquet"):
        load_prompts(tmp_path / "empty")
    with pytest.raises(InputFileError, match="no such file"):
        load_prompts(tmp_path / "missing")


def test_load_sft_skips_prompt_shards(tmp_path):
    write_prompt_shard(tmp_path, n=2)
    pq.write_table(
        pa.Table.from_pylist([{"prompt": [{"role": "user", "content": "q"}], "response": "the answer"}]),
        tmp_path / "sft-00000.parquet",
    )
    sft = load_sft(tmp_path)
    assert len(sft) == 1 and sft[0].response == "the answer"


def test_load_sft_reads_evolve_witness_rows_that_keep_their_reward_model(tmp_path):
    # `raif-data evolve` writes DIR/sft rows with the RL columns (reward_model, ...) beside the response
    row = {"data_source": "raif/en", "prompt": [{"role": "user", "content": "q"}],
           "reward_model": {"style": "rule", "ground_truth": "{}"}, "response": "<think>\n- x\n</think>"}
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "part-00000.parquet")
    sft = load_sft(tmp_path)
    assert len(sft) == 1 and sft[0].response == row["response"]


def test_cursor_is_deterministic_and_resumable():
    a = Cursor(5, seed=1)
    first = a.take(7)
    assert sorted(first[:5]) == list(range(5)) and a.epoch == 1
    b = Cursor(5, seed=1)
    b.take(3)
    c = Cursor(5, seed=1)
    c.load(b.state())
    assert b.take(4) == c.take(4) == first[3:7]


# ---------------------------------------------------------------- exact resume
def _recipe(data: Path, out: Path, **kw):
    base = dict(
        model="tiny",
        data=str(data),
        output_dir=str(out),
        max_steps=4,
        rollout_prompts=2,
        group_size=4,
        direct_per_group=1,
        mini_batch_size=4,  # two updates per step: exercises the off-policy ratio and old log-probs
        micro_batch_size=2,
        max_prompt_length=16,
        max_response_length=8,
        min_response_length=0,  # variable lengths: exercises EOS and padding
        reward_workers=0,
        tensorboard=False,
        save_every=2,
        lr=3e-3,
        warmup_ratio=0.25,
    )
    base.update(kw)
    return load_recipe(None, **base)


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def test_resume_matches_uninterrupted_run(tmp_path):
    data = write_prompt_shard(tmp_path / "data", n=6)
    straight = GRPOTrainer(_recipe(data, tmp_path / "a"), score_fn=fraction_score)
    rows_a = straight.train()
    assert [r["step"] for r in rows_a] == [1, 2, 3, 4]

    class Crash(Exception):
        pass

    def crash_at_3(row):
        if row["step"] == 3:  # after step 3 is logged but before its checkpoint (saved every 2)
            raise Crash

    with pytest.raises(Crash):
        GRPOTrainer(_recipe(data, tmp_path / "b"), score_fn=fraction_score, on_step=crash_at_3).train()
    resumed = GRPOTrainer(_recipe(data, tmp_path / "b"), score_fn=fraction_score)
    rows_b = resumed.train()
    assert [r["step"] for r in rows_b] == [3, 4]
    logged = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert _strip(logged) == _strip(rows_a)  # the crashed step-3 row was replaced, not duplicated
    for (n1, p1), (n2, p2) in zip(
        straight.model.named_parameters(), resumed.model.named_parameters(), strict=True
    ):
        assert n1 == n2 and torch.equal(p1, p2), n1
    # The run really changed the model and the KL term is live.
    fresh = build_tiny_model(build_tiny_tokenizer(), seed=0)
    assert not torch.equal(fresh.lm_head.weight, straight.model.lm_head.weight)
    assert rows_a[-1]["kl"] > 0


def test_metrics_rows_have_the_contract_keys(tmp_path):
    data = write_prompt_shard(tmp_path / "data", n=4)
    rec = _recipe(data, tmp_path / "o", max_steps=1, tensorboard=True)
    rows = GRPOTrainer(rec, score_fn=fraction_score).train()
    need = {"step", "reward_mean", "kept_ratio", "kl", "loss", "seconds"}
    assert need <= set(rows[0])
    assert 0.0 <= rows[0]["kept_ratio"] <= 1.0
    assert list((tmp_path / "o" / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((tmp_path / "o" / "recipe.json").read_text())["train"]["max_steps"] == 1


def test_import_does_not_pull_verl_or_ray():
    code = "import sys, raif_train, raif_train.algo, raif_train.recipe, raif_train.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('verl', 'ray', 'vllm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- prompts and the shared reward
class _R1Template:
    """A chat template that opens <think> itself, like DeepSeek-R1-Distill's."""

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        return "<user>" + messages[-1]["content"] + "<assistant><think>\n"


@pytest.mark.parametrize(
    "fmt, direct, completion, expected_score, format_ok",
    [
        # think_answer: +1 format, +2 all constraints met
        ("think_answer", False, "<think> i think so </think> <answer> yes the end </answer>", 3.0, True),
        ("think_answer", False, "<think> i think so </think> <answer> Yes the end </answer>", -1.0, True),
        ("think_answer", False, "<answer> yes </answer>", -3.0, False),
        # a direct answer is scored on its answer text by the same checker (no think tags allowed)
        ("think_answer", True, "<answer> yes the end </answer>", 3.0, True),
        ("think_answer", True, "<think> </think> <answer> yes </answer>", -3.0, False),
        ("plain", False, "yes the end", 3.0, True),
    ],
)
def test_render_and_library_score(fmt, direct, completion, expected_score, format_ok):
    from raif_train.local.rollout import render_prompt
    from raif_train.local.scoring import LibraryScore

    tok = build_tiny_tokenizer()
    text, prefix = render_prompt(tok, [{"role": "user", "content": "hi"}], fmt, direct)
    assert text.rstrip().endswith("</think>") == direct
    sc = LibraryScore(fmt, "raif")(ScoreRequest("x", prefix + completion, rule(chk(LOWER)), direct))
    assert (sc.reward, sc.format_ok) == (expected_score, format_ok)


def test_r1_template_prefix_completes_the_think_block():
    from raif_train.local.rollout import render_prompt
    from raif_train.local.scoring import LibraryScore

    text, prefix = render_prompt(_R1Template(), [{"role": "user", "content": "q"}], "r1", False)
    assert text.endswith("<think>\n") and prefix == "<think>\n"
    sc = LibraryScore("r1", "raif")(
        ScoreRequest("x", prefix + "plan </think> all lowercase", rule(chk(LOWER)))
    )
    assert sc.reward == 3.0 and sc.answer_score == 2.0
    text, prefix = render_prompt(_R1Template(), [{"role": "user", "content": "q"}], "r1", True)
    assert text.endswith("<think>\n\n\n</think>\n\n") and prefix == ""


@pytest.mark.parametrize(
    "extra",
    [
        {"loss_agg_mode": "token-mean", "dynamic_sampling": True},
        {"superior_cot": False, "direct_per_group": 0, "kl_coef": 0.0},
    ],
)
def test_behaviour_cloning_and_options_run(tmp_path, extra):
    data = write_prompt_shard(tmp_path / "data", n=4)
    sft = tmp_path / "sft"
    sft.mkdir()
    rows = [{"prompt": [{"role": "user", "content": "say it"}], "response": "the end of the day ."}] * 3
    pq.write_table(pa.Table.from_pylist(rows), sft / "sft-00000.parquet")
    rec = _recipe(data, tmp_path / "o", max_steps=2, sft_data=str(sft), bc_coef=1.0, **extra)
    trainer = GRPOTrainer(rec, score_fn=fraction_score)
    out = trainer.train()
    # BC NLL of a random model over a ~230-word vocabulary is about log(230) ~ 5.4 nats per token
    assert 3.0 < out[0]["bc_loss"] < 8.0
    assert (out[-1]["kl"] > 0) == (rec.algo.kl_coef > 0)
    if not rec.algo.superior_cot:
        assert all(r["kept_ratio"] == 1.0 for r in out)
    # the BC term alone moves the expert answer's likelihood up over the two steps
    assert out[-1]["bc_loss"] < out[0]["bc_loss"]


@pytest.mark.parametrize(("per_step", "expected"), [(None, [2, 2, 2, 2]), (3, [0, 1, 1, 1]), (8, [2, 2, 2, 2]), (1, [0, 0, 0, 1])])
def test_expert_rows_spread_over_micro_batches(per_step, expected):
    from raif_train.local.trainer import _expert_rows

    counts = [_expert_rows(start, 2, 8, per_step) for start in range(0, 8, 2)]
    assert counts == expected
    assert sum(counts) == (8 if per_step is None else per_step)


def test_bc_rows_per_step_draws_that_many_expert_rows(tmp_path):
    data = write_prompt_shard(tmp_path / "data", n=4)
    sft = tmp_path / "sft"
    sft.mkdir()
    rows = [{"prompt": [{"role": "user", "content": f"say {i}"}], "response": "the end ."} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), sft / "sft-00000.parquet")
    rec = _recipe(data, tmp_path / "o", max_steps=2, sft_data=str(sft), bc_coef=1.0, bc_rows_per_step=3,
                  superior_cot=False, direct_per_group=0)
    trainer = GRPOTrainer(rec, score_fn=fraction_score)
    out = trainer.train()
    # 2 steps x 3 rows = 6 draws from a 5-row walk: one full pass, then one row into the second
    assert trainer.sft_cursor.state() == {"epoch": 1, "pos": 1}
    assert all(r["bc_loss"] > 0 for r in out)


def test_model_from_a_local_folder(tmp_path):
    """The path real users take (AutoTokenizer/AutoModelForCausalLM from a folder), on a saved tiny model."""
    tok = build_tiny_tokenizer()
    build_tiny_model(tok, seed=0).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    data = write_prompt_shard(tmp_path / "data", n=4)
    rec = _recipe(data, tmp_path / "o", model=str(tmp_path / "m"), max_steps=1, response_format="plain")
    trainer = GRPOTrainer(rec, score_fn=fraction_score)
    rows = trainer.train()
    assert rows[0]["step"] == 1 and rows[0]["response_length"] > 0
    assert trainer.tok.decode(trainer.tok("<think> yes </think>")["input_ids"]) == "<think> yes </think>"


def test_reward_process_pool_gives_the_same_run(tmp_path):
    """Scoring in a spawned process while the reference pass runs must not change a single number."""
    data = write_prompt_shard(tmp_path / "data", n=4)
    inline = GRPOTrainer(
        _recipe(data, tmp_path / "a", max_steps=2, reward_workers=0), score_fn=fraction_score
    )
    pooled = GRPOTrainer(
        _recipe(data, tmp_path / "b", max_steps=2, reward_workers=1), score_fn=fraction_score
    )
    assert _strip(inline.train()) == _strip(pooled.train())
    for p1, p2 in zip(inline.model.parameters(), pooled.model.parameters(), strict=True):
        assert torch.equal(p1, p2)


JUDGE_QUESTIONS = ["Is the answer polite?", "Is the answer written in French?"]


def _judge_shard(path: Path, n: int = 4) -> Path:
    gt = json.dumps({"style": "judge", "questions": JUDGE_QUESTIONS, "tree": {"op": "check", "id": NOCOMMA}})
    rows = [
        {
            "data_source": "raif/complex",
            "prompt": [{"role": "user", "content": "answer politely ."}],
            "ability": "instruction_following",
            "reward_model": {"style": "judge", "ground_truth": gt},
            "extra_info": {"index": i, "uid": f"j{i}"},
        }
        for i in range(n)
    ]
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "train-00000.parquet")
    return path


def test_judge_ground_truths_are_scored_through_the_judge_the_environment_names(tmp_path, monkeypatch, openai_stub):
    from tests.test_judge import judge_responder

    openai_stub.responder = judge_responder
    monkeypatch.setenv("RAIF_JUDGE_BASE_URL", openai_stub.base_url)
    monkeypatch.setenv("RAIF_JUDGE_MODEL", "judge-model")
    gt = json.dumps({"style": "judge", "questions": JUDGE_QUESTIONS, "tree": {"op": "check", "id": NOCOMMA}})
    fn = LibraryScore("plain", "raif")
    # polite: YES, French: NO, no comma: satisfied -> 2 of 3 (plain format: no format score)
    assert fn(ScoreRequest("raif/complex", "thank you kindly", gt)).answer_score == pytest.approx(2 / 3)
    asked = openai_stub.request_count
    assert asked == 2
    rec = _recipe(_judge_shard(tmp_path / "data"), tmp_path / "o", max_steps=1, response_format="plain")
    rec.data.constraint_subset = None  # the tiny preset keeps rule trees of two checks only
    out = GRPOTrainer(rec).train()
    assert openai_stub.request_count > asked and math.isfinite(out[0]["reward_mean"])


def test_judge_ground_truth_without_a_judge_names_what_to_set(tmp_path, monkeypatch):
    from raif_rewards.reward import RewardConfigError

    for name in ("RAIF_JUDGE_BASE_URL", "RAIF_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    gt = json.dumps({"style": "judge", "questions": JUDGE_QUESTIONS})
    with pytest.raises(RewardConfigError, match="judge"):
        LibraryScore("plain", "raif")(ScoreRequest("raif/complex", "hello", gt))


# ---------------------------------------------------------------- the paper's signal on scripted rollouts
# The trainer's real path (rendering, the shared reward with the think/answer format, masks, update) on
# rollouts whose text the test chooses: generate() is replaced by a script, everything else runs.
GOOD = "<think> think about the answer </think> <answer> yes the end </answer>"
DIRECT_GOOD = "<answer> yes the end </answer>"


def _scripted(monkeypatch, reasoning: list[str], direct: list[str]) -> list[list[str]]:
    """Replace generate(): reasoning prompts get `reasoning[i % len]`, direct ones `direct[i % len]`.
    Returns the decoded prompts of every call (to check the group layout)."""
    import raif_train.local.trainer as tr

    tok = build_tiny_tokenizer()
    seen: list[list[str]] = []
    count = {True: 0, False: 0}

    def fake(model, prompts, **kw):
        texts = [tok.decode(p) for p in prompts]
        seen.append(texts)
        out = []
        for text in texts:
            is_direct = text.rstrip().endswith("</think>")
            pool = direct if is_direct else reasoning
            resp = pool[count[is_direct] % len(pool)]
            count[is_direct] += 1
            out.append(tok(resp, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
        return out

    monkeypatch.setattr(tr, "generate", fake)
    return seen


def _paper_recipe(data: Path, out: Path, **kw):
    base = dict(rollout_prompts=1, group_size=8, direct_per_group=2, mini_batch_size=8, micro_batch_size=8,
                max_steps=1, max_response_length=16, response_format="think_answer", reward_mode="raif")
    base.update(kw)
    rec = _recipe(data, out, **base)
    rec.data.constraint_subset = None
    return rec


def _one_step(rec, score_fn=None):
    trainer = GRPOTrainer(rec, score_fn=score_fn)
    seen: dict[str, object] = {}
    masks = trainer._masks

    def spy(items):
        adv, keep, ratio = masks(items)
        seen.update(adv=adv, keep=keep, items=items)
        return adv, keep, ratio

    trainer._masks = spy
    row = trainer.train()[0]
    return row, seen


def _rule_shard(path: Path, tree: dict, n: int = 1, **extra) -> Path:
    rows = [
        {
            "data_source": "raif/instruct",
            "prompt": [{"role": "user", "content": "write in lowercase ."}],
            "ability": "instruction_following",
            "reward_model": {"style": "rule", "ground_truth": rule(tree)},
            "extra_info": {"index": i, "uid": f"r{i}", **extra},
        }
        for i in range(n)
    ]
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "train-00000.parquet")
    return path


def test_think_answer_rollout_meeting_every_constraint_gets_plus_three(tmp_path, monkeypatch):
    """Regression: the native backend passed the extra_info dict as ScoreRequest's `direct` flag, so every
    rollout was scored as a forced direct answer (a good reasoning rollout got -3)."""
    seen = _scripted(monkeypatch, [GOOD], [DIRECT_GOOD])
    data = _rule_shard(tmp_path / "data", chk(LOWER))
    row, got = _one_step(_paper_recipe(data, tmp_path / "o"))
    # format +1, every constraint +2, for reasoning and direct answers alike
    assert row["reasoning_reward_mean"] == 3.0 and row["direct_reward_mean"] == 3.0
    assert row["format_ok_rate"] == 1.0
    assert sum(t.rstrip().endswith("</think>") for t in seen[0]) == 2  # 2 of 8 forced direct answers
    assert got["keep"].tolist() == [True] * 6 + [False] * 2  # ties with the direct baseline are kept


def test_math_prompts_get_g_reasoning_samples_and_are_always_kept(tmp_path, monkeypatch):
    seen = _scripted(monkeypatch, [GOOD, "<think> guess </think> <answer> five </answer>"], [DIRECT_GOOD])
    rows = [
        {
            "data_source": "raif/math",
            "prompt": [{"role": "user", "content": "what is two plus two ?"}],
            "ability": "math",
            "reward_model": {"style": "math", "ground_truth": json.dumps({"style": "math", "answer": "4"})},
            "extra_info": {"index": 0, "uid": "m0", "baseline_score": 1.0},
        }
    ]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "train-00000.parquet")
    calls = []

    def score_fn(req: ScoreRequest) -> Score:  # the math checker itself is tested in test_mathcheck
        calls.append(req.direct)
        right = "guess" not in req.response
        return Score(3.0 if right else -0.5, 2.0 if right else -1.5, True)

    row, got = _one_step(_paper_recipe(tmp_path / "data", tmp_path / "o"), score_fn)
    assert not any(t.rstrip().endswith("</think>") for t in seen[0]) and calls == [False] * 8
    assert row["direct_reward_mean"] is None
    # wrong answers (-1.5) under an offline baseline of 1.0 would be masked: math is never masked
    assert got["keep"].all() and row["kept_ratio"] == 1.0


def test_format_collapse_keeps_its_negative_gradient(tmp_path, monkeypatch):
    """Regression: six reasoning samples that all fail the format next to two good direct answers were all
    masked (every reasoning score below every direct one); the scores are all equal, so the group stays."""
    _scripted(monkeypatch, ["<answer> yes the end </answer>"], [DIRECT_GOOD])
    data = _rule_shard(tmp_path / "data", chk(LOWER))
    row, got = _one_step(_paper_recipe(data, tmp_path / "o"))
    assert row["reasoning_reward_mean"] == -3.0 and row["format_ok_rate"] == 0.0
    assert got["keep"].tolist() == [True] * 6 + [False] * 2
    assert all(float(a) < 0 for a in got["adv"][:6]) and row["pg_loss"] != 0.0


def test_answer_gate_failures_keep_their_gradient(tmp_path, monkeypatch):
    """Regression: an empty think block passes the format but not the answer gate (-1 - 2); it was masked
    as 'below the baseline' instead of learning from its negative advantage like a format failure."""
    empty = "<think> </think> <answer> yes the end </answer>"
    _scripted(monkeypatch, [GOOD, empty], [DIRECT_GOOD])
    data = _rule_shard(tmp_path / "data", chk(LOWER))
    row, got = _one_step(_paper_recipe(data, tmp_path / "o"))
    rewards = [it.score.reward for it in got["items"]]
    assert rewards == [3.0, -1.0] * 3 + [3.0, 3.0]
    assert got["keep"].tolist() == [True] * 6 + [False] * 2
    assert row["kept_ratio"] == 1.0


@pytest.mark.parametrize(
    ("baseline", "expected_keep"),
    [
        # a 0.0 offline baseline (every direct answer met nothing) is -2 on the answer scale: an answer
        # meeting nothing ties it and is kept; before, -2 < 0.0 masked it (and the group dropped)
        (0.0, [True] * 8),
        # 0.5: the half-right answer (0.5) ties, the all-wrong one (-2) is masked, the all-right one kept
        (0.5, [True, True, False] * 2 + [True, True]),
        # 1.0 is +2: only answers meeting every constraint are kept
        (1.0, [True, False, False] * 2 + [True, False]),
    ],
)
def test_offline_baseline_is_compared_on_the_answer_scale(tmp_path, monkeypatch, baseline, expected_keep):
    half = "<think> think first </think> <answer> Yes the end </answer>"  # lowercase fails, no comma holds
    none = "<think> think first </think> <answer> Yes, The End </answer>"  # both fail
    _scripted(monkeypatch, [GOOD, half, none], [DIRECT_GOOD])
    tree = {"op": "and", "children": [chk(LOWER), chk(NOCOMMA)]}
    data = _rule_shard(tmp_path / "data", tree, baseline_score=baseline)
    row, got = _one_step(_paper_recipe(data, tmp_path / "o", direct_per_group=0))
    assert [it.score.answer_score for it in got["items"]] == [2.0, 0.5, -2.0] * 2 + [2.0, 0.5]
    assert got["keep"].tolist() == expected_keep


def test_reward_scale_of_the_offline_baseline():
    from raif_rewards.reward import RewardConfig, accuracy_from_fraction

    raif, frac = RewardConfig(), RewardConfig(accuracy="fraction")
    assert [accuracy_from_fraction(x, raif) for x in (0.0, 0.25, 1.0)] == [-2.0, 0.25, 2.0]
    assert [accuracy_from_fraction(x, frac) for x in (0.0, 0.25, 1.0)] == [0.0, 0.25, 1.0]


def test_unscored_samples_are_left_out_not_trained_as_format_only(tmp_path, monkeypatch):
    """A sample whose judge questions all went unscored is excluded from advantages and gradient and counted."""
    _scripted(monkeypatch, [GOOD, "<think> think first </think> <answer> Yes </answer>"], [DIRECT_GOOD])
    data = _rule_shard(tmp_path / "data", chk(LOWER))
    n = {"i": 0}

    def score_fn(req: ScoreRequest) -> Score:
        n["i"] += 1
        if n["i"] in (1, 2):  # the first two reasoning samples: nothing could be scored
            return Score(float("nan"), float("nan"), True, True, scored=False)
        return LibraryScore("think_answer", "raif")(req)

    row, got = _one_step(_paper_recipe(data, tmp_path / "o"), score_fn)
    assert row["unscored_samples"] == 2 and math.isfinite(row["reward_mean"])
    assert got["keep"][:2].tolist() == [False, False] and got["adv"][:2].tolist() == [0.0, 0.0]
    # the advantages of the 6 scored samples are normalised among themselves: they sum to zero
    assert abs(float(got["adv"][2:].sum())) < 1e-5 and got["keep"][2:6].tolist() == [True, False, True, False]


def test_judge_outage_on_every_question_is_unscored(openai_stub):
    from tests.test_judge import make_judge

    openai_stub.set_faults(lambda i, req: "500")
    fn = LibraryScore("think_answer", "raif")
    fn._judge = make_judge(openai_stub, max_retries=0)
    gt = json.dumps({"style": "judge", "questions": JUDGE_QUESTIONS})
    sc = fn(ScoreRequest("raif/complex", GOOD, gt, instruction="answer politely ."))
    assert not sc.scored and math.isnan(sc.reward)  # not the format score alone (+1) as before


def test_judge_sees_the_instruction_it_judges(tmp_path, monkeypatch, openai_stub):
    from tests.test_judge import judge_responder

    openai_stub.responder = judge_responder
    monkeypatch.setenv("RAIF_JUDGE_BASE_URL", openai_stub.base_url)
    monkeypatch.setenv("RAIF_JUDGE_MODEL", "judge-model")
    _scripted(monkeypatch, [GOOD], [DIRECT_GOOD])
    rec = _paper_recipe(_judge_shard(tmp_path / "data"), tmp_path / "o")
    row, _ = _one_step(rec)
    users = [r["messages"][-1]["content"] for r in openai_stub.requests]
    assert users and all("answer politely ." in u and "yes the end" in u for u in users)
    assert row["unscored_samples"] == 0 and math.isfinite(row["reward_mean"])


def test_dual_clip_reaches_the_native_loss(tmp_path, monkeypatch):
    import raif_train.local.trainer as tr

    got = []
    real = tr.algo.ppo_clip_loss

    def spy(*args, **kw):
        got.append(args[8] if len(args) > 8 else kw.get("dual_clip_c"))
        return real(*args, **kw)

    monkeypatch.setattr(tr.algo, "ppo_clip_loss", spy)
    _scripted(monkeypatch, [GOOD, "<answer> x </answer>"], [DIRECT_GOOD])
    data = _rule_shard(tmp_path / "data", chk(LOWER))
    _one_step(_paper_recipe(data, tmp_path / "o", dual_clip_c=3.0))
    assert got and set(got) == {3.0}


def test_expert_rows_longer_than_the_response_length_are_left_out_not_cut(tmp_path):
    """A cut expert answer would teach a response that never closes its tags."""
    data = write_prompt_shard(tmp_path / "data", n=4)
    sft = tmp_path / "sft"
    sft.mkdir()
    short = "<think> let me think </think> <answer> yes </answer>"  # 8 tokens + EOS
    long = "<think> " + "i think " * 10 + "</think> <answer> yes </answer>"
    rows = [{"prompt": [{"role": "user", "content": "say it"}], "response": r} for r in (short, long, short)]
    pq.write_table(pa.Table.from_pylist(rows), sft / "sft-00000.parquet")
    rec = _recipe(data, tmp_path / "o", max_steps=1, sft_data=str(sft), max_response_length=10)
    trainer = GRPOTrainer(rec, score_fn=fraction_score)
    assert [r.response for r in trainer.sft] == [short, short]
    rec = _recipe(data, tmp_path / "o2", max_steps=1, sft_data=str(sft), max_response_length=8)
    with pytest.raises(TrainError, match="none of the 3 expert rows fits max_response_length=8"):
        GRPOTrainer(rec, score_fn=fraction_score)


def test_expert_rows_that_do_not_fit_are_left_out_never_cut():
    from raif_rewards.errors import RaifError
    from raif_train.local.data import SFTRecord, fitting_experts

    rows = [SFTRecord([], "a b"), SFTRecord([], "a b c d e"), SFTRecord([], "a")]

    def encode(text):
        return text.split()

    fit, left_out = fitting_experts(rows, encode, 3)  # with its EOS, "a b" takes 3 tokens
    assert [r.response for r in fit] == ["a b", "a"] and left_out == 1
    with pytest.raises(RaifError, match="none of the 3 expert rows fits max_response_length=1"):
        fitting_experts(rows, encode, 1)
