"""The staged pipeline behind ``raif-data evolve``: seeds -> instruct -> respond -> shards, each stage
resumable from its outputs in ``<output_dir>/stages/<stage>/`` and finished by an atomic manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from raif_data import __version__
from raif_data.dedup import BloomFilter
from raif_data.files import atomic_open, dumps_line, read_json, remove_stale_temps, sha256_file, write_json
from raif_data.instruct import compose_instruction
from raif_data.recipe import EVAL_ONLY_SOURCES, InstructConfig, Recipe
from raif_data.seeds import DEMO_MATH, Seed, count_lines, resolve_path, select
from raif_data.shards import RL_SCHEMA, SFT_SCHEMA, WITNESS_MODEL, WITNESS_SCORE, ShardWriter, rl_row, sft_row
from raif_rewards import compose, registry
from raif_rewards.errors import InputFileError, RaifError
from raif_rewards.outdir import ensure_output_dir
from raif_rewards.witness import compose_witness

if TYPE_CHECKING:
    from raif_data.drafts import Drafter
    from raif_data.llm import LLMClient

#: builds the client for one role ("instruct", "base", "expert"); tests pass one aimed at a stub
LLMFactory = Callable[[str], "LLMClient"]

log = logging.getLogger(__name__)

STAGES = ("seeds", "decontaminate", "instruct", "respond", "shards")
SCHEMA_VERSION = 2  # 2: rows carry a verified witness; instructions without one are redrawn
#: draws per prompt index before it is given up (duplicates and rows without a witness are redrawn)
MAX_DRAWS = 10


class StaleOutputError(RaifError):
    """The output folder holds a run made with a different recipe (pass --overwrite to replace it)."""


#: progress(stage, total) -> advance(n); the CLI passes rich progress bars, the library a no-op
ProgressFactory = Callable[[str, int | None], Callable[[int], None]]


def _no_progress(stage: str, total: int | None) -> Callable[[int], None]:
    return lambda n: None


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def uses_llm_in_instruct(r: Recipe) -> bool:
    return bool(r.llm.base_url) and (r.instruct.rewrite.enabled or r.instruct.soft.enabled
                                     or r.instruct.structure.enabled or bool(r.quality.instruction_judges))


def uses_structure(r: Recipe) -> bool:
    """Whether the model writes sub-task structure (chain sub-tasks, content conditions) in stage 2."""
    return bool(r.llm.base_url) and r.instruct.structure.enabled


def labels_task_types(r: Recipe) -> bool:
    return bool(r.llm.base_url) and r.seeds.task_type_from_model


def uses_respond(r: Recipe) -> bool:
    return bool(r.llm.base_url) and r.respond.enabled


def uses_decontaminate(r: Recipe) -> bool:
    return bool(r.decontaminate.eval_files)


def fingerprints(r: Recipe) -> dict[str, str]:
    """What decides each stage's output (runtime knobs such as concurrency or paths are left out)."""
    d = r.to_dict()
    fp = {"seeds": _hash({"seed": r.seed, "skip_bad": r.skip_bad, "seeds": d["seeds"]})}
    if labels_task_types(r):  # the model's task-type labels shape the seeds stage
        fp["seeds"] = _hash({"up": fp["seeds"], "task_type_model": r.llm.model})
    fp["decontaminate"] = ""
    if uses_decontaminate(r):
        from raif_data.decontaminate import fingerprint_entry

        dc = d["decontaminate"]
        # the files' bytes decide the drops, not their paths
        files = [fingerprint_entry(e) for e in r.decontaminate.eval_files]
        fp["decontaminate"] = _hash({"up": fp["seeds"], "ngram": dc["ngram"], "threshold": dc["threshold"],
                                     "files": files, "names": [_entry_name(e) for e in r.decontaminate.eval_files]})
    llm_model = r.llm.model if uses_llm_in_instruct(r) else None
    # the judges' questions and thresholds decide which rows stay; where the judge runs does not
    quality = {k: v for k, v in d["quality"].items() if k != "judge_base_url"}
    instruct = {k: v for k, v in d["instruct"].items() if k != "workers"}  # the output is the same for any
    fp["instruct"] = _hash({"up": fp["decontaminate"] or fp["seeds"], "num_prompts": r.num_prompts, "instruct": instruct,
                            "math": d["math"], "chunk": r.output.chunk_size, "model": llm_model,
                            "schema": SCHEMA_VERSION,
                            **({"quality": quality} if uses_llm_in_instruct(r) else {})})
    fp["respond"] = _hash({"up": fp["instruct"], "respond": d["respond"], "model": r.llm.model,
                           "quality": quality}) if uses_respond(r) else ""
    out = {k: v for k, v in d["output"].items() if k != "chunk_size"}
    fp["shards"] = _hash({"up": fp["instruct"], "respond": fp["respond"], "output": out})
    return fp


