"""raif_data units: recipe loading, dedup, seed reading and errors, instruction composition, ground truth."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raif_data import recipe as recipe_mod
from raif_data.dedup import BloomFilter, Deduplicator
from raif_data.enrich import anchors, faithful, parse_soft
from raif_data.instruct import build_pool, compose_instruction
from raif_data.pipeline import Layout, run_seeds
from raif_data.seeds import Seed, asset_path, iter_seeds
from raif_rewards import compose, registry
from raif_rewards.errors import InputFileError, UnknownConstraintError
from raif_rewards.reward import score

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ recipe


@pytest.mark.parametrize(
    "data, key",
    [
        ({"nope": 1}, "nope"),
        ({"seeds": {"dedup": {"bandz": 2}}}, "seeds.dedup.bandz"),
        ({"num_prompts": "many"}, "num_prompts"),
        ({"instruct": {"sources": ["ifeval", "other"]}}, "instruct.sources[1]"),
        ({"instruct": {"min_constraints": 3, "max_constraints": 2}}, "instruct.min_constraints"),
        ({"seeds": {"dedup": {"num_perm": 64, "bands": 7}}}, "seeds.dedup.bands"),
        ({"math": {"ratio": 0.5}}, "math.path"),
        ({"skip_bad": "yes"}, "skip_bad"),
    ],
)
def test_recipe_rejects_with_key_path(data, key):
    with pytest.raises(recipe_mod.RecipeError) as exc:
        recipe_mod.from_dict(data)
    assert exc.value.key == key
    assert repr(key) in str(exc.value)


def test_recipe_files_load_and_default_matches_embedded():
    default = recipe_mod.load(ROOT / "pipelines" / "data_default.yaml")
    assert default.fingerprint() == recipe_mod.load(None).fingerprint()
    endpoint = recipe_mod.load(ROOT / "pipelines" / "data_endpoint.yaml")
    assert endpoint.llm.base_url and endpoint.respond.samples > 0


def test_recipe_yaml_error_names_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("seeds:\n  min_chars: [1\n")
    with pytest.raises(recipe_mod.RecipeError, match="r.yaml"):
        recipe_mod.load(p)
    p.write_text("seeds: {min_chars: x}\n")
    with pytest.raises(recipe_mod.RecipeError, match=r"r\.yaml.*seeds\.min_chars"):
        recipe_mod.load(p)


def test_override_by_dotted_name():
    r = recipe_mod.override(recipe_mod.load(None), {"num_prompts": 7, "seeds.path": "x.jsonl", "seed": None})
    assert (r.num_prompts, r.seeds.path, r.seed) == (7, "x.jsonl", 0)


# ------------------------------------------------------------------------------------------ dedup


def test_bloom_has_no_false_negatives():
    bf = BloomFilter(1000)
    keys = [f"k{i}".encode() for i in range(1000)]
    assert not any(bf.add(k) for k in keys)
    assert all(k in bf for k in keys)
    false_pos = sum(f"other{i}".encode() in bf for i in range(5000))
    assert false_pos < 25  # 16 bits per key: ~0.05 % expected


@pytest.mark.parametrize(
    "first, second, verdict",
    [
        ("Write a poem about the sea.", "write a POEM about the sea!", "exact"),
        (
            "Explain how a refrigerator keeps food cold, and why the back of it feels warm to the touch in summer.",
            "Explain how a refrigerator keeps food cold, and why the back of it feels warm to the touch in winter.",
            "near",
        ),
        ("请写一首关于春天的现代诗，描写江南的雨和柳树。", "请写一首关于春天的现代诗，描写江南的雨和柳树吧。", "near"),
        ("Write a poem about the sea.", "Plan a budget trip to Rome for two students.", None),
    ],
)
def test_dedup_verdicts(first, second, verdict):
    d = Deduplicator(capacity=1000)
    assert d.seen(first) is None
    assert d.seen(second) == verdict


def test_demo_seeds_are_distinct_and_varied():
    rows = [json.loads(line) for line in (ROOT / "data" / "seeds_demo.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    assert {r["lang"] for r in rows} == {"en", "zh"}
    assert len({r["task_type"] for r in rows}) >= 10
    assert len({r["id"] for r in rows}) == len(rows)
    d = Deduplicator(capacity=10_000)
    assert [r["id"] for r in rows if d.seen(r["prompt"])] == []
    # the copy shipped inside the package is the same file
    assert asset_path("seeds_demo.jsonl").read_bytes() == (ROOT / "data" / "seeds_demo.jsonl").read_bytes()
    assert asset_path("math_demo.jsonl").read_bytes() == (ROOT / "data" / "math_demo.jsonl").read_bytes()


# ------------------------------------------------------------------------------------------ seeds


def _seed_recipe(tmp_path, path, **extra):
    return recipe_mod.from_dict({"output_dir": str(tmp_path / "out"), "seeds": {"path": str(path), **extra.pop("seeds", {})},
                                 **extra})


def _write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("".join(lines), encoding="utf-8")
    return p


GOOD = '{"id": "a", "prompt": "Write a short story about a brave little fox."}\n'


@pytest.mark.parametrize(
    "lines, line, field, text",
    [
        ([GOOD, '{"id": "b", "prompt": "unterminated\n'], 2, None, "not valid JSON"),
        ([GOOD, '{"id": "c", "text": "no prompt here"}\n'], 2, "prompt", "missing field"),
        (["\n", GOOD, '{"id": "d", "prompt": ""}\n'], 3, "prompt", "non-empty string"),
        ([GOOD, '["a list"]\n'], 2, None, "JSON object"),
    ],
)
def test_bad_seed_records_name_file_line_field(tmp_path, lines, line, field, text):
    p = _write(tmp_path, "s.jsonl", lines)
    with pytest.raises(InputFileError) as exc:
        run_seeds(_seed_recipe(tmp_path, p), Layout(tmp_path / "out"))
    assert (exc.value.path, exc.value.line, exc.value.field) == (str(p), line, field)
    assert text in str(exc.value) and f"s.jsonl:{line}" in str(exc.value)


def test_skip_bad_counts_and_keeps_good(tmp_path):
    p = _write(tmp_path, "s.jsonl", [GOOD, "{oops\n", '{"prompt": 3}\n',
                                     '{"id": "z", "prompt": "Give me three tips for learning to cook at home."}\n'])
    m = run_seeds(_seed_recipe(tmp_path, p, skip_bad=True), Layout(tmp_path / "out"))
    assert (m["kept"], m["bad_records"]) == (2, 2)
    assert any("s.jsonl:2" in e for e in m["bad_examples"])


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_seed_file_is_an_error(tmp_path, content):
    p = _write(tmp_path, "empty.jsonl", [content])
    with pytest.raises(InputFileError, match="no usable seed prompts"):
        run_seeds(_seed_recipe(tmp_path, p), Layout(tmp_path / "out"))


def test_missing_seed_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        run_seeds(_seed_recipe(tmp_path, tmp_path / "nope.jsonl"), Layout(tmp_path / "out"))


def test_csv_with_field_mapping_and_language_filter(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("question,kind\n\"Describe the water cycle for a school project.\",science\n"
                 "\"请介绍一下长城的历史。\",history\n\"Summarise the causes of the First World War.\",history\n",
                 encoding="utf-8")
    r = _seed_recipe(tmp_path, p, seeds={"fields": {"prompt": "question", "task_type": "kind"}, "languages": ["en"]})
    m = run_seeds(r, Layout(tmp_path / "out"))
    assert m["kept"] == 2 and m["dropped"] == {"language": 1}
    seeds = list(iter_seeds(tmp_path / "out" / "stages" / "seeds" / "seeds.jsonl"))
    assert {s.task_type for s in seeds} == {"science", "history"} and all(s.lang == "en" for s in seeds)
    assert all(s.id.startswith("s.csv:") for s in seeds)


def test_parquet_seeds_and_balanced_order(tmp_path):
    rows = [{"id": f"{t}{i}", "prompt": f"Task {t} number {i}: explain topic {t * (i + 2)} in detail please.",
             "task_type": t, "lang": "en"} for t in "abc" for i in range(4 if t != "c" else 1)]
    p = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    m = run_seeds(_seed_recipe(tmp_path, p, seeds={"dedup": {"near": False}}), Layout(tmp_path / "out"))
    assert m["kept"] == 9
    order = [s.task_type for s in iter_seeds(tmp_path / "out" / "stages" / "seeds" / "seeds.jsonl")]
    assert order[:3] == ["a", "b", "c"]  # round-robin over types, then the rest
    assert sorted(order[3:]) == ["a", "a", "a", "b", "b", "b"]


# ------------------------------------------------------------------------------------------ instruct

SEEDS = [
    Seed("en1", "Write a short poem about winter mornings in the city?", "en", "creative"),
    Seed("en2", "Plan a 3-day trip to Kyoto for two people who love temples and food.", "en", "planning"),
    Seed("zh1", "帮我写一段在朋友婚礼上的祝福致辞，时间大约两分钟。", "zh", "writing"),
]


def _leaves(node):
    if isinstance(node, compose.Check):
        yield node
    for attr in ("children", "steps", "branches"):
        for child in getattr(node, attr, ()):
            yield from _leaves(child)


@pytest.mark.parametrize("kind", ["and", "chain", "selection", "nested"])
@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.id)
def test_compositions_are_valid_and_compatible(kind, seed):
    cfg = recipe_mod.from_dict({"instruct": {"compositions": {kind: 1.0}, "min_constraints": 3,
                                             "max_constraints": 4}}).instruct
    pool = build_pool(("ifeval",), seed.lang, (), ())
    for i in range(40):
        ins = compose_instruction(random.Random(i), seed, cfg)
        gt = compose.parse_ground_truth(compose.to_json(ins.truth))
        assert gt.lang == seed.lang and ins.prompt.startswith(seed.prompt)
        assert ins.composition in (kind, "and")
        leaves = list(_leaves(gt.tree))
        assert [c.id for c in leaves] == ins.constraint_ids and 1 <= len(leaves) <= 4
        for c in leaves:
            assert seed.lang in registry.get(c.id).languages
        if ins.composition == "and":  # one text: nothing may conflict
            ids = ins.constraint_ids
            for a in ids:
                assert not (pool.conflicts[a] & (set(ids) - {a}))
        if ins.composition == "chain":
            assert isinstance(gt.tree, compose.Chain)
            assert all(f"{gt.tree.marker} {n}" in ins.prompt or f"{gt.tree.marker}{n}" in ins.prompt
                       for n in range(1, len(gt.tree.steps) + 1))
        if ins.composition == "selection":
            cond = gt.tree.condition
            assert cond in ins.prompt
            if "question mark" in cond or "问号" in cond:
                assert gt.tree.active == (0 if seed.prompt.endswith(("?", "？")) else 1)


def test_same_rng_same_instruction_and_unknown_ids_fail():
    cfg = recipe_mod.load(None).instruct
    a = compose_instruction(random.Random("x"), SEEDS[0], cfg)
    b = compose_instruction(random.Random("x"), SEEDS[0], cfg)
    assert (a.prompt, compose.to_json(a.truth)) == (b.prompt, compose.to_json(b.truth))
    bad = recipe_mod.from_dict({"instruct": {"include_ids": ["detectable_format:titel"]}}).instruct
    with pytest.raises(UnknownConstraintError, match="detectable_format:title"):
        compose_instruction(random.Random(0), SEEDS[0], bad)


def test_repeat_prompt_gets_the_seed_prompt():
    cfg = recipe_mod.from_dict({"instruct": {"include_ids": ["combination:repeat_prompt"],
                                             "compositions": {"and": 1.0}, "max_constraints": 1}}).instruct
    ins = compose_instruction(random.Random(0), SEEDS[1], cfg)
    (leaf,) = _leaves(ins.truth.tree)
    assert leaf.kwargs["prompt_to_repeat"] == SEEDS[1].prompt
    assert score(f"<think>ok</think><answer>{SEEDS[1].prompt} Sure.</answer>", compose.to_json(ins.truth)).satisfied == 1


# A response that satisfies each constraint of a small set, built from its kwargs (the oracle).
def _satisfy(check: compose.Check) -> str:
    kw = check.kwargs
    return {
        "detectable_format:title": lambda: "<<A Title>>",
        "keywords:existence": lambda: " ".join(kw["keywords"]),
        "detectable_content:number_placeholders": lambda: " ".join(f"[p{i}]" for i in range(kw["num_placeholders"])),
        "detectable_format:number_bullet_lists": lambda: "\n" + "\n".join(f"* item {i}" for i in range(kw["num_bullets"])) + "\n",
    }[check.id]()


def _response(node) -> str:
    if isinstance(node, compose.Check):
        return _satisfy(node)
    if isinstance(node, compose.And):
        return "\n".join(_response(c) for c in node.children)
    if isinstance(node, compose.Chain):
        return "\n".join(f"{node.marker} {i}\n{_response(s)}" for i, s in enumerate(node.steps, 1))
    return _response(node.branches[node.active])


@pytest.mark.parametrize("kind", ["and", "chain", "selection", "nested"])
def test_a_response_that_satisfies_the_constraints_gets_full_reward(kind):
    ids = ["detectable_format:title", "keywords:existence", "detectable_content:number_placeholders",
           "detectable_format:number_bullet_lists"]
    cfg = recipe_mod.from_dict({"instruct": {"include_ids": ids, "compositions": {kind: 1.0},
                                             "min_constraints": 2, "max_constraints": 4}}).instruct
    for i in range(25):
        ins = compose_instruction(random.Random(i), SEEDS[i % 2], cfg)
        gt = compose.to_json(ins.truth)
        good = _response(compose.parse_ground_truth(gt).tree)
        res = score(f"<think>plan</think><answer>{good}</answer>", gt)
        assert res.satisfied == res.total > 0, (ins.prompt, good)
        worse = score("<think>plan</think><answer>nothing useful</answer>", gt)
        assert worse.satisfied < res.satisfied


# ------------------------------------------------------------------------------------------ enrich


def test_rewrite_is_accepted_only_when_constraints_survive():
    rec = {"prompt": "Write about cats.\n\nAnswer with at least 120 words. Include keywords \"harbor\" in the response.",
           "ground_truth": compose.to_json(compose.RuleTruth(compose.and_(
               compose.check("length_constraints:number_words", num_words=120, relation="at least"),
               compose.check("keywords:existence", keywords=["harbor"]))))}
    groups = anchors(rec)
    assert faithful("Please write at least 120 words about cats, mentioning the harbor.", groups)
    assert not faithful("Please write about 100 words about cats, mentioning the harbor.", groups)
    assert not faithful("Please write at least 120 words about cats.", groups)
    assert not faithful("Please write less than 120 words about cats near the harbor.", groups)


@pytest.mark.parametrize(
    "text, ok",
    [('{"constraints": ["Be warm."], "questions": ["Is it warm?"]}', True),
     ('```json\n{"constraints": ["Be warm."], "questions": ["Is it warm?"]}\n```', True),
     ('{"constraints": ["a", "b"], "questions": ["q?"]}', False),
     ("not json at all", False),
     ('{"constraints": [""], "questions": ["q?"]}', False)],
)
def test_parse_soft(text, ok):
    assert (parse_soft(text, 3) is not None) == ok


@pytest.mark.parametrize(
    "prompt, lang, problem",
    [
        ("Write a haiku about autumn leaves.", "en", None),
        ("请介绍一下长城的历史。", "zh", None),
        ("hi", "en", "length"),
        ("Help me!!!!!!!!!!!! please now", "en", "quality"),
        ("$$$ ### %%% @@@ ^^^ &&& *** (((", "en", "quality"),
        ("Translate please", "en", "quality"),
        ("x" * 5000, "en", "length"),
    ],
)
def test_seed_quality_filter(prompt, lang, problem):
    from raif_data.seeds import quality_problem

    assert quality_problem(prompt, lang, recipe_mod.load(None).seeds) == problem


def test_shingles_are_word_ngrams_with_cjk_characters_as_words():
    from raif_data.dedup import normalize, shingles

    assert shingles("Plan 长城 trip", 2) == ["plan 长".encode(), "长 城".encode(), "城 trip".encode()]
    assert shingles("Ａ b, c!  d", 3) == [b"a b c", b"b c d"]  # width and case folded, punctuation dropped
    assert shingles("a b", 3) == [b"a b"] and shingles("!!", 3) == [b""]
    assert shingles("Straße café au lait", 2) == ["straße café".encode(), "café au".encode(), b"au lait"]
    assert normalize("Ａ  B,c") == "a b c"


def test_blocked_bloom_batches_match_one_by_one():
    from raif_data.dedup import BlockedBloom

    keys = [f"key{i % 700}".encode() for i in range(1000)]  # 300 repeats
    one = BlockedBloom(2000)
    seq = [one.add(k) for k in keys]
    assert sum(seq) >= 300 and all(seq[i] for i in range(700, 1000))
    texts = [f"Plan a trip number {i % 90} to the mountains with some friends and a dog" for i in range(120)]
    a, b = Deduplicator(capacity=1000), Deduplicator(capacity=1000)
    batched = a.seen_batch(texts[:50]) + a.seen_batch(texts[50:])
    assert batched == [b.seen(t) for t in texts]
    assert batched[90:] == ["exact"] * 30


def test_hugging_face_seeds_through_datasets(tmp_path, monkeypatch):
    import sys
    import types

    calls = []

    def load_dataset(name, split, streaming):
        calls.append((name, split, streaming))
        return iter([{"instruction": "Describe the life cycle of a butterfly for children.", "category": "science"},
                     {"instruction": "Write a limerick about a cat who loves the rain.", "category": "poetry"}])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    r = recipe_mod.from_dict({"output_dir": str(tmp_path / "o"), "seeds": {
        "path": "hf:someone/prompts", "hf_split": "test", "detect_language": "never",
        "fields": {"prompt": "instruction", "task_type": "category"}}})
    m = run_seeds(r, Layout(tmp_path / "o"))
    assert calls == [("someone/prompts", "test", True)]
    assert m["kept"] == 2 and m["task_types"] == {"poetry": 1, "science": 1}
    assert m["source"] == {"path": "hf:someone/prompts"}


def test_hugging_face_without_datasets_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    r = recipe_mod.from_dict({"output_dir": str(tmp_path / "o"), "seeds": {"path": "hf:someone/prompts"}})
    with pytest.raises(InputFileError, match="pip install datasets"):
        run_seeds(r, Layout(tmp_path / "o"))


def test_every_no_comma_phrasing_names_the_comma_for_the_rewrite_anchor():
    """The rewrite check keeps a text only when 'comma' / 逗号 survives; a phrasing without either word
    made every faithful rewrite of it fail."""
    import random

    from raif_data.enrich import _NO_KWARG_ANCHORS
    from raif_rewards import registry

    c = registry.get("punctuation:no_comma")
    words = _NO_KWARG_ANCHORS["punctuation:no_comma"][0]
    for lang in c.languages:
        kwargs = c.sample(random.Random(0), lang)
        for v in range(c.phrasing_count(lang)):
            text = c.render(kwargs, lang, v).lower()
            assert any(w in text for w in words), (lang, v, text)
