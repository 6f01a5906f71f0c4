"""`raif-eval`: run the instruction-following benchmarks against an OpenAI-compatible endpoint,
re-score saved rollouts, and print Table-1-style reports."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from raif_eval.benchmarks import BENCHMARKS, DISPLAY
from raif_eval.modes import MODES
from raif_rewards import cliformat
from raif_rewards.errors import RaifError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Evaluate a served model on IFEval, CELLO, CFBench, ComplexBench, FB-Bench, FollowBench, InfoBench and IFBench.\n\n"
    "Example: raif-eval run --model-url http://localhost:8000/v1 --model-id my-model --benchmarks ifeval "
    "--data ifeval=input_data.jsonl --output-dir runs/my-model",
)
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    # escaped: a message may quote user text or an install hint ('raif[train]') that rich reads as markup
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def _parse_data(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    out = {}
    for v in values:
        bench, sep, path = v.partition("=")
        if not sep or not bench or not path:
            _fail(f"--data {v!r}: expected BENCHMARK=PATH, e.g. --data ifeval=input_data.jsonl")
        out[bench.strip()] = path.strip()
    return out


def _split(value: str | None) -> list[str] | None:
    return [b.strip() for b in value.split(",") if b.strip()] if value else None


def _print_summary(summary: dict) -> None:
    table = Table(title=f"{summary.get('run_name')} ({summary.get('mode')})")
    for col in ("benchmark", "headline", "score", "items", "other metrics"):
        table.add_column(col, overflow="fold")
    for bench, entry in summary.get("benchmarks", {}).items():
        metrics = entry.get("metrics", {})
        head = metrics.get(entry["headline"])
        others = ", ".join(
            f"{k}={v:.4f}"
            for k, v in metrics.items()
            if k != entry["headline"] and isinstance(v, float) and ":" not in k
        )
        table.add_row(
            DISPLAY.get(bench, bench),
            entry["headline"],
            "–" if head is None else f"{100 * head:.2f}",
            f"{entry.get('n_items')}/{entry.get('n_total', entry.get('n_items'))}",
            others,
        )
    cliformat.print_table(console, table)
    for bench, entry in summary.get("benchmarks", {}).items():
        for note in entry.get("notes", []):
            err.print(f"[yellow]{escape(bench)}:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


@app.command()
def run(
    output_dir: Annotated[
        Path | None, typer.Option(help="Run directory (rollouts, scores, caches). Rerun to resume.")
    ] = None,
    model_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible base URL of the model, e.g. http://localhost:8000/v1."),
    ] = None,
    model_id: Annotated[str | None, typer.Option(help="Model name the endpoint serves.")] = None,
    judge_url: Annotated[
        str | None, typer.Option(help="Base URL of the judge (needed by all but IFEval and CELLO).")
    ] = None,
    judge_id: Annotated[str | None, typer.Option(help="Judge model name.")] = None,
    benchmarks: Annotated[str | None, typer.Option(help=f"Comma list of: {', '.join(BENCHMARKS)}.")] = None,
    data: Annotated[
        list[str] | None, typer.Option(metavar="BENCHMARK=PATH", help="BENCHMARK=PATH (file or folder); repeatable.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder with each benchmark at its default place (see `raif-eval list`)."),
    ] = None,
    mode: Annotated[str | None, typer.Option(help=f"Inference mode: {', '.join(MODES)}.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML recipe with the same keys (flags override it).")
    ] = None,
    run_name: Annotated[
        str | None, typer.Option(help="Label in reports (default: the output folder name).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default 0: greedy).")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max new tokens per call (default 4096).")] = None,
    k: Annotated[int | None, typer.Option(help="Self-consistency samples (default 5).")] = None,
    sc_select: Annotated[str | None, typer.Option(help="Self-consistency pick: agreement or judge.")] = None,
    refine_rounds: Annotated[
        int | None, typer.Option(help="Self-refine critique/revise rounds (default 1).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Concurrent requests per endpoint (default 16).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Per-request timeout in seconds (default 600).")
    ] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries per request (default 5).")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N items of each benchmark (smoke test).")
    ] = None,
    fix: Annotated[
        list[str] | None,
        typer.Option(
            help="BENCHMARK:CORRECTION, a corrected variant of an official scorer; repeatable (see `raif-eval list`)."
        ),
    ] = None,
    complexbench_lang: Annotated[
        str | None, typer.Option(help="ComplexBench language: zh (default) or en.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
) -> None:
    """Generate rollouts (resuming any saved ones) and score them.

    Example: raif-eval run --model-url http://localhost:8000/v1 --model-id qwen --judge-url https://api.openai.com/v1 --judge-id gpt-4o --benchmarks ifeval,infobench --data-dir bench_data --output-dir runs/qwen-io
    """
    from raif_eval import config as cfgmod
    from raif_eval import runner

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    try:
        base = cfgmod.load_yaml(config) if config else cfgmod.RunConfig()
        cfg = cfgmod.merge(
            base,
            {
                "output_dir": str(output_dir) if output_dir else None,
                "model_url": model_url,
                "model_id": model_id,
                "judge_url": judge_url,
                "judge_id": judge_id,
                "benchmarks": _split(benchmarks),
                "data": _parse_data(data),
                "data_dir": str(data_dir) if data_dir else None,
                "mode": mode,
                "run_name": run_name,
                "temperature": temperature,
                "max_tokens": max_tokens,
                "k": k,
                "sc_select": sc_select,
                "refine_rounds": refine_rounds,
                "concurrency": concurrency,
                "timeout": timeout,
                "max_retries": max_retries,
                "limit": limit,
                "complexbench_lang": complexbench_lang,
                "fixes": fix or None,
            },
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(bench: str, done: int, total: int) -> None:
                if bench not in tasks:
                    tasks[bench] = bar.add_task(DISPLAY.get(bench, bench), total=total)
                bar.update(tasks[bench], completed=done)

            summary = runner.run(cfg, progress)
    except runner.IncompleteRun as exc:
        _fail(str(exc), code=1)
    except (RaifError, OSError) as exc:
        _fail(str(exc))
    _print_summary(summary)
    console.print(f"wrote {cfg.output_dir}/summary.json", highlight=False)


@app.command()
def rescore(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `raif-eval run`.")],
    benchmarks: Annotated[
        str | None, typer.Option(help="Comma list (default: every benchmark with rollouts).")
    ] = None,
    judge_url: Annotated[str | None, typer.Option(help="Use another judge endpoint.")] = None,
    judge_id: Annotated[str | None, typer.Option(help="Use another judge model.")] = None,
    data: Annotated[
        list[str] | None, typer.Option(metavar="BENCHMARK=PATH", help="BENCHMARK=PATH if the data moved; repeatable.")
    ] = None,
    fix: Annotated[
        list[str] | None,
        typer.Option(help="BENCHMARK:CORRECTION to score with instead of the run's; repeatable."),
    ] = None,
) -> None:
    """Score the saved rollouts again without calling the model (judge replies are cached).

    Example: raif-eval rescore runs/qwen-io --benchmarks ifeval
    """
    from raif_eval import runner

    try:
        summary = runner.rescore(
            run_dir,
            {"judge_url": judge_url, "judge_id": judge_id, "data": _parse_data(data), "fixes": fix or None},
            _split(benchmarks),
        )
    except (RaifError, OSError) as exc:
        _fail(str(exc))
    _print_summary(summary)


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to tabulate.")],
    baseline: Annotated[
        Path | None, typer.Option(help="Run directory to compare against (delta rows).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where report.csv/.md/.png go (default: <first run>/report).")
    ] = None,
) -> None:
    """Table-1-style table: headline score per benchmark, average, delta against a baseline.

    Example: raif-eval report runs/qwen-raif --baseline runs/qwen-io --out reports/
    """
    from raif_eval import report as rep

    try:
        columns, rows, files = rep.report(runs, out or (runs[0] / "report"), baseline)
    except (RaifError, OSError) as exc:
        _fail(str(exc))
    table = Table(title="Instruction following (%)")
    for col in ["Model", "Mode", *[DISPLAY[c] for c in columns], "Avg."]:
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.label,
            rep.MODE_NAMES.get(r.mode, r.mode),
            *[rep._fmt(r.scores.get(c), r.is_delta) for c in columns],
            rep._fmt(r.average, r.is_delta),
        )
    cliformat.print_table(console, table)
    console.print("wrote " + ", ".join(str(p) for p in files.values()), highlight=False)


@app.command("list")
def list_cmd() -> None:
    """List the benchmarks: default data place under --data-dir, headline metric, judge need, and the
    corrected variants of their official scorers that --fix accepts.

    Example: raif-eval list
    """
    table = Table(title="benchmarks")
    for col in ("name", "display", "default path under --data-dir", "headline", "judge", "--fix"):
        table.add_column(col, overflow="fold")  # a path is never cut with "…"
    for name, cls in BENCHMARKS.items():
        fixes = "\n".join(f"{name}:{c}" for c in cls.corrections)
        table.add_row(
            name, DISPLAY[name], cls.default_path, cls.headline, "yes" if cls.needs_judge else "no", fixes
        )
    cliformat.print_table(console, table)


def main() -> None:
    cliformat.run(app, "raif-eval")


if __name__ == "__main__":
    main()
