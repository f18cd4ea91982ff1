"""Pause/resume/stop for a training run, usable before the worker has built its Trainer.

The UI thread holds a ``RunControl`` from the moment it asks for a run; the worker thread
attaches the ``Trainer`` once the corpus is read, and any request made in between is
applied then. Every method is thread-safe.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lstm_tui.core.train import Trainer


class RunControl:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stop = False
        self._pause = False
        self.finished = threading.Event()  # set by the worker when its thread is done
        self.stop_requested_at: float | None = None  # time.perf_counter() of the first stop
        self.finished_at: float | None = None

    def done(self) -> None:
        """Called by the worker thread as it ends."""
        self.finished_at = time.perf_counter()
        self.finished.set()

    def attach(self, trainer: Trainer) -> None:
        with self._lock:
            self._trainer = trainer
            if self._stop:
                trainer.stop()
            elif self._pause:
                trainer.pause()

    @property
    def trainer(self) -> Trainer | None:
        return self._trainer

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @property
    def paused(self) -> bool:
        return self._pause and not self._stop

    def stop(self) -> None:
        with self._lock:
            if not self._stop:
                self.stop_requested_at = time.perf_counter()
            self._stop = True
            if self._trainer is not None:
                self._trainer.stop()

    def pause(self) -> None:
        with self._lock:
            self._pause = True
            if self._trainer is not None and not self._stop:
                self._trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._pause = False
            if self._trainer is not None:
                self._trainer.resume()
