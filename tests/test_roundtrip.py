"""Round-trip check of model-written instruction text: the comparison on hand-written readings, and the
pipeline against the loopback stub reading rewrites back correctly, wrongly, as garbage, or not at all."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_data import pipeline, roundtrip
from raif_data import recipe as recipe_mod
from raif_rewards.errors import EndpointError
from tests.openai_stub import OpenAIStub

SELECTION = {"op": "selection", "condition": "the request above ends with a question mark", "active": 1,
             "branches": [{"op": "check", "id": "punctuation:no_comma"},
                          {"op": "check", "id": "keywords:frequency",
                           "kwargs": {"keyword": "harvest", "frequency": 4, "relation": "less than"}}]}
CHAIN = {"op": "chain", "marker": "Step", "steps": [
    {"op": "check", "id": "detectable_format:title"},
    {"op": "check", "id": "length_constraints:number_words", "kwargs": {"num_words": 50, "relation": "at least"}}]}


def reading(reqs: list[tuple[str, dict, str]], applies: str = "none", steps: Any = None) -> str:
    """A reader's JSON reply; ``steps`` left out when None (read as 0)."""
    obj: dict[str, Any] = {"requirements": [{"id": i, "kwargs": k, "scope": s} for i, k, s in reqs],
                           "applies": applies}
    if steps is not None:
        obj["steps"] = steps
    return json.dumps(obj)


RIGHT_SELECTION = [("punctuation:no_comma", {}, "if"),
                   ("keywords:frequency", {"keyword": "Harvest", "frequency": "4", "relation": "less than"}, "else")]


@pytest.mark.parametrize(("reply", "reason"), [
    (reading(RIGHT_SELECTION, "else"), None),
    ("```json\n" + reading(RIGHT_SELECTION, "else") + "\n```", None),
    (reading(RIGHT_SELECTION, "if"), "applies"),  # the condition judged the wrong way
    (reading([(i, k, {"if": "else", "else": "if"}[s]) for i, k, s in RIGHT_SELECTION], "else"), "scope"),  # swapped
    (reading([RIGHT_SELECTION[0], ("keywords:frequency", {"keyword": "harvest", "frequency": 5,
                                                          "relation": "less than"}, "else")], "else"), "kwargs"),
    (reading(RIGHT_SELECTION[:1], "else"), "constraints"),  # one dropped
    (reading([*RIGHT_SELECTION, ("detectable_format:title", {}, "all")], "else"), "constraints"),  # one added
    ("I think the requirements are: no commas.", "malformed"),
    ('{"requirements": "no commas"}', "malformed"),
    ('{"requirements": [{"id": 3}]}', "malformed"),
])
def test_compare_selection(reply, reason):
    assert roundtrip.compare(SELECTION, reply) == reason


def test_compare_chain_order():
    right = [("detectable_format:title", {}, "step 1"),
             ("length_constraints:number_words", {"num_words": 50, "relation": "at least"}, "Step 2")]
    assert roundtrip.compare(CHAIN, reading(right, steps=2)) is None
    assert roundtrip.compare(CHAIN, reading(right, steps="2")) is None
    swapped = [(i, k, s) for (i, k, _), s in zip(right, ["step 2", "step 1"], strict=True)]
    assert roundtrip.compare(CHAIN, reading(swapped, steps=2)) == "scope"


@pytest.mark.parametrize(("tree", "steps", "reason"), [
    (CHAIN, None, "steps"),  # a chain read as no steps at all
    (CHAIN, 3, "steps"),  # a step the tree does not have (e.g. a sub-task that announces a third step)
    (CHAIN, -1, "malformed"),
    (CHAIN, "two", "malformed"),
    (CHAIN, True, "malformed"),
    (SELECTION, None, None),  # no chain: steps may be left out
    (SELECTION, 0, None),
    (SELECTION, 2, "steps"),
])
def test_compare_step_count(tree, steps, reason):
    leaves, applies = roundtrip.expected(tree)
    assert roundtrip.step_count(tree) == (2 if tree is CHAIN else 0)
    assert roundtrip.compare(tree, reading(leaves, applies, steps)) == reason


def test_step_count_of_a_nested_chain():
    nested = {"op": "and", "children": [{"op": "check", "id": "punctuation:no_comma"}, CHAIN]}
    assert roundtrip.step_count(nested) == 2


def test_prompt_shows_the_true_types_among_decoys():
    text = roundtrip.prompt("Do X.", SELECTION, random.Random(0))
    listed = [line.split(":", 2) for line in text.splitlines() if line.startswith("- ")]
    ids = [f"{a[2:]}:{b}" for a, b, _ in listed]
    assert {"punctuation:no_comma", "keywords:frequency"} <= set(ids)
    assert len(ids) == 2 + roundtrip.DECOYS
    assert "- keywords:frequency: frequency, keyword, relation" in text
    assert "[Instruction]\nDo X.\n[End of instruction]" in text


# ----------------------------------------------------------------------------- against the stub

