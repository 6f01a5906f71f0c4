"""Typed data-pipeline recipe: YAML in ``pipelines/data_*.yaml`` validated into dataclasses.

Unknown keys and wrong types fail at load time with the key's path; CLI flags override fields by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raif_rewards import safeyaml, typedconfig
from raif_rewards.errors import RaifError

SOURCES = ("ifeval", "iftrain", "ifbench", "raif")
#: Sources that are a benchmark's test constraints: training on them contaminates that benchmark, so a
#: recipe samples them only with ``instruct.allow_eval_constraints: true``.
EVAL_ONLY_SOURCES = {
    "ifbench": "IFBench's 58 test constraints are evaluation-only: training on them contaminates IFBench "
    "results; use 'iftrain' (IFBench's 29 training constraints)",
}
COMPOSITIONS = ("and", "chain", "selection", "nested")


class RecipeError(RaifError, ValueError):
    """A recipe key with a wrong type, an unknown key, or an out-of-range value (names the key path)."""

    def __init__(self, path: str, message: str, file: str | None = None):
        self.key, self.file, self.detail = path, file, message
        where = f"{file}: " if file else ""
        super().__init__(f"{where}recipe key {typedconfig.brief(path)}: {message}")


@dataclass
class DedupConfig:
    exact: bool = True
    near: bool = True
    #: MinHash permutations and LSH bands (rows per band = num_perm / bands); 64/8 flags Jaccard >~0.75
    num_perm: int = 64
    bands: int = 8
    shingle: int = 3
    #: distinct seeds the fixed-size dedup filters are sized for (memory does not grow past it)
    capacity: int = 1_000_000


@dataclass
class SeedsConfig:
    #: JSONL / Parquet / CSV file, or ``hf:NAME`` for a Hugging Face dataset; empty = shipped demo seeds
    path: str = ""
    format: str = "auto"  # auto | jsonl | parquet | csv | hf
    #: our field -> field name in the input (prompt is required, the others optional)
    fields: dict[str, str] = field(
        default_factory=lambda: {"id": "id", "prompt": "prompt", "lang": "lang", "task_type": "task_type"}
    )
    hf_split: str = "train"
    languages: list[str] = field(default_factory=lambda: ["en", "zh"])
    detect_language: str = "missing"  # never | missing | always
    min_chars: int = 8
    max_chars: int = 4000
    max_seeds: int = 0  # 0: read the whole input
    balance: bool = True  # round-robin over task types
    #: with an endpoint (llm.base_url), ask the model for the task type of seeds whose file gives none
    #: (otherwise, and when its label is not a known kind, the offline heuristic decides)
    task_type_from_model: bool = True
    dedup: DedupConfig = field(default_factory=DedupConfig)


@dataclass
class RewriteConfig:
    enabled: bool = False
    ratio: float = 1.0
    temperature: float = 0.7
    max_tokens: int = 1024
    #: how the model weaves the constraints of a plain "and" into the request, one drawn per row
    #: (sentences: a run of sentences; list: a list of requirements; role: a role or scenario framing);
    #: chain and selection rows keep their step or case layout (raif_data/enrich.py REWRITE_PROMPTS)
    styles: list[str] = field(default_factory=lambda: ["sentences", "list", "role"])


@dataclass
class StructureConfig:
    """Sub-task structure written by the model (raif_data/structure.py): the steps of a chain become
    dependent sub-tasks, a selection gets a condition about the request's content. Needs an endpoint
    and ``quality.round_trip``; without an endpoint the template scaffolds stay."""

    enabled: bool = False
    #: share of chain, selection and nested rows asked
    ratio: float = 1.0
    temperature: float = 0.7
    max_tokens: int = 1024


@dataclass
class SoftConfig:
    enabled: bool = False
    ratio: float = 0.2
    max_questions: int = 3
    temperature: float = 0.7
    max_tokens: int = 512


@dataclass
class InstructConfig:
    sources: list[str] = field(default_factory=lambda: ["ifeval"])
    min_constraints: int = 1
    max_constraints: int = 4
    compositions: dict[str, float] = field(
        default_factory=lambda: {"and": 0.55, "chain": 0.15, "selection": 0.15, "nested": 0.15}
    )
    include_ids: list[str] = field(default_factory=list)
    exclude_ids: list[str] = field(default_factory=list)
    #: sample evaluation-only sources (``ifbench``) for training anyway (a warning is logged)
    allow_eval_constraints: bool = False
    rewrite: RewriteConfig = field(default_factory=RewriteConfig)
    soft: SoftConfig = field(default_factory=SoftConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    #: processes drawing instructions and witnesses (0: one per CPU this process may use; 1: none
    #: besides the main one); the output is the same, byte for byte, whatever the number
    workers: int = 0


@dataclass
class DecontaminateConfig:
    #: evaluation prompts to keep out of the seeds: JSONL files with a ``prompt`` (or chat ``messages``)
    #: field, e.g. IFEval's input_data.jsonl and IFBench's IFBench_test.jsonl, or ``BENCH:PATH`` read by
    #: raif-eval's adapter for BENCH. Empty: the stage does nothing.
    eval_files: list[str] = field(default_factory=list)
    #: word n-gram length (13, the length GPT-3's contamination study used)
    ngram: int = 13
    #: drop a seed whose overlap with one evaluation set reaches this share of n-grams
    threshold: float = 0.5


@dataclass
class MathConfig:
    #: DeepScaleR-style JSONL (``problem``, ``answer``); empty = none, ``demo`` = shipped demo file
    path: str = ""
    ratio: float = 0.0
    problem_field: str = "problem"
    answer_field: str = "answer"
    suffix: str = "Let's think step by step and output the final answer within \\boxed{}."


@dataclass
class ExpertConfig:
    base_url: str = ""
    model: str = ""
    samples: int = 1


@dataclass
class RespondConfig:
    enabled: bool = True  # runs only when llm.base_url is set
    samples: int = 4  # base-model responses with reasoning
    direct_samples: int = 2  # base-model direct answers (empty think block)
    temperature: float = 0.8
    max_tokens: int = 2048
    #: how a direct answer is asked for: "prefill" an empty think block (vLLM continue_final_message),
    #: or "template" (chat_template_kwargs enable_thinking=false)
    direct_mode: str = "prefill"
    min_pass_rate: float = 0.0  # drop prompts with pass rate below (unless an expert response passed)
    max_pass_rate: float = 1.0  # drop prompts with pass rate above (too easy); 1.0 keeps all
    drop_impossible: bool = True  # pass rate 0 and no accepted expert response
    expert: ExpertConfig = field(default_factory=ExpertConfig)


@dataclass
class QualityConfig:
    """Model-judged quality control (raif_data/judges.py); runs only with an endpoint. Each judge
    named maps to the share of P(YES) it needs (P(YES) / (P(YES) + P(NO)) at its first token)."""

    #: asked of every instruction: well_defined, consistent, relevant ({} = none)
    instruction_judges: dict[str, float] = field(default_factory=dict)
    #: asked of every sampled and expert answer that meets its constraints: task_done, language,
    #: no_leaked_reasoning ({} = none)
    answer_judges: dict[str, float] = field(default_factory=dict)
    #: share of P(YES) a soft requirement's question needs; those questions join the pass rate of
    #: judge-style rows (they are asked whenever such a row is answered)
    soft_threshold: float = 0.5
    #: read every model-written instruction text (rewrite, soft requirements) back into JSON and keep it
    #: only when it matches the ground-truth tree (raif_data/roundtrip.py)
    round_trip: bool = False
    #: judge endpoint and model ("" = llm.base_url / llm.model)
    judge_base_url: str | list[str] = ""
    judge_model: str = ""


@dataclass
class LLMConfig:
    #: one endpoint, or a list of them (one server per GPU or node): requests are spread over them,
    #: ``concurrency`` at most per endpoint, and an endpoint that fails is rested (raif_rewards.endpoints)
    base_url: str | list[str] = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 64
    timeout: float = 120.0
    max_retries: int = 5
    cache: str = ""  # default: <output_dir>/llm_cache.sqlite
    #: processes for stage 3, each with its own client (concurrency is shared out among them)
    workers: int = 1


@dataclass
class OutputConfig:
    validation_fraction: float = 0.05
    rows_per_shard: int = 50_000
    compression: str = "zstd"
    #: stage records per chunk file: the unit of resume after a crash
    chunk_size: int = 4096


@dataclass
class Recipe:
    output_dir: str = ""
    num_prompts: int = 512
    seed: int = 0
    skip_bad: bool = False
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    instruct: InstructConfig = field(default_factory=InstructConfig)
    math: MathConfig = field(default_factory=MathConfig)
    respond: RespondConfig = field(default_factory=RespondConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self, *, exclude: tuple[str, ...] = ("output_dir",)) -> str:
        """sha256 of everything that decides the output (not where it is written)."""
        data = {k: v for k, v in self.to_dict().items() if k not in exclude}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


_RULES = typedconfig.Rules(
    error=RecipeError,
    unknown_key=lambda key, known: f"unknown key (known keys here: {', '.join(sorted(known))})",
    shown=typedconfig.show_brief,
    scalar_strings=True,
)


def _need_finite(node: Any, prefix: str, need: Callable[[bool, str, str], None]) -> None:
    """Every float in the recipe is finite: ``.inf`` and ``.nan`` are YAML floats that compare false
    with everything, so range checks let them through."""
    for f in dataclasses.fields(node):
        value, key = getattr(node, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _need_finite(value, f"{key}.", need)
        elif isinstance(value, float):
            need(math.isfinite(value), key, f"must be a finite number, got {value}")
        elif isinstance(value, dict):
            for k, v in value.items():
                need(not isinstance(v, float) or math.isfinite(v), f"{key}.{k}", f"must be a finite number, got {v}")


def _check_ranges(r: Recipe) -> None:
    def need(ok: bool, key: str, msg: str) -> None:
        if not ok:
            raise RecipeError(key, msg)

    _need_finite(r, "", need)
    need(r.num_prompts >= 1, "num_prompts", "must be at least 1")
    need(r.seeds.format in ("auto", "jsonl", "parquet", "csv", "hf"), "seeds.format",
         "expected one of auto, jsonl, parquet, csv, hf")
    need("prompt" in r.seeds.fields, "seeds.fields.prompt", "the prompt field mapping is required")
    need(r.seeds.detect_language in ("never", "missing", "always"), "seeds.detect_language",
         "expected never, missing or always")
    need(0 <= r.seeds.min_chars <= r.seeds.max_chars, "seeds.min_chars", "must be between 0 and max_chars")
    d = r.seeds.dedup
    need(d.num_perm >= 2 and d.bands >= 1 and d.num_perm % d.bands == 0, "seeds.dedup.bands",
         "must divide seeds.dedup.num_perm")
    need(d.shingle >= 1, "seeds.dedup.shingle", "must be at least 1")
    need(d.capacity >= 1000, "seeds.dedup.capacity", "must be at least 1000")
    ins = r.instruct
    for i, s in enumerate(ins.sources):
        need(s in SOURCES, f"instruct.sources[{i}]", f"{typedconfig.brief(s)} is not one of {list(SOURCES)}")
        need(s not in EVAL_ONLY_SOURCES or ins.allow_eval_constraints, f"instruct.sources[{i}]",
             f"{EVAL_ONLY_SOURCES.get(s)}, or set instruct.allow_eval_constraints: true (--allow-eval-constraints)")
    dc = r.decontaminate
    need(1 <= dc.ngram <= 64, "decontaminate.ngram", "must be between 1 and 64")
    need(0.0 < dc.threshold <= 1.0, "decontaminate.threshold", "must be above 0 and at most 1")
    need(bool(ins.sources), "instruct.sources", "needs at least one constraint source")
    need(1 <= ins.min_constraints <= ins.max_constraints, "instruct.min_constraints",
         "must be at least 1 and at most instruct.max_constraints")
    for name, w in ins.compositions.items():
        need(name in COMPOSITIONS, f"instruct.compositions.{name}", f"not one of {list(COMPOSITIONS)}")
        need(w >= 0, f"instruct.compositions.{name}", "weights must be >= 0")
    need(sum(ins.compositions.values()) > 0, "instruct.compositions", "needs a positive weight")
    for key, v in (("instruct.rewrite.ratio", ins.rewrite.ratio), ("instruct.soft.ratio", ins.soft.ratio),
                   ("instruct.structure.ratio", ins.structure.ratio),
                   ("math.ratio", r.math.ratio), ("output.validation_fraction", r.output.validation_fraction),
                   ("respond.min_pass_rate", r.respond.min_pass_rate),
                   ("respond.max_pass_rate", r.respond.max_pass_rate)):
        need(0.0 <= v <= 1.0, key, "must be between 0 and 1")
    need(r.math.ratio < 1.0 or bool(r.math.path), "math.ratio", "needs math.path")
    need(r.math.ratio == 0.0 or bool(r.math.path), "math.path", "is required when math.ratio > 0")
    need(r.respond.direct_mode in ("prefill", "template"), "respond.direct_mode", "expected prefill or template")
    need(r.respond.samples >= 0 and r.respond.direct_samples >= 0, "respond.samples", "must be >= 0")
    need(r.output.rows_per_shard >= 1, "output.rows_per_shard", "must be at least 1")
    need(r.output.chunk_size >= 1, "output.chunk_size", "must be at least 1")
    need(r.output.compression in ("zstd", "snappy", "gzip", "none"), "output.compression",
         "expected zstd, snappy, gzip or none")
    need(0 <= ins.workers <= 256, "instruct.workers", "must be between 0 (one per CPU) and 256")
    need(r.llm.concurrency >= 1, "llm.concurrency", "must be at least 1")
    need(1 <= r.llm.workers <= 256, "llm.workers", "must be between 1 and 256")
    need(r.llm.timeout > 0, "llm.timeout", "must be positive")
    from raif_data.enrich import REWRITE_STYLES
    from raif_data.judges import ANSWER_QUESTIONS, INSTRUCTION_QUESTIONS

    need(bool(ins.rewrite.styles), "instruct.rewrite.styles", f"needs at least one of {list(REWRITE_STYLES)}")
    for i, style in enumerate(ins.rewrite.styles):
        need(style in REWRITE_STYLES, f"instruct.rewrite.styles[{i}]",
             f"{typedconfig.brief(style)} is not one of {list(REWRITE_STYLES)}")
    # a model-written sub-task or branch decision is only kept when the model reads it back right
    need(not ins.structure.enabled or r.quality.round_trip, "instruct.structure.enabled",
         "needs quality.round_trip: true (sub-tasks and conditions are kept only when read back into the tree)")

    q = r.quality
    for key, judges, known in (("instruction_judges", q.instruction_judges, INSTRUCTION_QUESTIONS),
                               ("answer_judges", q.answer_judges, ANSWER_QUESTIONS)):
        for name, threshold in judges.items():
            need(name in known, f"quality.{key}.{name}", f"not one of {list(known)}")
            need(0.0 <= threshold <= 1.0, f"quality.{key}.{name}", "must be between 0 and 1")
    need(0.0 <= q.soft_threshold <= 1.0, "quality.soft_threshold", "must be between 0 and 1")
    if isinstance(r.llm.base_url, list) or r.llm.base_url:
        from raif_rewards.endpoints import endpoint_urls

        try:
            endpoint_urls(r.llm.base_url)
        except ValueError as exc:
            raise RecipeError("llm.base_url", str(exc).removeprefix("base_url: ")) from None


def from_dict(data: dict | None, file: str | None = None, *, check: bool = True) -> Recipe:
    """A validated recipe from a mapping (a parsed YAML document); ``check=False`` checks types only,
    leaving the value ranges to a later :func:`override` (CLI flags may complete the recipe)."""
    try:
        recipe = typedconfig.build(Recipe, data or {}, _RULES)
        if check:
            _check_ranges(recipe)
    except RecipeError as exc:
        if file and exc.file is None:
            raise RecipeError(exc.key, exc.detail, file) from None
        raise
    return recipe


def load(path: str | Path | None = None, *, check: bool = True) -> Recipe:
    """The recipe in ``path`` (YAML), or the defaults when ``path`` is None (``check``: see :func:`from_dict`)."""
    if path is None:
        return from_dict({}, check=check)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError("(file)", f"cannot read: {exc.strerror}", str(p)) from None
    except UnicodeDecodeError as exc:
        raise RecipeError("(file)", f"not UTF-8 text ({exc.reason} at byte {exc.start})", str(p)) from None
    try:
        data = safeyaml.load(text)
    except yaml.YAMLError as exc:
        raise RecipeError("(file)", f"not valid YAML: {exc}", str(p)) from None
    if data is not None and not isinstance(data, dict):
        raise RecipeError("(root)", "expected a mapping of recipe keys", str(p))
    return from_dict(data, str(p), check=check)


def override(recipe: Recipe, dotted: dict[str, Any]) -> Recipe:
    """A copy of ``recipe`` with ``{"seeds.path": ..., "num_prompts": ...}`` applied (None = unset)."""
    recipe = typedconfig.override(recipe, dotted, _RULES)
    _check_ranges(recipe)
    return recipe
