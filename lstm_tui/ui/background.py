"""Background threads that give way to the UI: training and predictor refreshes.

On a 2-core machine a training step saturates a core; the UI thread and the predictor's
keystroke thread must still get the CPU the moment a key arrives. Linux lets a thread
lower its own priority (a per-thread nice value), so these threads do: when nothing else
wants the CPU they run at full speed, and a keystroke preempts them at once. A thread can
only lower its priority, never raise it back, so each job gets a fresh thread rather than
a pooled one (starting a thread costs ~0.1 ms; torch needs no per-thread warm-up).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

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


def run_at_low_priority(
    work: Callable[[], None],
    *,
    name: str,
    nice: int,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    """Run ``work`` in a fresh thread at ``nice`` and wait for it; its exception is raised here.

    ``while_waiting`` is called ten times a second while it runs (to pass on a cancel).
    The thread is a daemon: a quit that cannot wait for a long step does not wait for it.
    """
    failure: list[BaseException] = []

    def target() -> None:
        lower_priority(nice)
        try:
            work()
        except BaseException as e:  # handed to the waiting thread
            failure.append(e)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
        if while_waiting is not None:
            while_waiting()
    if failure:
        raise failure[0]
