"""Stage 2, constraint self-instruct: turn a seed prompt into a complex instruction with a verifiable
ground truth (And / Chain / Selection / nested trees of registry checks), rendered deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from raif_data import tasks, wording
from raif_data.recipe import InstructConfig
from raif_data.seeds import Seed
from raif_rewards import compose, registry
from raif_rewards.registry import AT_LEAST, Checker, Request

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


def fits(c: Checker, kinds: frozenset[str]) -> bool:
    """Whether ``c`` may be drawn for a request of these kinds (its declared suits and avoids)."""
    if c.avoids & kinds:
        return False
    return not c.suits or bool(c.suits & kinds)


@lru_cache(maxsize=1024)
def build_pool(sources: tuple[str, ...], lang: str, include: tuple[str, ...], exclude: tuple[str, ...],
               kinds: frozenset[str] | None = None) -> Pool:
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
        if kinds is not None and not fits(c, kinds):
            continue
        chosen.append(c)
    conflicts = {c.id: registry.conflicts_of(c.id) for c in chosen}
    return Pool(tuple(chosen), tuple(c for c in chosen if not _whole_response(c)), conflicts)


def for_request(pool: Pool, req: Request) -> Pool:
    """``pool`` with the conflicts that depend on the request's own text added (both ways); which
    checkers fit the request's kinds is decided by :func:`build_pool`."""
    hit = pool.by_request.get(req)
    if hit is None:
        if len(pool.by_request) >= 65536:
            pool.by_request.clear()
        hit = pool.by_request[req] = _with_request_conflicts(pool, req)
    return hit


def _with_request_conflicts(pool: Pool, req: Request) -> Pool:
    extra: dict[str, set[str]] = {}
    for c in pool.all:
        if c.request_conflicts is not None:
            for other in c.request_conflicts(req):
                extra.setdefault(c.id, set()).add(other)
                extra.setdefault(other, set()).add(c.id)
    if not extra:
        return pool
    conflicts = dict(pool.conflicts)
    for cid, others in extra.items():
        if cid in conflicts:
            conflicts[cid] = conflicts[cid] | others
    return Pool(pool.all, pool.nestable, conflicts)


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


#: variants are drawn below this bound, a multiple of every phrasing count up to 10 and of 12 (so each
#: phrasing is equally likely; a checker with another count fails a test)
_VARIANTS = 2520
#: kwargs draws per leaf before the last draw is kept even if ``request_ok`` refuses it
_KWARGS_DRAWS = 20


@dataclass
class Draw:
    """Per-instruction drawing context: the seed, the request that request-dependent rules read, its
    kinds, and the words taken so far (two keyword constraints of one prompt never share a word, so
    "use X" and "avoid X" cannot meet)."""

    seed: Seed
    req: Request
    kinds: frozenset[str] = frozenset()
    used: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, seed: Seed) -> Draw:
        return cls(seed, tasks.request(seed.prompt, seed.lang, seed.task_type),
                   tasks.request_kinds(seed.prompt, seed.lang, seed.task_type))


def _topic_words(rng: random.Random, draw: Draw, role: str, k: int, plain: bool = False) -> list[str]:
    """``k`` words for a keyword kwarg: "present" words come from the request itself (its topic words
    when it has too few), "absent" ones from the task's topic words that the request does not contain.
    ``plain``: single ASCII words only (a paragraph's first word)."""
    seed = draw.seed
    topic = tasks.topic_words(seed.task_type, seed.lang, seed.prompt)
    if plain:
        topic = tuple(w for w in topic if w.isascii() and w.isalpha())
    if role != "present":
        return tasks.pick(rng, topic, k, draw.used)
    own = tasks.content_words(seed.prompt, seed.lang)
    if plain:
        own = tuple(w for w in own if w.isascii() and w.isalpha())
    words = tasks.pick(rng, own, k, draw.used)
    return words + tasks.pick(rng, topic, k - len(words), draw.used) if len(words) < k else words


