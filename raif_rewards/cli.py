"""`raif-rewards`: list, describe and run the constraint checkers; an IFEval-compatible scorer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from raif_rewards import cliformat, registry
from raif_rewards.errors import RaifError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Verifiable constraint checkers (IFEval-exact) and rewards.\n\nExample: raif-rewards list --group format",
)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    # escaped: messages carry install hints such as pip install 'raif[fastlang]', which rich reads as markup
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _load_json_arg(value: str, what: str):
    """A JSON value given inline, as @FILE, or as - for stdin."""
    try:
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            text = Path(value[1:]).read_text(encoding="utf-8")
        else:
            text = value
        return json.loads(text)
    except OSError as exc:
        _fail(f"{what}: cannot read {value[1:]!r}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        _fail(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")


def checker_summary(c: registry.Checker) -> dict:
    return {
        "id": c.id,
        "group": c.group,
        "source": c.source,
        "version": c.version,
        "description": c.description,
        "kwargs_schema": c.schema,
        "languages": list(c.languages),
        "conflicts": sorted(c.conflicts - {c.id}),
        "sampleable": c.sampler is not None,
        "uses_language_detection": c.uses_language_detection,
    }


@app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects.")] = False,
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source: ifeval, iftrain, ifbench, raif.")] = None,
) -> None:
    """List every registered constraint.

    Example: raif-rewards list --json | jq '.[].id'
    """
    everything = registry.all_checkers()
    for flag, value, known in (
        ("--source", source, {c.source for c in everything}),
        ("--group", group, {c.group for c in everything}),
    ):
        if value is not None and value not in known:  # "0 constraints" would read as an empty registry
            _fail(f"{flag} {value!r}: unknown; one of {', '.join(sorted(known))}")
    checkers = [c for c in registry.all_checkers(source) if group is None or c.group == group]
    if as_json:
        typer.echo(json.dumps([checker_summary(c) for c in checkers], ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{len(checkers)} constraints")
    table.add_column("id", no_wrap=True)  # an id is copied whole: never split mid-word
    for col in ("group", "source", "kwargs", "languages", "description"):
        table.add_column(col, overflow="fold")
    for c in checkers:
        table.add_row(
            c.id, c.group, c.source, "\n".join(c.schema.get("properties", {})), ",".join(c.languages), c.description
        )
    cliformat.print_table(console, table)


@app.command()
def describe(checker_id: Annotated[str, typer.Argument(help="A constraint id.")]) -> None:
    """Show one constraint: schema, conflicts, and example renderings.

    Example: raif-rewards describe length_constraints:number_words
    """
    import random

    try:
        c = registry.get(checker_id)
    except RaifError as exc:
        _fail(str(exc))
    info = checker_summary(c)
    console.print_json(json.dumps(info, ensure_ascii=False))
    if c.sampler is not None:
        kwargs = c.sample(random.Random(0))
        for name in c.prompt_kwargs:
            kwargs.setdefault(name, "<the seed prompt>")
        console.print(f"example kwargs: {json.dumps(kwargs, ensure_ascii=False)}", highlight=False)
        for lang in c.languages:
            sample = c.sample(random.Random(0), lang)
            for name in c.prompt_kwargs:
                sample.setdefault(name, "<the seed prompt>")
            console.print(escape(f"[{lang}] {c.render(sample, lang)}"), highlight=False)


@app.command("check")
def check_cmd(
    constraints: Annotated[
        str, typer.Argument(help='JSON list of {"id", "kwargs"} (inline, @FILE or - for stdin).')
    ],
    response: Annotated[str | None, typer.Option(help="The response text.")] = None,
    response_file: Annotated[Path | None, typer.Option(help="Read the response from a file.")] = None,
    loose: Annotated[bool, typer.Option(help="IFEval's loose variants.")] = False,
) -> None:
    """Check one response against constraints; prints per-constraint verdicts as JSON.

    Example: raif-rewards check '[{"id": "punctuation:no_comma"}]' --response "no commas here"
    """
    from raif_rewards.checking import check_all, normalize_constraint

    if (response is None) == (response_file is None):
        _fail("give exactly one of --response or --response-file")
    if response_file is not None:
        try:
            response = response_file.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"{response_file}: cannot read: {exc.strerror}")
    spec = _load_json_arg(constraints, "constraints")
    if isinstance(spec, dict):
        spec = [spec]
    if not isinstance(spec, list):
        _fail('constraints: expected a JSON list of {"id": ..., "kwargs": {...}}')
    assert response is not None  # exactly one of the two was given, and a file's text was read above
    try:
        normalized = [normalize_constraint(c) for c in spec]
        verdicts = check_all([{"id": i, "kwargs": k} for i, k in normalized], response, loose=loose)
    except (RaifError, ValueError, TypeError) as exc:
        _fail(str(exc))
    out = [{"id": i, "kwargs": k, "followed": v} for (i, k), v in zip(normalized, verdicts, strict=False)]
    typer.echo(json.dumps({"follow_all": all(verdicts), "results": out}, ensure_ascii=False, indent=1))


def print_report(report, title: str) -> None:
    table = Table(title=title)
    for col in ("", "prompt-level", "instruction-level"):
        table.add_column(col)
    for mode in ("strict", "loose"):
        acc = getattr(report, mode)
        table.add_row(
            mode,
            f"{acc.prompt_level:.4f} ({acc.prompt_correct}/{acc.prompt_total})",
            f"{acc.instruction_level:.4f} ({acc.instruction_correct}/{acc.instruction_total})",
        )
    cliformat.print_table(console, table)
    by_id = Table(title="per instruction id")
    for col in ("instruction id", "n", "strict", "loose"):
        by_id.add_column(col)
    for cid in sorted(report.strict.per_id):
        ok_s, n = report.strict.per_id[cid]
        ok_l, _ = report.loose.per_id[cid]
        by_id.add_row(cid, str(n), f"{ok_s / n:.3f}", f"{ok_l / n:.3f}")
    console.print(by_id)
    if report.unpaired:
        err.print(
            f"[yellow]warning:[/yellow] {len(report.unpaired)} prompt(s) have no response and were not scored "
            f"(keys: {', '.join(report.unpaired[:20])}{' ...' if len(report.unpaired) > 20 else ''})"
        )


@app.command()
def ifeval(
    input_data: Annotated[Path, typer.Option(help="IFEval input_data.jsonl (key, prompt, instruction_id_list, kwargs).")],
    input_response_data: Annotated[Path, typer.Option(help="JSONL with prompt and response per line.")],
    output_dir: Annotated[Path, typer.Option(help="Where eval_results_{strict,loose}.jsonl are written.")],
    langdetect_backend: Annotated[
        str | None,
        typer.Option(
            help="langdetect (langdetect's algorithm, exact fast path), langdetect-py (the langdetect package "
            "itself) or rs (langdetect-rs); default: $RAIF_LANGDETECT, else langdetect."
        ),
    ] = None,
) -> None:
    """Drop-in for Google's IFEval evaluation_main: result files plus the four accuracies.

    Example: raif-rewards ifeval --input-data input_data.jsonl --input-response-data responses.jsonl --output-dir out/
    """
    from raif_rewards import ifeval as scorer
    from raif_rewards import langid

    try:
        # checked before scoring, so a backend that is not installed is one line, not a failure mid-run
        langid.set_backend(langdetect_backend or langid.backend())
        report = scorer.run(input_data, input_response_data, output_dir)
    except (RaifError, RuntimeError, ValueError) as exc:
        _fail(str(exc))
    print_report(report, "IFEval")
    console.print(f"wrote {output_dir}/eval_results_strict.jsonl and eval_results_loose.jsonl", highlight=False)


@app.command()
def ifbench(
    input_data: Annotated[Path, typer.Option(help="IFBench_test.jsonl (key, prompt, instruction_id_list, kwargs).")],
    input_response_data: Annotated[Path, typer.Option(help="JSONL with prompt and response per line.")],
    output_dir: Annotated[Path, typer.Option(help="Where eval_results_{strict,loose}.jsonl are written.")],
) -> None:
    """Drop-in for allenai/IFBench's run_eval: result files plus the four accuracies.

    Example: raif-rewards ifbench --input-data IFBench_test.jsonl --input-response-data responses.jsonl --output-dir out/
    """
    import dataclasses

    from raif_rewards import ifbench as scorer

    try:
        report = scorer.run(input_data, input_response_data, output_dir)
    except (RaifError, RuntimeError, ValueError) as exc:
        _fail(str(exc))
    print_report(dataclasses.replace(report, unpaired=[]), "IFBench")
    if report.unpaired:
        # IFBench scores a prompt without a response as failing every instruction.
        err.print(
            f"[yellow]warning:[/yellow] {len(report.unpaired)} prompt(s) have no response and count as failed "
            f"(keys: {', '.join(report.unpaired[:20])}{' ...' if len(report.unpaired) > 20 else ''})"
        )
    console.print(f"wrote {output_dir}/eval_results_strict.jsonl and eval_results_loose.jsonl", highlight=False)


def main() -> None:
    cliformat.run(app, "raif-rewards")


if __name__ == "__main__":
    main()
