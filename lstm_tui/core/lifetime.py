"""Child processes that end with their parent: nothing lstm-tui starts is left running.

A launcher killed with SIGKILL runs no cleanup, so its children must learn of its death from
the kernel: on Linux, ``prctl(PR_SET_PDEATHSIG, sig)`` asks for ``sig`` when the parent
dies. It is set in the child, either between fork and exec
(``preexec_fn=on_parent_death()``) or by the child itself at start (``die_with_parent()``);
in the second case the parent may already be gone, which ``expected_parent`` catches.
Elsewhere (macOS, Windows) there is no such call and these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def on_parent_death(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess``: the child gets ``signum`` when this process dies.

    libc is looked up here, in the parent: between fork and exec the child only calls
    ``prctl`` (no loading, no allocation, nothing that could wait on a lock).
    """
    prctl = _prctl()

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)

    return preexec


def die_with_parent(signum: int = signal.SIGTERM, expected_parent: int | None = None) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies.

    Returns whether it could. With ``expected_parent``, a parent already gone (this process
    re-parented before the call) sends ``signum`` at once, as its death would have.
    """
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), signum)
    return True


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, which taskset and cgroups set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