def recipe(out: Path, url: str = "", **quality: Any) -> recipe_mod.Recipe:
    data: dict[str, Any] = {
        "output_dir": str(out), "num_prompts": 24,
        "instruct": {"include_ids": ["punctuation:no_comma", "keywords:frequency", "detectable_format:title",
                                     "length_constraints:number_words"],
                     "compositions": {"selection": 0.5, "chain": 0.5}, "min_constraints": 2, "max_constraints": 2},
        "respond": {"enabled": False}, "output": {"chunk_size": 8, "validation_fraction": 0.0},
    }
    if url:
        data["llm"] = {"base_url": url, "model": "m", "timeout": 2.0, "max_retries": 2}
        data["instruct"]["rewrite"] = {"enabled": True}
        data["quality"] = {"round_trip": True, **quality}
    return recipe_mod.from_dict(data)


def rows(out: Path) -> list[dict]:
    return [row for p in sorted((out / "train").glob("part-*.parquet")) for row in pq.read_table(p).to_pylist()]


def test_rewrites_are_kept_only_when_read_back_right(tmp_path):
    # the trees of the template texts, from an offline run of the same recipe (stage 2 is deterministic)
    pipeline.evolve(recipe(tmp_path / "offline"))
    truth = {r["prompt"][0]["content"]: json.loads(r["reward_model"]["ground_truth"])["tree"]
             for r in rows(tmp_path / "offline")}
    kinds = ("right", "wrong_scope", "right", "wrong_applies", "garbage")
    plan = {t: kinds[k % len(kinds)] for k, t in enumerate(sorted(truth))}
    modes: dict[str, str] = {}  # the texts read back, with how

    def model(request: dict) -> str:
        last = request["messages"][-1]["content"]
        if last.startswith("Rewrite the following instruction"):
            return "Kindly: " + last.split("---\n", 1)[1].rsplit("\n---", 1)[0]
        text = last.split("[Instruction]\n", 1)[1].rsplit("\n[End of instruction]", 1)[0]
        template = text.removeprefix("Kindly: ")
        leaves, applies = roundtrip.expected(truth[template])
        mode = modes[template] = plan[template]
        if mode == "garbage":
            return "The instruction asks for a careful answer."
        if mode == "wrong_scope" and applies == "none":  # chain: steps swapped
            leaves = [(i, k, s) for (i, k, _), s in zip(leaves, [s for *_, s in leaves][::-1], strict=True)]
        elif mode == "wrong_scope":  # selection: branches swapped
            leaves = [(i, k, {"if": "else", "else": "if"}[s]) for i, k, s in leaves]
        if mode == "wrong_applies":
            applies = {"if": "else", "else": "if", "none": "if"}[applies]
        right_leaves, right_applies = roundtrip.expected(truth[template])
        if (sorted(map(json.dumps, leaves)), applies) == (sorted(map(json.dumps, right_leaves)), right_applies):
            # a plain `and` (a composition that fell back), or the same constraint in both steps: the
            # swap changed nothing, so the reading is right
            modes[template] = "right"
        return reading(leaves, applies, roundtrip.step_count(truth[template]))

    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        m = pipeline.evolve(recipe(out, stub.base_url))
    got = rows(out)
    assert len(got) == len(truth)
    for row in got:
        text = row["prompt"][0]["content"]
        rewritten = json.loads(row["extra_info"]["provenance"])["rewritten"]
        template = text.removeprefix("Kindly: ")
        assert rewritten == (modes.get(template) == "right") == text.startswith("Kindly: "), truth[template]
    llm = json.loads((out / "stages" / "instruct" / "manifest.json").read_text())["llm"]
    expect = {"wrong_scope": "scope", "wrong_applies": "applies", "garbage": "malformed"}
    for mode, reason in expect.items():
        assert llm.get(f"rewrite_roundtrip:{reason}", 0) == list(modes.values()).count(mode) > 0
    assert llm["rewrite_accepted"] == list(modes.values()).count("right") > 0
    assert m["quality"]["instruct"]["rewrite_roundtrip:scope"] == llm["rewrite_roundtrip:scope"]


def test_round_trip_outage_writes_nothing(tmp_path):
    def model(request: dict) -> str:
        last = request["messages"][-1]["content"]
        return "Kindly: " + last.split("---\n", 1)[1].rsplit("\n---", 1)[0]

    with OpenAIStub(model) as stub:
        stub.set_faults(lambda i, req: "500" if "[Instruction]" in req["messages"][-1]["content"] else None)
        out = tmp_path / "d"
        with pytest.raises(EndpointError, match="failed after retries"):
            pipeline.evolve(recipe(out, stub.base_url))
    assert not list((out / "stages" / "instruct").glob("chunk-*.jsonl"))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.text() | json_values.map(json.dumps))
def test_compare_never_raises_and_names_a_reason(reply):
    for tree in (SELECTION, CHAIN):
        assert roundtrip.compare(tree, reply) in (None, *roundtrip.REASONS)