@dataclass
class Layout:
    root: Path

    def stage(self, name: str) -> Path:
        return self.root / "stages" / name

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def chunk(self, stage: str, c: int) -> Path:
        return self.stage(stage) / f"chunk-{c:05d}.jsonl"


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _finished(layout: Layout, stage: str, fp: str) -> dict:
    """The manifest of ``stage`` when it finished for this recipe (fingerprint ``fp``), else a RaifError."""
    manifest = read_json(layout.stage(stage) / "manifest.json")
    if manifest is None or manifest.get("fingerprint") != fp:
        raise RaifError(f"{layout.stage(stage)}: stage '{stage}' has not finished for this recipe; "
                        f"run `raif-data {stage}` (or `raif-data evolve`) first")
    return manifest


def _read_manifest(path: Path) -> dict:
    """A manifest that must be there: its JSON object, else a one-line RaifError."""
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise RaifError(f"{path}: missing or not a JSON object; run the stage again")
    return manifest


def _begin_stage(layout: Layout, stage: str, fp: str, overwrite: bool) -> tuple[Path, dict | None]:
    """(stage folder, its manifest when already complete, else None). A folder made with another
    recipe is an error unless ``overwrite``, then it and every later stage are cleared."""
    folder = layout.stage(stage)
    ensure_output_dir(layout.root)
    manifest = read_json(folder / "manifest.json")
    started = read_json(folder / "started.json")
    previous = (manifest or started or {}).get("fingerprint")
    if previous is not None and previous != fp:
        # Only a finished stage guards its recipe: an unfinished one (started.json alone, e.g. stopped by a
        # bad seed line) is restarted, so that the fix (--skip-bad, a corrected file) can run. The endpoint
        # cache lives beside the stages, so no paid call is lost.
        if manifest is None:
            log.info("%s: restarting stage %r, left unfinished by a different recipe", folder, stage)
        elif not overwrite:
            raise StaleOutputError(
                f"{folder}: holds stage {stage!r} of a run with a different recipe or inputs; "
                "pass --overwrite to replace it, or choose another --output-dir")
        for later in STAGES[STAGES.index(stage):]:
            shutil.rmtree(layout.stage(later), ignore_errors=True)
        manifest = None
    if manifest is not None:
        return folder, manifest
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    write_json(folder / "started.json", {"stage": stage, "fingerprint": fp})
    return folder, None


# ------------------------------------------------------------------------------------------ stage 1


def run_seeds(r: Recipe, layout: Layout, *, overwrite: bool = False,
              progress: ProgressFactory = _no_progress, llm_factory: Callable[..., Any] | None = None) -> dict:
    fp = fingerprints(r)["seeds"]
    folder, finished = _begin_stage(layout, "seeds", fp, overwrite)
    if finished is not None:
        return finished
    client = None
    if labels_task_types(r):
        from raif_data.llm import make_client
        from raif_data.tasks import model_labeler

        client = llm_factory("seeds") if llm_factory else make_client(r.llm, layout.root)
    try:
        summary = select(r, folder / "seeds.jsonl", progress=progress("seeds", None),
                         labeler=model_labeler(client) if client is not None else None)
    finally:
        if client is not None:
            client.close()
    manifest = {"stage": "seeds", "fingerprint": fp, **summary,
                "output": {"file": "seeds.jsonl", "rows": summary["kept"],
                           "sha256": sha256_file(folder / "seeds.jsonl")}}
    write_json(folder / "manifest.json", manifest)
    return manifest


# ------------------------------------------------------------------------------------- decontaminate


def _entry_name(entry: str) -> str:
    from raif_data.decontaminate import parse_entry

    bench, raw = parse_entry(entry)
    return bench or Path(raw).stem


def seeds_file(r: Recipe, layout: Layout) -> Path:
    """The seeds stage 2 reads: the decontaminated ones when evaluation files are given."""
    stage = "decontaminate" if uses_decontaminate(r) else "seeds"
    return layout.stage(stage) / "seeds.jsonl"


