"""The run directory: ``run.json`` (settings), ``<bench>/rollouts.jsonl`` (appended one answer at a
time, so a crashed run resumes), ``<bench>/scores.json`` + ``details.jsonl``, and ``summary.json``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from raif_rewards.errors import InputFileError, RaifError
from raif_rewards.outdir import refuse_escaping_links

log = logging.getLogger(__name__)

RUN_FILE, SUMMARY_FILE = "run.json", "summary.json"


class RunDirError(RaifError, ValueError):
    """An output directory that cannot hold (or does not hold) this run."""


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(
            str(path), f"not valid JSON ({exc.msg} at column {exc.colno})", exc.lineno
        ) from None


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        # every file of a run is written below root: a link out of it would write (append) elsewhere
        refuse_escaping_links(self.root)

    def bench_dir(self, bench: str) -> Path:
        d = self.root / bench
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def cache_dir(self) -> Path:
        d = self.root / "cache"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def load_settings(self) -> dict | None:
        path = self.root / RUN_FILE
        return read_json(path) if path.exists() else None

    def save_settings(self, settings: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / RUN_FILE, settings)

    # ------------------------------------------------------------ rollouts
    def rollouts_path(self, bench: str) -> Path:
        return self.root / bench / "rollouts.jsonl"

    def load_rollouts(self, bench: str) -> dict[str, dict]:
        """Saved rollouts by item id (a later line for the same id wins: a retried failure).

        A last line cut short by a crash is ignored; a bad line elsewhere is an error.
        """
        path = self.rollouts_path(bench)
        if not path.exists():
            return {}
        lines = path.read_text(encoding="utf-8").split("\n")
        out: dict[str, dict] = {}
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                if lineno == len(lines) or all(not rest.strip() for rest in lines[lineno:]):
                    log.warning("%s:%d: ignoring a partial last line (interrupted write)", path, lineno)
                    continue
                raise InputFileError(str(path), f"not valid JSON ({exc.msg})", lineno) from None
            if not isinstance(obj, dict) or "id" not in obj:
                raise InputFileError(str(path), "expected a rollout object with an 'id'", lineno)
            out[str(obj["id"])] = obj
        return out

    def repair_rollouts(self, bench: str) -> bool:
        """Cut off a last line left unfinished by a crash (so appends start clean); True if cut."""
        path = self.rollouts_path(bench)
        if not path.exists():
            return False
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            return False
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
            return False  # complete record, only the newline is missing
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        with path.open("r+b") as handle:
            handle.truncate(cut)
        log.warning("%s: removed a partial last line (interrupted write)", path)
        return True

    def append_rollout(self, bench: str, rollout: dict) -> None:
        path = self.rollouts_path(bench)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as handle:
            # a crash may have left a partial line without newline: start on a fresh line
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(handle.tell() - 1)
                if handle.read(1) != "\n":
                    handle.write("\n")
            handle.write(json.dumps(rollout, ensure_ascii=False) + "\n")
            handle.flush()

    # ------------------------------------------------------------ scores
    def save_scores(self, bench: str, scores: dict, details: Iterable[dict]) -> None:
        d = self.bench_dir(bench)
        write_json(d / "scores.json", scores)
        tmp = d / "details.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            for row in details:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        tmp.replace(d / "details.jsonl")

    def load_summary(self) -> dict:
        path = self.root / SUMMARY_FILE
        if not path.exists():
            raise RunDirError(
                f"{self.root}: no {SUMMARY_FILE}; is this a raif-eval run directory that finished scoring?"
            )
        return read_json(path)

    def save_summary(self, summary: dict) -> None:
        write_json(self.root / SUMMARY_FILE, summary)
