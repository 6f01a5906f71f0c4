"""Stage 1, seed selection: read JSONL / Parquet / CSV / Hugging Face prompts, normalise, filter by
language, length and quality, drop exact and near duplicates, and order them balanced by task type.
"""

from __future__ import annotations

import csv
import logging
import random
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

from raif_data.dedup import Deduplicator
from raif_data.files import atomic_open, dumps_line, sha256_file
from raif_data.recipe import Recipe, SeedsConfig
from raif_data.tasks import classify
from raif_rewards.errors import InputFileError
from raif_rewards.jsonl import iter_jsonl

log = logging.getLogger(__name__)

DEMO_SEEDS = "seeds_demo.jsonl"
DEMO_MATH = "math_demo.jsonl"
DEDUP_BATCH = 256
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
#: a character that is not a word character or a CJK ideograph (a prompt has few: counting these
#: makes a short list, where counting the good ones made a list of nearly every character)
_OTHER_CHAR = re.compile(r"[^\w\u3400-\u4dbf\u4e00-\u9fff]")
_RUN = re.compile(r"(.)\1{9,}")


@dataclass(frozen=True)
class Seed:
    id: str
    prompt: str
    lang: str
    task_type: str

    def to_dict(self) -> dict:
        return {"id": self.id, "prompt": self.prompt, "lang": self.lang, "task_type": self.task_type}


class BadRecords:
    """Counts records skipped under ``--skip-bad`` and keeps the first few reasons for the report."""

    def __init__(self, skip: bool):
        self.skip, self.count = skip, 0
        self.examples: list[str] = []

    def handle(self, error: InputFileError) -> None:
        if not self.skip:
            raise error
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(str(error))
        log.warning("skipped bad record: %s", error)


def asset_path(name: str) -> Path:
    """A data file shipped inside the package (works from a wheel as well as a checkout)."""
    # one name per joinpath: the Traversable protocol takes several only from Python 3.11
    return Path(str(resources.files("raif_data").joinpath("assets").joinpath(name)))


def resolve_path(path: str, demo_name: str) -> tuple[Path | str, str]:
    """(path to read, how the manifest names it): '' or 'demo' means the shipped demo file."""
    if path in ("", "demo"):
        return asset_path(demo_name), f"demo:{demo_name}"
    if path.startswith("hf:"):
        return path, path
    return Path(path), str(path)


def _format_of(path: Path | str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if isinstance(path, str) and path.startswith("hf:"):
        return "hf"
    suffix = "".join(Path(path).suffixes[-2:]).lower()
    for ext, name in ((".jsonl", "jsonl"), (".json", "jsonl"), (".parquet", "parquet"), (".csv", "csv"),
                      (".tsv", "csv")):
        if suffix.endswith(ext):
            return name
    raise InputFileError(str(path), "cannot tell the format from the extension; set seeds.format "
                         "(jsonl, parquet, csv or hf)")


def read_records(path: Path | str, fmt: str, bad: BadRecords, hf_split: str = "train") -> Iterator[tuple[int, dict]]:
    """(line or row number, raw record) from any supported source, streaming."""
    fmt = _format_of(path, fmt)
    if fmt == "hf":
        yield from _read_hf(str(path)[3:] if str(path).startswith("hf:") else str(path), hf_split)
        return
    p = Path(path)
    if not p.is_file():
        raise InputFileError(str(p), "no such file")
    if fmt == "jsonl":
        yield from iter_jsonl(p, on_error=bad.handle)
    elif fmt == "csv":
        with open(p, encoding="utf-8", newline="") as fh:
            delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
            reader = csv.DictReader(fh, delimiter=delimiter)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError as exc:
                    # decoded a block at a time: the line is not known, the byte value is
                    raise InputFileError(str(p), f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}: "
                                         f"{exc.reason}); save it as UTF-8") from None
                except csv.Error as exc:
                    raise InputFileError(str(p), f"not readable CSV ({exc})", reader.line_num) from None
                yield reader.line_num, dict(row)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(p)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InputFileError(str(p), f"not a readable Parquet file: {exc}") from None
        number = 0
        for batch in pf.iter_batches(batch_size=4096):
            for rec in batch.to_pylist():
                number += 1
                yield number, rec
    else:
        raise InputFileError(str(p), f"unknown seeds.format {fmt!r}")


def _read_hf(name: str, split: str) -> Iterator[tuple[int, dict]]:
    try:
        import datasets
    except ImportError:
        raise InputFileError(f"hf:{name}", "reading a Hugging Face dataset needs `pip install datasets` "
                             "(and network access)") from None
    try:
        ds = datasets.load_dataset(name, split=split, streaming=True)
    except Exception as exc:  # network, missing dataset, bad split: all user-facing
        raise InputFileError(f"hf:{name}", f"cannot load dataset (split {split!r}): {exc}") from None
    for i, rec in enumerate(ds, start=1):
        yield i, dict(rec)


