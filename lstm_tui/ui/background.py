"""Background threads that give way to the UI: training and predictor refreshes.

On a 2-core machine a training step saturates a core; the UI thread and the predictor's
keystroke thread must still get the CPU the moment a key arrives. Linux lets a thread
lower its own priority (a per-thread nice value), so these threads do: when nothing else
wants the CPU they run at full speed, and a keystroke preempts them at once. A thread can
only lower its priority, never raise it back, so each job gets a fresh thread rather than
a pooled one (starting a thread is cheap beside a step; torch needs no per-thread warm-up).
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

TRAIN_NICE = 10  # CFS weight 110 against the UI's 1024
REFRESH_NICE = 5


def lower_priority(nice: int) -> bool:
    """Lower the calling thread's priority to ``nice`` (Linux only); True if it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, nice))
    except (OSError, AttributeError):
        return False
    return True


class WorkerPool(ThreadPoolExecutor):
    """The pool Textual's thread workers run in: its shutdown does not wait for them.

    asyncio.run() joins the default executor's threads before ``App.run()`` returns; a
    worker still drawing a chart must not hold the exit up (``LstmApp.run`` decides how long
    to wait, and for what).
    """

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=cancel_futures)
