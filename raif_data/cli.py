"""The ``raif-data`` command line: ``evolve`` runs every stage; ``seeds``, ``instruct``, ``respond`` and
``shards`` run one; ``stats`` reports on a finished output folder.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from raif_rewards import cliformat
from raif_rewards.errors import RaifError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn ordinary prompts into verifiable complex instructions and veRL-ready Parquet shards.",
    epilog="Example: raif-data evolve --output-dir runs/demo/data --num-prompts 512 --seed 0",
)

Recipe_ = Annotated[Path | None, typer.Option("--recipe", "-r", help="YAML recipe (pipelines/data_*.yaml).")]
OutDir = Annotated[Path | None, typer.Option("--output-dir", "-o", help="Output folder (recipe: output_dir).")]
NumPrompts = Annotated[int | None, typer.Option(help="Instructions to make (recipe: num_prompts).")]
Seeds = Annotated[str | None, typer.Option("--seeds", help="Seed prompts: JSONL/Parquet/CSV file or hf:NAME "
                                           "(recipe: seeds.path; default: the shipped demo seeds).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (recipe: seed).")]
Sources = Annotated[list[str] | None, typer.Option("--source", metavar="SOURCE", help="Constraint source(s): ifeval, iftrain, ifbench, raif "
                                                   "(recipe: instruct.sources; repeatable).")]
BaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 "
                                             "(recipe: llm.base_url; several: comma-separated). Without one, "
                                             "only offline stages run.")]
Model = Annotated[str | None, typer.Option(help="Model name at the endpoint (recipe: llm.model).")]
MathFile = Annotated[str | None, typer.Option("--math", help="DeepScaleR-style JSONL of problem/answer, or 'demo' "
                                              "(recipe: math.path).")]
MathRatio = Annotated[float | None, typer.Option(help="Share of math problems in the output (recipe: math.ratio).")]
SkipBad = Annotated[bool | None, typer.Option("--skip-bad/--no-skip-bad", help="Skip bad input records and count "
                                              "them instead of stopping (recipe: skip_bad).")]
EvalFiles = Annotated[list[str] | None, typer.Option("--eval-file", help="Evaluation prompts to keep out of the "
                                                    "seeds: JSONL with a prompt field, or BENCH:PATH for a raif-eval "
                                                    "benchmark; repeatable (recipe: decontaminate.eval_files).")]
AllowEval = Annotated[bool | None, typer.Option("--allow-eval-constraints/--no-allow-eval-constraints",
                                                help="Let evaluation-only sources (ifbench) be sampled for training; "
                                                     "warns (recipe: instruct.allow_eval_constraints).")]
Overwrite = Annotated[bool, typer.Option(help="Replace outputs of a run made with a different recipe.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except RaifError as exc:
        _fail(str(exc))
    except OSError as exc:  # a full disk, a folder that vanished: what the system said, where
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        _fail("interrupted (rerun the same command to resume)", 130)


def _recipe(recipe: Path | None, **flags):
    from raif_data import recipe as recipe_mod

    r = recipe_mod.load(recipe, check=False)  # ranges are checked once the flags are applied
    overrides = {
        "output_dir": str(flags["output_dir"]) if flags.get("output_dir") is not None else None,
        "num_prompts": flags.get("num_prompts"),
        "seeds.path": flags.get("seeds"),
        "seed": flags.get("seed"),
        "instruct.sources": list(flags["source"]) if flags.get("source") else None,
        "llm.base_url": flags["base_url"].split(",") if flags.get("base_url") and "," in flags["base_url"]
        else flags.get("base_url"),
        "llm.model": flags.get("model"),
        "math.path": flags.get("math"),
        "math.ratio": flags.get("math_ratio"),
        "skip_bad": flags.get("skip_bad"),
        "decontaminate.eval_files": list(flags["eval_file"]) if flags.get("eval_file") else None,
        "instruct.allow_eval_constraints": flags.get("allow_eval_constraints"),
    }
    r = recipe_mod.override(r, overrides)
    if not r.output_dir:
        _fail("no output folder: pass --output-dir (or set output_dir in the recipe)")
    return r


def _progress_factory(quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")

    if quiet or not sys.stderr.isatty():
        return None, (lambda stage, total: (lambda n: None))
    progress = Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), Rate(),
                        TimeRemainingColumn(), transient=False)

    def factory(stage: str, total: int | None) -> Callable[[int], None]:
        task = progress.add_task(stage, total=total)
        return lambda n: progress.advance(task, n)

    return progress, factory


def _run(step: Callable, quiet: bool):
    progress, factory = _progress_factory(quiet)
    if progress is None:
        return step(factory)
    with progress:
        return step(factory)


def _summary(manifest: dict) -> None:
    c = manifest.get("counts", {})
    typer.echo(f"wrote {c.get('train', 0)} train + {c.get('validation', 0)} validation rows"
               + (f", {c['sft']} SFT rows" if c.get("sft") else ""))


@app.command(epilog="Example: raif-data evolve --output-dir runs/demo/data --num-prompts 512 --seed 0")
def evolve(
    output_dir: OutDir = None, num_prompts: NumPrompts = None, seeds: Seeds = None, recipe: Recipe_ = None,
    seed: SeedOpt = None, source: Sources = None, base_url: BaseUrl = None, model: Model = None,
    math: MathFile = None, math_ratio: MathRatio = None, skip_bad: SkipBad = None, eval_file: EvalFiles = None,
    allow_eval_constraints: AllowEval = None, overwrite: Overwrite = False, quiet: Quiet = False,
) -> None:
    """Run every stage (seeds, instruct, respond when an endpoint is set, shards), resuming where a previous
    run stopped."""
    from raif_data import pipeline
    from raif_data.files import read_json
    from raif_rewards.outdir import ensure_output_dir

    with _user_errors():
        r = _recipe(recipe, output_dir=output_dir, num_prompts=num_prompts, seeds=seeds, seed=seed, source=source,
                    base_url=base_url, model=model, math=math, math_ratio=math_ratio, skip_bad=skip_bad,
                    eval_file=eval_file, allow_eval_constraints=allow_eval_constraints)
        # a folder that is a file, unwritable or linked out of itself is refused before anything is read
        layout = pipeline.Layout(ensure_output_dir(r.output_dir))
        if not overwrite and pipeline.up_to_date(r, layout):
            # said at once, and not as "wrote ...": nothing is written on a rerun
            c = (read_json(layout.manifest) or {}).get("counts", {})
            typer.echo(f"already complete: {r.output_dir} holds {c.get('train', 0)} train + "
                       f"{c.get('validation', 0)} validation rows made by this recipe; nothing written "
                       f"(to redo, delete {r.output_dir} or choose another --output-dir)")
            typer.echo(f"manifest: {layout.manifest}")
            return
        manifest = _run(lambda f: pipeline.evolve(r, overwrite=overwrite, progress=f), quiet)
        _summary(manifest)
        typer.echo(f"manifest: {Path(r.output_dir) / 'manifest.json'}")


@app.command("seeds", epilog="Example: raif-data seeds --output-dir runs/d --seeds my_prompts.jsonl --skip-bad")
def seeds_cmd(
    output_dir: OutDir = None, seeds: Seeds = None, recipe: Recipe_ = None, seed: SeedOpt = None,
    skip_bad: SkipBad = None, overwrite: Overwrite = False, quiet: Quiet = False,
) -> None:
    """Stage 1 only: read, filter, deduplicate and balance the seed prompts into stages/seeds/."""
    from raif_data import pipeline

    with _user_errors():
        r = _recipe(recipe, output_dir=output_dir, seeds=seeds, seed=seed, skip_bad=skip_bad)
        m = _run(lambda f: pipeline.run_seeds(r, pipeline.Layout(Path(r.output_dir)), overwrite=overwrite,
                                              progress=f), quiet)
        typer.echo(f"kept {m['kept']} of {m['read']} seeds (dropped {m['dropped']}, bad records {m['bad_records']})")


@app.command(epilog="Example: raif-data decontaminate --output-dir runs/d "
                     "--eval-file ifeval/input_data.jsonl --eval-file ifbench/IFBench_test.jsonl")
def decontaminate(
    output_dir: OutDir = None, seeds: Seeds = None, recipe: Recipe_ = None, seed: SeedOpt = None,
    skip_bad: SkipBad = None, eval_file: EvalFiles = None, overwrite: Overwrite = False, quiet: Quiet = False,
) -> None:
    """Stage 1b only: drop selected seeds whose word n-grams overlap evaluation prompts (docs/data.md)."""
    from raif_data import pipeline

    with _user_errors():
        r = _recipe(recipe, output_dir=output_dir, seeds=seeds, seed=seed, skip_bad=skip_bad, eval_file=eval_file)
        m = _run(lambda f: pipeline.run_decontaminate(r, pipeline.Layout(Path(r.output_dir)), overwrite=overwrite,
                                                      progress=f), quiet)
        by_set = ", ".join(f"{k} {v}" for k, v in m["dropped_by_eval_set"].items())
        typer.echo(f"kept {m['kept']} of {m['read']} seeds (dropped {m['dropped']}: {by_set})")


@app.command(epilog="Example: raif-data instruct --output-dir runs/d --num-prompts 1000 --source ifeval --source ifbench")
def instruct(
    output_dir: OutDir = None, num_prompts: NumPrompts = None, seeds: Seeds = None, recipe: Recipe_ = None,
    seed: SeedOpt = None, source: Sources = None, base_url: BaseUrl = None, model: Model = None,
    math: MathFile = None, math_ratio: MathRatio = None, skip_bad: SkipBad = None, eval_file: EvalFiles = None,
    allow_eval_constraints: AllowEval = None, overwrite: Overwrite = False, quiet: Quiet = False,
) -> None:
    """Stage 2 only: compose constraint instructions from the selected seeds into stages/instruct/."""
    from raif_data import pipeline

    with _user_errors():
        r = _recipe(recipe, output_dir=output_dir, num_prompts=num_prompts, seeds=seeds, seed=seed, source=source,
                    base_url=base_url, model=model, math=math, math_ratio=math_ratio, skip_bad=skip_bad,
                    eval_file=eval_file, allow_eval_constraints=allow_eval_constraints)
        m = _run(lambda f: pipeline.run_instruct(r, pipeline.Layout(Path(r.output_dir)), overwrite=overwrite,
                                                 progress=f), quiet)
        typer.echo(f"{m['records']} instructions ({m['by_kind']})")


@app.command(epilog="Example: raif-data respond --output-dir runs/d --base-url http://localhost:8000/v1 --model Qwen/Qwen3-8B")
def respond(
    output_dir: OutDir = None, num_prompts: NumPrompts = None, seeds: Seeds = None, recipe: Recipe_ = None,
    seed: SeedOpt = None, source: Sources = None, base_url: BaseUrl = None, model: Model = None,
    math: MathFile = None, math_ratio: MathRatio = None, skip_bad: SkipBad = None, eval_file: EvalFiles = None,
    allow_eval_constraints: AllowEval = None, overwrite: Overwrite = False, quiet: Quiet = False,
) -> None:
    """Stage 3 only: sample responses (with and without reasoning) at the endpoint and verify them."""
    from raif_data import pipeline

    with _user_errors():
        r = _recipe(recipe, output_dir=output_dir, num_prompts=num_prompts, seeds=seeds, seed=seed, source=source,
                    base_url=base_url, model=model, math=math, math_ratio=math_ratio, skip_bad=skip_bad,
                    eval_file=eval_file, allow_eval_constraints=allow_eval_constraints)
        m = _run(lambda f: pipeline.run_respond(r, pipeline.Layout(Path(r.output_dir)), overwrite=overwrite,
                                                progress=f), quiet)
        typer.echo(f"{m['records']} prompts verified ({m['by_kind']})")


@app.command(epilog="Example: raif-data shards --output-dir runs/d --num-prompts 1000")
def shards(
    output_dir: OutDir = None, num_prompts: NumPrompts = None, seeds: Seeds = None, recipe: Recipe_ = None,
    seed: SeedOpt = None, source: Sources = None, base_url: BaseUrl = None, model: Model = None,
    math: MathFile = None, math_ratio: MathRatio = None, skip_bad: SkipBad = None, eval_file: EvalFiles = None,
    allow_eval_constraints: AllowEval = None, quiet: Quiet = False,
) -> None:
    """Final stage only: write the train/validation (and SFT) Parquet shards and manifest.json."""
    from raif_data import pipeline

    with _user_errors():
        r = _recipe(recipe, output_dir=output_dir, num_prompts=num_prompts, seeds=seeds, seed=seed, source=source,
                    base_url=base_url, model=model, math=math, math_ratio=math_ratio, skip_bad=skip_bad,
                    eval_file=eval_file, allow_eval_constraints=allow_eval_constraints)
        m = _run(lambda f: pipeline.run_shards(r, pipeline.Layout(Path(r.output_dir)), progress=f), quiet)
        _summary(m)


@app.command(epilog="Example: raif-data stats runs/demo/data")
def stats(
    directory: Annotated[Path, typer.Argument(help="An output folder of `raif-data evolve`.")],
    plots: Annotated[Path | None, typer.Option(help="Folder for the PNG plots (default: DIR/stats).")] = None,
) -> None:
    """Constraint-id, composition, source, language, length and pass-rate distributions, as a table and PNGs."""
    from rich.console import Console

    from raif_data import stats as stats_mod

    with _user_errors():
        report = stats_mod.collect(directory)
        out = plots if plots is not None else directory / "stats"
        written = stats_mod.plot(report, out)
        stats_mod.write_json(report, out / "stats.json")
        cliformat.print_table(Console(), stats_mod.table(report))
        typer.echo(f"plots: {', '.join(str(p) for p in written)}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cliformat.run(app, "raif-data")


if __name__ == "__main__":
    main()
