"""Worker processes that end with their parent: a pool worker whose parent was SIGKILLed waits on its
task queue for ever (it holds the queue's write end itself), and keeps multiprocessing's resource
tracker alive with it. Two more processes were left behind per crashed ``raif-train``.
"""

from __future__ import annotations

import os
import threading

#: seconds between two looks at the parent process
POLL_SECONDS = 0.5


def exit_with_parent(poll_seconds: float = POLL_SECONDS) -> None:
    """Start a daemon thread that ends this process (``os._exit``) once its parent is gone.

    Call it in a pool's ``initializer``. An orphan is re-parented (to init or a subreaper), so a
    changed ``os.getppid()`` means the parent died; polling needs no Linux-only ``prctl``.
    """
    parent = os.getppid()
    if parent <= 1:  # already an orphan, or a daemon: nothing to watch
        return

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(poll_seconds):
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="raif-exit-with-parent", daemon=True).start()
