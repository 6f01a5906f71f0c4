"""How every `raif-*` command prints help and tables, in a terminal and in a pipe (CI logs, `| less`).

Rich sizes its output to 80 columns whenever output is not a terminal, which cut help texts and table
cells with "…"; typer's help shows `<bool>` on every flag and `{name}` for arguments.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

__all__ = ["PIPE_WIDTH", "TABLE_MAX_WIDTH", "print_table", "run"]

#: help width when output is piped and neither COLUMNS nor TERMINAL_WIDTH says otherwise
PIPE_WIDTH = 120
#: widest a table is printed when piped, unless one of its cells cannot be broken into a narrower one
TABLE_MAX_WIDTH = 160
_LIST_TYPE = re.compile(r"<list\[(\w+)\]>")


def run(app: typer.Typer, prog_name: str) -> None:
    """Run ``app`` as the ``prog_name`` console script, with its help tidied (see the module docstring)."""
    import typer.rich_utils as rich_utils

    if not sys.stdout.isatty() and not (os.environ.get("COLUMNS") or os.environ.get("TERMINAL_WIDTH")):
        rich_utils.MAX_WIDTH = PIPE_WIDTH
    command = typer.main.get_command(app)
    _tidy(command)
    command(prog_name=prog_name)


def _tidy(command: Any) -> None:
    # Duck-typed: typer 0.29 carries its own copy of click, whose classes are not the click package's.
    for param in command.params:
        _tidy_param(param)
    if hasattr(command, "get_help_option"):  # --help is made on demand: tidy it when it is
        made = command.get_help_option

        def help_option(ctx: Any, made: Any = made) -> Any:
            option = made(ctx)
            if option is not None:
                _tidy_param(option)
            return option

        command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


def _tidy_param(param: Any) -> None:
    shown = getattr(param, "display_type_rich", None)
    if shown is not None:  # `<list[Path]>` for a repeatable value reads `<path>...`

        def display_type_rich(ctx: Any, shown: Any = shown) -> Any:
            text = shown(ctx)
            return _LIST_TYPE.sub(lambda m: f"<{m.group(1).lower()}>...", text) if isinstance(text, str) else text

        param.display_type_rich = display_type_rich
    if getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""  # a flag takes no value: no `<bool>`
    elif getattr(param, "param_type_name", "") == "argument" and param.name:
        name = param.metavar or param.name.upper()
        param.metavar = name
        if hasattr(param, "_usage_display_name"):  # typer's usage line writes a required one as {name}
            param._usage_display_name = lambda: name + ("..." if param.nargs != 1 else "")


def print_table(console: Console, table: Table) -> None:
    """``table`` in full. When ``console`` is not a terminal: at its natural width up to TABLE_MAX_WIDTH (wider
    still if a cell cannot be broken), so nothing is cut; in a terminal: wrapped to the terminal."""
    if console.is_terminal:
        console.print(table)
        return
    size = Measurement.get(console, console.options.update(width=10_000), table)
    # wide enough for every unbreakable cell, capped so that long free text wraps rather than padding each line
    width = max(console.width, size.minimum, min(size.maximum, TABLE_MAX_WIDTH))
    wide = Console(file=console.file, width=width, color_system=None, highlight=False)
    wide.print(table)
