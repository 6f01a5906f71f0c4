"""The one JSONL reader of the project: line-numbered records, errors that name file and line.

Every package (scorers, data pipeline, evaluation) reads JSONL through :func:`iter_jsonl`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from raif_rewards.errors import InputFileError


def iter_jsonl(
    path: str | Path,
    *,
    on_error: Callable[[InputFileError], None] | None = None,
    objects_only: bool = True,
) -> Iterator[tuple[int, dict]]:
    """(1-based line number, record) for each non-blank line of ``path``.

    A malformed line (bad JSON, or not an object when ``objects_only``) raises
    :class:`InputFileError`, or is passed to ``on_error`` (which may count it, or raise) and skipped.
    An unreadable or non-UTF-8 file always raises.
    """
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(str(p), f"cannot open: {exc.strerror or exc}") from None
    with handle:
        lineno = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as exc:
                raise InputFileError(str(p), f"not UTF-8 text ({exc.reason})", lineno + 1) from None
            if not line:
                return
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                error = InputFileError(str(p), f"not valid JSON ({exc.msg} at column {exc.colno})", lineno)
            except ValueError as exc:  # an integer over Python's 4,300-digit limit
                error = InputFileError(str(p), f"not usable JSON ({str(exc).split(':')[0]})", lineno)
            except RecursionError:
                error = InputFileError(str(p), "nested too deeply to read", lineno)
            else:
                if not objects_only or isinstance(obj, dict):
                    yield lineno, obj
                    continue
                error = InputFileError(str(p), f"expected a JSON object, got {type(obj).__name__}", lineno)
            if on_error is None:
                raise error
            on_error(error)
