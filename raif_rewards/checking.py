"""Checking responses against constraints, strict or loose (IFEval's semantics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from raif_rewards import registry
from raif_rewards.errors import ConstraintKwargsError
from raif_rewards.sizedcache import sized_cache
from raif_rewards.text import MAX_CACHED_TEXT_CHARS, VIEW_CACHE_CHARS, Text, loose_variants, view

Constraint = Mapping[str, Any]  # {"id": "...", "kwargs": {...}}


def check(
    constraint_id: str, response: str, kwargs: Mapping[str, Any] | None = None, *, loose: bool = False
) -> bool:
    """Whether ``response`` satisfies one constraint.

    As in IFEval, a blank response satisfies nothing; ``loose`` also accepts any of IFEval's loose
    variants (first/last line removed, asterisks removed). Raises only for a bad id or bad kwargs.
    """
    checker = registry.get(constraint_id)
    kw = registry.checked_kwargs(checker, kwargs)
    fn = checker.fn
    t = view(response)
    if t.stripped and fn(t, **kw):
        return True
    if loose and not (checker.loose_settled is not None and checker.loose_settled(t, **kw)):
        for variant in _other_variants(response):
            if fn(variant, **kw):
                return True
    return False


@sized_cache(VIEW_CACHE_CHARS, MAX_CACHED_TEXT_CHARS, weight=8)
def _other_variants(response: str) -> tuple[Text, ...]:
    """The non-blank loose variants other than ``response`` itself, each once: a checker is a function
    of the text, so a variant equal to one already tried (no asterisks to remove, a one-line response
    ...) cannot change the verdict. Built only when the response itself fails."""
    texts = dict.fromkeys(c for c in loose_variants(response)[1:] if c != response and c.strip())
    return tuple(view(c) for c in texts)


def normalize_constraint(constraint: Constraint | Sequence) -> tuple[str, dict]:
    """``{"id", "kwargs"}`` (also ``{"instruction_id", ...}`` or an ``(id, kwargs)`` pair) -> (id, kwargs)."""
    if isinstance(constraint, Mapping):
        cid = constraint.get("id", constraint.get("instruction_id"))
        if cid is None:
            raise ValueError(f"constraint with keys {sorted(map(str, constraint))[:10]} has no 'id'")
        kwargs = constraint.get("kwargs")
    else:
        cid, kwargs = constraint
    if kwargs and not isinstance(kwargs, Mapping):
        # dict("abc") said "dictionary update sequence element #0 ..." with neither id nor field
        raise ConstraintKwargsError(str(cid)[:120], "kwargs", f"expected an object, got {type(kwargs).__name__}", {})
    return str(cid), dict(kwargs or {})


def check_all(
    constraints: Sequence[Constraint], response: str, *, loose: bool = False
) -> list[bool]:
    """Per-constraint verdicts for one response (features are computed once and shared)."""
    return [check(cid, response, kw, loose=loose) for cid, kw in map(normalize_constraint, constraints)]
