"""How the process uses the machine: threads, garbage collection, and the fast exit.

Shared by the command line and the app, so that both choose threads the same way.

Threads. Torch's CPU thread count is per calling thread. A training step on more threads
than there are idle cores is catastrophic, not just slower: torch's threads spin waiting for
each other while another process holds the core (one run on a busy 2-core machine trained
25× slower on 2 threads than on 1). So the default is the number of cores this process may
use (``sched_getaffinity``) that other processes did not keep busy lately, at least one; an
explicit ``--threads`` wins.

"Lately" is measured, not guessed from ``/proc/loadavg``: the load average counts tasks in
uninterruptible sleep too, and a VM's kernel threads can hold it near 1.0 on an idle machine,
which halved training speed on two cores. The CPU time all cores spent busy
(``/proc/stat``) less this process's own, over the time since the module was imported (the
CLI imports it before torch, so the second torch takes to import is the window), or over a
fresh tenth of a second when that window is too short or too old; and at least the other
processes' threads runnable right now.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STAT = Path("/proc/stat")
LOADAVG = Path("/proc/loadavg")
# The window over which other processes' CPU use is measured: long enough to see a busy
# core, short enough that one that has just stopped no longer counts.
MIN_WINDOW, MAX_WINDOW = 0.1, 3.0
# Predictions are batch-1 steps bound by memory bandwidth: a second thread does not make
# them faster, so the predictor always runs on one.
PREDICT_THREADS = 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else every core."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class CpuSample:
    """A moment's CPU accounting: wall clock, all cores' busy seconds, this process's own."""

    wall: float
    busy: float
    own: float


def read_cpu_sample(stat: str | None = None) -> CpuSample | None:
    """Now, from ``/proc/stat``'s first line (or ``stat``); None where there is none."""
    wall, own = time.monotonic(), sum(os.times()[:2])
    try:
        text = STAT.read_text() if stat is None else stat
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        ticks = [int(v) for v in text.split("\n", 1)[0].split()[1:9]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    if len(ticks) < 4:
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return CpuSample(wall, (sum(ticks) - idle) / hz, own)


def busy_cores(before: CpuSample, after: CpuSample) -> float:
    """Cores that other processes kept busy between two samples, on average."""
    elapsed = after.wall - before.wall
    if elapsed <= 0:
        return 0.0
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / elapsed)


def running_elsewhere(loadavg: str | None = None) -> int:
    """Threads of other processes runnable right now: ``/proc/loadavg``'s fourth field (every
    runnable thread on the machine) less this process's own. It sees a process that started
    too late in the window to weigh in the average."""
    try:
        text = LOADAVG.read_text() if loadavg is None else loadavg
        running = int(text.split()[3].split("/")[0])
        tasks = list(Path("/proc/self/task").iterdir())
    except (OSError, IndexError, ValueError):
        return 0
    ours = 0
    for task in tasks:
        try:  # "pid (name) S ...": the name may hold spaces and parentheses
            ours += (task / "stat").read_text().rpartition(")")[2].split()[0] == "R"
        except (OSError, IndexError):
            continue  # the thread has ended
    return max(0, running - ours)


# When this module was imported: the CLI imports it first, so a command's wall time (which
# a time budget counts in) is measured from about the start of the process.
IMPORTED = time.perf_counter()
_since: CpuSample | None = read_cpu_sample()  # the window starts at import (see above)
_since_lock = threading.Lock()  # the CLI asks from its main thread, the app from a run's


def free_cores(usable: int | None = None) -> int:
    """Usable cores that no other process kept busy lately; at least 1."""
    global _since
    usable = usable_cores() if usable is None else usable
    with _since_lock:
        now = read_cpu_sample()
        if now is None:  # not Linux: assume the machine is ours
            return usable
        if _since is None or now.wall - _since.wall > MAX_WINDOW:
            _since = now  # too old to say what is happening now: a fresh window
        wait = MIN_WINDOW - (now.wall - _since.wall)
        if wait > 0:  # too short to see a busy core
            time.sleep(wait)
            now = read_cpu_sample() or now
        busy = max(busy_cores(_since, now), running_elsewhere())
        _since = now
    return max(1, usable - min(usable, math.floor(busy + 0.5)))


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
