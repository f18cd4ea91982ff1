"""Model work for the UI, off the event loop: a job queue and a throttled view of the session.

Typing fast queues many suggestion requests; only the latest input matters, so a new one
replaces any that has not started. Continuations (Enter) are answered in order, never
dropped. One long-lived thread worker of the app takes jobs from the queue.

While training runs, the session's version moves with every optimizer step (10 times a
second or more), and the core's ``Predictor`` copies the weights (waiting for the step in
progress) and recomputes its context whenever it moved: on every keystroke, 10-150 ms on a
busy 2-core machine. So the app keeps two predictors (``PredictorPair``), each reading the
session through a ``LiveView`` whose version moves only when told: keystrokes use the
active one, while a background worker brings the other up to date and warms it on the
text being typed, then swaps them. No keystroke waits for a copy.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lstm_tui.core.model import LanguageModel
    from lstm_tui.core.predict import Predictor
    from lstm_tui.core.session import Session
    from lstm_tui.core.vocab import Vocabulary

Job = Callable[[], None]


class InferenceQueue:
    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._latest: dict[str, Job] = {}  # "suggest" and "details": the newest wins
        self._ordered: deque[Job] = deque()  # "continue": every one, in order
        self._closed = False
        self._running = 0  # jobs taken and not yet done

    def submit(self, kind: str, job: Job) -> None:
        with self._ready:
            if self._closed:
                return
            if kind == "continue":
                self._ordered.append(job)
            else:
                self._latest[kind] = job
            self._ready.notify()

    def take(self, timeout: float | None = None) -> Job | None:
        """The next job (suggestions first), waiting up to ``timeout``; None once closed."""
        with self._ready:
            if self._running:
                self._running -= 1  # the previous job of this (single) taker is done
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._closed:
                job = self._pop()
                if job is not None:
                    self._running += 1
                    return job
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._ready.wait(left)
            return None

    def _pop(self) -> Job | None:
        if "warm-up" in self._latest:
            return self._latest.pop("warm-up")
        if "suggest" in self._latest:
            return self._latest.pop("suggest")
        if self._ordered:
            return self._ordered.popleft()
        if "details" in self._latest:
            return self._latest.pop("details")
        return None

    def clear(self) -> None:
        with self._ready:
            self._latest.clear()
            self._ordered.clear()

    def close(self) -> None:
        """Refuse new work, drop what is queued and wake the taker (at quit)."""
        with self._ready:
            self._closed = True
            self._latest.clear()
            self._ordered.clear()
            self._ready.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """A job is queued or running."""
        with self._ready:
            return bool(self._running or self._latest or self._ordered)


class LiveView:
    """A ``Session`` as the predictor should see it: its version moves on ``catch_up()``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._version = session.version
        self.caught_up_at = time.monotonic()

    @property
    def version(self) -> int:
        return self._version

    @property
    def behind(self) -> bool:
        return self._version != self.session.version

    def catch_up(self) -> None:
        self.caught_up_at = time.monotonic()
        self._version = self.session.version

    @property
    def lock(self) -> threading.RLock:
        return self.session.lock

    @property
    def model(self) -> LanguageModel:
        return self.session.model

    @property
    def vocab(self) -> Vocabulary:
        return self.session.vocab

    @property
    def lowercase(self) -> bool:
        return self.session.lowercase


class PredictorPair:
    """Two predictors over one session: one answers keystrokes, the other catches up."""

    def __init__(self, session: Session, first: Predictor, view: LiveView) -> None:
        self.session = session
        self._pairs: list[tuple[LiveView, Predictor] | None] = [(view, first), None]
        self._active = 0
        self.refreshed_at = time.monotonic()

    @property
    def active(self) -> Predictor:
        pair = self._pairs[self._active]
        assert pair is not None
        return pair[1]

    @property
    def behind(self) -> bool:
        pair = self._pairs[self._active]
        assert pair is not None
        return pair[0].behind

    def refresh(self, text: str) -> None:
        """In a worker thread: bring the standby predictor up to date on ``text``, swap."""
        from lstm_tui.core.predict import Predictor

        standby = 1 - self._active
        pair = self._pairs[standby]
        if pair is None:
            view = LiveView(self.session)
            pair = (view, Predictor(view))  # type: ignore[arg-type]  # reads it as a Session
            self._pairs[standby] = pair
        view, predictor = pair
        view.catch_up()
        predictor.suggest(text)  # copies the weights and computes the context's states
        self._active = standby
        self.refreshed_at = time.monotonic()
