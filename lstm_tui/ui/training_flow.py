"""Training, as the app's keys drive it: start, pause, resume, stop, and what to tell the user.

A controller on the UI thread. Each run is a ``TrainingRun`` (its own thread and state);
this keeps the current one, turns the keys into its transitions, and turns its end into a
notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core import format as fmt
from lstm_tui.core import runtime
from lstm_tui.ui.state import TrainState
from lstm_tui.ui.training_run import RunPlan, TrainingRun
from lstm_tui.ui.widgets.training import TrainingPane

if TYPE_CHECKING:
    from lstm_tui.ui.app import LstmApp
    from lstm_tui.ui.messages import TrainingEnded, TrainingStarted


class TrainingFlow:
    def __init__(self, app: LstmApp) -> None:
        self.app = app
        self.run: TrainingRun | None = None

    @property
    def state(self) -> TrainState:
        return self.run.state if self.run is not None else TrainState.IDLE

    def train(self) -> None:
        app = self.app
        if self.state is TrainState.PAUSED:
            self.resume()
        elif self.state.running:
            app.notify("Training is already running (F6 pauses, F7 stops).", timeout=3)
        elif app.corpus is None and app.corpus_path is None:
            app.flows.ask_training_text(self._train_on)
        else:
            self._start()

    def _train_on(self, path: Path) -> None:
        self.app.corpus_path, self.app.corpus = path, None
        self._start()

    def _start(self) -> None:
        app = self.app
        assert app.session is not None
        logdir = app.memory.settings.logdir
        plan = RunPlan(
            app.session,
            app.corpus,
            app.corpus_path,
            app.train_config,
            app.threads,
            checkpoint=app.session.source,
            logdir=Path(logdir).expanduser() if logdir else None,
            log=app.log_runs,
        )
        self.run = TrainingRun(plan, app.query_one(TrainingPane))
        self.run.start()

    def pause(self) -> None:
        if self.run is None or not self.run.pause():
            self.app.notify("Nothing to pause: training is not running.", timeout=3)

    def resume(self) -> None:
        if self.run is None or not self.run.resume():
            self.app.notify("Nothing to resume.", timeout=3)

    def toggle_pause(self) -> None:
        if self.state is TrainState.PAUSED:
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        if self.run is None or not self.state.running:
            self.app.notify("Training is not running.", timeout=3)
        else:
            self.run.stop()

    async def stopped(self) -> None:
        """Stop a run and wait for its thread to end (a step, well under a second)."""
        if self.run is not None:
            await self.run.stopped()

    def started(self, message: TrainingStarted) -> bool:
        """The run read its text; True if it is the current run."""
        if message.run is not self.run:
            return False
        self.app.corpus = message.corpus
        runtime.freeze_heap()  # training's first steps import and build a lot
        return True

    def ended(self, message: TrainingEnded, quitting: bool) -> bool:
        """The run's thread is done: say how it went. True if it was the current run."""
        if message.run is not self.run:
            return False
        self.run = None
        app = self.app
        if message.bad_corpus and app.corpus is None:
            app.corpus_path = None  # the text could not be read: forget it
        result = message.result
        if message.error:
            app.notify(message.error, title="Training failed", severity="error", timeout=10)
        elif result is not None and result.reason == "diverged":
            app.notify(result.message, title="Training diverged", severity="error", timeout=10)
        elif result is not None and not quitting:
            accuracy = (
                f" · window accuracy {fmt.percent(result.window_accuracy)}"
                if result.window_accuracy is not None
                else ""
            )
            app.notify(
                f"{result.message}: {result.steps:,} steps in {fmt.duration(result.seconds)}"
                f"{accuracy}",
                title="Training " + ("stopped" if result.reason == "stopped" else "done"),
                timeout=5,
            )
        return True
