"""Round-trip check of model-written instruction text (AutoIF's back-translation, made exact): the model
reads the final text back into structured JSON, which must match the ground-truth tree.

What is compared: which constraints (ids, from a shuffled list holding the true ones and decoys), their
kwargs, where each applies (whole answer, step N, the if or the else branch), which branch applies
to the request and how many labelled steps the answer must have. A mismatch names its reason; the
caller then keeps the verified template text.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from raif_rewards import registry

PROMPT = (
    "Read the instruction below and write down, as JSON, every requirement it places on the answer.\n\n"
    "Use only these requirement types (id: its parameters):\n{catalogue}\n\n"
    "Reply with one JSON object and nothing else:\n"
    '{{"requirements": [{{"id": "<type id>", "kwargs": {{<parameter>: <value as the instruction states it>}}, '
    '"scope": "<where it applies>"}}], "applies": "<if | else | none>", "steps": <number>}}\n'
    'scope is "all" for the whole answer, "step N" for a requirement on step N only, "if" or "else" for a '
    "requirement that applies only when a condition holds or does not hold. applies says whether the "
    'condition, judged on the request itself, holds ("if") or not ("else"); "none" when there is no condition. '
    "steps is how many labelled steps the answer must be divided into (0 when it is not divided into steps). "
    "Leave out requirement types the instruction does not state.\n\n"
    "[Instruction]\n{text}\n[End of instruction]"
)

#: decoy requirement types shown next to the true ones, so that naming an id is a choice
DECOYS = 4

REASONS = ("malformed", "constraints", "kwargs", "scope", "applies", "steps")


def expected(tree: dict) -> tuple[list[tuple[str, dict, str]], str]:
    """(id, kwargs, scope) of every leaf, and which branch applies ("if", "else" or "none")."""
    leaves: list[tuple[str, dict, str]] = []
    applies = ["none"]

    def walk(node: dict, scope: str) -> None:
        op = node.get("op")
        if op == "check":
            leaves.append((node["id"], dict(node.get("kwargs") or {}), scope))
        elif op == "and":
            for child in node["children"]:
                walk(child, scope)
        elif op == "chain":
            for k, step in enumerate(node["steps"], 1):
                walk(step, f"step {k}")
        elif op == "selection":
            applies[0] = "if" if node["active"] == 0 else "else"
            for k, branch in enumerate(node["branches"]):
                walk(branch, "if" if k == 0 else "else")

    walk(tree, "all")
    return leaves, applies[0]


def step_count(tree: dict) -> int:
    """The number of steps of the tree's chain (generated trees hold at most one), 0 without one."""
    if tree.get("op") == "chain":
        return len(tree["steps"])
    for key in ("children", "branches"):
        for child in tree.get(key, ()):
            n = step_count(child)
            if n:
                return n
    return 0


def prompt(text: str, tree: dict, rng: random.Random) -> str:
    """The extraction request for ``text``: the tree's constraint types and DECOYS others, shuffled."""
    ids = sorted({leaf[0] for leaf in expected(tree)[0]})
    others = sorted(c.id for c in registry.all_checkers() if c.id not in ids)
    shown = ids + rng.sample(others, min(DECOYS, len(others)))
    rng.shuffle(shown)
    lines = []
    for cid in shown:
        params = sorted(registry.get(cid).schema.get("properties") or {})
        lines.append(f"- {cid}: {', '.join(params) if params else '(none)'}")
    return PROMPT.format(catalogue="\n".join(lines), text=text)


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().strip("\"'").strip()
        try:
            return float(text)
        except ValueError:
            return " ".join(text.lower().split())
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    return json.dumps(value, sort_keys=True)


def _scope(value: Any) -> str:
    return " ".join(str(value).lower().split()) if value is not None else "all"


def parse(reply: str) -> tuple[list[tuple[str, dict, str]], str, int] | None:
    """The model's reading (requirements, applies, steps; steps left out reads as 0), or None when it
    is not the JSON asked for."""
    body = reply.strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(body[start : end + 1])
    except json.JSONDecodeError:
        return None
    reqs = obj.get("requirements") if isinstance(obj, dict) else None
    if not isinstance(reqs, list):
        return None
    out = []
    for req in reqs:
        if not isinstance(req, dict) or not isinstance(req.get("id"), str):
            return None
        kwargs = req.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            return None
        out.append((req["id"].strip(), kwargs, _scope(req.get("scope", "all"))))
    applies = str(obj.get("applies") or "none").strip().lower()
    steps = obj.get("steps", 0)
    if isinstance(steps, str) and steps.strip().isdecimal():
        steps = int(steps.strip())
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        return None
    return out, applies, steps


def compare(tree: dict, reply: str) -> str | None:
    """None when the model's reading of the text matches ``tree``, else the first reason it does not
    (one of :data:`REASONS`)."""
    got = parse(reply)
    if got is None:
        return "malformed"
    leaves, applies = expected(tree)
    read, read_applies, read_steps = got
    if Counter(i for i, _, _ in read) != Counter(i for i, _, _ in leaves):
        return "constraints"
    # pair each expected leaf with an unused reading of the same id that matches its kwargs
    unused = list(read)
    scopes_ok = True
    for cid, kwargs, scope in leaves:
        want = {k: _norm(v) for k, v in kwargs.items()}
        match = [r for r in unused if r[0] == cid and all(_norm(r[1].get(k)) == v for k, v in want.items())]
        if not match:
            return "kwargs"
        exact = [r for r in match if r[2] == scope]
        pick = (exact or match)[0]
        scopes_ok &= bool(exact)
        unused.remove(pick)
    if not scopes_ok:
        return "scope"
    if read_applies != applies:
        return "applies"
    if read_steps != step_count(tree):
        return "steps"
    return None