def _fit_topic(rng: random.Random, c: Checker, kwargs: dict, draw: Draw | None) -> None:
    if draw is None or not c.topic_kwargs:
        return
    lang = draw.seed.lang
    for name, role in c.topic_kwargs.items():
        value = kwargs.get(name)
        if role.startswith("count:"):
            role = "present" if kwargs.get(role[6:]) in AT_LEAST else "absent"
        if role == "phrase":
            words = _topic_words(rng, draw, "present", 1)
            if words:
                kwargs[name] = rng.choice(tasks.END_PHRASES["zh" if lang == "zh" else "en"]).format(w=words[0])
            continue
        if role == "saying":  # one word of the request in a saying whose other words it does not repeat
            words = _topic_words(rng, draw, "present", 1, plain=True)
            frames = [f for f in tasks.SAYINGS.get(lang, ()) if words and words[0].lower() not in f.lower().split()]
            if frames:
                kwargs[name] = rng.choice(frames).format(w=words[0])
            continue
        # a paragraph's first word is compared as one plain token
        words = _topic_words(rng, draw, role, len(value) if isinstance(value, list) else 1, plain=name == "first_word")
        if not words:
            continue  # keep the sampled word: nothing fitting is left
        kwargs[name] = sorted(words) if isinstance(value, list) else words[0]


def make_leaf(rng: random.Random, c: Checker, seed: Seed, draw: Draw | None = None, *, step: bool = False) -> Leaf:
    """One constraint's kwargs and wording for ``seed``: kwargs fitted to the request (``fit``), redrawn
    while ``request_ok`` refuses them, keyword kwargs taken from the request or its topic."""
    req = draw.req if draw is not None else tasks.request(seed.prompt, seed.lang, seed.task_type)
    for _ in range(_KWARGS_DRAWS):
        kwargs = c.sample(rng, seed.lang)
        for name in c.prompt_kwargs:
            kwargs[name] = seed.prompt
        if c.fit is not None:
            kwargs = c.fit(kwargs, req, rng)
        if c.request_ok is None or c.request_ok(req, kwargs):
            break
    _fit_topic(rng, c, kwargs, draw)
    variant = rng.randrange(_VARIANTS)
    text = c.render(kwargs, seed.lang, variant).strip()
    return Leaf(c, kwargs, wording.step_text(text, seed.lang) if step else text)


def _check(leaf: Leaf) -> compose.Check:
    # render() validated these kwargs already: build the leaf without validating them a second time
    return compose.Check(leaf.checker.id, MappingProxyType({k: v for k, v in leaf.kwargs.items() if v is not None}))


def _node(leaves: Sequence[Leaf]) -> compose.Node:
    checks = [_check(leaf) for leaf in leaves]
    return checks[0] if len(checks) == 1 else compose.and_(*checks)


_join = wording._join


# ------------------------------------------------------------------------------------------ compositions


@dataclass
class Instruction:
    prompt: str
    truth: compose.RuleTruth
    composition: str
    leaves: list[Leaf]
    #: what a model may re-render of a chain or selection (raif_data/structure.py): ``inner`` ("chain"
    #: or "selection"), the steps' requirement texts (``bodies``, with the ``marker``) or each branch's
    #: (``branches``), and ``tail``, the text after the scaffold (a nested row's whole-answer rules)
    parts: dict[str, Any] | None = None

    @property
    def constraint_ids(self) -> list[str]:
        return [leaf.checker.id for leaf in self.leaves]


def _split(rng: random.Random, n: int, parts: int) -> list[int]:
    """``n`` items into ``parts`` non-empty groups."""
    cuts = sorted(rng.sample(range(1, n), parts - 1))
    bounds = [0, *cuts, n]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


_Built = tuple[compose.Node, str, list[Leaf], dict[str, Any] | None]


def _chain(rng: random.Random, pool: Pool, draw: Draw, k: int) -> _Built | None:
    seed = draw.seed
    steps = min(k, rng.randint(2, 3))
    if steps < 2:
        return None
    sizes = _split(rng, k, steps)
    nodes, bodies, leaves = [], [], []
    marker = CHAIN_MARKER.get(seed.lang, "Step")
    for i, size in enumerate(sizes, 1):
        picked = pick_compatible(rng, pool.nestable if i == steps else pool.mid_chain, size, pool)
        if not picked:
            return None
        step_leaves = [make_leaf(rng, c, seed, draw, step=True) for c in picked]
        leaves += step_leaves
        nodes.append(_node(step_leaves))
        bodies.append(_join([leaf.text for leaf in step_leaves], seed.lang))
    parts = {"inner": "chain", "marker": marker, "bodies": bodies, "tail": ""}
    return compose.chain(*nodes, marker=marker), wording.chain_text(rng, marker, bodies, seed.lang), leaves, parts


