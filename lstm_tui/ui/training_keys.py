"""Training, as the app's keys drive it: start, pause, resume, stop, and what to tell the user.

A controller on the UI thread. Each run is a ``TrainingRun`` (``run_thread.py``: its own
thread and state); this keeps the current one, turns the keys into its transitions, mirrors
its state into the app's state (which the screen watches), and turns its end into a
notification. It knows the app only as Textual's ``App``: for ``notify`` and the panes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core import format as fmt
from lstm_tui.core import runtime
from lstm_tui.ui.run_thread import RunPlan, TrainingRun
from lstm_tui.ui.state import TrainState
from lstm_tui.ui.widgets.training import TrainingPane

if TYPE_CHECKING:
    from textual.app import App

    from lstm_tui.ui.app_state import AppState
    from lstm_tui.ui.messages import TrainingEnded, TrainingStarted
    from lstm_tui.ui.model_dialogs import ModelDialogs


class TrainingKeys:
    def __init__(self, shell: App, state: AppState, dialogs: ModelDialogs) -> None:
        self.shell = shell
        self.state = state
        self.dialogs = dialogs  # to ask for a text when the model's own is not here
        self.current: TrainingRun | None = None

    def _seen(self) -> None:
        """The app's state follows the run's (the screen and the footer watch it)."""
        run = self.current
        self.state.run_state = run.state if run is not None else TrainState.IDLE

    def train(self) -> None:
        state = self.state
        if state.run_state is TrainState.PAUSED:
            self.resume()
        elif state.run_state.running:
            self.shell.notify("Training is already running (F6 pauses, F7 stops).", timeout=3)
        elif state.corpus is None and state.corpus_path is None:
            self.dialogs.ask_training_text(self._train_on)
        else:
            self._start()

    def _train_on(self, path: Path) -> None:
        self.state.corpus_path, self.state.corpus = path, None
        self._start()

    def _start(self) -> None:
        state = self.state
        assert state.session is not None
        plan = RunPlan(
            state.session,
            state.corpus,
            state.corpus_path,
            state.train_config,
            state.threads,
            checkpoint=state.session.source,
            logdir=state.logdir,
            log=state.log_runs,
        )
        self.current = TrainingRun(plan, self.shell.query_one(TrainingPane))
        self.current.start()
        self._seen()

    def pause(self) -> None:
        if self.current is None or not self.current.pause():
            self.shell.notify("Nothing to pause: training is not running.", timeout=3)
        self._seen()

    def resume(self) -> None:
        if self.current is None or not self.current.resume():
            self.shell.notify("Nothing to resume.", timeout=3)
        self._seen()

    def toggle_pause(self) -> None:
        if self.state.run_state is TrainState.PAUSED:
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        if self.current is None or not self.state.run_state.running:
            self.shell.notify("Training is not running.", timeout=3)
        else:
            self.current.stop()
        self._seen()

    def stop_now(self) -> None:
        """Quitting: ask the run to stop, say nothing."""
        if self.current is not None:
            self.current.stop()

    async def stopped(self) -> None:
        """Stop a run and wait for its thread to end (a step, well under a second)."""
        if self.current is not None:
            await self.current.stopped()

    def started(self, message: TrainingStarted) -> None:
        """The run read its text."""
        if self.current is None or message.run_id != self.current.run_id:
            return
        self.state.corpus = message.corpus
        self._seen()
        runtime.freeze_heap()  # training's first steps import and build a lot

    def ended(self, message: TrainingEnded, quitting: bool) -> bool:
        """The run's thread is done: say how it went. True if it was the current run."""
        if self.current is None or message.run_id != self.current.run_id:
            return False
        self.current = None
        self._seen()
        state, shell = self.state, self.shell
        if message.bad_corpus and state.corpus is None:
            state.corpus_path = None  # the text could not be read: forget it
        result = message.result
        if message.error:
            shell.notify(message.error, title="Training failed", severity="error", timeout=10)
        elif result is not None and result.reason == "diverged":
            shell.notify(result.message, title="Training diverged", severity="error", timeout=10)
        elif result is not None and not quitting:
            accuracy = (
                f" · window accuracy {fmt.percent(result.window_accuracy)}"
                if result.window_accuracy is not None
                else ""
            )
            shell.notify(
                f"{result.message}: {result.steps:,} steps in {fmt.duration(result.seconds)}"
                f"{accuracy}",
                title="Training " + ("stopped" if result.reason == "stopped" else "done"),
                timeout=5,
            )
        return True