def detect_lang(text: str) -> str | None:
    """'en', 'zh', ... (langdetect with a fixed seed; Chinese variants folded into 'zh')."""
    from raif_rewards.langid import detect

    code = detect(text)
    if code is None:
        return None
    return "zh" if code.startswith("zh") else code.split("-")[0]


def to_seed(raw: dict, where: tuple[str, int], cfg: SeedsConfig) -> Seed:
    """A normalised seed, or InputFileError naming the file, line and field."""
    path, line = where
    fields = cfg.fields
    pf = fields["prompt"]
    if pf not in raw:
        raise InputFileError(path, "missing field (expected the prompt text; see seeds.fields.prompt)", line, pf)
    prompt = raw[pf]
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        prompt = prompt[-1].get("content")  # chat messages: the last user turn
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputFileError(path, "expected a non-empty string", line, pf)
    if _SURROGATE.search(prompt):  # no text a person wrote; the UTF-8 outputs cannot hold it
        raise InputFileError(path, "holds a lone surrogate (not valid Unicode text)", line, pf)
    prompt = unicodedata.normalize("NFC", prompt).replace("\r\n", "\n").strip()
    sid = raw.get(fields.get("id", "id"))
    sid = _short_id(sid, path, line, fields.get("id", "id")) if sid not in (None, "") else f"{Path(path).name}:{line}"
    lang = raw.get(fields.get("lang", "lang"))
    if lang is not None and not isinstance(lang, str):
        raise InputFileError(path, f"expected a language code string, got {lang!r}", line, fields.get("lang"))
    task = raw.get(fields.get("task_type", "task_type"))
    field = fields.get("task_type", "task_type")
    if task not in (None, ""):
        task = _short_id(task, path, line, field)
    if lang is not None:
        lang = _short_id(lang, path, line, fields.get("lang", "lang"))
    lang = (lang or "").strip().lower()
    lang = "zh" if lang.startswith("zh") else lang
    # no task type in the file: "" for now, decided in select() by the model or the heuristic
    task = str(task).strip() if task not in (None, "") else ""
    return Seed(sid, prompt, lang, task)


_SURROGATE = re.compile("[\ud800-\udfff]")
#: the longest seed id, task type or language code kept (a 5,000-digit id is no id)
MAX_ID_CHARS = 200


def _short_id(sid: object, path: str, line: int, field: str) -> str:
    if isinstance(sid, int) and sid.bit_length() > 600:
        raise InputFileError(path, f"a number over {MAX_ID_CHARS} digits", line, field)
    text = str(sid)
    if len(text) > MAX_ID_CHARS or _SURROGATE.search(text):
        raise InputFileError(path, f"expected at most {MAX_ID_CHARS} characters of valid text", line, field)
    return text


def quality_problem(prompt: str, lang: str, cfg: SeedsConfig) -> str | None:
    """Why a prompt is unusable as a seed (length, mostly symbols, one repeated character), or None."""
    n = len(prompt)
    if n < cfg.min_chars or n > cfg.max_chars:
        return "length"
    dense = prompt.replace(" ", "").replace("\n", "")
    good = len(dense) - len(_OTHER_CHAR.findall(dense))
    if good < 0.5 * len(dense):
        return "quality"
    if _RUN.search(dense):  # "!!!!!!!!!!", "aaaaaaaaaa": spam or noise, not a request
        return "quality"
    if lang != "zh" and len(prompt.split()) < 3:
        return "quality"
    return None


@dataclass
class SeedStats:
    read: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    task_types: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    #: where each kept seed's task type came from: file, model or heuristic
    task_type_sources: Counter[str] = field(default_factory=Counter)


#: labels(prompts) -> one task kind (or None: no usable label) per prompt, in order
TaskLabeler = Callable[[list[str]], list[str | None]]


