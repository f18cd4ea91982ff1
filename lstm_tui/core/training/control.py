"""Pause, resume and stop for a training run, from any thread, before or during the run.

The caller makes a ``RunControl`` and hands it to the ``Trainer``: a request made before the
trainer exists (the app asks for a run, then reads the corpus in a worker) simply waits in
the control until the trainer looks at it between two steps.
"""

from __future__ import annotations

import threading


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
