"""``raif-data stats``: distributions of a finished output folder (constraint ids, sources, compositions,
languages, prompt lengths, pass rates) as a rich table, a JSON file and PNG plots (matplotlib, Agg).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from raif_data.files import atomic_open, read_json
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
    cols = ["prompt", "reward_model", "extra_info"]
    for split, files in manifest.get("shards", {}).items():
        for f in files:
            path = root / f["file"]
            try:
                table = pq.read_table(path, columns=cols)
            except Exception as exc:  # pyarrow raises several types for a missing or corrupt file
                raise InputFileError(str(path), f"not a readable shard: {exc}") from None
            for row in table.to_pylist():
                info = row["extra_info"]
                c["splits"][split] += 1
                c["styles"][row["reward_model"]["style"]] += 1
                c["compositions"][info["composition"]] += 1
                c["languages"][info["lang"]] += 1
                c["task_types"][info["task_type"]] += 1
                c["num_constraints"][str(info["num_constraints"])] += 1
                c["constraint_ids"].update(info["constraint_ids"])
                c["sources"].update(info["constraint_sources"])
                lengths.append(len(row["prompt"][-1]["content"]))
                if info["pass_rate"] is not None:
                    pass_rates.append(info["pass_rate"])
                if info["baseline_score"] is not None:
                    baselines.append(info["baseline_score"])
    report: dict[str, Any] = {k: dict(v.most_common()) for k, v in c.items()}
    report["rows"] = sum(c["splits"].values())
    report["prompt_chars"] = _summary(lengths)
    report["prompt_chars_values"] = lengths
    report["pass_rate"] = _summary(pass_rates)
    report["pass_rate_values"] = pass_rates
    report["baseline_score"] = _summary(baselines)
    report["sft_rows"] = manifest.get("counts", {}).get("sft", 0)
    decon = manifest.get("decontamination")
    # seeds dropped for overlapping evaluation prompts, per evaluation set (None: no eval files given)
    report["decontamination"] = None if not decon else {
        "read": decon["read"], "dropped": decon["dropped"], "by_eval_set": decon["dropped_by_eval_set"],
        "ngram": decon["ngram"], "threshold": decon["threshold"]}
    return report


def _summary(values: list[float]) -> dict[str, float] | None:
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

    t = Table(title=f"raif-data stats: {report['rows']} rows ({report['splits']})", show_lines=False)
    t.add_column("what")
    t.add_column("value")
    t.add_column("count", justify="right")
    t.add_column("share", justify="right")
    for key in ("styles", "sources", "compositions", "num_constraints", "languages", "task_types", "constraint_ids"):
        counts = report[key]
        total = sum(counts.values()) or 1
        for i, (name, n) in enumerate(counts.items()):
            t.add_row(key if i == 0 else "", str(name), str(n), f"{n / total:.1%}")
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


def plot(report: dict, out: Path) -> list[Path]:
    """PNG bar charts and histograms; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    bars = [("constraint_ids", "constraint ids"), ("compositions", "compositions"), ("sources", "constraint sources"),
            ("languages", "languages"), ("num_constraints", "constraints per prompt")]
    for key, title in bars:
        counts = report[key]
        if not counts:
            continue
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.28 * len(counts) + 1)))
        names = list(counts)[::-1]
        ax.barh(names, [counts[n] for n in names], color="#4878a8")
        ax.set_title(title)
        ax.set_xlabel("count")
        fig.tight_layout()
        path = out / f"{key}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    for key, title, bins in (("prompt_chars_values", "prompt length (characters)", 40),
                             ("pass_rate_values", "pass rate", 11)):
        values = report[key]
        if not values:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(values, bins=bins, color="#4878a8")
        ax.set_title(title)
        fig.tight_layout()
        path = out / f"{key.removesuffix('_values')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