def select(
    recipe: Recipe,
    out_file: Path,
    *,
    progress: Callable[[int], None] | None = None,
    labeler: TaskLabeler | None = None,
) -> dict:
    """Run stage 1 into ``out_file`` (balanced order, JSONL); return the stage summary for the manifest.

    A seed's task type comes from its record, else from ``labeler`` (the model, with an endpoint), else
    from the offline heuristic :func:`raif_data.tasks.classify`."""
    cfg = recipe.seeds
    src, shown = resolve_path(cfg.path, DEMO_SEEDS)
    bad = BadRecords(recipe.skip_bad)
    dedup = Deduplicator(exact=cfg.dedup.exact, near=cfg.dedup.near, num_perm=cfg.dedup.num_perm,
                         bands=cfg.dedup.bands, shingle=cfg.dedup.shingle, capacity=cfg.dedup.capacity)
    stats = SeedStats()
    allowed = set(cfg.languages)
    offsets: dict[str, array] = {}
    kept_file = out_file.with_name(f".{out_file.name}.kept")
    path_text = str(src)
    pending: list[Seed] = []

    def flush(kept: IO[bytes]) -> None:
        # dedup runs on batches: one set of vectorised steps per batch (same verdicts as one by one)
        fresh: list[Seed] = []
        for seed, dup in zip(pending, dedup.seen_batch([p.prompt for p in pending]), strict=True):
            if dup is not None:
                stats.dropped[f"duplicate_{dup}"] += 1
                continue
            if cfg.max_seeds and stats.kept + len(fresh) >= cfg.max_seeds:
                break
            fresh.append(seed)
        for seed in _with_task_types(fresh, labeler, stats):
            offsets.setdefault(seed.task_type, array("q")).append(kept.tell())
            kept.write(dumps_line(seed.to_dict()).encode())
            stats.kept += 1
            stats.task_types[seed.task_type] += 1
            stats.languages[seed.lang] += 1
        pending.clear()

    with open(kept_file, "wb") as kept:
        for line, raw in read_records(src, cfg.format, bad, cfg.hf_split):
            stats.read += 1
            if progress is not None:
                progress(1)
            try:
                seed = to_seed(raw, (path_text, line), cfg)
            except InputFileError as exc:
                bad.handle(exc)
                continue
            lang = seed.lang
            if cfg.detect_language == "always" or (cfg.detect_language == "missing" and not lang):
                lang = detect_lang(seed.prompt) or ""
            if not lang:
                lang = "zh" if _CJK.search(seed.prompt) else "en"
            if allowed and lang not in allowed:
                stats.dropped["language"] += 1
                continue
            why = quality_problem(seed.prompt, lang, cfg)
            if why is not None:
                stats.dropped[why] += 1
                continue
            pending.append(Seed(seed.id, seed.prompt, lang, seed.task_type))
            if len(pending) >= DEDUP_BATCH:
                flush(kept)
                if cfg.max_seeds and stats.kept >= cfg.max_seeds:
                    break
        flush(kept)
    try:
        if stats.kept == 0:
            raise InputFileError(path_text, f"no usable seed prompts (read {stats.read}, dropped "
                                 f"{dict(stats.dropped)}, bad {bad.count})")
        order = _balanced_order(offsets, random.Random(f"seeds:{recipe.seed}"), cfg.balance)
        with open(kept_file, "rb") as kept_in, atomic_open(out_file, "wb") as out:
            for off in order:
                kept_in.seek(off)
                out.write(kept_in.readline())
    finally:
        kept_file.unlink(missing_ok=True)
    source: dict[str, Any] = {"path": shown}
    if isinstance(src, Path):
        source["sha256"] = sha256_file(src)
    return {
        "source": source,
        "read": stats.read,
        "kept": stats.kept,
        "dropped": dict(sorted(stats.dropped.items())),
        "bad_records": bad.count,
        "bad_examples": bad.examples,
        "task_types": dict(sorted(stats.task_types.items())),
        "task_type_sources": dict(sorted(stats.task_type_sources.items())),
        "languages": dict(sorted(stats.languages.items())),
    }


def _with_task_types(seeds: list[Seed], labeler: TaskLabeler | None, stats: SeedStats) -> list[Seed]:
    """``seeds`` with every missing task type filled: the model's label, else the heuristic's."""
    missing = [s for s in seeds if not s.task_type]
    labels = labeler([s.prompt for s in missing]) if (labeler is not None and missing) else [None] * len(missing)
    by_prompt = dict(zip((s.prompt for s in missing), labels, strict=True))
    out = []
    for s in seeds:
        if s.task_type:
            stats.task_type_sources["file"] += 1
            out.append(s)
            continue
        label = by_prompt[s.prompt]
        stats.task_type_sources["model" if label else "heuristic"] += 1
        out.append(Seed(s.id, s.prompt, s.lang, label or classify(s.prompt, s.lang)))
    return out


def _balanced_order(offsets: dict[str, array], rng: random.Random, balance: bool) -> Iterator[int]:
    """Seeds shuffled within each task type, then taken round-robin over the types (sorted by name)."""
    if not balance:
        merged = sorted(off for arr in offsets.values() for off in arr)
        rng.shuffle(merged)
        yield from merged
        return
    queues = []
    for task in sorted(offsets):
        arr = offsets[task]
        rng.shuffle(arr)
        queues.append(arr)
    pos = 0
    while queues:
        live = []
        for arr in queues:
            if pos < len(arr):
                yield arr[pos]
                live.append(arr)
        queues = [a for a in live if pos + 1 < len(a)]
        pos += 1


def iter_seeds(path: Path) -> Iterator[Seed]:
    """The seeds written by :func:`select`, in order."""
    import json

    with open(path, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            yield Seed(d["id"], d["prompt"], d["lang"], d["task_type"])


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
    return n
