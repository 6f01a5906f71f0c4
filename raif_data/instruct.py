"""Stage 2, constraint self-instruct: turn a seed prompt into a complex instruction with a verifiable
ground truth (And / Chain / Selection / nested trees of registry checks), rendered deterministically.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from raif_data.recipe import InstructConfig
from raif_data.seeds import Seed
from raif_rewards import compose, registry
from raif_rewards.registry import Checker, Request

CHAIN_MARKER = {"en": "Step", "zh": "步骤"}

# Checkers that speak about the whole response (its case, language, wrapping, format, first or last
# words): inside a chain step or an if/else branch their wording would mislead, and the section
# markers of a chain would break them, so they are used only at the top level of a plain "and".
_WHOLE_RESPONSE_GROUPS = frozenset({"combination", "case", "language", "startend"})
_WHOLE_RESPONSE_WORDS = ("json_format", "xml_format", "constrained_response", "quotation", "repeat", "two_responses")


def _whole_response(c: Checker) -> bool:
    return c.group in _WHOLE_RESPONSE_GROUPS or any(w in c.id for w in _WHOLE_RESPONSE_WORDS) or bool(c.prompt_kwargs)


@dataclass(frozen=True)
class Pool:
    """The checkers one language may sample from, with their conflict sets."""

    all: tuple[Checker, ...]
    nestable: tuple[Checker, ...]
    conflicts: dict[str, frozenset[str]] = field(hash=False, compare=False)
    #: the pool narrowed to each request seen (seeds repeat across a run), see for_request
    by_request: dict[Request, Pool] = field(default_factory=dict, hash=False, compare=False)

    @property
    def mid_chain(self) -> tuple[Checker, ...]:
        """Checkers for a chain step that is not the last ("at the end of your response" is not there)."""
        return tuple(c for c in self.nestable if not c.at_end)


@lru_cache(maxsize=64)
def build_pool(sources: tuple[str, ...], lang: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> Pool:
    for cid in include + exclude:
        registry.get(cid)  # an unknown id fails here with a did-you-mean hint
    chosen = []
    for c in registry.all_checkers():
        if c.sampler is None or c.source not in sources:
            continue
        if include and c.id not in include:
            continue
        if c.id in exclude:
            continue
        if lang not in c.languages:
            continue
        chosen.append(c)
    conflicts = {c.id: registry.conflicts_of(c.id) for c in chosen}
    return Pool(tuple(chosen), tuple(c for c in chosen if not _whole_response(c)), conflicts)


def for_request(pool: Pool, req: Request) -> Pool:
    """``pool`` narrowed to one request: checkers that do not suit it are left out, and conflicts that
    depend on the request's own text are added (both ways)."""
    hit = pool.by_request.get(req)
    if hit is None:
        if len(pool.by_request) >= 65536:
            pool.by_request.clear()
        hit = pool.by_request[req] = _narrow(pool, req)
    return hit


def _narrow(pool: Pool, req: Request) -> Pool:
    judged = [c for c in pool.all if c.suits is not None or c.request_conflicts is not None]
    unfit = {c.id for c in judged if c.suits is not None and not c.suits(req, None)}
    extra: dict[str, set[str]] = {}
    for c in judged:
        if c.request_conflicts is not None and c.id not in unfit:
            for other in c.request_conflicts(req):
                extra.setdefault(c.id, set()).add(other)
                extra.setdefault(other, set()).add(c.id)
    if not unfit and not extra:
        return pool
    conflicts = dict(pool.conflicts)
    for cid, others in extra.items():
        if cid in conflicts:
            conflicts[cid] = conflicts[cid] | others
    return Pool(tuple(c for c in pool.all if c.id not in unfit), tuple(c for c in pool.nestable if c.id not in unfit),
                conflicts)


def pick_compatible(rng: random.Random, candidates: Sequence[Checker], k: int, pool: Pool,
                    taken: frozenset[str] = frozenset()) -> list[Checker]:
    """Up to ``k`` checkers drawn without conflicts among themselves or with ``taken``."""
    blocked: set[str] = set()
    for cid in taken:
        blocked |= pool.conflicts.get(cid, {cid})
    out: list[Checker] = []
    for _ in range(k):
        left = [c for c in candidates if c.id not in blocked]
        if not left:
            break
        c = rng.choice(left)
        out.append(c)
        blocked |= pool.conflicts[c.id]
    return out


