"""Typed settings of an evaluation run, from a YAML recipe and/or CLI flags (flags win).

Unknown keys and wrong types fail at load time with the key's path.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raif_eval.benchmarks import BENCHMARKS
from raif_eval.modes import MODES, GenParams
from raif_rewards import safeyaml, typedconfig
from raif_rewards.errors import RaifError


class ConfigError(RaifError, ValueError):
    """A bad run setting; the message starts with the key path."""


@dataclass
class RunConfig:
    output_dir: str = ""
    benchmarks: list[str] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)  # benchmark -> file or folder
    data_dir: str | None = None  # default places: <data_dir>/<benchmark default path>
    model_url: str | None = None
    model_id: str | None = None
    judge_url: str | None = None
    judge_id: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the endpoints' API key
    mode: str = "io"
    run_name: str | None = None  # label in reports (default: output folder name)
    temperature: float = 0.0
    max_tokens: int = 4096
    top_p: float | None = None
    k: int = 5
    sc_temperature: float = 0.7
    sc_select: str = "agreement"
    refine_rounds: int = 1
    seed: int = 0
    concurrency: int = 16
    timeout: float = 600.0
    max_retries: int = 5
    judge_max_tokens: int = 4096
    limit: int | None = None  # first N items of each benchmark (smoke runs)
    complexbench_lang: str = "zh"
    # corrected variants of the authors' scorers, "benchmark:correction" (default: their results)
    fixes: list[str] = field(default_factory=list)

    def gen_params(self) -> GenParams:
        return GenParams(
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            top_p=self.top_p,
            k=self.k,
            sc_temperature=self.sc_temperature,
            sc_select=self.sc_select,
            refine_rounds=self.refine_rounds,
            seed=self.seed,
        )

    def validate(self) -> RunConfig:
        if not self.output_dir:
            raise ConfigError("output_dir: required")
        if not self.benchmarks:
            raise ConfigError(f"benchmarks: give at least one of {', '.join(BENCHMARKS)}")
        for i, b in enumerate(self.benchmarks):
            if b not in BENCHMARKS:
                raise ConfigError(f"benchmarks[{i}]: unknown benchmark {typedconfig.brief(b)}; known: {', '.join(BENCHMARKS)}")
        for b in self.data:
            if b not in BENCHMARKS:
                raise ConfigError(f"data.{b}: unknown benchmark; known: {', '.join(BENCHMARKS)}")
        if self.mode not in MODES:
            raise ConfigError(f"mode: unknown mode {typedconfig.brief(self.mode)}; expected one of {', '.join(MODES)}")
        if self.sc_select not in ("agreement", "judge"):
            raise ConfigError(f"sc_select: expected agreement or judge, got {typedconfig.brief(self.sc_select)}")
        if self.complexbench_lang not in ("zh", "en"):
            raise ConfigError(f"complexbench_lang: expected zh or en, got {typedconfig.brief(self.complexbench_lang)}")
        check_fixes(self.fixes)
        for name in ("k", "max_tokens", "concurrency", "refine_rounds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("limit: must be at least 1")
        return self

    def fixes_for(self, bench: str) -> set[str]:
        """The corrections asked for ``bench`` (names without the benchmark prefix)."""
        return {f.split(":", 1)[1] for f in self.fixes if f.split(":", 1)[0] == bench}

    def data_path(self, bench: str) -> Path:
        if bench in self.data:
            return Path(self.data[bench])
        if self.data_dir:
            return Path(self.data_dir) / BENCHMARKS[bench].default_path
        raise ConfigError(f"data.{bench}: no data file given; pass --data {bench}=PATH or --data-dir DIR")


def check_fixes(fixes: Sequence[str]) -> None:
    """Each entry must name a correction its benchmark offers (``raif-eval list`` shows them)."""
    for i, fix in enumerate(fixes):
        bench, sep, name = fix.partition(":")
        offered = BENCHMARKS[bench].corrections if bench in BENCHMARKS else {}
        if not sep or name not in offered:
            known = ", ".join(f"{b}:{c}" for b, cls in BENCHMARKS.items() for c in cls.corrections)
            raise ConfigError(f"fixes[{i}]: unknown correction {fix!r}; known: {known}")


def _unknown_key(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return "unknown key" + (f"; did you mean {close[0]}?" if close else "")


def from_mapping(raw: Any, where: str = "") -> RunConfig:
    """A :class:`RunConfig` from a plain mapping (unknown keys and wrong types are errors)."""
    prefix = f"{where}: " if where else ""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix}expected a mapping of run settings, got {type(raw).__name__}")
    return typedconfig.build(RunConfig, raw, _rules(prefix))


def _rules(prefix: str) -> typedconfig.Rules:
    return typedconfig.Rules(
        error=lambda key, message: ConfigError(f"{prefix}{key}: {message}"),
        unknown_key=_unknown_key,
        shown=typedconfig.show_type,
    )


def load_yaml(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        raw = safeyaml.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return from_mapping(raw or {}, str(path))


def merge(base: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """``base`` with the given fields replaced, checked like the file's values (a flag's wrong value is an
    error naming it); None means "not given"."""
    return typedconfig.override(base, overrides, _rules("command line: "))
