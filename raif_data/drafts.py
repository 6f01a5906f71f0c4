"""Stage 2 on several processes: workers draw each rule index's instruction and verified witness (the
costly part), and the main process takes their drafts in index order through
:func:`raif_data.pipeline.build_record`, which applies the duplicate filter. The records, counts and
chunk files are those of a one-process run, byte for byte, whatever the number of workers.

Workers are forked from the main process, so they start with its registry and language models loaded.
A worker that fails on an index leaves that index to the main process, which draws it itself and so
raises exactly what a one-process run raises; a worker that dies stops the stage with one line.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from raif_data import pipeline
from raif_data.recipe import Recipe
from raif_rewards.errors import RaifError

log = logging.getLogger(__name__)

#: indices to draw per worker at the least: a worker costs a fork and a share of the first batches
MIN_ROWS_PER_WORKER = 32
#: indices per task: large enough that a task's overhead (about 0.1 ms) is small next to its draws
#: (about 0.5 ms each), small enough that the workers stay evenly busy
MAX_BATCH = 32
#: tasks in flight per worker: the main process never waits on a task it submitted late
AHEAD = 4


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(r: Recipe) -> int:
    """instruct.workers, 0 read as one per usable CPU."""
    return r.instruct.workers or cpus()


def workers_for(r: Recipe, rows: int) -> int:
    """The workers worth starting for ``rows`` indices to draw (1: draw in the main process)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # the workers rely on inheriting the loaded registry and models
    return max(1, min(worker_count(r), rows // MIN_ROWS_PER_WORKER))


def warm() -> None:
    """Load what every draw's witness check needs (the registry, language profiles, Punkt) once, in
    the main process, so that forked workers share it instead of each loading its own copy."""
    from raif_rewards import registry
    from raif_rewards.text import view

    registry.all_checkers()
    text = view("Load the models once. Then fork the workers.")
    text.language  # noqa: B018
    text.sentence_count  # noqa: B018


# ------------------------------------------------------------------------------------- worker side

_job: tuple[Recipe, pipeline._Lines, int, int] | None = None


def _init_worker(r: Recipe, seeds_path: Path, n_seeds: int, m_avail: int, parent: int) -> None:
    global _job
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops us
    _job = (r, pipeline._Lines(seeds_path), n_seeds, m_avail)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    # a main process killed outright (SIGKILL) would leave its workers waiting for tasks forever
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _draw_range(lo: int, hi: int) -> list[pipeline.Draft]:
    """Drafts for the rule indices in [lo, hi), up to the first that fails (the main process draws
    that one itself, and reports its error as a one-process run would)."""
    assert _job is not None, "worker not initialised"
    r, lines, n_seeds, m_avail = _job
    out = []
    for i in range(lo, hi):
        row = pipeline.seed_row(i, r, m_avail, n_seeds)
        if row is None:
            continue  # a math index: the main process makes it
        try:
            out.append(pipeline.draft(i, r, pipeline.read_seed(lines, row)))
        except Exception:  # noqa: BLE001  # the main process raises it again, in order
            break
    return out


# --------------------------------------------------------------------------------------- main side


class Drafter:
    """A pool of forked workers that draws ahead of the main loop, over the index ranges still to
    do; :meth:`get` hands the drafts out in index order."""

    def __init__(self, r: Recipe, seeds_path: Path, n_seeds: int, m_avail: int,
                 ranges: list[tuple[int, int]], workers: int):
        rows = sum(hi - lo for lo, hi in ranges)
        batch = max(1, min(MAX_BATCH, rows // (workers * AHEAD)))
        self._todo = deque((a, min(a + batch, hi)) for lo, hi in ranges for a in range(lo, hi, batch))
        self._pending: deque[tuple[int, int, Future]] = deque()
        self._ready: dict[int, pipeline.Draft] = {}
        self._ahead = workers * AHEAD
        self.workers = workers
        #: drafts whose instruction turned out a duplicate, so their index was drawn again here
        self.redrawn_here = 0
        warm()
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                        initializer=_init_worker,
                                        initargs=(r, seeds_path, n_seeds, m_avail, os.getpid()))
        self._fill()

    def _fill(self) -> None:
        while self._todo and len(self._pending) < self._ahead:
            lo, hi = self._todo.popleft()
            self._pending.append((lo, hi, self.pool.submit(_draw_range, lo, hi)))

    def get(self, i: int) -> pipeline.Draft | None:
        """The draft for index ``i`` (asked in increasing order); None for a math index or one the
        main process must draw itself."""
        while self._pending and self._pending[0][0] <= i:
            lo, hi, future = self._pending.popleft()
            try:
                drafts = future.result()
            except BrokenProcessPool:
                raise RaifError(f"stage 'instruct': a worker process died while drawing indices {lo}-{hi - 1} "
                                "(killed, or out of memory?); the chunks already written are kept: rerun the "
                                "same command to resume, or set instruct.workers: 1") from None
            except Exception as exc:  # noqa: BLE001  # the task itself failed: its indices are drawn here
                log.warning("stage instruct: a worker task failed (%s); indices %d-%d are drawn in the main "
                            "process", exc, lo, hi - 1)
                drafts = []
            self._ready.update((d.i, d) for d in drafts)
            self._fill()
        return self._ready.pop(i, None)

    def account(self, drafted: pipeline.Draft | None, built: dict | None) -> None:
        """Count a draft whose instruction was a duplicate (build_record then drew its index again:
        what it made, if anything, is another prompt)."""
        if drafted is not None and drafted.found is not None and (built is None or built["prompt"] != drafted.found.prompt):
            self.redrawn_here += 1

    def close(self) -> None:
        # running tasks finish (a batch takes milliseconds), queued ones are dropped
        self.pool.shutdown(wait=True, cancel_futures=True)
        log.debug("stage instruct: %d workers; %d duplicate drafts drawn again in the main process",
                  self.workers, self.redrawn_here)
