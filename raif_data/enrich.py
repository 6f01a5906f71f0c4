"""Optional LLM steps of stage 2, in this order: sub-task structure for chain and selection rows
(raif_data/structure.py), a rewrite that weaves the constraints into the request in a style drawn per row
(kept only if every constraint's numbers, keywords and markers survive and the round trip reads it back
into the tree), soft constraints with yes/no judge questions, then the instruction judges.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from raif_data import roundtrip, structure
from raif_data.judges import INSTRUCTION_QUESTIONS, gate, instruction_judge, raise_outage
from raif_data.llm import LLMClient, make_client, run_sync
from raif_data.recipe import Recipe
from raif_rewards import compose
from raif_rewards.errors import EndpointError
from raif_rewards.judge import Judge
from raif_rewards.witness import compose_witness

# Constraints without kwargs: words that show the rewrite still states them (any one of a group).
_NO_KWARG_ANCHORS: dict[str, list[list[str]]] = {
    "change_case:english_capital": [["capital", "uppercase", "upper case", "大写"]],
    "change_case:english_lowercase": [["lowercase", "lower case", "小写"]],
    "combination:two_responses": [["******"]],
    "detectable_format:constrained_response": [["My answer is yes."]],
    "detectable_format:json_format": [["JSON"]],
    "detectable_format:xml_format": [["XML"]],
    "detectable_format:title": [["<<"]],
    "startend:quotation": [["quotation", "引号"]],
    "punctuation:no_comma": [["comma", "逗号"]],
}
_RELATION_WORDS = {"at least": ["at least", "no fewer than", "minimum", "至少", "不少于"],
                   "less than": ["less than", "fewer than", "under", "少于", "不到"]}
_NUMBER = re.compile(r"\d+")

_KEEP = ("Keep every requirement, and write in the language of the instruction. Copy every number, quoted "
         "word, keyword, marker and symbol exactly as written. Output only the rewritten instruction."
         "\n\n---\n{text}\n---")
#: one prompt per weaving style of a plain "and" (recipe instruct.rewrite.styles draws one per row), and
#: ``scaffold`` for chain and selection rows, whose step labels and cases must stay as they are
REWRITE_PROMPTS = {
    "sentences": "Rewrite the following instruction as one natural message from a user: the request in their "
                 "own words, with every requirement woven into it as a run of plain sentences (no list, no "
                 "headings). " + _KEEP,
    "list": "Rewrite the following instruction as a natural message from a user: the request in their own "
            "words, then its requirements as a short bulleted or numbered list, one requirement per item. " + _KEEP,
    "role": "Rewrite the following instruction as a natural message from a user that sets up a role or a "
            "scenario (for example an editor with a house style, a teacher setting an exercise, or a client "
            "briefing a writer) and states every requirement as part of that framing. " + _KEEP,
    "scaffold": "Rewrite the following instruction so that it reads like one natural request from a user. Keep "
                "its step labels or its two cases as they are, each requirement (and each step's task) in the "
                "same step or case, and the condition's meaning unchanged. " + _KEEP,
}
REWRITE_STYLES = ("sentences", "list", "role")
SOFT_PROMPT = (
    "Here is a user request:\n---\n{text}\n---\nPropose {k} additional soft requirements about the content, "
    "tone or style of a good answer that a reader could verify, each with one yes/no question that checks it. "
    'Reply with JSON only: {{"constraints": ["..."], "questions": ["Does the answer ...?"]}}'
)


def _leaves(node: dict) -> Iterator[dict]:
    op = node.get("op")
    if op == "check":
        yield node
    for key in ("children", "steps", "branches"):
        for child in node.get(key, ()):
            yield from _leaves(child)


def _scaffolds(node: dict) -> Iterator[dict]:
    """The chain and selection nodes of a tree."""
    if node.get("op") in ("chain", "selection"):
        yield node
    for child in node.get("children", ()):
        yield from _scaffolds(child)


def anchors(rec: dict) -> list[list[str]] | None:
    """Groups of strings a faithful rewrite must keep (one of each group), or None if some constraint
    cannot be verified this way (then the template text stays)."""
    gt = json.loads(rec["ground_truth"])
    tree = gt.get("tree")
    if tree is None:
        return None
    text = rec["prompt"]
    groups: list[list[str]] = []
    for leaf in _leaves(tree):
        kwargs = leaf.get("kwargs") or {}
        found = []
        for name, value in kwargs.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, bool):
                    continue
                if name.endswith("relation") and v in _RELATION_WORDS:
                    found.append(_RELATION_WORDS[v])
                elif str(v) in text:
                    found.append([str(v)])
        found += _NO_KWARG_ANCHORS.get(leaf["id"], [])
        if not found:
            return None
        groups += found
    if tree.get("op") == "chain":
        marker = tree.get("marker", "Step")
        groups += [[f"{marker} {i}", f"{marker}{i}"] for i in range(1, len(tree["steps"]) + 1)]
    if tree.get("op") == "selection":
        groups += [[n] for n in _NUMBER.findall(tree.get("condition", ""))]
    return groups


def faithful(rewrite: str, groups: list[list[str]]) -> bool:
    low = rewrite.lower()
    return all(any(a.lower() in low for a in group) for group in groups)


def parse_soft(text: str, max_questions: int) -> tuple[list[str], list[str]] | None:
    """(constraints, questions) from the model's JSON reply, or None when it is unusable."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[body.find("{"):]
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(body[start : end + 1])
    except json.JSONDecodeError:
        return None
    cons, qs = obj.get("constraints") if isinstance(obj, dict) else None, obj.get("questions") if isinstance(obj, dict) else None
    if not (isinstance(cons, list) and isinstance(qs, list)) or not qs or len(cons) != len(qs):
        return None
    if not all(isinstance(s, str) and s.strip() for s in cons + qs):
        return None
    return [c.strip() for c in cons[:max_questions]], [q.strip() for q in qs[:max_questions]]


