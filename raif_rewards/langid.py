"""Deterministic language identification with langdetect's exact algorithm, cached by text.

langdetect draws random numbers: the factory is seeded (0) so a text gets one verdict on every run.
``langdetect-rs`` (a Rust port claiming bit-identical results) is used only when switched on, with
``RAIF_LANGDETECT=rs`` or :func:`set_backend`; langdetect itself stays the default.
"""

from __future__ import annotations

import os
from functools import lru_cache

SEED = 0
BACKENDS = ("langdetect", "rs")
_backend = os.environ.get("RAIF_LANGDETECT", "langdetect").strip().lower() or "langdetect"
if _backend == "langdetect-rs":
    _backend = "rs"


def set_backend(name: str) -> None:
    """Switch between ``"langdetect"`` (default) and ``"rs"`` (langdetect-rs, if installed)."""
    global _backend
    name = "rs" if name == "langdetect-rs" else name
    if name not in BACKENDS:
        raise ValueError(f"unknown language-detection backend {name!r}; expected one of {BACKENDS}")
    if name == "rs":
        _module("rs")  # fail now, not on the first detection, if it is not installed
    _backend = name
    detect.cache_clear()


def backend() -> str:
    return _backend


@lru_cache(maxsize=2)
def _module(name: str):
    if name == "rs":
        try:
            import langdetect_rs as mod
        except ImportError as exc:
            raise RuntimeError(
                "langdetect-rs is not installed: pip install 'raif[fastlang]', or use the default backend"
            ) from exc
    else:
        import langdetect as mod
    mod.DetectorFactory.seed = SEED
    return mod


@lru_cache(maxsize=16384)
def detect(text: str) -> str | None:
    """The language code langdetect gives ``text`` (seed 0), or ``None`` where it cannot tell."""
    mod = _module(_backend)
    try:
        return mod.detect(text)
    except mod.LangDetectException:
        return None
    except Exception:  # noqa: BLE001 - a checker must never raise on any string
        return None