def run_decontaminate(r: Recipe, layout: Layout, *, overwrite: bool = False,
                      progress: ProgressFactory = _no_progress) -> dict:
    """Drop the selected seeds that overlap an evaluation set (see :mod:`raif_data.decontaminate`)."""
    from raif_data.decontaminate import EvalIndex, load_eval_set

    fps = fingerprints(r)
    if not uses_decontaminate(r):
        raise RaifError("stage 'decontaminate' needs evaluation prompt files: set decontaminate.eval_files "
                        "(or --eval-file)")
    seeds_m = _finished(layout, "seeds", fps["seeds"])
    folder, done = _begin_stage(layout, "decontaminate", fps["decontaminate"], overwrite)
    if done:
        return _finished(layout, "decontaminate", fps["decontaminate"])
    cfg = r.decontaminate
    sets = [load_eval_set(e) for e in cfg.eval_files]
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise RaifError(f"decontaminate.eval_files: two entries name the evaluation set {max(names, key=names.count)!r}; "
                        "give each set once")
    index = EvalIndex.build(sets, cfg.ngram)
    dropped: Counter = Counter()
    kept = read = 0
    advance = progress("decontaminate", seeds_m["kept"])
    with open(layout.stage("seeds") / "seeds.jsonl", encoding="utf-8") as src, \
            atomic_open(folder / "seeds.jsonl") as out:
        for line in src:
            read += 1
            over = index.verdict(json.loads(line)["prompt"]).over(cfg.threshold)
            if over:
                dropped.update(over)
                dropped["(any)"] += 1
            else:
                out.write(line)
                kept += 1
            advance(1)
    if kept == 0:
        raise RaifError(f"decontaminate: every one of the {read} seeds overlaps an evaluation set "
                        f"(threshold {cfg.threshold}); nothing is left to build instructions on")
    manifest = {"stage": "decontaminate", "fingerprint": fps["decontaminate"], "read": read, "kept": kept,
                "dropped": dropped.pop("(any)", 0), "dropped_by_eval_set": {n: dropped.get(n, 0) for n in names},
                "ngram": cfg.ngram, "threshold": cfg.threshold,
                "eval_sets": {s.name: {"source": s.source, "prompts": len(s.prompts)} for s in sets},
                "output": {"file": "seeds.jsonl", "rows": kept, "sha256": sha256_file(folder / "seeds.jsonl")}}
    write_json(folder / "manifest.json", manifest)
    return manifest


# ------------------------------------------------------------------------------------------ stage 2


class _Lines:
    """Line k of a JSONL file, read forwards (reopened when asked for an earlier line)."""

    def __init__(self, path: Path):
        self.path, self._next = path, 0
        self._fh: TextIO | None = None

    def get(self, k: int) -> tuple[int, str]:
        if self._fh is None or k < self._next:
            if self._fh is not None:
                self._fh.close()
            self._fh, self._next = open(self.path, encoding="utf-8"), 0
        while True:
            line = self._fh.readline()
            if not line:
                raise IndexError(k)
            if not line.strip():
                continue
            self._next += 1
            if self._next - 1 == k:
                return self._next, line

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


@dataclass
class _MathSource:
    path: Path
    shown: str
    count: int
    cfg: Any
    lines: _Lines = field(init=False)

    def __post_init__(self) -> None:
        self.lines = _Lines(self.path)

    def item(self, j: int) -> tuple[str, str, str]:
        """(id, problem, answer) of the j-th non-blank line."""
        _, line = self.lines.get(j)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(self.shown, f"malformed JSON ({exc.msg})", j + 1) from None
        if not isinstance(obj, dict):
            raise InputFileError(self.shown, "expected a JSON object", j + 1)
        pf, af = self.cfg.problem_field, self.cfg.answer_field
        problem, answer = obj.get(pf), obj.get(af)
        if not isinstance(problem, str) or not problem.strip():
            raise InputFileError(self.shown, "missing or empty (expected the problem text)", j + 1, pf)
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(answer, str) or not answer.strip():
            raise InputFileError(self.shown, "missing or empty (expected the reference answer)", j + 1, af)
        mid = obj.get("id")
        return (str(mid) if mid not in (None, "") else f"{Path(self.shown).name}:{j + 1}"), problem.strip(), answer.strip()


def _math_source(r: Recipe) -> _MathSource | None:
    if r.math.ratio <= 0:
        return None
    path, shown = resolve_path(r.math.path, DEMO_MATH)
    if not isinstance(path, Path) or not path.is_file():
        raise InputFileError(str(path), "no such file (math.path)")
    with open(path, encoding="utf-8") as handle:
        n = sum(1 for line in handle if line.strip())
    if n == 0:
        raise InputFileError(shown, "empty math problem file")
    return _MathSource(path, shown, n, r.math)


