"""Sub-task structure and weaving styles written by a model, against the loopback stub: chain sub-tasks
(kept, wrong step count, malformed, read back wrong), selection conditions (holding and not holding, a
decision other than asked, a surface condition, flipped or swapped on reading, no witness), weaving
styles, the order structure -> rewrite, and an outage that writes nothing and resumes from the cache."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_data import enrich, pipeline, roundtrip, structure, wording
from raif_data import recipe as recipe_mod
from raif_rewards.errors import EndpointError
from raif_rewards.reward import DEFAULT_CONFIG, score_rule
from tests.openai_stub import OpenAIStub

FULL = DEFAULT_CONFIG.format_ok + DEFAULT_CONFIG.all_satisfied

# ------------------------------------------------------------------------------------- replies parsed


@pytest.mark.parametrize(("reply", "n", "tasks", "why"), [
    ('{"steps": ["List three facts about tea", "Using those facts, write a poem."]}', 2,
     ["List three facts about tea.", "Using those facts, write a poem."], ""),
    ('```json\n{"steps": ["Step 1: List facts.", "step 2 - Use them."]}\n```', 2, ["List facts.", "Use them."], ""),
    ('{"steps": ["a.", "b.", "c."]}', 2, None, "step_count"),
    ('{"steps": ["a."]}', 2, None, "step_count"),
    ('{"steps": ["a.", ""]}', 2, None, "unparsable"),
    ('{"steps": ["a.", 3]}', 2, None, "unparsable"),
    ('{"steps": "a then b"}', 2, None, "unparsable"),
    ("First list facts, then write.", 2, None, "unparsable"),
    ('{"steps": ["' + "x" * 400 + '", "b."]}', 2, None, "unparsable"),
])
def test_parse_steps(reply, n, tasks, why):
    assert structure.parse_steps(reply, n, "en") == (tasks, why)


def test_parse_steps_zh_ends_with_a_chinese_full_stop():
    assert structure.parse_steps('{"steps": ["列出三个事实", "根据这些事实写一首诗。"]}', 2, "zh") == (
        ["列出三个事实。", "根据这些事实写一首诗。"], "")


@pytest.mark.parametrize(("reply", "lang", "got", "why"), [
    ('{"condition": "The request above asks for a formal letter.", "negation": "it does not ask for a formal '
     'letter", "holds": true}', "en",
     ("the request above asks for a formal letter", "it does not ask for a formal letter", True), ""),
    ('{"condition": "上面的请求是在征求建议。", "negation": "上面的请求不是在征求建议", "holds": false}', "zh",
     ("上面的请求是在征求建议", "上面的请求不是在征求建议", False), ""),
    ('{"condition": "the request above contains a digit", "negation": "it contains no digit", "holds": true}',
     "en", None, "surface_condition"),
    ('{"condition": "the request above has more than 12 words", "negation": "it has 12 words or fewer", '
     '"holds": false}', "en", None, "surface_condition"),
    ('{"condition": "上面的请求以问号结尾", "negation": "上面的请求不以问号结尾", "holds": true}', "zh", None,
     "surface_condition"),
    ('{"condition": "it is about cooking", "negation": "it is not about cooking", "holds": true}', "en", None,
     "condition_form"),
    ('{"condition": "the request above is long", "negation": "the request above is long", "holds": true}', "en",
     None, "condition_form"),
    ('{"condition": "the request above asks for a poem", "negation": "it does not", "holds": "yes"}', "en", None,
     "unparsable"),
    ('{"condition": "the request above asks for a poem"}', "en", None, "unparsable"),
    ("The condition is: it asks for a poem.", "en", None, "unparsable"),
])
def test_parse_condition(reply, lang, got, why):
    assert structure.parse_condition(reply, lang) == (got, why)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parsers_never_raise(reply):
    assert structure.parse_steps(reply, 2, "en")[1] in ("", "unparsable", "step_count")
    assert structure.parse_condition(reply, "zh")[1] in ("", "unparsable", "condition_form", "surface_condition")


def test_with_condition_sets_the_root_or_the_nested_selection():
    sel = {"op": "selection", "condition": "c", "active": 0,
           "branches": [{"op": "check", "id": "punctuation:no_comma"}, {"op": "check", "id": "detectable_format:title"}]}
    assert structure.with_condition(sel, "the request above asks for X", 1)["active"] == 1
    assert sel["active"] == 0  # a copy
    nested = {"op": "and", "children": [{"op": "check", "id": "detectable_format:title"}, sel]}
    got = structure.with_condition(nested, "the request above asks for X", 1)["children"][1]
    assert (got["condition"], got["active"]) == ("the request above asks for X", 1)
    with pytest.raises(ValueError):
        structure.with_condition({"op": "check", "id": "detectable_format:title"}, "x", 0)


def test_chain_text_puts_each_sub_task_before_its_requirements():
    text = wording.chain_text(random.Random(1), "Step", ["This step must have a title.", "Use no commas."], "en",
                              tasks=["List three facts.", "Using those facts, write a poem."])
    lines = text.splitlines()
    assert len(lines) == 3 and '"Step 1", "Step 2"' in lines[0]
    assert re.fullmatch(r"- (For )?Step 1: List three facts\. This step must have a title\.", lines[1])
    assert re.fullmatch(r"- (For )?Step 2: Using those facts, write a poem\. Use no commas\.", lines[2])
    with pytest.raises(ValueError):
        wording.chain_text(random.Random(1), "Step", ["a", "b"], "en", tasks=["only one"])


def test_recipe_knobs():
    with pytest.raises(recipe_mod.RecipeError, match="quality.round_trip"):
        recipe_mod.from_dict({"instruct": {"structure": {"enabled": True}}})
    with pytest.raises(recipe_mod.RecipeError, match="instruct.rewrite.styles"):
        recipe_mod.from_dict({"instruct": {"rewrite": {"styles": ["poem"]}}})
    with pytest.raises(recipe_mod.RecipeError, match="instruct.structure.ratio"):
        recipe_mod.from_dict({"instruct": {"structure": {"ratio": 2.0}}})
    base = {"llm": {"base_url": "http://x/v1", "model": "m"}, "quality": {"round_trip": True}}
    on = recipe_mod.from_dict({**base, "instruct": {"structure": {"enabled": True}}})
    off = recipe_mod.from_dict(base)
    hotter = recipe_mod.from_dict({**base, "instruct": {"structure": {"enabled": True, "temperature": 0.2}}})
    fps = {pipeline.fingerprints(r)["instruct"] for r in (on, off, hotter)}
    assert len(fps) == 3  # the knobs decide the output


# ----------------------------------------------------------------------------------- against the stub

INCLUDE = ["punctuation:no_comma", "keywords:frequency", "detectable_format:title", "length_constraints:number_words"]
TASKS = ["List three points that the request calls for.", "Using the points from the previous step, write the answer.",
         "Shorten what the previous step wrote into one closing line.", "Add a fourth part."]
CONDITION = {"en": ("the request above asks for help with {x}", "it does not ask for help with {x}"),
             "zh": ("上面的请求是在寻求关于{x}的帮助", "上面的请求不是在寻求关于{x}的帮助")}


def make_recipe(out: Path, url: str = "", **over: Any) -> recipe_mod.Recipe:
    data: dict[str, Any] = {
        "output_dir": str(out), "num_prompts": 32,
        "instruct": {"include_ids": INCLUDE, "compositions": {"chain": 0.4, "selection": 0.4, "nested": 0.2},
                     "min_constraints": 2, "max_constraints": 3},
        "respond": {"enabled": False}, "output": {"chunk_size": 8, "validation_fraction": 0.0},
    }
    if url:
        data["llm"] = {"base_url": url, "model": "m", "timeout": 2.0, "max_retries": 2}
        data["instruct"]["structure"] = {"enabled": True}
        data["quality"] = {"round_trip": True}
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe_mod.from_dict(data)


def shard_rows(out: Path) -> list[dict]:
    return [row for p in sorted((out / "train").glob("part-*.parquet")) for row in pq.read_table(p).to_pylist()]


def stage2(out: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((out / "stages" / "instruct").glob("chunk-*.jsonl"))
            for line in p.read_text(encoding="utf-8").splitlines()]


def llm_counts(out: Path) -> dict[str, int]:
    return json.loads((out / "stages" / "instruct" / "manifest.json").read_text())["llm"]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].rsplit(end, 1)[0]


class Model:
    """Writes sub-tasks and conditions, rewrites, and reads texts back, each as scripted per request.

    ``trees`` are the template trees by seed request (from an offline run of the same recipe: stage 2 is
    deterministic); ``modes`` the script per seed request."""

    def __init__(self, trees: dict[str, dict], modes: dict[str, str]):
        self.trees, self.modes = trees, modes
        self.decided: dict[str, tuple[str, str, bool]] = {}  # request -> (condition, negation, holds) written
        self.asked: dict[str, bool] = {}  # request -> the truth the pipeline asked the condition to have
        self.read: dict[str, str] = {}  # request -> the outcome the reading of its structured text leads to
        self.rewrites: list[str] = []  # texts sent for a rewrite

    def __call__(self, request: dict) -> str:
        last = request["messages"][-1]["content"]
        if last.startswith("Rewrite the following instruction"):
            text = between(last, "---\n", "\n---")
            self.rewrites.append(text)
            return "Kindly: " + text
        if last.startswith("Here is a user request"):
            req = between(last, "---\n", "\n---")
            mode = self.modes.get(req, "pass")
            if mode == "malformed":
                return "First gather the facts, then write the answer."
            if "sub-tasks" in last:
                n = int(re.search(r"exactly (\d+) sub-tasks", last).group(1))
                return json.dumps({"steps": TASKS[: n + (mode == "count")]})
            asked = "that is clearly true for this request" in last
            self.asked[req] = asked
            lang = "zh" if "上面的请求" in last else "en"
            cond, neg = (c.format(x=f"topic {digest(req)[:6]}") for c in CONDITION[lang])
            if mode == "surface":
                cond, neg = (("上面的请求含有阿拉伯数字", "上面的请求不含阿拉伯数字") if lang == "zh"
                             else ("the request above contains a digit", "it contains no digit"))
            holds = asked != (mode == "decision")
            self.decided[req] = (cond, neg, holds)
            return json.dumps({"condition": cond, "negation": neg, "holds": holds})
        # a round trip
        text = between(last, "[Instruction]\n", "\n[End of instruction]").removeprefix("Kindly: ")
        req = text.split("\n\n", 1)[0]
        tree = self.trees[req]
        written = self.decided.get(req)
        structured = TASKS[1] in text or (written is not None and written[0] in text)
        if written is not None and written[0] in text:
            tree = structure.with_condition(tree, written[0], 0 if written[2] else 1)
        leaves, applies = roundtrip.expected(tree)
        steps = roundtrip.step_count(tree)
        mode = self.modes.get(req, "pass") if structured else "pass"
        right = (sorted(map(json.dumps, leaves)), applies, steps)
        if mode == "swap":  # the branches (or the steps) read the other way round
            scopes = [s for *_, s in leaves]
            swapped = [{"if": "else", "else": "if"}.get(s, s) for s in scopes] if applies != "none" else scopes[::-1]
            leaves = [(i, k, s) for (i, k, _), s in zip(leaves, swapped, strict=True)]
        elif mode == "flip":
            applies = {"if": "else", "else": "if"}.get(applies, "if")
        elif mode == "steps":
            steps += 1
        if structured:
            changed = (sorted(map(json.dumps, leaves)), applies, steps) != right
            self.read[req] = {"swap": "scope", "flip": "applies", "steps": "steps"}.get(mode, "") if changed else ""
        return json.dumps({"requirements": [{"id": i, "kwargs": k, "scope": s} for i, k, s in leaves],
                           "applies": applies, "steps": steps})


def offline_trees(tmp_path: Path, **over: Any) -> tuple[dict[str, dict], dict[str, str]]:
    """(tree, template prompt) by seed request, from an offline run of the recipe."""
    out = tmp_path / "offline"
    pipeline.evolve(make_recipe(out, **over))
    trees, prompts = {}, {}
    for row in shard_rows(out):
        text = row["prompt"][0]["content"]
        req = text.split("\n\n", 1)[0]
        assert req not in trees  # each row has its own seed request
        trees[req] = json.loads(row["reward_model"]["ground_truth"])["tree"]
        prompts[req] = text
    return trees, prompts


def script(trees: dict[str, dict], chain: list[str], selection: list[str]) -> dict[str, str]:
    """Modes by seed request, dealt in turn to the chain rows and to the selection rows."""
    modes = {}
    chains = sorted(r for r, t in trees.items() if roundtrip.step_count(t))
    sels = sorted(r for r, t in trees.items() if roundtrip.expected(t)[1] != "none")
    for k, req in enumerate(chains):
        modes[req] = chain[k % len(chain)]
    for k, req in enumerate(sels):
        modes[req] = selection[k % len(selection)]
    return modes


def step_bodies(template: str) -> dict[int, str]:
    """The first line of each step's requirements in a template chain text."""
    out = {}
    for line in template.splitlines():
        m = re.match(r"- (?:In |Within |For |Rules for )?Step (\d+)(?: only)?: (.*)$", line) or \
            re.match(r"- (?:在|对于|仅限)?步骤(\d+)(?:中|的要求|须做到)?：(.*)$", line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def test_structure_kept_only_when_parsed_and_read_back(tmp_path):
    trees, templates = offline_trees(tmp_path)
    modes = script(trees, chain=["pass", "count", "pass", "malformed", "steps", "swap"],
                   selection=["pass", "decision", "pass", "surface", "flip", "pass", "swap", "malformed"])
    model = Model(trees, modes)
    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        m = pipeline.evolve(make_recipe(out, stub.base_url))
    llm = llm_counts(out)
    records = {rec["seed_prompt"]: rec for rec in stage2(out)}
    assert set(records) == set(trees)
    chains = [r for r, t in trees.items() if roundtrip.step_count(t)]
    sels = [r for r, t in trees.items() if roundtrip.expected(t)[1] != "none"]
    assert chains and sels and not set(chains) & set(sels)
    assert any(t["op"] == "and" for r, t in trees.items() if r in chains + sels)  # nested rows are in

    kept = {r for r, rec in records.items() if rec.get("structured")}
    # what should be kept: parsed, the decision as asked, and read back right
    want = {r for r in chains + sels if modes[r] in ("pass", "swap", "flip", "steps") and not model.read.get(r)}
    assert kept == want and kept
    read_fail = {r: model.read[r] for r in model.read if model.read[r]}
    assert read_fail  # some structured texts were read back wrong (and so not kept)
    expect = {
        "structure_chain_accepted": len(kept & set(chains)),
        "structure_selection_accepted": len(kept & set(sels)),
        "structure_step_count": sum(modes[r] == "count" for r in chains),
        "structure_unparsable": sum(modes[r] == "malformed" for r in chains + sels),
        "structure_decision": sum(modes[r] == "decision" for r in sels),
        "structure_surface_condition": sum(modes[r] == "surface" for r in sels),
        **{f"structure_roundtrip:{why}": list(read_fail.values()).count(why) for why in set(read_fail.values())},
    }
    assert {k: v for k, v in expect.items() if v} == {k: v for k, v in llm.items() if k.startswith("structure_")
                                                      and ":if" not in k and ":else" not in k}
    for key in ("structure_step_count", "structure_unparsable", "structure_decision", "structure_surface_condition",
                "structure_roundtrip:steps", "structure_roundtrip:applies"):
        assert llm.get(key, 0) > 0, key
    assert m["quality"]["instruct"]["structure_chain_accepted"] == expect["structure_chain_accepted"]

    actives = []
    for req, rec in records.items():
        assert "parts" not in rec
        gt = json.loads(rec["ground_truth"])
        # every row, structured or not, keeps a witness that earns the full reward under its own tree
        assert score_rule(rec["witness"], rec["ground_truth"], DEFAULT_CONFIG).score >= FULL, req
        if req not in kept:
            assert rec["prompt"] == templates[req] and gt["tree"] == trees[req] and "subtasks" not in rec
            continue
        assert rec["template_prompt"] == templates[req] and rec["prompt"] != templates[req]
        if req in chains:
            # the tree is the template's; each step line states its sub-task, then that step's requirements
            assert gt["tree"] == trees[req]
            n = roundtrip.step_count(trees[req])
            assert rec["subtasks"] == TASKS[:n]
            bodies = step_bodies(templates[req])
            assert sorted(bodies) == list(range(1, n + 1))
            for k in range(1, n + 1):
                sep = "" if rec["lang"] == "zh" else " "
                assert f"{TASKS[k - 1]}{sep}{bodies[k]}" in rec["prompt"], (k, rec["prompt"])
        else:
            cond, neg, holds = model.decided[req]
            assert holds == model.asked[req]
            sel = gt["tree"] if gt["tree"]["op"] == "selection" else gt["tree"]["children"][-1]
            assert (sel["condition"], sel["active"]) == (cond, 0 if holds else 1)
            # the case lines carry the condition and its negation; the template's condition is gone
            old = trees[req] if trees[req]["op"] == "selection" else trees[req]["children"][-1]
            assert cond in rec["prompt"] and neg in rec["prompt"] and old["condition"] not in rec["prompt"]
            actives.append(sel["active"])
    assert sorted(set(actives)) == [0, 1]  # both branches end up active
    assert llm["structure_selection_active:if"] == actives.count(0)
    assert llm["structure_selection_active:else"] == actives.count(1)
    provenance = {r["prompt"][0]["content"].split("\n\n", 1)[0]: json.loads(r["extra_info"]["provenance"])
                  for r in shard_rows(out)}
    assert {r for r, p in provenance.items() if p["structured"]} == kept


def test_selection_without_a_witness_keeps_the_template(tmp_path, monkeypatch):
    trees, templates = offline_trees(tmp_path)
    monkeypatch.setattr(enrich, "compose_witness", lambda truth, request, key="": (None, "fails:x"))
    with OpenAIStub(Model(trees, {})) as stub:
        out = tmp_path / "d"
        pipeline.evolve(make_recipe(out, stub.base_url))
    llm = llm_counts(out)
    sels = [r for r, t in trees.items() if roundtrip.expected(t)[1] != "none"]
    assert llm["structure_no_witness"] == len(sels) > 0
    assert "structure_selection_accepted" not in llm and llm["structure_chain_accepted"] > 0
    for rec in stage2(out):
        if rec["seed_prompt"] in sels:
            assert rec["prompt"] == templates[rec["seed_prompt"]] and not rec.get("structured")


def test_rewrite_comes_after_structure_and_keeps_the_scaffold(tmp_path):
    trees, _ = offline_trees(tmp_path)
    model = Model(trees, {})
    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        pipeline.evolve(make_recipe(out, stub.base_url, instruct={"rewrite": {"enabled": True}}))
    llm = llm_counts(out)
    records = stage2(out)
    structured = {rec["seed_prompt"]: rec for rec in records if rec.get("structured")}
    # the rewrite was asked of the structured text, with the prompt that keeps the steps or cases
    sent = {t.split("\n\n", 1)[0]: t for t in model.rewrites}
    assert structured and set(structured) <= set(sent)
    for req, rec in structured.items():
        assert TASKS[0] in sent[req] or model.decided[req][0] in sent[req]
        assert rec["prompt"] == ("Kindly: " + sent[req] if rec.get("rewritten") else sent[req])
    assert any(rec.get("rewritten") for rec in structured.values())
    trees_after = [json.loads(rec["ground_truth"])["tree"] for rec in records if rec.get("rewritten")]
    scaffold = [t for t in trees_after if roundtrip.step_count(t) or roundtrip.expected(t)[1] != "none"]
    assert llm["rewrite_style:scaffold"] == len(scaffold) > 0


def test_outage_writes_nothing_and_the_rerun_resumes_from_the_cache(tmp_path):
    trees, _ = offline_trees(tmp_path)
    target = sorted(r for r, t in trees.items() if roundtrip.step_count(t))[0]
    model = Model(trees, {})
    with OpenAIStub(model) as stub:
        stub.set_faults(lambda i, req: "500" if req["messages"][-1]["content"].startswith("Here is a user request")
                        and target in req["messages"][-1]["content"] else None)
        out = tmp_path / "d"
        r = make_recipe(out, stub.base_url)
        with pytest.raises(EndpointError, match="rerun the same command to resume"):
            pipeline.evolve(r)
        # the chunks before the target's were written; the target's and later ones were not
        index = next(row["extra_info"]["index"] for row in shard_rows(tmp_path / "offline")
                     if row["prompt"][0]["content"].startswith(target + "\n\n"))
        written = sorted(p.name for p in (out / "stages" / "instruct").glob("chunk-*.jsonl"))
        assert written == [f"chunk-{c:05d}.jsonl" for c in range(index // 8)]
        first = {json.dumps(q, sort_keys=True) for q in stub.requests
                 if q["messages"][-1]["content"].startswith("Here is a user request")
                 and target not in q["messages"][-1]["content"]}
        assert first  # the chunk's other structure calls were answered
        sent = len(stub.requests)
        stub.set_faults([])
        pipeline.evolve(r)
        again = {json.dumps(q, sort_keys=True) for q in stub.requests[sent:]}
    assert not first & again  # answered calls came from the cache
    assert any(target in q for q in again)
    assert any(rec.get("structured") for rec in stage2(out))


# ------------------------------------------------------------------------------------- weaving styles

STYLE_OF = {enrich.REWRITE_PROMPTS[s].split("{text}")[0].split("\n")[0]: s for s in enrich.REWRITE_PROMPTS}
LEAD = {"sentences": "Kindly, ", "list": "Here is my list. ", "role": "As my editor, "}


def test_weaving_styles_are_drawn_per_row_and_counted(tmp_path):
    over = {"instruct": {"include_ids": ["detectable_format:title", "keywords:existence"],
                         "compositions": {"and": 1.0}, "min_constraints": 1, "max_constraints": 2}}
    trees, templates = offline_trees(tmp_path, **over)
    asked: dict[str, str] = {}  # seed request -> style asked
    outcome: dict[str, str] = {}  # seed request -> accepted / unfaithful / roundtrip reason

    def model(request: dict) -> str:
        last = request["messages"][-1]["content"]
        if last.startswith("Rewrite the following instruction"):
            style = STYLE_OF[last.split("\n")[0]]
            text = between(last, "---\n", "\n---")
            req = text.split("\n\n", 1)[0]
            asked[req] = style
            if digest(req)[0] in "012":  # drops the title marker: unfaithful
                outcome[req] = "unfaithful"
                return LEAD[style] + text.replace("<<", "(")
            return LEAD[style] + text
        text = between(last, "[Instruction]\n", "\n[End of instruction]")
        style = next(s for s, lead in LEAD.items() if text.startswith(lead))
        req = text.removeprefix(LEAD[style]).split("\n\n", 1)[0]
        leaves, _ = roundtrip.expected(trees[req])
        if style == "role" and digest(req)[1] in "01234567":  # the role framing read with a requirement missing
            outcome[req] = "constraints"
            leaves = leaves[1:] if len(leaves) > 1 else []
        else:
            outcome[req] = "accepted"
        return json.dumps({"requirements": [{"id": i, "kwargs": k, "scope": s} for i, k, s in leaves],
                           "applies": "none", "steps": 0})

    with OpenAIStub(model) as stub:
        out = tmp_path / "d"
        pipeline.evolve(make_recipe(out, stub.base_url, instruct={**over["instruct"], "rewrite": {"enabled": True},
                                                                  "structure": {"enabled": False}}))
    llm = llm_counts(out)
    assert set(asked) == set(trees) and set(asked.values()) == {"sentences", "list", "role"}
    for req, rec in {rec["seed_prompt"]: rec for rec in stage2(out)}.items():
        if outcome[req] == "accepted":
            assert rec["prompt"] == LEAD[asked[req]] + templates[req] and rec["rewritten"]
        else:
            assert rec["prompt"] == templates[req] and not rec.get("rewritten")
    for style in ("sentences", "list", "role"):
        n = sum(1 for r in asked if asked[r] == style and outcome[r] == "accepted")
        assert llm.get(f"rewrite_style:{style}", 0) == n
    assert llm["rewrite_unfaithful"] == list(outcome.values()).count("unfaithful") > 0
    assert llm["rewrite_roundtrip:constraints"] == list(outcome.values()).count("constraints") > 0
    assert llm["rewrite_accepted"] == list(outcome.values()).count("accepted") > 0
    assert llm["rewrite_rejected"] == len(trees) - llm["rewrite_accepted"]
