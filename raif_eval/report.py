"""Table-1-style reports: one row per run (headline metric of each benchmark, in %, and their
average), delta rows against a baseline run, written as CSV, Markdown and a PNG bar chart."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from raif_eval.benchmarks import BENCHMARKS, DISPLAY
from raif_eval.store import RunDir

MODE_NAMES = {"io": "I/O", "cot": "CoT", "sdc": "SDC", "self-consistency": "SC", "self-refine": "Self-Refine"}


@dataclass
class Row:
    label: str
    mode: str
    scores: dict[str, float | None]  # benchmark -> headline value in % (None: not evaluated / incomplete)
    average: float | None
    is_delta: bool = False


def _pct(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return 100.0 * value


def run_row(summary: dict) -> Row:
    scores = {}
    for bench in BENCHMARKS:
        entry = summary.get("benchmarks", {}).get(bench)
        if entry is None or not entry.get("complete", True):
            continue
        scores[bench] = _pct(entry["metrics"].get(entry["headline"]))
    vals = [v for v in scores.values() if v is not None]
    return Row(
        label=summary.get("run_name") or summary.get("model_id") or "run",
        mode=summary.get("mode", "io"),
        scores=scores,
        average=sum(vals) / len(vals) if vals else None,
    )


def _difference(value: float | None, base: float | None) -> float | None:
    return value - base if value is not None and base is not None else None


def build_rows(summaries: Sequence[dict], baseline: dict | None = None) -> tuple[list[str], list[Row]]:
    """(benchmark columns, rows). With a baseline: the baseline first, then each run and its delta.

    The average covers the benchmarks evaluated in every row, so averages stay comparable.
    """
    runs = ([run_row(baseline)] if baseline else []) + [run_row(s) for s in summaries]
    columns = [b for b in BENCHMARKS if any(b in r.scores for r in runs)]
    common = [b for b in columns if all(r.scores.get(b) is not None for r in runs)]
    for r in runs:
        vals = [v for v in (r.scores[b] for b in common) if v is not None]  # none is, by `common`
        r.average = sum(vals) / len(vals) if vals else None
    if not baseline:
        return columns, runs
    base, out = runs[0], [runs[0]]
    for r in runs[1:]:
        out.append(r)
        delta = {b: _difference(r.scores.get(b), base.scores.get(b)) for b in columns}
        avg = _difference(r.average, base.average)
        out.append(
            Row(label=f"Δ {r.label} vs {base.label}", mode=r.mode, scores=delta, average=avg, is_delta=True)
        )
    return columns, out


def _fmt(value: float | None, delta: bool) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if delta else f"{value:.2f}"


def write_csv(path: Path, columns: list[str], rows: list[Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["model", "mode", *[DISPLAY[c] for c in columns], "Avg"])
        for r in rows:
            w.writerow(
                [
                    r.label,
                    MODE_NAMES.get(r.mode, r.mode),
                    *["" if r.scores.get(c) is None else f"{r.scores[c]:.4f}" for c in columns],
                    "" if r.average is None else f"{r.average:.4f}",
                ]
            )


def markdown(columns: list[str], rows: list[Row]) -> str:
    head = ["Model", "Mode", *[DISPLAY[c] for c in columns], "Avg."]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(columns) + 1)) + "|",
    ]
    for r in rows:
        cells = [
            r.label,
            MODE_NAMES.get(r.mode, r.mode),
            *[_fmt(r.scores.get(c), r.is_delta) for c in columns],
            _fmt(r.average, r.is_delta),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_png(path: Path, columns: list[str], rows: list[Row]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in rows if not r.is_delta]
    labels = [DISPLAY[c] for c in columns] + ["Avg."]
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(labels)), 4.0))
    for i, r in enumerate(runs):
        vals = [r.scores.get(c) for c in columns] + [r.average]
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(
            xs,
            [v if v is not None else 0.0 for v in vals],
            width,
            label=f"{r.label} ({MODE_NAMES.get(r.mode, r.mode)})",
        )
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    ax.set_title("Instruction-following benchmarks")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(
    run_dirs: Sequence[str | Path], out_dir: str | Path, baseline: str | Path | None = None
) -> tuple[list[str], list[Row], dict[str, Path]]:
    summaries = [RunDir(d).load_summary() for d in run_dirs]
    base = RunDir(baseline).load_summary() if baseline else None
    columns, rows = build_rows(summaries, base)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "report.csv", "md": out / "report.md", "png": out / "report.png"}
    write_csv(files["csv"], columns, rows)
    files["md"].write_text(markdown(columns, rows), encoding="utf-8")
    write_png(files["png"], columns, rows)
    return columns, rows, files