def math_before(i: int, ratio: float, available: int) -> int:
    """Math items among indices [0, i): spread evenly at ``ratio``, capped by the file's size."""
    return min(int(i * ratio), available) if ratio > 0 else 0


def split_of(seed_id: str, r: Recipe) -> str:
    """Train/validation by seed, so no seed's prompts sit on both sides."""
    h = int.from_bytes(hashlib.blake2b(f"{r.seed}:{seed_id}".encode(), digest_size=8).digest(), "little")
    return "validation" if h / 2**64 < r.output.validation_fraction else "train"


def _sources(ids: list[str]) -> list[str]:
    return [registry.get(i).source for i in ids]


class Witnessed(NamedTuple):
    """An instruction with its verified witness, as its stage-2 record keeps them (plain data, so that a
    worker process can hand it back)."""

    prompt: str
    ground_truth: str  # compose.to_json of the rule truth
    composition: str
    constraint_ids: list[str]
    witness: str  # the completion that earns the full reward
    parts: dict[str, Any] | None  # what the structure step may re-render (Instruction.parts)


def draw_witnessed(rng: random.Random, seed: Seed, cfg: InstructConfig, key: str, counters: Counter,
                   accept: Callable[[str], bool] = lambda prompt: True) -> Witnessed | None:
    """The first of up to ``MAX_DRAWS`` instructions for ``seed`` that has a verified witness (an answer
    that earns the full reward) and whose prompt ``accept`` takes (not a duplicate); ``None`` if none.

    Draws without a witness are counted in ``counters`` as ``redrawn:<reason>`` (a constraint pair that
    cannot hold together, or the constraint whose check the composed answer failed); an index where
    no draw had one as ``dropped_no_witness``.
    """
    witnessed = False
    for _attempt in range(MAX_DRAWS):
        ins = compose_instruction(rng, seed, cfg)
        witness, reason = compose_witness(ins.truth, seed.prompt, key)
        if witness is None:
            counters[f"redrawn:{reason}"] += 1
            continue
        witnessed = True
        if accept(ins.prompt):
            return Witnessed(ins.prompt, compose.to_json(ins.truth), ins.composition, ins.constraint_ids,
                             witness.completion, ins.parts)
    if not witnessed:
        counters["dropped_no_witness"] += 1
    return None


class Draft(NamedTuple):
    """What a worker process drew for one rule index: :func:`draw_witnessed` taking every draw (the
    duplicate filter lives in the main process), and the counts those draws added."""

    i: int  # the global index
    seed: Seed
    found: Witnessed | None
    counts: dict[str, int]


def seed_row(i: int, r: Recipe, m_avail: int, n_seeds: int) -> int | None:
    """The seeds-file row that global index ``i`` draws for, or None when ``i`` is a math index."""
    m_i = math_before(i, r.math.ratio, m_avail)
    if math_before(i + 1, r.math.ratio, m_avail) > m_i:
        return None
    return (i - m_i) % n_seeds


def read_seed(seeds: _Lines, row: int) -> Seed:
    _, line = seeds.get(row)
    d = json.loads(line)
    return Seed(d["id"], d["prompt"], d["lang"], d["task_type"])


def _draw(i: int, r: Recipe, seed: Seed, counters: Counter,
          accept: Callable[[str], bool] = lambda prompt: True) -> Witnessed | None:
    """:func:`draw_witnessed` for global index ``i`` (its own random stream and witness key)."""
    return draw_witnessed(random.Random(f"instruct:{r.seed}:{i}"), seed, r.instruct, f"{r.seed}:{i}", counters, accept)


def draft(i: int, r: Recipe, seed: Seed) -> Draft:
    """What :func:`build_record` would draw for rule index ``i`` if no earlier prompt were a duplicate."""
    counts: Counter = Counter()
    return Draft(i, seed, _draw(i, r, seed, counts), dict(counts))


def _math_record(i: int, r: Recipe, maths: _MathSource, seen: BloomFilter, counters: Counter) -> dict | None:
    mid, problem, answer = maths.item(math_before(i, r.math.ratio, maths.count))
    text = f"{problem}\n\n{r.math.suffix}".strip() if r.math.suffix else problem
    if seen.add(b"p" + text.encode()):
        counters["duplicate"] += 1
        return None
    return {"index": i, "kind": "math", "seed_id": mid, "lang": "en", "task_type": "math", "prompt": text,
            "ground_truth": compose.to_json(compose.MathTruth(answer)), "composition": "math",
            "constraint_ids": [], "constraint_sources": [], "split": split_of(mid, r)}


