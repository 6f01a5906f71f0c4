"""Shared pieces of the benchmark adapters: item and score types, the adapter contract, and strict
readers for JSON / JSONL data files whose errors name the file, the line and the field."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from raif_rewards.errors import InputFileError
from raif_rewards.jsonl import iter_jsonl

if TYPE_CHECKING:  # the judge imports the LLM client; adapters only need its type
    from raif_eval.judging import Judge


@dataclass
class Item:
    """One benchmark prompt: the chat to answer and the raw record the scorer needs."""

    id: str
    messages: list[dict]
    record: dict
    group: str = ""  # sub-set the benchmark reports separately (task file, category, split)


@dataclass
class BenchScore:
    metrics: dict[str, float]  # name -> value in [0, 1] (NaN when a metric has no items)
    headline: str  # the metric the Table-1 report shows
    n_items: int
    details: list[dict] = field(default_factory=list)  # per-item verdicts, written to details.jsonl
    notes: list[str] = field(default_factory=list)  # deviations met while scoring (unparsed judge replies...)

    def to_json(self) -> dict:
        return {
            "headline": self.headline,
            "metrics": {
                k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.metrics.items()
            },
            "n_items": self.n_items,
            "notes": self.notes,
        }


class Benchmark(ABC):
    """An adapter: ``load`` reads the released data file(s); ``score`` turns answers into the
    benchmark's official metrics (calling the judge where the benchmark needs one).

    Where the authors' scorer has an evident bug the adapter keeps their result by default;
    ``corrections`` names the corrected variants it offers (name -> what changes), and an adapter
    built with ``fixes`` containing a name applies that correction instead."""

    name: str = ""
    headline: str = ""
    needs_judge: bool = False
    default_path: str = ""  # relative to --data-dir
    corrections: ClassVar[dict[str, str]] = {}

    def __init__(self, fixes: Iterable[str] = ()):
        self.fixes = frozenset(fixes)
        unknown = sorted(self.fixes - set(self.corrections))
        if unknown:
            known = ", ".join(sorted(self.corrections)) or "none"
            raise ValueError(f"{self.name}: unknown correction(s) {', '.join(unknown)}; known: {known}")

    @abstractmethod
    def load(self, path: Path) -> list[Item]: ...

    @abstractmethod
    async def score(
        self, items: Sequence[Item], answers: Mapping[str, str], judge: Judge | None
    ) -> BenchScore: ...


# ---------------------------------------------------------------- readers


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read_records(path: str | Path) -> list[tuple[int, Any]]:
    """(line, record) pairs from a JSON array file or a JSONL file (detected by the first character).

    For a JSON array the line is where the element starts, so errors point into the file. JSONL goes
    through the project's one reader; records may be any JSON value (the adapters' ``need`` checks them).
    """
    path = Path(path)
    # Read whole first: the first character picks the format, and a non-UTF-8 file is reported here
    # without a line number (a decoder reading by blocks cannot say which line it failed on).
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), f"not UTF-8 text ({exc.reason})") from None
    stripped = text.lstrip()
    if not stripped:
        raise InputFileError(str(path), "file is empty")
    if stripped[0] == "[":
        return _read_array(path, text)
    return list(iter_jsonl(path, objects_only=False))


def _read_array(path: Path, text: str) -> list[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[tuple[int, Any]] = []
    n = len(text)

    def skip(p: int) -> int:
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    pos = skip(pos)
    if pos < n and text[pos] == "]":
        return out
    while True:
        pos = skip(pos)
        start = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                str(path), f"not valid JSON ({exc.msg} at column {exc.colno})", exc.lineno
            ) from None
        out.append((_line_of(text, start), obj))
        pos = skip(pos)
        if pos >= n:
            raise InputFileError(str(path), "JSON array is not closed (missing ']')", _line_of(text, n))
        if text[pos] == "]":
            return out
        if text[pos] != ",":
            raise InputFileError(
                str(path),
                f"expected ',' or ']' between array elements, got {text[pos]!r}",
                _line_of(text, pos),
            )
        pos += 1


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    list: "a list",
    dict: "an object",
    float: "a number",
    bool: "a boolean",
}


def need(
    path: Path | str,
    line: int,
    obj: Any,
    name: str,
    kind: type | tuple[type, ...],
    *,
    optional: bool = False,
    default: Any = None,
) -> Any:
    """``obj[name]`` checked to be of ``kind``; otherwise an :class:`InputFileError` naming file, line, field."""
    if not isinstance(obj, dict):
        raise InputFileError(str(path), f"expected a JSON object, got {type(obj).__name__}", line)
    if name not in obj or obj[name] is None:
        if optional:
            return default
        raise InputFileError(str(path), "missing", line, name)
    value = obj[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a benchmark integer field holding true/false is still a format error
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise InputFileError(str(path), f"expected {expected}, got {type(value).__name__}", line, name)
    return value


def need_str_list(
    path: Path | str, line: int, obj: Any, name: str, *, allow_empty: bool = False
) -> list[str]:
    values = need(path, line, obj, name, list)
    if not values and not allow_empty:
        raise InputFileError(str(path), "expected a non-empty list", line, name)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise InputFileError(
                str(path), f"element {i} is {type(v).__name__}, expected a string", line, name
            )
    return values


def unique_ids(path: Path | str, pairs: Iterable[tuple[int, str]]) -> None:
    seen: dict[str, int] = {}
    for line, ident in pairs:
        if ident in seen:
            raise InputFileError(str(path), f"duplicate id {ident!r} (first at line {seen[ident]})", line)
        seen[ident] = line


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else math.nan


def nanmean(values: Iterable[float]) -> float:
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else math.nan
