"""Deterministic language identification with langdetect's exact algorithm, cached by text.

langdetect draws random numbers: it is seeded (0) so a text gets one verdict on every run. Backends:
``langdetect`` (default) is :mod:`raif_rewards.langdetect_fast`, langdetect 1.0.9 replayed exactly
(same verdicts and probabilities, proven on the conformance texts, several times faster);
``langdetect-py`` calls the langdetect package itself; ``rs`` is ``langdetect-rs`` (a Rust port
claiming bit-identical results). Pick one with ``RAIF_LANGDETECT`` or :func:`set_backend`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from functools import lru_cache

from raif_rewards.errors import RaifError
from raif_rewards.sizedcache import sized_cache

SEED = 0
BACKENDS = ("langdetect", "langdetect-py", "rs")
_ALIASES = {"langdetect-rs": "rs", "fast": "langdetect"}


class LanguageBackendError(RaifError, RuntimeError):
    """The chosen language-detection backend cannot be used (not installed): a set-up error, raised on
    the first detection rather than turned into "undetectable" verdicts."""


def _canonical(name: str) -> str:
    name = name.strip().lower() or "langdetect"
    return _ALIASES.get(name, name)


_backend = _canonical(os.environ.get("RAIF_LANGDETECT", "langdetect"))
if _backend not in BACKENDS:
    warnings.warn(
        f"RAIF_LANGDETECT={_backend!r} is not one of {BACKENDS}; using 'langdetect'",
        RuntimeWarning,
        stacklevel=1,
    )
    _backend = "langdetect"


def set_backend(name: str) -> None:
    """Switch between ``"langdetect"`` (default, exact fast path), ``"langdetect-py"`` (the
    langdetect package itself) and ``"rs"`` (langdetect-rs, if installed)."""
    global _backend
    name = _canonical(name)
    if name not in BACKENDS:
        raise ValueError(f"unknown language-detection backend {name!r}; expected one of {BACKENDS}")
    _detector(name)  # fail now, not on the first detection, if it is not installed
    _backend = name
    detect.cache_clear()


def backend() -> str:
    return _backend


@lru_cache(maxsize=4)
def _detector(name: str) -> tuple[Callable[[str], str], type[Exception]]:
    """The backend's detect function (seeded) and the exception it raises for undetectable text."""
    if name == "langdetect":
        from langdetect import LangDetectException

        from raif_rewards import langdetect_fast

        return (lambda text: langdetect_fast.detect(text, SEED)), LangDetectException
    if name == "rs":
        try:
            import langdetect_rs as mod
        except ImportError as exc:
            raise LanguageBackendError(
                "language-detection backend 'rs' needs langdetect-rs, which is not installed: "
                "pip install 'raif[fastlang]', or use the default backend 'langdetect'"
            ) from exc
    elif name == "langdetect-py":
        import langdetect as mod
    else:
        raise ValueError(f"unknown language-detection backend {name!r}; expected one of {BACKENDS}")
    mod.DetectorFactory.seed = SEED
    return mod.detect, mod.LangDetectException


@sized_cache(4_000_000, 1_000_000)  # by characters: 16,384 distinct 1 MB answers held gigabytes
def detect(text: str) -> str | None:
    """The language code langdetect gives ``text`` (seed 0), or ``None`` where it cannot tell."""
    fn, undetectable = _detector(_backend)
    try:
        return fn(text)
    except undetectable:
        return None
    except Exception:  # noqa: BLE001 - a checker must never raise on any string
        return None
