"""Crash-safe file primitives: write to a temp file in the same folder, fsync, atomic rename.

Every stage output and manifest goes through here, so a SIGKILL never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from raif_rewards.errors import InputFileError


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets us open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed onto ``path`` atomically."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """``open`` for writing whose result appears at ``path`` only once complete."""
    with atomic_path(path) as tmp:
        encoding, newline = (None, None) if "b" in mode else ("utf-8", "\n")
        with open(tmp, mode, encoding=encoding, newline=newline) as fh:
            yield fh


def write_json(path: str | Path, obj: Any) -> None:
    """Canonical JSON (sorted keys, indented) written atomically."""
    with atomic_open(path) as fh:
        fh.write(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n")


def read_json(path: str | Path) -> Any | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise InputFileError(str(p), f"not valid JSON ({exc.msg})", exc.lineno) from None


def dumps_line(obj: Any) -> str:
    """One JSONL line, canonical so that equal records are equal bytes."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def remove_stale_temps(folder: Path) -> None:
    """Temp files left by a killed process (their names start with '.' and contain '.tmp-')."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".") and ".tmp-" in p.name:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
