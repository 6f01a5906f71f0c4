"""``raif-data stats``: distributions of a finished output folder (constraint ids, sources, compositions,
languages, prompt lengths, pass rates) as a rich table, a JSON file and PNG plots (matplotlib, Agg).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from raif_data.defects import row_defects
from raif_data.files import atomic_open, read_json
from raif_data.quality import instruction_report
from raif_rewards.errors import InputFileError


def collect(directory: str | Path) -> dict[str, Any]:
    """Counts over every RL row listed in ``directory/manifest.json``."""
    root = Path(directory)
    manifest = read_json(root / "manifest.json")
    if manifest is None:
        raise InputFileError(str(root / "manifest.json"), "no manifest (is this an output folder of "
                             "`raif-data evolve`?)")
    c: dict[str, Counter] = {k: Counter() for k in ("constraint_ids", "sources", "compositions", "languages",
                                                    "num_constraints", "splits", "styles", "task_types")}
    lengths: list[int] = []
    pass_rates: list[float] = []
    baselines: list[float] = []
    indices: set[int] = set()
    defects: Counter = Counter()
    missing: Counter = Counter()
    defect_rows = rule_rows = witnessed = 0
    cols = ["prompt", "reward_model", "extra_info"]
    run_seed = manifest.get("config", {}).get("seed", 0)  # the witness filler key is "<seed>:<index>"
    for split, files in manifest.get("shards", {}).items():
        for f in files:
            path = root / f["file"]
            try:
                table = pq.read_table(path, columns=cols)
            except Exception as exc:  # pyarrow raises several types for a missing or corrupt file
                raise InputFileError(str(path), f"not a readable shard: {exc}") from None
            for row in table.to_pylist():
                info = row["extra_info"]
                indices.add(info["index"])
                c["splits"][split] += 1
                c["styles"][row["reward_model"]["style"]] += 1
                c["compositions"][info["composition"]] += 1
                c["languages"][info["lang"]] += 1
                c["task_types"][info["task_type"]] += 1
                c["num_constraints"][str(info["num_constraints"])] += 1
                c["constraint_ids"].update(info["constraint_ids"])
                c["sources"].update(info["constraint_sources"])
                lengths.append(len(row["prompt"][-1]["content"]))
                if row["reward_model"]["style"] == "rule":
                    rule_rows += 1
                    traps, why = row_defects(row["prompt"][-1]["content"], row["reward_model"]["ground_truth"],
                                             info["lang"], info["task_type"], f"{run_seed}:{info['index']}")
                    defects.update(traps)
                    defect_rows += bool(traps)
                    if why:
                        missing[why] += 1
                    else:
                        witnessed += 1
                if info["pass_rate"] is not None:
                    pass_rates.append(info["pass_rate"])
                if info["baseline_score"] is not None:
                    baselines.append(info["baseline_score"])
    report: dict[str, Any] = {k: dict(v.most_common()) for k, v in c.items()}
    # a count of constraints reads as a scale: 1, 2, 3, ... rather than by frequency
    report["num_constraints"] = {k: c["num_constraints"][k] for k in sorted(c["num_constraints"], key=int)}
    report["rows"] = sum(c["splits"].values())
    report["prompt_chars"] = _summary(lengths)
    report["prompt_chars_values"] = lengths
    report["pass_rate"] = _summary(pass_rates)
    report["pass_rate_values"] = pass_rates
    report["baseline_score"] = _summary(baselines)
    report["sft_rows"] = manifest.get("counts", {}).get("sft", 0)
    # diversity of the constraint text and relevance of keyword constraints (issue 12), read from the
    # stage-2 records of the rows in the shards; None when the stage folder is gone
    report["instructions"] = instruction_report(root, indices)
    report["hard_defects"] = {"rows": defect_rows, "share": defect_rows / rule_rows if rule_rows else 0.0,
                              "by_reason": dict(defects.most_common())}
    report["witness"] = {"rule_rows": rule_rows, "verified": witnessed,
                         "coverage": witnessed / rule_rows if rule_rows else 1.0,
                         "missing_by_reason": dict(missing.most_common()),
                         "redrawn_in_generation": manifest.get("witness_redrawn", {})}
    decon = manifest.get("decontamination")
    # seeds dropped for overlapping evaluation prompts, per evaluation set (None: no eval files given)
    report["decontamination"] = None if not decon else {
        "read": decon["read"], "dropped": decon["dropped"], "by_eval_set": decon["dropped_by_eval_set"],
        "ngram": decon["ngram"], "threshold": decon["threshold"]}
    return report


def _summary(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    s = sorted(values)
    return {"n": len(s), "mean": sum(s) / len(s), "min": s[0], "median": s[len(s) // 2], "max": s[-1]}


def write_json(report: dict, path: Path) -> None:
    slim = {k: v for k, v in report.items() if not k.endswith("_values")}
    with atomic_open(path) as fh:
        fh.write(json.dumps(slim, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def table(report: dict):
    """A rich Table of the report."""
    from rich.table import Table
    from rich.text import Text

    def cell(value: object) -> Text:  # plain text: ids such as "fails:repeat:repeat_span" hold emoji codes
        return Text(str(value))

    t = Table(title=f"raif-data stats: {report['rows']} rows ({report['splits']})", show_lines=False)
    t.add_column("what")
    t.add_column("value")
    t.add_column("count", justify="right")
    t.add_column("share", justify="right")
    for key in ("styles", "sources", "compositions", "num_constraints", "languages", "task_types", "constraint_ids"):
        counts = report[key]
        total = sum(counts.values()) or 1
        for i, (name, n) in enumerate(counts.items()):
            t.add_row(key if i == 0 else "", cell(name), str(n), f"{n / total:.1%}")
    quality = report.get("instructions") or {}
    for lang, d in quality.get("diversity", {}).items():
        ours, seeds = d["constraint_text_distinct_4grams"], d["seed_prompts_distinct_4grams"]
        t.add_row("diversity" if lang == next(iter(quality["diversity"])) else "", f"{lang}: distinct 4-grams of "
                  f"constraint text {_pct(ours)} (seed prompts {_pct(seeds)}) over {d['tokens_compared']} tokens",
                  str(d["rows"]), _pct(ours))
    rel = quality.get("relevance")
    if rel:
        t.add_row("relevance", "keyword constraints whose words occur in the request", str(rel["keyword_constraints"]),
                  _pct(rel["share"]))
    hd, w = report["hard_defects"], report["witness"]
    t.add_row("hard_defects", "rows with a known trap", str(hd["rows"]), f"{hd['share']:.1%}")
    for name, n in hd["by_reason"].items():
        t.add_row("", cell(name), str(n), "")
    t.add_row("witness", "rule rows with a verified witness", str(w["verified"]), f"{w['coverage']:.1%}")
    for name, n in w["missing_by_reason"].items():
        t.add_row("", cell(f"missing: {name}"), str(n), "")
    for key in ("prompt_chars", "pass_rate", "baseline_score"):
        s = report[key]
        if s:
            t.add_row(key, f"mean {s['mean']:.3g}, median {s['median']:.3g}, min {s['min']:.3g}, max {s['max']:.3g}",
                      str(s["n"]), "")
    decon = report.get("decontamination")
    if decon:
        read = decon["read"] or 1
        rows = [("all eval sets", decon["dropped"]), *decon["by_eval_set"].items()]
        for i, (name, n) in enumerate(rows):
            label = f"decontaminated seeds ({decon['ngram']}-grams, >= {decon['threshold']:g})" if i == 0 else ""
            t.add_row(label, name, str(n), f"{n / read:.1%}")
    return t


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# (report key, title, what the bars are); ordered as the report orders them
_BARS = [("constraint_ids", "constraint ids", "constraint id"), ("compositions", "compositions", "composition"),
         ("sources", "constraint sources", "source"), ("languages", "languages", "language"),
         ("num_constraints", "constraints per prompt", "constraints per prompt")]
# (report key, title, x axis, bins); pass rates exist only where stage 3 verified responses at an endpoint
_HISTOGRAMS = [("prompt_chars_values", "prompt length", "characters per prompt", 40),
               ("pass_rate_values", "pass rate", "pass rate (share of reasoning answers satisfying all)", 11)]


def bar_figure(counts: dict[str, int], title: str, axis: str):
    """A horizontal bar chart of ``counts``, first key on top, both axes labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.28 * len(counts) + 1)))
    names = list(counts)[::-1]
    ax.barh(names, [counts[n] for n in names], color="#4878a8")
    ax.set_title(title)
    ax.set_xlabel("prompts" if axis == "constraints per prompt" else "count")
    ax.set_ylabel(axis)
    fig.tight_layout()
    return fig


def histogram_figure(values: list[float], title: str, axis: str, bins: int):
    """A histogram of ``values`` with both axes labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(values, bins=bins, color="#4878a8")
    ax.set_title(title)
    ax.set_xlabel(axis)
    ax.set_ylabel("prompts")
    fig.tight_layout()
    return fig


def plot(report: dict, out: Path) -> list[Path]:
    """PNG bar charts and histograms; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    # generators: one figure open at a time
    bars = ((key, bar_figure(report[key], title, axis)) for key, title, axis in _BARS if report[key])
    histograms = ((key.removesuffix("_values"), histogram_figure(report[key], title, axis, bins))
                  for key, title, axis, bins in _HISTOGRAMS if report[key])
    for name, fig in itertools.chain(bars, histograms):
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
