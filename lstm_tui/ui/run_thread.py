"""One training run: its own thread, its control, and its state as a small state machine.

The UI thread makes a ``TrainingRun`` and calls ``start``, ``pause``, ``resume`` and
``stop``; the run's thread reads the corpus if needed and drives ``jobs.train_session``
with the run's ``RunControl``, posting every event, in order, with the run's ``run_id``, to
the widget that asked (the training pane; ``TrainingStarted`` and ``TrainingEnded`` bubble
on to the app).
The thread lowers its own priority first (``background.py``): keystrokes come first.

States (``TrainState``), and who moves them:

    STARTING --(thread: trainer built)--> TRAINING
    STARTING, TRAINING --(pause)--> PAUSED --(resume)--> TRAINING
    any running state --(stop)--> STOPPING
    any running state --(thread ends)--> IDLE
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core.errors import UserError
from lstm_tui.core.training.control import RunControl
from lstm_tui.ui.background import TRAIN_NICE, lower_priority
from lstm_tui.ui.messages import TrainingEnded, TrainingProgress, TrainingStarted
from lstm_tui.ui.state import TrainState

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text.corpus import Corpus
    from lstm_tui.core.training.config import TrainConfig
    from lstm_tui.core.training.logbook import Logbook
    from lstm_tui.core.training.train import TrainResult

S = TrainState
TRANSITIONS: dict[TrainState, frozenset[TrainState]] = {
    S.STARTING: frozenset({S.TRAINING, S.PAUSED, S.STOPPING, S.IDLE}),
    S.TRAINING: frozenset({S.PAUSED, S.STOPPING, S.IDLE}),
    S.PAUSED: frozenset({S.TRAINING, S.STARTING, S.STOPPING, S.IDLE}),
    S.STOPPING: frozenset({S.IDLE}),
    S.IDLE: frozenset(),
}


@dataclass(frozen=True)
class RunPlan:
    """What to train, on what, how."""

    session: Session
    corpus: Corpus | None  # already encoded in the session's vocabulary, or None:
    corpus_path: Path | None  # read this text (with the session's vocabulary) first
    config: TrainConfig
    # torch threads for a CPU run; None: the free cores less one for typing, measured in
    # the run's thread (it may wait a moment to see what the other processes use)
    threads: int | None
    # TensorBoard events: the checkpoint they go with (None: not saved yet) and the logdir
    # setting (None: a runs folder next to the checkpoint); log=False writes none
    checkpoint: Path | None = None
    logdir: Path | None = None
    log: bool = True


_RUN_IDS = itertools.count(1)


class TrainingRun:
    def __init__(self, plan: RunPlan, reply_to: MessagePump) -> None:
        self.run_id = next(_RUN_IDS)  # what its messages carry, rather than the run itself
        self.plan = plan
        self.reply_to = reply_to
        self.control = RunControl()
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._state = TrainState.STARTING
        self._trainer_built = False
        self._thread = threading.Thread(target=self._main, name="lstm-tui-train", daemon=True)
        self.stop_requested_at: float | None = None  # time.perf_counter() of the first stop
        self.finished_at: float | None = None

    @property
    def state(self) -> TrainState:
        return self._state

    def _move(self, to: TrainState) -> bool:
        """Take the transition to ``to`` if the machine allows it from where it is."""
        with self._lock:
            if to not in TRANSITIONS[self._state]:
                return False
            self._state = to
            return True

    # -- from the UI thread -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> bool:
        if self._state not in (S.STARTING, S.TRAINING) or not self._move(S.PAUSED):
            return False
        self.control.pause()
        return True

    def resume(self) -> bool:
        with self._lock:
            to = S.TRAINING if self._trainer_built else S.STARTING
        if self._state is not S.PAUSED or not self._move(to):
            return False
        self.control.resume()
        return True

    def stop(self) -> None:
        if self.stop_requested_at is None:
            self.stop_requested_at = time.perf_counter()
        self._move(S.STOPPING)
        self.control.stop()

    async def stopped(self) -> None:
        """Stop the run and wait for its thread to end (a step: well under a second)."""
        self.stop()
        while not self.finished.is_set():
            await asyncio.sleep(0.02)

    # -- the run's thread -------------------------------------------------------------------

    def _main(self) -> None:
        from lstm_tui.core.errors import CorpusError

        lower_priority(TRAIN_NICE)
        result = error = None
        bad_corpus = False
        try:
            corpus = self._corpus()
        except CorpusError as e:
            error, bad_corpus = str(e), True
        else:
            try:
                result = self._train(corpus)
            except UserError as e:
                error = str(e)
            except Exception as e:  # a bug: report it, keep the app and the weights
                error = f"{type(e).__name__}: {e}"
        finally:
            self._move(S.IDLE)
            self.finished_at = time.perf_counter()
            self.finished.set()
        self.reply_to.post_message(TrainingEnded(self.run_id, result, error, bad_corpus))

    def _corpus(self) -> Corpus:
        from lstm_tui.core.jobs import corpus_for

        plan = self.plan
        if plan.corpus is not None:
            return plan.corpus
        assert plan.corpus_path is not None
        return corpus_for(plan.session, plan.corpus_path)

    def _train(self, corpus: Corpus) -> TrainResult | None:
        from lstm_tui.core.jobs import Started, train_session
        from lstm_tui.core.model.device import describe_device
        from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult

        plan = self.plan
        run = train_session(
            plan.session, corpus, plan.config, control=self.control, threads=plan.threads, reserve=1
        )
        setup = next(run)
        assert isinstance(setup, Started)
        where = describe_device(setup.device) + (f" ×{setup.threads}" if setup.threads else "")
        with self._lock:
            self._trainer_built = True
        self._move(S.TRAINING)  # unless paused or stopping meanwhile
        shape = f"batch {setup.batch_size} × bptt {setup.bptt}"
        epochs = f"{setup.epochs:,} epochs" if setup.epochs else "epochs unbounded"
        if setup.target:  # the run ends there; the epochs (and the ETA) are an upper bound
            epochs = f"to {setup.target:.1%} window accuracy, ≤{epochs}"
        description = f"{shape} · {epochs} · {where}"
        total = setup.total_steps or 0
        book, note = self._logbook(corpus, description)
        self.reply_to.post_message(
            TrainingStarted(
                self.run_id, corpus, description, total, setup.first_step, log_note=note
            )
        )
        result = None
        try:
            for event in run:
                if book is not None:
                    book.record(event)
                if isinstance(event, TrainResult):
                    result = event
                elif isinstance(event, (StepEvent, EpochEvent)):
                    self.reply_to.post_message(TrainingProgress(self.run_id, event))
        finally:
            if book is not None:
                book.close()
        return result

    def _logbook(self, corpus: Corpus, description: str) -> tuple[Logbook | None, str]:
        """This run's TensorBoard events, and a line for the log: where, or why none."""
        from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX
        from lstm_tui.core.training.logbook import Logbook, run_folder

        plan = self.plan
        if not plan.log:
            return None, ""
        checkpoint = plan.checkpoint
        name = checkpoint.name.removesuffix(CHECKPOINT_SUFFIX) if checkpoint else None
        name = name or Path(corpus.name).stem or "model"
        folder = run_folder(checkpoint, plan.logdir, name)
        book, problem = Logbook.open(folder, f"{plan.session.summary()} · {description}")
        return book, problem or f"TensorBoard log: {folder}"