def _selection(rng: random.Random, pool: Pool, draw: Draw, k: int) -> _Built | None:
    seed = draw.seed
    if k < 2:
        return None
    sizes = _split(rng, k, 2)
    branches, texts, leaves = [], [], []
    for size in sizes:
        picked = pick_compatible(rng, pool.nestable, size, pool)
        if not picked:
            return None
        b_leaves = [make_leaf(rng, c, seed, draw) for c in picked]
        leaves += b_leaves
        branches.append(_node(b_leaves))
        texts.append([leaf.text for leaf in b_leaves])
    condition, negation, active = wording.condition(rng, seed.prompt, seed.lang)
    text = wording.selection_text(rng, condition, negation, texts, seed.lang)
    parts = {"inner": "selection", "branches": texts, "tail": ""}
    return compose.selection(*branches, active=active, condition=condition), text, leaves, parts


def compose_instruction(rng: random.Random, seed: Seed, cfg: InstructConfig) -> Instruction:
    """One evolved instruction for ``seed``; every random choice comes from ``rng``.

    Only checkers that fit the request's kinds are drawn (their declared suits and avoids), with the
    conflicts its own text adds (``request_conflicts``); keyword kwargs are drawn from the request's
    own words or its task's topic words.
    """
    draw = Draw.of(seed)
    key = (tuple(cfg.sources), seed.lang, tuple(cfg.include_ids), tuple(cfg.exclude_ids))
    pool = build_pool(*key, draw.kinds)
    if not pool.all:  # nothing fits (a narrow include list): fall back to every allowed checker
        pool = build_pool(*key)
    pool = for_request(pool, draw.req)
    if not pool.all:
        from raif_rewards.errors import RaifError

        raise RaifError(f"no sampled constraint of sources {cfg.sources} supports language {seed.lang!r} "
                        f"(seed {seed.id}); widen instruct.sources or seeds.languages")
    names = list(cfg.compositions)
    kind = rng.choices(names, weights=[cfg.compositions[n] for n in names])[0]
    k = rng.randint(cfg.min_constraints, cfg.max_constraints)
    built: _Built | None = None
    if kind == "chain" and len(pool.nestable) >= 1:
        built = _chain(rng, pool, draw, k)
    elif kind == "selection" and len(pool.nestable) >= 1:
        built = _selection(rng, pool, draw, k)
    elif kind == "nested" and k >= 3 and len(pool.nestable) >= 2:
        n_global = rng.randint(1, k - 2)
        inner_kind = "chain" if rng.random() < 0.5 else "selection"
        inner = (_chain if inner_kind == "chain" else _selection)(rng, pool, draw, k - n_global)
        if inner is not None:
            inner_node, inner_text, inner_leaves, parts = inner
            taken = frozenset(leaf.checker.id for leaf in inner_leaves)
            globals_ = [make_leaf(rng, c, seed, draw) for c in pick_compatible(rng, pool.nestable, n_global, pool, taken)]
            if globals_:
                node: compose.Node = compose.and_(*[_check(g) for g in globals_], inner_node)
                extra = _join([g.text for g in globals_], seed.lang)
                lead = wording.global_lead(rng, inner_kind, seed.lang)
                tail = "\n" + lead + extra
                assert parts is not None
                built = (node, inner_text + tail, globals_ + inner_leaves, {**parts, "tail": tail})
    if built is None:
        kind = "and"
        draw.used.clear()
        picked = pick_compatible(rng, pool.all, k, pool)
        leaves = [make_leaf(rng, c, seed, draw) for c in picked]
        text = wording.layout(rng, [leaf.text for leaf in leaves], seed.lang)
        built = (compose.and_(*[_check(leaf) for leaf in leaves]), text, leaves, None)
    node, text, leaves, parts = built
    return Instruction(f"{seed.prompt}\n\n{text}", compose.RuleTruth(node, seed.lang), kind, leaves, parts)
