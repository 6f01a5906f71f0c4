"""Start a CLI run in a subprocess and SIGKILL it once it has written some stage chunks (resume tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def kill_after_chunks(cmd: list[str], chunks: Path, at_least: int, log: Path, timeout: float = 120) -> int:
    """Run ``cmd``, SIGKILL it as soon as ``chunks`` holds ``at_least`` chunk files, and return how many
    there were after it died. Its stderr goes to ``log`` (a pipe nobody reads could fill and stall it)."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + timeout
        while time.time() < deadline and len(list(chunks.glob("chunk-*.jsonl"))) < at_least and proc.poll() is None:
            time.sleep(0.02)
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not finished, f"the run ended before it could be killed: {log.read_text(errors='replace')[-2000:]}"
    return len(list(chunks.glob("chunk-*.jsonl")))
