"""Pause, resume and stop for a training run, from any thread, before or during the run.

The caller makes a ``RunControl`` and hands it to the ``Trainer``: a request made before the
trainer exists (the app asks for a run, then reads the corpus in a worker) simply waits in
the control until the trainer looks at it between two steps. ``StopOnSignals`` turns
signals (SIGTERM from ``timeout`` or systemd, SIGHUP from a closed terminal, or every signal
under torchrun) into the same request to stop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import Protocol


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()

    def pause(self) -> None:
        if not self._stop.is_set():
            self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    def stop(self) -> None:
        self._stop.set()
        self._unpaused.set()  # a paused run wakes up to see the stop

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self) -> bool:
        """Block while paused; True if it had to wait."""
        if self._unpaused.is_set():
            return False
        self._unpaused.wait()
        return True


class _Stoppable(Protocol):
    def stop(self) -> None: ...


# One process: SIGTERM and SIGHUP end a run as Ctrl-C (a KeyboardInterrupt) does.
HANGUP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
# Under torchrun (which passes signals on to every rank) Ctrl-C is one too: the ranks vote on
# it before the next step, so all stop at the same one and rank 0 saves; a rank killed inside
# a collective would leave the others waiting instead.
VOTE_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals:
    """While installed, each of ``signals`` asks the attached run to stop after its current
    step, so that the caller can save; ``received`` says which signal came last.

    A signal that comes before a run is attached stops it as soon as it is attached. Handlers
    can only be installed from the main thread; elsewhere ``installed()`` does nothing.
    """

    def __init__(self, signals: Iterable[int] = HANGUP_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.received: int | None = None
        self._target: _Stoppable | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.received = signum
        if self._target is not None:
            self._target.stop()

    def attach(self, target: _Stoppable) -> None:
        """Stop this run on a signal (at once, if one came while it was being set up)."""
        self._target = target
        if self.received is not None:
            target.stop()

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopOnSignals]:
        """The handlers in place for the block, then the previous ones back. Nested, the
        inner block leaves the handlers to the outer one."""
        mine = not self._previous and threading.current_thread() is threading.main_thread()
        if mine:
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            if mine:
                for signum, handler in self._previous.items():
                    signal.signal(signum, handler)  # type: ignore[arg-type]
                self._previous.clear()
