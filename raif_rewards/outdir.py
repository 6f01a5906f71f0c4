"""Output folders that stay output folders: no write may follow a link out of the folder it was aimed at.

A symlinked ``DIR/train`` made ``raif-data`` delete unrelated ``part-*.parquet`` files where it
pointed, and a symlinked ``rollouts.jsonl`` made ``raif-eval`` append to its target.
"""

from __future__ import annotations

import os
from pathlib import Path

from raif_rewards.errors import RaifError


class OutputPathError(RaifError, ValueError):
    """An output folder that cannot be written safely (a link out of it, a file in its place ...)."""


def refuse_escaping_links(root: str | Path) -> None:
    """Raise :class:`OutputPathError` when a symlink inside ``root`` resolves outside it.

    ``root`` itself may be a link (the user chose where the output goes); links inside it that stay
    inside are harmless. Links are not followed while walking, so a loop cannot trap the walk.
    """
    top = Path(root)
    if not top.is_dir():
        return
    real_top = top.resolve()
    for folder, dirs, files in os.walk(top, followlinks=False):
        for name in (*dirs, *files):
            path = Path(folder, name)
            if not path.is_symlink():
                continue
            target = path.resolve()
            if target != real_top and real_top not in target.parents:
                raise OutputPathError(
                    f"{path}: a link to {target}, outside the output folder {top}; writing there could "
                    "overwrite or delete files that are not this run's (remove the link, or choose "
                    "another output folder)")


def ensure_output_dir(root: str | Path) -> Path:
    """``root`` created if needed, checked to be a writable folder holding no link out of itself;
    :class:`OutputPathError` (one line naming the folder) otherwise: an existing file in its place,
    an unwritable or virtual location (``/proc``), a link out of it."""
    top = Path(root)
    if top.exists() and not top.is_dir():
        raise OutputPathError(f"{top}: exists and is not a folder; choose another output folder")
    try:
        top.mkdir(parents=True, exist_ok=True)
        probe = top / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputPathError(f"{top}: cannot write there ({exc.strerror or type(exc).__name__}); "
                              "choose another output folder") from None
    refuse_escaping_links(top)
    return top
