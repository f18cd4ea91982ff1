"""How the process uses the machine: threads, garbage collection, and the fast exit.

Shared by the command line and the app, so that both choose threads the same way.

Threads. Torch's CPU thread count is per calling thread. A training step on more threads
than there are idle cores is catastrophic, not just slower: torch's threads spin waiting for
each other while another process holds the core (one run on a busy 2-core machine trained
25× slower on 2 threads than on 1). So the default is the number of cores this process may
use (``sched_getaffinity``) that are not already busy (``/proc/loadavg``), at least one; an
explicit ``--threads`` wins.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

LOADAVG = Path("/proc/loadavg")
# Predictions are batch-1 steps bound by memory bandwidth: a second thread does not make
# them faster, so the predictor always runs on one.
PREDICT_THREADS = 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else every core."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def busy_cores(loadavg: str) -> int:
    """Cores other processes keep busy, read from the text of ``/proc/loadavg``.

    Its fourth field counts the runnable threads right now (this one among them), its first
    the one-minute average: the larger of the two, so that a load that just started counts,
    and so does one that pauses for a moment.
    """
    fields = loadavg.split()
    try:
        average = float(fields[0])
        running = int(fields[3].split("/")[0]) - 1  # less the thread reading the file
    except (IndexError, ValueError):
        return 0
    return max(0, running, math.floor(average + 0.5))


def free_cores(usable: int | None = None, loadavg: str | None = None) -> int:
    """Usable cores that no other process keeps busy; at least 1."""
    usable = usable_cores() if usable is None else usable
    if loadavg is None:
        try:
            loadavg = LOADAVG.read_text()
        except OSError:  # not Linux: assume the machine is ours
            loadavg = ""
    return max(1, usable - min(usable, busy_cores(loadavg)))


def training_threads(requested: int | None = None, reserve: int = 0) -> int:
    """Threads for a training step: ``requested`` if given, else the free cores less ``reserve``.

    The app reserves one core for typing (the UI and the predictor); the CLI reserves none.
    """
    if requested is not None:
        return max(1, requested)
    return max(1, free_cores() - reserve)


def tune_gc() -> None:
    """Torch, Textual and a model are hundreds of thousands of long-lived objects.

    A full garbage collection walks them all, 50-250 ms on a busy 2-core machine, holding
    the GIL: whatever keystroke is in flight waits. So full collections come far less often
    (young ones stay cheap and frequent), and ``freeze_heap`` takes what is alive once a
    model is loaded out of every collection.
    """
    gc.set_threshold(10_000, 50, 100)


def freeze_heap() -> None:
    gc.freeze()


def fast_exit(code: int, wait_while: Callable[[], bool], grace: float) -> None:
    """End the process now, once ``wait_while()`` turns false (at most ``grace`` seconds).

    After a quit nothing is left to do, but two things would hold the exit up for seconds:
    a training step that cannot be interrupted, and the interpreter's teardown of torch.
    ``wait_while`` is for work that must finish, such as a checkpoint being written.
    """
    deadline = time.monotonic() + grace
    while wait_while() and time.monotonic() < deadline:
        time.sleep(0.01)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