def build_record(i: int, r: Recipe, seeds: _Lines, n_seeds: int, maths: _MathSource | None,
                 seen: BloomFilter, counters: Counter, drafted: Draft | None = None) -> dict | None:
    """Stage-2 record for global index ``i`` (a pure function of i, the inputs and earlier records).

    ``drafted``: a worker's :func:`draft` for rule index ``i``. Its draws are what the loop here makes
    up to its first witnessed instruction, so when that one is no duplicate they are the answer;
    otherwise ``i`` is drawn again here, against the filter (which holds that prompt already, so
    offering it again changes nothing).
    """
    if drafted is None:
        row = seed_row(i, r, maths.count if maths else 0, n_seeds)
        if row is None:
            assert maths is not None  # only a math source makes math indices
            return _math_record(i, r, maths, seen, counters)
        seed = read_seed(seeds, row)
    else:
        seed = drafted.seed

    def accept(prompt: str) -> bool:
        return not seen.add(b"p" + prompt.encode())

    found: Witnessed | None
    if drafted is not None and (drafted.found is None or accept(drafted.found.prompt)):
        found = drafted.found
        counters.update(drafted.counts)
    else:
        found = _draw(i, r, seed, counters, accept)
    if found is None:
        return None
    rec = {"index": i, "kind": "rule", "seed_id": seed.id, "lang": seed.lang, "task_type": seed.task_type,
           "prompt": found.prompt, "seed_prompt": seed.prompt, "ground_truth": found.ground_truth,
           "composition": found.composition, "constraint_ids": found.constraint_ids,
           "constraint_sources": _sources(found.constraint_ids), "split": split_of(seed.id, r),
           "witness": found.witness}
    if found.parts is not None and uses_structure(r):
        # read (and removed) by the structure step before the chunk is written (raif_data/enrich.py)
        rec["parts"] = found.parts
    return rec


def _counts_path(chunk: Path) -> Path:
    return chunk.with_name(chunk.stem + ".counts.json")


