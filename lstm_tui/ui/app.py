"""The lstm-tui app: a shell of bindings, the command palette and quitting around the work.

Who owns what (every object below lives on the UI thread; the threads they start write
only their own state and post messages, which the app hands to the controller concerned):

* ``AppState`` (app_state.py): the model, its text, the next run's settings, whether a load
  or a run is under way. The controllers change it; ``MainScreen`` watches it.
* ``MainScreen`` (main_screen.py): the panes, the tabs, the status line and the footer.
* ``ModelDialogs`` (model_dialogs.py): the dialogs that change the model (save, load, open a
  text, reshape, reset), the loads (through ``SessionLoader``, session_loader.py, a thread of
  its own using the core's ``jobs``) and the saves.
* ``TrainingKeys`` (training_keys.py): F5-F7; each run is a ``TrainingRun`` (run_thread.py)
  with its thread, its control and its state, posting every event to the training pane.
* ``InferenceService`` (inference.py) owns the model thread, its queue and the predictor
  pair; the predictor and vocabulary panes ask it, and it answers to the pane that asked.
* ``LaunchMemory`` (launch_memory.py): settings applied at launch, what was open reopened.

The controllers know the app only as Textual's ``App`` and never import this module. Nothing
here imports torch at module level: the screen is up (saying "loading model…") before torch
is. Keystroke-to-screen latency is measured by bench/tui_latency.py.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.events import Resize

from lstm_tui.core import runtime
from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX, checkpoint_path
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.ui.app_state import AppState
from lstm_tui.ui.background import WorkerPool
from lstm_tui.ui.commands import LstmCommands
from lstm_tui.ui.inference import InferenceService
from lstm_tui.ui.keys import APP_BINDINGS
from lstm_tui.ui.launch_memory import LaunchMemory
from lstm_tui.ui.main_screen import MainScreen
from lstm_tui.ui.messages import (
    CorpusProgress,
    InferenceFailed,
    Learnt,
    Saved,
    SessionFailed,
    SessionReady,
    TrainingEnded,
    TrainingStarted,
    WeightsReset,
)
from lstm_tui.ui.model_dialogs import ModelDialogs
from lstm_tui.ui.safe_notify import SafeNotifyApp
from lstm_tui.ui.screens.confirm import Choice, ConfirmScreen
from lstm_tui.ui.screens.help import HelpScreen, help_sections
from lstm_tui.ui.session_loader import SessionLoader
from lstm_tui.ui.state import LoadKind, TrainState, action_allowed
from lstm_tui.ui.training_keys import TrainingKeys

if TYPE_CHECKING:
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.text.corpus import Corpus

SAVE_GRACE = 30.0  # seconds a checkpoint being written at quit may take to finish


class LstmApp(SafeNotifyApp):
    """Train a word-level LSTM on your text and type with it."""

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere find it
    TITLE = "lstm-tui"
    COMMANDS = App.COMMANDS | {LstmCommands}
    ENABLE_COMMAND_PALETTE = True
    FAST_EXIT = True  # see run()

    BINDINGS: ClassVar[list[BindingType]] = list(APP_BINDINGS)

    def __init__(
        self,
        corpus: str | Path | None = None,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        fresh: bool = False,
    ) -> None:
        super().__init__()
        self.launch_corpus = Path(corpus) if corpus else None
        self.launch_checkpoint = checkpoint
        self.state = AppState(self, device or "auto", threads)
        self.inference = InferenceService()
        self.memory = LaunchMemory(self, self.state, fresh)
        self.dialogs = ModelDialogs(
            self, self.state, SessionLoader(self), self.inference, self.memory, self.stop_training
        )
        self.training_keys = TrainingKeys(self, self.state, self.dialogs)
        self.main = MainScreen(self.state, self.inference, mounted=self._launch)
        self._quitting = False

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the app. After the user quits, leave at once (see ``runtime.fast_exit``), once
        any checkpoint being written is complete. ``FAST_EXIT = False`` turns this off."""
        result = super().run(*args, **kwargs)
        if self._quitting and self.FAST_EXIT:
            runtime.fast_exit(self.return_code or 0, lambda: self.dialogs.saving, SAVE_GRACE)
        return result

    def on_load(self) -> None:
        asyncio.get_running_loop().set_default_executor(WorkerPool(thread_name_prefix="lstm-tui"))
        runtime.tune_gc()

    def get_default_screen(self) -> MainScreen:
        return self.main

    # -- what the app holds, read-only (the state is ``self.state``) -----------------------------

    @property
    def session(self) -> Session | None:
        return self.state.session

    @property
    def corpus(self) -> Corpus | None:
        return self.state.corpus

    @property
    def corpus_path(self) -> Path | None:
        return self.state.corpus_path

    @property
    def threads(self) -> int | None:
        return self.state.threads

    @property
    def busy(self) -> bool:
        """A load or reset is in flight."""
        return self.state.loading

    @property
    def training_state(self) -> TrainState:
        return self.state.training_state

    @property
    def training(self) -> bool:
        return self.training_state.running

    @property
    def predictor(self) -> Predictor | None:
        return self.inference.predictor

    # -- start ------------------------------------------------------------------------------------

    def _launch(self) -> None:
        """Once the main screen's panes are mounted (a fast load may answer at once)."""
        self.memory.apply_settings()
        self.state.train_config = TrainConfig(device=self.state.device_name)
        if self.launch_checkpoint:
            self.load(LoadKind.CHECKPOINT, checkpoint_path(self.launch_checkpoint), fallback=True)
        elif self.launch_corpus:
            self.load(LoadKind.CORPUS, self.launch_corpus, fallback=True)
        else:
            self.load(*self.memory.first_load(), fallback=True)

    def on_resize(self, event: Resize) -> None:
        self.main.apply_layout(event.size.width, event.size.height)

    def action_show_pane(self, name: str) -> None:
        self.main.show_pane(name)

    @property
    def active_pane(self) -> str:
        return self.main.active_pane

    # -- the footer -------------------------------------------------------------------------------

    def get_key_display(self, binding: Binding) -> str:
        key = binding.key
        if not binding.key_display and len(key) <= 3 and key[0] == "f" and key[1:].isdigit():
            return key.upper()  # F5, as printed on the key, not f5
        return super().get_key_display(binding)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.state
        if action == "cancel_load":  # only while a text is opening; it then has F7 alone
            return state.loading
        if action == "stop" and state.loading and not state.training_state.running:
            return False
        return action_allowed(action, state.training_state, state.ready, state.narrow)

    # -- loading ----------------------------------------------------------------------------------

    def load(self, kind: LoadKind, path: Path | None, fallback: bool = False) -> None:
        self.dialogs.open_model(kind, path, fallback=fallback)

    def on_session_ready(self, message: SessionReady) -> None:
        if self.is_running:  # else shutting down: the widgets are going
            self.dialogs.opened(message)
            if self.session is not None:  # the app's switch applies to every model it opens
                from lstm_tui.core.serving.adapt import set_learning

                set_learning(self.session, self.state.learning)

    def on_corpus_progress(self, message: CorpusProgress) -> None:
        meter = "█" * round(message.fraction * 10)
        activity = f"{message.label} {meter:░<10} {message.fraction:.0%}"
        keys = (a.binding for a in self.screen.active_bindings.values())
        cancel = next((b for b in keys if b.action == "cancel_load"), None)
        hint = f" · {self.get_key_display(cancel)} cancels" if cancel else ""
        self.state.load_activity = activity + hint
        self.main.refresh_status()

    def action_cancel_load(self) -> None:
        """Stop opening a big text (tokenising, counting); the model the app had stays."""
        if self.state.loading and self.dialogs.loader.cancel():
            self.main.show_activity("stopping…")

    def on_session_failed(self, message: SessionFailed) -> None:
        if self.is_running:  # else shutting down: the widgets are going
            self.dialogs.failed(message)

    def on_inference_failed(self, message: InferenceFailed) -> None:
        if self.is_running:
            self.notify(message.error, severity="error")

    # -- training ---------------------------------------------------------------------------------

    def _not_ready(self) -> bool:
        if not self.state.ready:
            self.notify("The model is still loading.", severity="warning", timeout=3)
            return True
        return False

    def action_train(self) -> None:
        if not self._not_ready():
            self.training_keys.train()

    def action_pause(self) -> None:
        self.training_keys.pause()

    def action_resume(self) -> None:
        self.training_keys.resume()

    def action_toggle_pause(self) -> None:
        self.training_keys.toggle_pause()

    def action_stop(self) -> None:
        self.training_keys.stop()

    async def stop_training(self) -> None:
        await self.training_keys.stopped()

    def on_training_started(self, message: TrainingStarted) -> None:
        if self.is_running:
            self.training_keys.started(message)

    def on_training_ended(self, message: TrainingEnded) -> None:
        if self.is_running and self.training_keys.ended(message, self._quitting):
            self.main.live_refresh(force=True)

    # -- reset, hyperparameters, corpus, checkpoints --------------------------------------------

    def action_reset(self) -> None:
        if not self._not_ready():
            self.dialogs.reset()

    def on_weights_reset(self, message: WeightsReset) -> None:
        if self.is_running:  # else shutting down: the widgets are going
            self.dialogs.weights_reset(message)
            self.main.live_refresh(force=True)

    def action_hyperparams(self) -> None:
        if not self._not_ready():
            self.dialogs.hyperparams()

    def action_open_corpus(self) -> None:
        if self.busy:
            self.notify("Busy loading; try again in a moment.", timeout=3)
        else:
            self.dialogs.open_corpus()

    def action_load(self) -> None:
        if self.busy:
            self.notify("Busy loading; try again in a moment.", timeout=3)
        else:
            self.dialogs.load()

    def load_checkpoint(self, path: Path) -> None:
        self.dialogs.load_checkpoint(path)

    def action_export_history(self) -> None:
        self.dialogs.export_history()

    def action_runs(self) -> None:
        from lstm_tui.ui.screens.runs import RunsScreen, find_runs

        if isinstance(self.screen, RunsScreen):
            return
        session = self.state.session
        source = session.source if session is not None else None
        current = (source.name.removesuffix(CHECKPOINT_SUFFIX),) if source else ()
        screen = RunsScreen(find_runs(also=source), picked=current)
        self.push_screen(screen, lambda path: self.load_checkpoint(path) if path else None)

    def action_save(self, then_quit: bool = False) -> None:
        if not self._not_ready():
            self.dialogs.save(then_quit)

    def on_saved(self, message: Saved) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.error or message.path is None:
            self.notify(message.error or "not saved", title="Save failed", severity="error")
            return
        self.notify(f"Saved {message.path}", title="Saved", timeout=4)
        self.memory.saved(message.path)
        self.state.saved_to = message.path
        if message.then_quit:
            self._quit_now()

    # -- learning as you type (core/serving/adapt.py) --------------------------------------------

    def action_toggle_learning(self) -> None:
        if self._not_ready():
            return
        from lstm_tui.core.serving.adapt import set_learning

        assert self.session is not None
        learning = not self.state.learning
        self.state.learning = learning
        set_learning(self.session, learning)
        self.memory.learning_changed(learning)
        state = "on: it learns from each line you send" if learning else "off"
        self.notify(f"Learning as you type is {state}.", timeout=4)
        self.main.refresh_status()
        self.main.live_refresh(force=True)

    def action_forget_learning(self) -> None:
        if self._not_ready():
            return
        from lstm_tui.core.serving.adapt import forget

        assert self.session is not None
        words = forget(self.session)
        self.notify(f"Forgot what it learnt from {words:,} words you typed.", timeout=4)
        self.main.refresh_status()
        self.main.live_refresh(force=True)

    def on_learnt(self, message: Learnt) -> None:
        if self.is_running and self.inference.current(message.generation):
            self.main.refresh_status()
            self.main.live_refresh(force=True)

    # -- quitting ---------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if self._quitting:
            return
        steps = self.dialogs.unsaved_steps()
        if not steps:
            self._quit_now()
            return
        running = " Training will stop." if self.training else ""

        def answered(choice: str | None) -> None:
            if choice == "q":
                self._quit_now()
            elif choice == "s":
                self.action_save(then_quit=True)

        self.push_screen(
            ConfirmScreen(
                "Quit?",
                f"The weights have {steps:,} steps of training that are not saved.{running}",
                [Choice("s", "Save and quit", "primary"), Choice("q", "Quit", "error")],
            ),
            answered,
        )

    def _quit_now(self) -> None:
        self._quitting = True
        self._stop_threads()
        self.exit()

    def on_unmount(self) -> None:
        self._stop_threads()  # however the app ends (ctrl+q, a signal, a test)

    def _stop_threads(self) -> None:
        self.training_keys.stop_now()
        self.inference.close()

    # -- help, palette, and pane actions reachable from it --------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(help_sections(self.BINDINGS)))

    async def run_command(self, action: str) -> None:
        """Run an ``action_*`` method by name, past ``check_action``: it says why it can't."""
        name, _, rest = action.partition("(")
        args = ast.literal_eval(f"({rest[:-1]},)") if rest else ()
        target, _, name = name.rpartition(".")  # "#predictor.cycle_mode": a pane's action
        owner = self.query_one(target) if target else self
        result = getattr(owner, f"action_{name}")(*args)
        if inspect.isawaitable(result):
            await result
