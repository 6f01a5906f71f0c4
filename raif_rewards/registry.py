"""The constraint-checker registry: the single source of truth for every verifiable constraint.

Checkers register themselves where they are defined (``@register``); docs, CLI listings, reward
dispatch and data-generation sampling all read this registry and nothing else.

Witness protocol (how a checker says how to satisfy it; the data pipeline keeps only rows whose whole
ground-truth tree has a verified witness). Register ``witness=fn`` next to the sampler and renderer:
``fn(kwargs, ctx) -> Need`` where ``ctx`` is a :class:`raif_rewards.witness_spec.WitnessContext`
(the row's language, the seed request) and :class:`~raif_rewards.witness_spec.Need` a declarative
contribution: content to include (with counts), counts as inclusive ranges (words, sentences, ALL-CAPS
words, letters), layout (bullets, sections, paragraphs and their first words, a title), a case, a
language, one outer wrapper, a prefix, an end, a postscript, "no commas". Return only what this
constraint asks for, never finished text: :mod:`raif_rewards.witness` merges the needs of every
constraint that applies to one text (:meth:`Need.merge`: ranges intersect, contents add, single-valued
fields must agree, else a ``Clash`` that names the field), writes one answer (chain steps as sections,
the active selection branch only) and verifies it with ``raif_rewards.reward.score_rule``. A need the
composer cannot express yet needs a new ``Need`` field with a merge rule and its rendering, in that
module only. A checker without a witness is never sampled into a kept row (its rows are redrawn).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import pkgutil
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema

from raif_rewards.errors import ConstraintKwargsError, UnknownConstraintError

GROUPS = (
    "lexical",
    "length",
    "format",
    "content",
    "case",
    "language",
    "startend",
    "punctuation",
    "combination",
    "counting",
    "ratio",
    "words",
    "sentence",
    "custom",
    "copy",
)

#: Relation words accepted wherever a checker compares a count ("at least 300 words").
#: RAIF's Chinese data writes them in Chinese; its released code crashed on them.
AT_LEAST = ("at least", "至少")
LESS_THAN = ("less than", "少于")
RELATIONS = AT_LEAST + LESS_THAN

Sampler = Callable[[random.Random, str], dict]  # (rng, lang) -> kwargs
Renderer = Callable[[Mapping[str, Any], str, int], str]


@dataclass(frozen=True)
class Request:
    """The seed request an instruction is built on (what request-dependent rules decide on).

    ``task_type`` is one of :data:`TASK_KINDS`: the seed's task type (from the seed file, a model label
    or the offline heuristic), canonicalised; build it with ``raif_data.tasks.request``."""

    text: str
    lang: str = "en"
    task_type: str = "general"


#: (request, kwargs) -> whether these kwargs may be asked of this request
RequestTest = Callable[[Request, Mapping[str, Any]], bool]
#: (kwargs with the prompt kwargs filled, request, rng) -> kwargs fitted to the request's own text
RequestFit = Callable[[dict, Request, random.Random], dict]
#: (kwargs, WitnessContext) -> Need: how to satisfy the constraint (protocol in raif_rewards.witness_spec)
WitnessFn = Callable[[Mapping[str, Any], Any], Any]


@dataclass(frozen=True)
class Checker:
    """One verifiable constraint.

    ``fn(text, **kwargs)`` receives a :class:`raif_rewards.text.Text` (features computed once per
    response) and returns whether the response satisfies the constraint. It never raises.
    """

    id: str
    group: str
    fn: Callable[..., bool]
    schema: Mapping[str, Any]
    sampler: Sampler | None
    templates: Mapping[str, tuple[str, ...]]
    render_fn: Renderer | None
    declared_conflicts: frozenset[str]
    version: int
    source: str
    uses_language_detection: bool
    description: str
    #: kwargs the data pipeline fills from the seed prompt itself (e.g. ``prompt_to_repeat``).
    prompt_kwargs: tuple[str, ...] = ()
    #: languages a ``render_fn`` can write (templates declare theirs by their keys)
    render_languages: tuple[str, ...] = ("en",)
    #: ``settled(text, **kwargs)``: True when, the response itself failing, no loose variant can pass
    #: (every variant only removes characters; property-tested against trying them all)
    loose_settled: Callable[..., bool] | None = None
    #: ``witness(kwargs, ctx) -> Need``: a declarative contribution to an answer that satisfies this
    #: constraint, merged with the other constraints' needs by :mod:`raif_rewards.witness`
    witness: WitnessFn | None = None
    #: ``request_ok(request, kwargs)``: False where these kwargs are a trap for this request in a way its
    #: task kinds cannot say (a 300-word extraction); which kinds a checker suits is ``suits``/``avoids``
    request_ok: RequestTest | None = None
    #: ``request_conflicts(request)``: ids this checker cannot be combined with on this request's text
    #: (repeat the request + no commas, when the request has a comma)
    request_conflicts: Callable[[Request], Iterable[str]] | None = None
    #: ``fit(kwargs, request, rng)``: kwargs drawn within the request (spans to copy)
    fit: RequestFit | None = None
    #: the instruction speaks of the end of the whole response ("at the end of your response"): never
    #: in a chain step other than the last
    at_end: bool = False
    _validator: Any = field(default=None, compare=False, repr=False)
    # -- task fit and wording (issue 12), filled by :func:`declare` next to the checker --
    #: task types / request kinds (:data:`TASK_KINDS`) this constraint is drawn for; empty: any
    suits: frozenset[str] = frozenset()
    #: task types / request kinds it is never drawn for (all caps on code, commas banned in code, ...)
    avoids: frozenset[str] = frozenset()
    #: kwargs whose words the data pipeline draws from the request or its topic, by role:
    #: "present" (must occur), "absent" (must not occur), "count:<relation kwarg>" (present under
    #: "at least", absent under "less than"), "phrase" (an end phrase naming the request's topic),
    #: "saying" (a short saying naming the request's topic, to be repeated with one word changed)
    topic_kwargs: Mapping[str, str] = field(default_factory=dict)
    #: more phrasings per language, drawn after ``templates`` (or after ``render_fn``'s own text)
    phrasings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: template fields computed from the kwargs, for phrasings of ``render_fn`` checkers
    phrasing_fields: Callable[[Mapping[str, Any], str], dict] | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.templates)) if self.templates else self.render_languages

    @property
    def conflicts(self) -> frozenset[str]:
        return conflicts_of(self.id)

    def validate(self, kwargs: Mapping[str, Any] | None) -> dict:
        return validate_kwargs(self.id, kwargs)

    def sample(self, rng: random.Random, lang: str = "en") -> dict:
        """Valid kwargs drawn from ``rng`` for an instruction in ``lang`` (data generation)."""
        if self.sampler is None:
            raise ValueError(f"{self.id}: this constraint is not sampled for data generation")
        return self.sampler(rng, lang)

    def render(self, kwargs: Mapping[str, Any], lang: str = "en", variant: int = 0) -> str:
        """The instruction text for ``kwargs`` (deterministic for a given ``variant``)."""
        kw = validate_kwargs(self.id, kwargs)
        extra = self.phrasings.get(lang, ())
        if extra:
            return self._render_with_phrasings(kw, lang, variant, extra)
        if self.render_fn is not None:
            return self.render_fn(kw, lang, variant)
        if lang not in self.templates:
            lang = "en"
        phrasings = self.templates[lang]
        return phrasings[variant % len(phrasings)].format(**_format_args(kw, lang))


    def phrasing_count(self, lang: str) -> int:
        """How many distinct phrasings ``render`` cycles through in ``lang`` (``variant`` modulo it)."""
        return self._base_count(lang) + len(self.phrasings.get(lang, ()))

    def _base_count(self, lang: str) -> int:
        return 1 if self.render_fn is not None else len(self.templates.get(lang, self.templates.get("en", ())))

    def _render_with_phrasings(self, kw: dict, lang: str, variant: int, extra: tuple[str, ...]) -> str:
        # Variants 0..n_base-1 keep the original wording (IFEval's own first), the rest are the added
        # phrasings; a render_fn counts as one base phrasing whose own variant is what remains.
        n_base = self._base_count(lang)
        index = variant % (n_base + len(extra))
        if index >= n_base:
            fields = _format_args(kw, lang)
            for key, value in kw.items():
                if lang == "zh" and isinstance(value, (list, tuple)):  # “甲”、“乙” reads as Chinese
                    fields[key] = "、".join(f"“{v}”" for v in value)
                if isinstance(value, str) and value in RELATIONS:  # "{relation_alt}": other words, same relation
                    alt = {"en": ("fewer than", "no fewer than"), "zh": ("不到", "不少于")}["zh" if lang == "zh" else "en"]
                    fields[f"{key}_alt"] = alt[0] if value in LESS_THAN else alt[1]
            if self.phrasing_fields is not None:
                fields.update(self.phrasing_fields(kw, lang))
            return extra[index - n_base].format(**fields)
        if self.render_fn is not None:
            return self.render_fn(kw, lang, variant // (n_base + len(extra)))
        return self.templates[lang][index].format(**_format_args(kw, lang))


def _format_args(kwargs: Mapping[str, Any], lang: str) -> dict:
    """Template fields: lists quoted and joined, relation words in the template's language."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(value, (list, tuple)):
            out[key] = ", ".join(f'"{v}"' for v in value)
        elif isinstance(value, float) and value.is_integer():  # stored data writes counts as 128.0
            out[key] = int(value)
        elif isinstance(value, str) and value in RELATIONS:
            out[key] = ("少于" if lang == "zh" else "less than") if value in LESS_THAN else ("至少" if lang == "zh" else "at least")
        else:
            out[key] = value
    return out