class InstructEnricher:
    """Applies rewrite and soft constraints to a chunk of stage-2 records in place."""

    def __init__(self, r: Recipe, output_dir: Path, llm_factory: Callable[[str], LLMClient] | None = None):
        self.r = r
        self.client = llm_factory("instruct") if llm_factory else make_client(r.llm, output_dir)
        self.judge: Judge | None = None
        if r.quality.instruction_judges:
            q = r.quality
            judge_client = llm_factory("judge") if llm_factory else make_client(
                r.llm, output_dir, base_url=q.judge_base_url or None, model=q.judge_model or None)
            self.judge = instruction_judge(judge_client)
        self.counts: Counter = Counter()

    def _choose(self, rec: dict, what: str, ratio: float) -> bool:
        return random.Random(f"{what}:{self.r.seed}:{rec['index']}").random() < ratio

    async def _run(self, jobs: list[tuple[list[dict], dict]]) -> list[Any]:
        try:
            return await self.client.chat_many(jobs)
        finally:
            await self.client.aclose()

    def apply(self, records: list[dict]) -> dict[str, int]:
        """Rewrite, add soft requirements and judge the chunk's instructions in place (rejected ones
        are removed); returns this chunk's counts (also added to :attr:`counts`)."""
        before = Counter(self.counts)
        self._enrich(records)
        if self.judge is not None:
            self._judge_instructions(records)
        delta = Counter(self.counts)
        delta.subtract(before)
        return {k: v for k, v in sorted(delta.items()) if v}

    def _judge_instructions(self, records: list[dict]) -> None:
        assert self.judge is not None
        judges = self.r.quality.instruction_judges
        names = list(judges)
        todo = [rec for rec in records if rec["kind"] != "math"]
        items = [(rec["prompt"], INSTRUCTION_QUESTIONS[n]) for rec in todo for n in names]
        judge = self.judge

        async def ask() -> list:
            try:
                return await judge.ask_many(items)
            finally:
                await judge.client.aclose()

        verdicts = run_sync(ask()) if items else []
        raise_outage(verdicts, "instruction judges")
        rejected = set()
        for k, rec in enumerate(todo):
            result = gate(verdicts[k * len(names) : (k + 1) * len(names)], names, judges)
            for reason in result.reasons:
                self.counts[f"instruction_rejected:{reason}"] += 1
            if not result.ok:
                rejected.add(rec["index"])
                self.counts["instruction_rejected"] += 1
            else:
                self.counts["instruction_accepted"] += 1
        records[:] = [rec for rec in records if rec["index"] not in rejected]

    def _enrich(self, records: list[dict]) -> None:
        # structure first: the rewrite then rephrases the structured text, and the soft requirements
        # and the judges see the final one
        self._structure(records)
        ins = self.r.instruct
        soft = [rec for rec in records if rec["kind"] == "rule" and ins.soft.enabled
                and self._choose(rec, "soft", ins.soft.ratio)]
        if ins.rewrite.enabled:
            self._rewrite([rec for rec in records if rec["kind"] == "rule"
                           and self._choose(rec, "rewrite", ins.rewrite.ratio)])
        k = ins.soft.max_questions
        jobs = [([{"role": "user", "content": SOFT_PROMPT.format(text=rec["prompt"], k=k)}],
                 {"temperature": ins.soft.temperature, "max_tokens": ins.soft.max_tokens,
                  "seed": rec["index"] % 2**31}) for rec in soft]
        results = run_sync(self._run(jobs)) if jobs else []
        self._raise_failures(results)
        added = []
        for rec, res in zip(soft, results, strict=True):
            parsed = parse_soft(res.text, k)
            if parsed is None:
                self.counts["soft_unparsable"] += 1
                continue
            cons, qs = parsed
            rule = compose.parse_ground_truth(rec["ground_truth"])
            assert isinstance(rule, compose.RuleTruth)  # soft records are kind "rule"
            sep = "" if rule.lang == "zh" else " "
            added.append((rec, rec["prompt"] + "\n" + sep.join(cons), rule, qs))
        # the soft requirements must not change what the hard constraints say (or add one)
        for (rec, text, rule, qs), reason in zip(added, self._round_trip([(a[0], a[1]) for a in added]),
                                                 strict=True):
            if reason is not None:
                self.counts[f"soft_roundtrip:{reason}"] += 1
                continue
            rec["ground_truth"] = compose.to_json(compose.JudgeTruth(tuple(qs), rule.tree, rule.lang))
            rec["prompt"] = text
            rec["kind"] = "judge"
            self.counts["soft_added"] += 1

    def _style(self, rec: dict) -> str:
        """The rewrite prompt for ``rec``: a weaving style drawn per row for a plain "and", the scaffold
        prompt for a row with steps or cases."""
        if next(_scaffolds(json.loads(rec["ground_truth"])["tree"]), None) is not None:
            return "scaffold"
        return random.Random(f"rewrite_style:{self.r.seed}:{rec['index']}").choice(self.r.instruct.rewrite.styles)

    def _rewrite(self, chosen: list[dict]) -> None:
        """Rewrite the chosen rows in place, each kept only when its anchors survive and the round trip
        reads it back into the row's tree."""
        cfg = self.r.instruct.rewrite
        groups = [anchors(rec) for rec in chosen]
        todo = [(rec, g, self._style(rec)) for rec, g in zip(chosen, groups, strict=True) if g is not None]
        self.counts["rewrite_unverifiable"] += len(chosen) - len(todo)
        jobs = [([{"role": "user", "content": REWRITE_PROMPTS[style].format(text=rec["prompt"])}],
                 {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": rec["index"] % 2**31})
                for rec, _, style in todo]
        results = run_sync(self._run(jobs)) if jobs else []
        self._raise_failures(results)
        candidates, styles = [], []
        for (rec, g, style), res in zip(todo, results, strict=True):
            text = res.text.strip()
            if text and res.finish_reason != "length" and faithful(text, g):
                candidates.append((rec, text))
                styles.append(style)
            else:
                self.counts["rewrite_rejected"] += 1
                self.counts["rewrite_unfaithful"] += 1
        for (rec, text), style, reason in zip(candidates, styles, self._round_trip(candidates), strict=True):
            if reason is None:
                rec.setdefault("template_prompt", rec["prompt"])
                rec["prompt"], rec["rewritten"] = text, True
                self.counts["rewrite_accepted"] += 1
                self.counts[f"rewrite_style:{style}"] += 1
            else:
                self.counts["rewrite_rejected"] += 1
                self.counts[f"rewrite_roundtrip:{reason}"] += 1

    def _structure(self, records: list[dict]) -> None:
        """Model-written sub-task structure (raif_data/structure.py) for the chosen chain, selection and
        nested rows; a row keeps its verified template text unless the new text is read back right."""
        cfg = self.r.instruct.structure
        parts = {rec["index"]: rec.pop("parts") for rec in records if "parts" in rec}
        if not cfg.enabled or not parts:
            return
        seed = self.r.seed
        todo, jobs = [], []
        for rec in records:
            p = parts.get(rec["index"])
            if p is None or not self._choose(rec, "structure", cfg.ratio):
                continue
            if p["inner"] == "chain":
                holds = None
                ask = structure.chain_prompt(rec["seed_prompt"], len(p["bodies"]))
            else:
                # which branch the condition should select, drawn per row, so that both branches are used
                holds = random.Random(f"structure_holds:{seed}:{rec['index']}").random() < 0.5
                ask = structure.selection_prompt(rec["seed_prompt"], holds, rec["lang"])
            todo.append((rec, p, holds))
            jobs.append(([{"role": "user", "content": ask}],
                         {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": rec["index"] % 2**31}))
        results = run_sync(self._run(jobs)) if jobs else []
        self._raise_failures(results)
        built: list[tuple[dict, str, dict, dict]] = []  # (record, text, tree, fields to set when kept)
        for (rec, p, holds), res in zip(todo, results, strict=True):
            rng = random.Random(f"structure_text:{seed}:{rec['index']}")
            gt = json.loads(rec["ground_truth"])
            if res.finish_reason == "length":
                self.counts["structure_unparsable"] += 1
                continue
            if p["inner"] == "chain":
                tasks, why = structure.parse_steps(res.text, len(p["bodies"]), rec["lang"])
                if tasks is None:
                    self.counts[f"structure_{why}"] += 1
                    continue
                text = structure.render(rng, p, rec["lang"], tasks=tasks)
                built.append((rec, text, gt["tree"], {"subtasks": tasks}))
                continue
            got, why = structure.parse_condition(res.text, rec["lang"])
            if got is None:
                self.counts[f"structure_{why}"] += 1
                continue
            cond, neg, decided = got
            if decided != holds:  # the model wrote a condition of the other kind than asked
                self.counts["structure_decision"] += 1
                continue
            gt["tree"] = structure.with_condition(gt["tree"], cond, 0 if decided else 1)
            truth = compose.parse_ground_truth(gt)
            assert isinstance(truth, compose.RuleTruth)  # structure runs before soft requirements
            witness, _ = compose_witness(truth, rec["seed_prompt"], f"{seed}:{rec['index']}")
            if witness is None:
                self.counts["structure_no_witness"] += 1
                continue
            text = structure.render(rng, p, rec["lang"], condition=(cond, neg))
            built.append((rec, text, gt["tree"], {"ground_truth": compose.to_json(truth),
                                                  "witness": witness.completion}))
        items = [(rec, f"{rec['seed_prompt']}\n\n{text}") for rec, text, _, _ in built]
        reasons = self._round_trip(items, [tree for _, _, tree, _ in built])
        for (rec, prompt), (_, _, tree, fields), reason in zip(items, built, reasons, strict=True):
            if reason is not None:
                self.counts[f"structure_roundtrip:{reason}"] += 1
                continue
            rec.setdefault("template_prompt", rec["prompt"])
            rec.update(fields, prompt=prompt, structured=True)
            if "subtasks" in fields:
                self.counts["structure_chain_accepted"] += 1
            else:
                self.counts["structure_selection_accepted"] += 1
                self.counts[f"structure_selection_active:{roundtrip.expected(tree)[1]}"] += 1

    def _round_trip(self, items: list[tuple[dict, str]], trees: list[dict] | None = None) -> list[str | None]:
        """Per (record, model-written text): None when the model reads the text back into the record's
        tree (or the tree given for it), else the reason it does not (raif_data/roundtrip.py). Off in
        the recipe: all None."""
        if not self.r.quality.round_trip or not items:
            return [None] * len(items)
        if trees is None:
            trees = [json.loads(rec["ground_truth"])["tree"] for rec, _ in items]
        jobs = [([{"role": "user", "content": roundtrip.prompt(
                    text, tree, random.Random(f"roundtrip:{self.r.seed}:{rec['index']}"))}],
                 {"temperature": 0.0, "max_tokens": 1024}) for (rec, text), tree in zip(items, trees, strict=True)]
        results = run_sync(self._run(jobs))
        self._raise_failures(results)
        return ["malformed" if res.finish_reason == "length" else roundtrip.compare(tree, res.text)
                for tree, res in zip(trees, results, strict=True)]

    @staticmethod
    def _raise_failures(results: list[Any]) -> None:
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise EndpointError(f"{len(errors)} of {len(results)} requests failed after retries (first: "
                                f"{errors[0]}); rerun the same command to resume (finished calls are cached)")

    def summary(self) -> dict:
        return {"model": self.client.model, **dict(sorted(self.counts.items()))}

    def close(self) -> None:
        self.client.close()
        if self.judge is not None and self.judge.client is not self.client:
            self.judge.client.close()