@dataclass
class Leaf:
    checker: Checker
    kwargs: dict
    text: str


#: kwargs draws per leaf before the last draw is kept even if it does not suit the request
_KWARGS_DRAWS = 20


def make_leaf(rng: random.Random, c: Checker, seed: Seed) -> Leaf:
    req = Request(seed.prompt, seed.lang, seed.task_type)
    for _ in range(_KWARGS_DRAWS):
        kwargs = c.sample(rng, seed.lang)
        for name in c.prompt_kwargs:
            kwargs[name] = seed.prompt
        if c.fit is not None:
            kwargs = c.fit(kwargs, req, rng)
        if c.suits is None or c.suits(req, kwargs):
            break
    variant = rng.randrange(4)
    return Leaf(c, kwargs, c.render(kwargs, seed.lang, variant).strip())


def _check(leaf: Leaf) -> compose.Check:
    # render() validated these kwargs already: build the leaf without validating them a second time
    return compose.Check(leaf.checker.id, MappingProxyType({k: v for k, v in leaf.kwargs.items() if v is not None}))


def _node(leaves: Sequence[Leaf]) -> compose.Node:
    checks = [_check(leaf) for leaf in leaves]
    return checks[0] if len(checks) == 1 else compose.and_(*checks)


def _join(texts: Sequence[str], lang: str) -> str:
    # multi-line renderings (examples of bullets or sections) read best one per line
    if len(texts) > 1 and any("\n" in t for t in texts):
        return "\n".join(texts)
    return ("" if lang == "zh" else " ").join(texts)


def _layout(rng: random.Random, texts: Sequence[str], lang: str) -> str:
    style = rng.randrange(3)
    if len(texts) == 1 or style == 0:
        return _join(texts, lang)
    head = {"en": ("Requirements:", "Please follow these rules:"), "zh": ("要求：", "请遵守以下规则：")}[lang][style - 1]
    if style == 1:
        return head + "\n" + "\n".join(f"- {t}" for t in texts)
    return head + "\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(texts, 1))


# ---------------------------------------------------------------------------------- selection conditions

_DIGIT = re.compile(r"\d")


def _condition(rng: random.Random, seed: Seed) -> tuple[str, int]:
    """A condition about the seed request that the data decides now: (text, active branch)."""
    kind = rng.randrange(3)
    zh = seed.lang == "zh"
    if kind == 0:
        count = len(seed.prompt.replace(" ", "")) if zh else len(seed.prompt.split())
        threshold = max(1, count + rng.choice((-1, 1)) * rng.randint(1, 6))
        text = f"上面的请求超过{threshold}个字" if zh else f"the request above is longer than {threshold} words"
        return text, 0 if count > threshold else 1
    if kind == 1:
        text = "上面的请求中含有阿拉伯数字" if zh else "the request above contains a digit"
        return text, 0 if _DIGIT.search(seed.prompt) else 1
    text = "上面的请求以问号结尾" if zh else "the request above ends with a question mark"
    return text, 0 if seed.prompt.rstrip().endswith(("?", "？")) else 1


# ------------------------------------------------------------------------------------------ compositions


@dataclass
class Instruction:
    prompt: str
    truth: compose.RuleTruth
    composition: str
    leaves: list[Leaf]

    @property
    def constraint_ids(self) -> list[str]:
        return [leaf.checker.id for leaf in self.leaves]


def _split(rng: random.Random, n: int, parts: int) -> list[int]:
    """``n`` items into ``parts`` non-empty groups."""
    cuts = sorted(rng.sample(range(1, n), parts - 1))
    bounds = [0, *cuts, n]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