_REGISTRY: dict[str, Checker] = {}
_LOADED = False


def register(
    checker_id: str,
    *,
    group: str,
    schema: Mapping[str, Any] | None = None,
    sample: Sampler | None = None,
    templates: Mapping[str, Sequence[str]] | None = None,
    render: Renderer | None = None,
    conflicts: Iterable[str] = (),
    version: int = 1,
    source: str = "ifeval",
    uses_language_detection: bool = False,
    prompt_kwargs: Sequence[str] = (),
    render_languages: Sequence[str] = ("en",),
    loose_settled: Callable[..., bool] | None = None,
    witness: WitnessFn | None = None,
    request_ok: RequestTest | None = None,
    request_conflicts: Callable[[Request], Iterable[str]] | None = None,
    fit: RequestFit | None = None,
    at_end: bool = False,
) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Register the decorated ``fn(text, **kwargs) -> bool`` under ``checker_id``."""
    if group not in GROUPS:
        raise ValueError(f"{checker_id}: unknown group {group!r}; expected one of {GROUPS}")
    full_schema = {"type": "object", "properties": {}, "additionalProperties": False}
    if schema:
        full_schema.update(schema)

    def deco(fn: Callable[..., bool]) -> Callable[..., bool]:
        if checker_id in _REGISTRY:
            raise ValueError(f"constraint id {checker_id!r} is registered twice")
        jsonschema.Draft202012Validator.check_schema(full_schema)
        checker = Checker(
            id=checker_id,
            group=group,
            fn=fn,
            schema=full_schema,
            sampler=sample,
            templates={k: tuple(v) for k, v in (templates or {}).items()},
            render_fn=render,
            declared_conflicts=frozenset(conflicts),
            version=version,
            source=source,
            uses_language_detection=uses_language_detection,
            description=(fn.__doc__ or "").strip().split("\n")[0],
            prompt_kwargs=tuple(prompt_kwargs),
            render_languages=tuple(sorted(render_languages)),
            loose_settled=loose_settled,
            witness=witness,
            request_ok=request_ok,
            request_conflicts=request_conflicts,
            fit=fit,
            at_end=at_end,
            _validator=jsonschema.Draft202012Validator(full_schema),
        )
        if not checker.templates and render is None:
            raise ValueError(f"{checker_id}: needs templates or a render function")
        _REGISTRY[checker_id] = checker
        _symmetric_conflicts.cache_clear()
        return fn

    return deco


#: Task types and request kinds that checkers may declare they suit or avoid. The data pipeline maps a
#: seed's task type onto these (raif_data.tasks) and adds kinds read off the request text.
TASK_KINDS = (
    "advice", "analysis", "brainstorming", "classification", "code", "creative", "explanation",
    "extraction", "general", "math", "open_qa", "planning", "reasoning", "rewriting", "roleplay",
    "summarization", "writing", "yes_no",
)
#: kinds whose request has one right answer (two different answers would contradict it)
SINGLE_ANSWER_KINDS = frozenset({"yes_no", "classification", "extraction", "math", "reasoning"})
#: kinds whose answer is short by nature (a long word count is a trap there)
SHORT_ANSWER_KINDS = frozenset({"classification", "extraction"})
TOPIC_ROLES = ("present", "absent", "phrase", "saying")


def declare(
    checker_id: str,
    *,
    suits: Iterable[str] = (),
    avoids: Iterable[str] = (),
    topic_kwargs: Mapping[str, str] | None = None,
    phrasings: Mapping[str, Sequence[str]] | None = None,
    phrasing_fields: Callable[[Mapping[str, Any], str], dict] | None = None,
) -> None:
    """Add task fit and extra phrasings to an already registered checker (next to its definition)."""
    checker = _REGISTRY.get(checker_id)
    if checker is None:
        raise ValueError(f"declare({checker_id!r}): register the checker first")
    for kind in (*suits, *avoids):
        if kind not in TASK_KINDS:
            raise ValueError(f"{checker_id}: unknown task kind {kind!r}; expected one of {TASK_KINDS}")
    for name, role in (topic_kwargs or {}).items():
        if name not in checker.schema.get("properties", {}):
            raise ValueError(f"{checker_id}: topic kwarg {name!r} is not in its schema")
        if role.split(":")[0] not in (*TOPIC_ROLES, "count"):
            raise ValueError(f"{checker_id}: unknown topic role {role!r}")
    for lang in (phrasings or {}):
        if lang not in checker.languages:
            raise ValueError(f"{checker_id}: phrasings for {lang!r}, which it does not render")
    _REGISTRY[checker_id] = dataclasses.replace(
        checker,
        suits=frozenset(suits) or checker.suits,
        avoids=frozenset(avoids) or checker.avoids,
        topic_kwargs=dict(topic_kwargs or checker.topic_kwargs),
        phrasings={**checker.phrasings, **{k: tuple(v) for k, v in (phrasings or {}).items()}},
        phrasing_fields=phrasing_fields or checker.phrasing_fields,
    )


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import raif_rewards.checkers as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def get(checker_id: str) -> Checker:
    """The checker registered as ``checker_id``."""
    _load()
    try:
        return _REGISTRY[checker_id]
    except KeyError:
        raise UnknownConstraintError(checker_id, sorted(_REGISTRY)) from None


def all_checkers(source: str | None = None) -> list[Checker]:
    """Every registered checker, sorted by id (optionally only those of one ``source``)."""
    _load()
    return [c for _, c in sorted(_REGISTRY.items()) if source is None or c.source == source]


def ids(source: str | None = None) -> list[str]:
    return [c.id for c in all_checkers(source)]


@lru_cache(maxsize=1)
def _symmetric_conflicts() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {cid: {cid} for cid in _REGISTRY}
    for cid, checker in _REGISTRY.items():
        for other in checker.declared_conflicts:
            if other in _REGISTRY:
                out[cid].add(other)
                out[other].add(cid)
    return {k: frozenset(v) for k, v in out.items()}


def conflicts_of(checker_id: str) -> frozenset[str]:
    """Ids that must not be combined with ``checker_id`` (symmetric; includes itself)."""
    _load()
    get(checker_id)
    return _symmetric_conflicts()[checker_id]


def checked_kwargs(checker: Checker, kwargs: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """:func:`validate_kwargs` for the scoring path: ``kwargs`` itself (read-only to the caller) when it
    certainly validates and holds no ``None``, which is nearly always the case in RL and evaluation."""
    if type(kwargs) is dict:
        try:
            plain = None not in kwargs.values()
        except (TypeError, ValueError):  # a value whose == is not a bool (numpy arrays)
            plain = False
        if plain and _quick(checker)(kwargs):
            return kwargs
    return validate_kwargs(checker.id, kwargs)


def validate_kwargs(checker_id: str, kwargs: Mapping[str, Any] | None) -> dict:
    """Validated kwargs for ``checker_id``: ``None`` values count as absent (IFBench lists every
    argument with null), anything else must match the checker's JSON Schema.

    Raises :class:`ConstraintKwargsError` naming the id, the field and what was expected.
    """
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ConstraintKwargsError(checker_id, "(kwargs)", f"expected an object of keyword arguments, got "
                                    f"{type(kwargs).__name__}", get(checker_id).schema)
    cleaned = {k: v for k, v in (kwargs or {}).items() if v is not None}
    # The quick acceptance test costs less than building a cache key, so only the full jsonschema
    # path (unusual or invalid kwargs) is cached.
    if _quick(get(checker_id))(cleaned):
        return cleaned
    try:
        key = (checker_id, json.dumps(cleaned, sort_keys=True))
    except (TypeError, ValueError):
        return _validate_uncached(checker_id, cleaned)
    hit = _VALID.get(key)
    if hit is None:
        hit = _validate_uncached(checker_id, cleaned)
        if any(isinstance(v, (list, dict)) for v in hit.values()):
            hit = copy.deepcopy(hit)  # the caller may mutate its lists later
        if len(_VALID) >= 65536:
            _VALID.clear()
        _VALID[key] = hit
    return {k: (copy.deepcopy(v) if isinstance(v, (list, dict)) else v) for k, v in hit.items()}


_VALID: dict[tuple[str, str], dict] = {}


_SIMPLE_TYPES = {"string": str, "boolean": bool, "array": list, "object": dict}
_IGNORED = frozenset(("description", "title", "default", "examples"))
_OBJECT_KEYS = frozenset(("type", "properties", "required", "additionalProperties")) | _IGNORED


def _never(value: Any) -> bool:
    return False


def _all_of(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if len(tests) == 1:
        return tests[0]

    def every(value: Any) -> bool:
        for test in tests:
            if not test(value):
                return False
        return True

    return every


def _scalar_validator(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """One closure for the common scalar shapes (bounded integer, string enum, bounded string)."""
    keys = set(schema) - _IGNORED
    kind = schema.get("type")
    if kind == "integer" and keys <= {"type", "minimum", "maximum"}:
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if (minimum is None or type(minimum) is int) and (maximum is None or type(maximum) is int):
            lo: float = float("-inf") if minimum is None else minimum
            hi: float = float("inf") if maximum is None else maximum
            return lambda v: type(v) is int and lo <= v <= hi
    if kind == "string" and keys == {"type", "enum"} and all(type(o) is str for o in schema["enum"]):
        options = frozenset(schema["enum"])
        return lambda v: type(v) is str and v in options
    if kind == "string" and keys <= {"type", "minLength", "maxLength"}:
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", float("inf"))
        return lambda v: type(v) is str and lo <= len(v) <= hi
    return None


def _quick_validator(schema: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A quick acceptance test for the few JSON Schema keywords checkers use, compiled once per
    schema. ``True`` only when the value certainly validates; anything unusual (``_never``) goes to
    jsonschema, which also words the errors."""
    if schema.get("type") == "object" and _OBJECT_KEYS.issuperset(schema):
        extra = schema.get("additionalProperties", True)
        if extra is not False and extra is not True:
            return _never
        props = {name: _quick_validator(sub) for name, sub in schema.get("properties", {}).items()}
        required, closed = tuple(schema.get("required", ())), extra is False

        def object_test(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for name in required:
                if name not in value:
                    return False
            for name, sub in value.items():
                test = props.get(name)
                if test is None:
                    if closed:
                        return False
                elif not test(sub):
                    return False
            return True

        return object_test
    scalar = _scalar_validator(schema)
    if scalar is not None:
        return scalar
    tests: list[Callable[[Any], bool]] = []
    for key, rule in schema.items():
        if key in _IGNORED:
            continue
        test = _keyword_test(key, rule)
        if test is None:
            return _never
        tests.append(test)
    return _all_of(tests) if tests else (lambda v: True)


def _keyword_test(key: str, rule: Any) -> Callable[[Any], bool] | None:
    """The quick test for one JSON Schema keyword; None for a keyword (or type) this path does not know."""
    if key == "type":
        if rule == "integer":
            return lambda v: isinstance(v, int) and not isinstance(v, bool)
        kind = _SIMPLE_TYPES.get(rule) if isinstance(rule, str) else None  # a list of types: jsonschema
        return None if kind is None else (lambda v: isinstance(v, kind))
    if key == "enum":
        options = tuple(rule)
        return lambda v: any(v == o and type(v) is type(o) for o in options)
    if key == "minimum":
        return lambda v: isinstance(v, int) and v >= rule
    if key == "maximum":
        return lambda v: isinstance(v, int) and v <= rule
    if key == "minLength":
        return lambda v: isinstance(v, str) and len(v) >= rule
    if key == "maxLength":
        return lambda v: isinstance(v, str) and len(v) <= rule
    if key == "minItems":
        return lambda v: isinstance(v, list) and len(v) >= rule
    if key == "items":
        each = _quick_validator(rule)
        return lambda v: isinstance(v, list) and all(map(each, v))
    return None


def _surely_valid(schema: Mapping[str, Any], value: Any) -> bool:
    return _quick_validator(schema)(value)


_QUICK: dict[str, Callable[[Any], bool]] = {}


def _quick(checker: Checker) -> Callable[[Any], bool]:
    test = _QUICK.get(checker.id)
    if test is None:
        test = _QUICK[checker.id] = _quick_validator(checker.schema)
    return test


def _validate_uncached(checker_id: str, cleaned: dict) -> dict:
    checker = get(checker_id)
    if _quick(checker)(cleaned):
        return cleaned
    error = jsonschema.exceptions.best_match(checker._validator.iter_errors(cleaned))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = [r for r in error.validator_value if r not in cleaned]
            path = missing[0] if missing else path
        raise ConstraintKwargsError(checker_id, path or "(kwargs)", error.message, checker.schema)
    return cleaned