def iter_chunk(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def n_chunks(r: Recipe) -> int:
    return -(-r.num_prompts // r.output.chunk_size)


def _drafter(r: Recipe, layout: Layout, seeds_path: Path, n_seeds: int, m_avail: int) -> Drafter | None:
    """Workers for the chunks still to write (instruct.workers), or None to draw in this process."""
    from raif_data.drafts import Drafter, workers_for

    size = r.output.chunk_size
    ranges = [(c * size, min(r.num_prompts, (c + 1) * size)) for c in range(n_chunks(r))
              if not layout.chunk("instruct", c).exists()]
    workers = workers_for(r, sum(hi - lo for lo, hi in ranges))
    return Drafter(r, seeds_path, n_seeds, m_avail, ranges, workers) if workers > 1 else None


def run_instruct(r: Recipe, layout: Layout, *, overwrite: bool = False, progress: ProgressFactory = _no_progress,
                 llm_factory: LLMFactory | None = None) -> dict:
    fps = fingerprints(r)
    _finished(layout, "seeds", fps["seeds"])
    if uses_decontaminate(r):
        _finished(layout, "decontaminate", fps["decontaminate"])
    folder, finished = _begin_stage(layout, "instruct", fps["instruct"], overwrite)
    if finished is not None:
        return finished
    allowed = sorted(set(r.instruct.sources) & set(EVAL_ONLY_SOURCES))
    if allowed:
        log.warning("sampling evaluation-only constraint source(s) %s for training "
                    "(instruct.allow_eval_constraints): these rows contaminate that benchmark's results",
                    ", ".join(allowed))
    seeds_path = seeds_file(r, layout)
    n_seeds = count_lines(seeds_path)
    maths = _math_source(r)
    seen = BloomFilter(max(r.num_prompts, 1000))
    counters: Counter = Counter()
    lines = _Lines(seeds_path)
    advance = progress("instruct", r.num_prompts)
    size = r.output.chunk_size
    drafter = _drafter(r, layout, seeds_path, n_seeds, maths.count if maths else 0)
    written: dict[int, Counter] = {}  # kinds of the chunks written here (the manifest need not read them back)
    enrich = None
    try:
        if uses_llm_in_instruct(r):  # after the fork: the workers need none of the client's threads
            from raif_data.enrich import InstructEnricher

            enrich = InstructEnricher(r, layout.root, llm_factory)
        for c in range(n_chunks(r)):
            path = layout.chunk("instruct", c)
            lo, hi = c * size, min(r.num_prompts, (c + 1) * size)
            if path.exists():  # finished before a crash: replay its prompts into the duplicate filter
                for rec in iter_chunk(path):
                    seen.add(b"p" + rec.get("template_prompt", rec["prompt"]).encode())
                advance(hi - lo)
                continue
            records = []
            chunk_counts: Counter = Counter()
            for i in range(lo, hi):
                drafted = drafter.get(i) if drafter is not None else None
                built = build_record(i, r, lines, n_seeds, maths, seen, chunk_counts, drafted)
                if drafter is not None:
                    drafter.account(drafted, built)
                if built is not None:
                    records.append(built)
                advance(1)
            if enrich is not None:
                counts = enrich.apply(records)
                # kept beside the chunk, so that a resumed run still reports every chunk's counts
                write_json(path.with_suffix(".llm.json"), counts)
            # the chunk's redraw counts go first: a finished chunk always has them (resume-exact totals)
            write_json(_counts_path(path), dict(sorted(chunk_counts.items())))
            with atomic_open(path) as fh:
                fh.writelines(dumps_line(rec) for rec in records)
            written[c] = _kinds(records)
    finally:
        if drafter is not None:
            drafter.close()
        lines.close()
        if maths is not None:
            maths.lines.close()
        if enrich is not None:
            enrich.close()
    manifest = _summarise_chunks(layout, "instruct", r, written)
    for c in range(n_chunks(r)):
        counters.update(read_json(_counts_path(layout.chunk("instruct", c))) or {})
    no_witness = counters.pop("dropped_no_witness", 0)
    llm_counts: Counter = Counter()
    if enrich is not None:
        for c in range(n_chunks(r)):
            llm_counts.update(read_json(layout.chunk("instruct", c).with_suffix(".llm.json")) or {})
    judged_out = llm_counts.get("instruction_rejected", 0)
    manifest.update({"fingerprint": fps["instruct"], "requested": r.num_prompts,
                     "duplicates_dropped": r.num_prompts - manifest["records"] - no_witness - judged_out,
                     "dropped_no_witness": no_witness,
                     "instructions_rejected": judged_out,
                     "redrawn": {k.removeprefix("redrawn:"): v for k, v in sorted(counters.items())
                                 if k.startswith("redrawn:")},
                     "math_source": maths.shown if maths else None,
                     "eval_only_sources": allowed})
    if enrich is not None:
        manifest["llm"] = {"model": enrich.client.model, **dict(sorted(llm_counts.items()))}
    write_json(folder / "manifest.json", manifest)
    return manifest


def _kinds(records: Iterable[dict]) -> Counter:
    return Counter(rec.get("kind", rec.get("drop") or "kept") for rec in records)


def _summarise_chunks(layout: Layout, stage: str, r: Recipe, known: dict[int, Counter] | None = None) -> dict:
    """The stage manifest's chunk list and counts; ``known``: the kinds of chunks this run wrote
    (the others are read back)."""
    files, total = [], 0
    kinds: Counter = Counter()
    for c in range(n_chunks(r)):
        path = layout.chunk(stage, c)
        counted = (known or {}).get(c)
        if counted is None:
            counted = _kinds(iter_chunk(path))
        rows = sum(counted.values())
        kinds.update(counted)
        total += rows
        files.append({"file": path.name, "rows": rows, "sha256": sha256_file(path)})
    return {"stage": stage, "records": total, "by_kind": dict(sorted(kinds.items())), "chunks": files}


# ------------------------------------------------------------------------------------------ stage 3


def run_respond(r: Recipe, layout: Layout, *, overwrite: bool = False, progress: ProgressFactory = _no_progress,
                llm_factory: LLMFactory | None = None) -> dict:
    from raif_data.respond import ParallelResponder, Responder

    fps = fingerprints(r)
    if not uses_respond(r):
        raise RaifError("stage 'respond' needs an endpoint: set llm.base_url and llm.model (or --base-url/--model)")
    inst = _finished(layout, "instruct", fps["instruct"])
    folder, finished = _begin_stage(layout, "respond", fps["respond"], overwrite)
    if finished is not None:
        return finished
    responder: Responder | ParallelResponder
    if r.llm.workers > 1 and llm_factory is None:
        from raif_data.llm import preflight

        preflight(r.llm.base_url, timeout=min(r.llm.timeout, 10.0))  # fail once, here, not in every worker
        responder = ParallelResponder(r, layout.root, r.llm.workers)
    else:
        responder = Responder(r, layout.root, llm_factory)
    advance = progress("respond", inst["records"])
    try:
        for c in range(n_chunks(r)):
            path = layout.chunk("respond", c)
            src = list(iter_chunk(layout.chunk("instruct", c)))
            if path.exists():
                advance(len(src))
                continue
            verdicts = responder.run_chunk(src, advance)
            with atomic_open(path) as fh:
                fh.writelines(dumps_line(v) for v in verdicts)
    finally:
        responder.close()
    manifest = _summarise_chunks(layout, "respond", r)
    rejected: Counter = Counter()
    for c in range(n_chunks(r)):
        for v in iter_chunk(layout.chunk("respond", c)):
            rejected.update(v.get("judge_rejected") or {})
    manifest.update({"fingerprint": fps["respond"], "llm": responder.summary(),
                     "answers_rejected": dict(sorted(rejected.items()))})
    write_json(folder / "manifest.json", manifest)
    return manifest


# ------------------------------------------------------------------------------------------ shards


def _versions() -> dict:
    import pyarrow

    return {
        "raif": __version__,
        "pyarrow": pyarrow.__version__,
        "git_revision": _git_revision(),
        "checkers": {c.id: c.version for c in registry.all_checkers()},
    }


def run_shards(r: Recipe, layout: Layout, *, progress: ProgressFactory = _no_progress) -> dict:
    """Write train/validation RL shards (and SFT shards when expert responses exist), then the manifest."""
    ensure_output_dir(layout.root)
    fps = fingerprints(r)
    inst = _finished(layout, "instruct", fps["instruct"])
    with_respond = uses_respond(r)
    if with_respond:
        _finished(layout, "respond", fps["respond"])
    # witnesses become expert rows in a fully offline run; with an endpoint the expert model writes them
    offline = not with_respond and not uses_llm_in_instruct(r)
    out = r.output
    writers = {s: ShardWriter(layout.root / s, RL_SCHEMA, out.rows_per_shard, out.compression)
               for s in ("train", "validation")}
    sft = ShardWriter(layout.root / "sft" / "train", SFT_SCHEMA, out.rows_per_shard, out.compression)
    provenance = {"generator": f"raif-data {__version__}", "recipe": fps["shards"][:16],
                  "response_model": r.llm.model if with_respond else None}
    counts: Counter = Counter()
    advance = progress("shards", inst["records"])
    try:
        for c in range(n_chunks(r)):
            verdicts = iter_chunk(layout.chunk("respond", c)) if with_respond else None
            for rec in iter_chunk(layout.chunk("instruct", c)):
                advance(1)
                v = next(verdicts) if verdicts is not None else None
                if v is not None and v["index"] != rec["index"]:
                    raise RaifError(f"{layout.chunk('respond', c)}: out of step with stage 'instruct' "
                                    f"(index {v['index']} vs {rec['index']}); rerun with --overwrite")
                if v is not None and v.get("drop"):
                    counts[f"dropped_{v['drop']}"] += 1
                    continue
                split = rec["split"]
                row = rl_row(rec, split, v, provenance)
                writers[split].add(row)
                counts[split] += 1
                if split != "train":
                    continue
                if v is not None:
                    for acc in v.get("accepted", []):
                        sft.add(sft_row(row, acc["response"], model=acc["model"], score=acc["score"],
                                        reasoning=acc["reasoning"], synthetic=False))
                        counts["sft"] += 1
                elif offline and rec.get("witness") and row["reward_model"]["style"] == "rule":
                    # offline: the verified witness is the expert row (it earned the full reward)
                    sft.add(sft_row(row, rec["witness"], model=WITNESS_MODEL, score=WITNESS_SCORE,
                                    reasoning=True, synthetic=True))
                    counts["sft"] += 1
    except BaseException:
        for w in (*writers.values(), sft):
            w.abort()
        raise
    files = {s: w.close() for s, w in writers.items()}
    sft_files = sft.close()
    if not sft_files:
        shutil.rmtree(layout.root / "sft", ignore_errors=True)
    seeds_m = _finished(layout, "seeds", fps["seeds"])
    decon_m = read_json(layout.stage("decontaminate") / "manifest.json") if uses_decontaminate(r) else None
    manifest = {
        "format": "raif-data/1",
        "fingerprint": fps["shards"],
        "counts": {"train": counts["train"], "validation": counts["validation"], "sft": counts["sft"],
                   **{k: v for k, v in sorted(counts.items()) if k.startswith("dropped_")},
                   "duplicates_dropped": inst["duplicates_dropped"],
                   "dropped_no_witness": inst.get("dropped_no_witness", 0),
                   "instructions_rejected": inst.get("instructions_rejected", 0),
                   "decontaminated": decon_m["dropped"] if decon_m else 0},
        "witness_redrawn": inst.get("redrawn", {}),
        "decontamination": None if decon_m is None else {
            k: decon_m[k] for k in ("read", "kept", "dropped", "dropped_by_eval_set", "ngram", "threshold", "eval_sets")},
        "shards": {s: [dict(f, file=f"{s}/{f['file']}") for f in fl] for s, fl in files.items()},
        "sft_shards": [dict(f, file=f"sft/train/{f['file']}") for f in sft_files],
        "schema": {"rl": RL_SCHEMA.to_string(show_schema_metadata=False),
                   "sft": SFT_SCHEMA.to_string(show_schema_metadata=False)},
        "seeds": {"seed": r.seed, "source": seeds_m["source"], "kept": seeds_m["kept"], "read": seeds_m["read"],
                  "dropped": seeds_m["dropped"], "bad_records": seeds_m["bad_records"],
                  "math_source": inst.get("math_source")},
        "config": {k: v for k, v in r.to_dict().items() if k != "output_dir"},
        "versions": _versions(),
        # per-reason counts of the model-judged quality control (raif_data/judges.py)
        "quality": {"instruct": {k: v for k, v in (inst.get("llm") or {}).items() if k != "model"},
                    "answers_rejected": (_read_manifest(layout.stage("respond") / "manifest.json")
                                         .get("answers_rejected", {}) if with_respond else {})},
        "stages": {s: _read_manifest(layout.stage(s) / "manifest.json").get("fingerprint")
                   for s in STAGES[:-1]
                   if (s != "decontaminate" or decon_m) and (layout.stage(s) / "manifest.json").exists()},
    }
    write_json(layout.manifest, manifest)
    return manifest


def up_to_date(r: Recipe, layout: Layout) -> bool:
    """The final manifest matches this recipe and every shard it lists is present with the sha256 the
    manifest records (a truncated or edited shard makes the shards be written again)."""
    m = read_json(layout.manifest)
    if not m or m.get("fingerprint") != fingerprints(r)["shards"]:
        return False
    listed = [f for fl in m.get("shards", {}).values() for f in fl] + m.get("sft_shards", [])
    for f in listed:
        path = layout.root / f["file"]
        if not path.is_file() or sha256_file(path) != f.get("sha256"):
            log.warning("%s is missing or differs from the manifest; writing the shards again", path)
            return False
    return True


def evolve(r: Recipe, *, overwrite: bool = False, progress: ProgressFactory = _no_progress,
           llm_factory: LLMFactory | None = None) -> dict:
    """Run every stage (skipping those already complete) and return the final manifest."""
    if not r.output_dir:
        raise RaifError("no output folder: pass --output-dir (or set output_dir in the recipe)")
    layout = Layout(ensure_output_dir(r.output_dir))
    if not overwrite and up_to_date(r, layout):
        log.info("%s is up to date; nothing to do", layout.manifest)
        return _read_manifest(layout.manifest)
    if overwrite and layout.manifest.exists():
        m = read_json(layout.manifest)
        if m and m.get("fingerprint") != fingerprints(r)["shards"]:
            layout.manifest.unlink()
    elif layout.manifest.exists():
        m = read_json(layout.manifest)
        if m and m.get("fingerprint") != fingerprints(r)["shards"]:
            raise StaleOutputError(f"{layout.manifest}: this folder holds a run made with a different recipe; "
                                   "pass --overwrite to replace it, or choose another --output-dir")
    run_seeds(r, layout, overwrite=overwrite, progress=progress, llm_factory=llm_factory)
    if uses_decontaminate(r):
        run_decontaminate(r, layout, overwrite=overwrite, progress=progress)
    run_instruct(r, layout, overwrite=overwrite, progress=progress, llm_factory=llm_factory)
    if uses_respond(r):
        run_respond(r, layout, overwrite=overwrite, progress=progress, llm_factory=llm_factory)
    return run_shards(r, layout, progress=progress)