def _chain(rng: random.Random, pool: Pool, seed: Seed, k: int) -> tuple[compose.Node, str, list[Leaf]] | None:
    steps = min(k, rng.randint(2, 3))
    if steps < 2:
        return None
    sizes = _split(rng, k, steps)
    nodes, lines, leaves = [], [], []
    marker = CHAIN_MARKER.get(seed.lang, "Step")
    for i, size in enumerate(sizes, 1):
        picked = pick_compatible(rng, pool.nestable if i == steps else pool.mid_chain, size, pool)
        if not picked:
            return None
        step_leaves = [make_leaf(rng, c, seed) for c in picked]
        leaves += step_leaves
        nodes.append(_node(step_leaves))
        body = _join([leaf.text for leaf in step_leaves], seed.lang)
        lines.append(f"- {marker}{i}：{body}" if seed.lang == "zh" else f"- In {marker} {i}: {body}")
    if seed.lang == "zh":
        head = (f"请分{steps}个步骤作答，每个步骤单独起一行，依次以“{marker}1”“{marker}2”等开头；"
                "以下要求只适用于对应的步骤：")
    else:
        names = ", ".join(f'"{marker} {i}"' for i in range(1, steps + 1))
        head = (f"Answer in {steps} steps, each beginning on its own line with {names} in order. "
                "Each requirement below applies only to its step:")
    return compose.chain(*nodes, marker=marker), head + "\n" + "\n".join(lines), leaves


def _selection(rng: random.Random, pool: Pool, seed: Seed, k: int) -> tuple[compose.Node, str, list[Leaf]] | None:
    if k < 2:
        return None
    sizes = _split(rng, k, 2)
    branches, texts, leaves = [], [], []
    for size in sizes:
        picked = pick_compatible(rng, pool.nestable, size, pool)
        if not picked:
            return None
        b_leaves = [make_leaf(rng, c, seed) for c in picked]
        leaves += b_leaves
        branches.append(_node(b_leaves))
        texts.append(_join([leaf.text for leaf in b_leaves], seed.lang))
    condition, active = _condition(rng, seed)
    if seed.lang == "zh":
        text = f"如果{condition}，请遵守：{texts[0]}\n否则，请遵守：{texts[1]}"
    else:
        text = f"If {condition}, follow this: {texts[0]}\nOtherwise, follow this instead: {texts[1]}"
    return compose.selection(*branches, active=active, condition=condition), text, leaves


def compose_instruction(rng: random.Random, seed: Seed, cfg: InstructConfig) -> Instruction:
    """One evolved instruction for ``seed``; every random choice comes from ``rng``."""
    pool = build_pool(tuple(cfg.sources), seed.lang, tuple(cfg.include_ids), tuple(cfg.exclude_ids))
    pool = for_request(pool, Request(seed.prompt, seed.lang, seed.task_type))
    if not pool.all:
        from raif_rewards.errors import RaifError

        raise RaifError(f"no sampled constraint of sources {cfg.sources} supports language {seed.lang!r} "
                        f"(seed {seed.id}); widen instruct.sources or seeds.languages")
    names = list(cfg.compositions)
    kind = rng.choices(names, weights=[cfg.compositions[n] for n in names])[0]
    k = rng.randint(cfg.min_constraints, cfg.max_constraints)
    built = None
    if kind == "chain" and len(pool.nestable) >= 1:
        built = _chain(rng, pool, seed, k)
    elif kind == "selection" and len(pool.nestable) >= 1:
        built = _selection(rng, pool, seed, k)
    elif kind == "nested" and k >= 3 and len(pool.nestable) >= 2:
        n_global = rng.randint(1, k - 2)
        inner = (_chain if rng.random() < 0.5 else _selection)(rng, pool, seed, k - n_global)
        if inner is not None:
            inner_node, inner_text, inner_leaves = inner
            taken = frozenset(leaf.checker.id for leaf in inner_leaves)
            globals_ = [make_leaf(rng, c, seed) for c in pick_compatible(rng, pool.nestable, n_global, pool, taken)]
            if globals_:
                node = compose.and_(*[_check(g) for g in globals_], inner_node)
                extra = _join([g.text for g in globals_], seed.lang)
                lead = "此外，整个回答还需满足：" if seed.lang == "zh" else "In addition, for the whole answer: "
                built = (node, inner_text + "\n" + lead + extra, globals_ + inner_leaves)
    if built is None:
        kind = "and"
        picked = pick_compatible(rng, pool.all, k, pool)
        leaves = [make_leaf(rng, c, seed) for c in picked]
        built = (compose.and_(*[_check(leaf) for leaf in leaves]), _layout(rng, [leaf.text for leaf in leaves], seed.lang), leaves)
    node, text, leaves = built
    return Instruction(f"{seed.prompt}\n\n{text}", compose.RuleTruth(node, seed.lang), kind, leaves)
