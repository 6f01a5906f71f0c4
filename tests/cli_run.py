"""Run an installed console script (`raif-train`, ...) as CI does: a subprocess, output piped, this checkout's
code first on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_cli(
    name: str, *args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """``name args...`` with stdout and stderr piped (so not a terminal: 80 columns, no colour)."""
    # what a pipe in CI gets: no COLUMNS (unless a test sets it), so the consoles' default width
    inherited = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    full = {**inherited, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=timeout
    )
