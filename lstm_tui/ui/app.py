"""The lstm-tui app: a shell of bindings, layout, header and dialog flows around the work.

Who owns what (every object below lives on the UI thread; the threads they start write
only their own state and post messages):

* ``SessionLoader`` (loader.py) loads or builds a model in a thread of its own, with the
  core's ``jobs`` module, and posts ``SessionReady``; the app swaps it in.
* ``InferenceService`` (inference.py) owns the model thread, its queue and the predictor
  pair; the predictor and vocabulary panes ask it, and it answers to the pane that asked.
* ``TrainingRun`` (training_run.py) owns a run's thread, its control and its state; it
  posts every event to the training pane (started and ended bubble on to the app).
* ``ModelFlows`` (model_flows.py): the dialogs that change the model the app holds (save,
  load, open a text, reshape, reset), and the threads that save and reset.

Nothing here imports torch at module level: the screen is up (saying "loading model…")
before torch is. Measured keystroke-to-screen latency: bench/tui_latency.py.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Resize
from textual.widgets import DataTable, Footer, Tab, Tabs

from lstm_tui.core import runtime
from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX, checkpoint_path
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.ui.background import WorkerPool
from lstm_tui.ui.commands import LstmCommands
from lstm_tui.ui.inference import InferenceService
from lstm_tui.ui.keys import APP_BINDINGS
from lstm_tui.ui.loader import LoadRequest, SessionLoader
from lstm_tui.ui.memory import Memory
from lstm_tui.ui.messages import (
    CorpusProgress,
    InferenceFailed,
    Saved,
    SessionFailed,
    SessionReady,
    TrainingEnded,
    TrainingStarted,
    WeightsReset,
)
from lstm_tui.ui.model_flows import ModelFlows
from lstm_tui.ui.safe_notify import SafeNotifyApp
from lstm_tui.ui.screens.confirm import Choice, ConfirmScreen
from lstm_tui.ui.screens.help import HelpScreen, help_sections
from lstm_tui.ui.screens.hyperparams import Hyperparams
from lstm_tui.ui.state import LoadKind, TrainState, action_allowed
from lstm_tui.ui.training_flow import TrainingFlow
from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput
from lstm_tui.ui.widgets.status_bar import StatusBar, session_status
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import VocabPane

if TYPE_CHECKING:
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.text.corpus import Corpus

NARROW_WIDTH = 100  # below this many columns (or NARROW_HEIGHT rows) one pane shows at a time
NARROW_HEIGHT = 30
PANES = ("training", "vocab", "predictor")
LIVE_REFRESH = 0.25  # seconds: status line, and predictions refreshed while training moves on
SAVE_GRACE = 30.0  # seconds a checkpoint being written at quit may take to finish


class PaneTabs(Tabs, can_focus=False):
    """The pane switcher shown on small terminals (F2, F3, F4 switch too)."""


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
        self.device_name = device or "auto"
        self.threads = threads  # torch threads for training on the CPU; None: the free cores
        self.log_runs = True  # TensorBoard events for every run (logbook.py)
        self.session: Session | None = None
        self.corpus: Corpus | None = None  # the training text in the session's vocabulary
        self.corpus_path: Path | None = None
        self.preset = "seed"
        self.train_config = TrainConfig(device=self.device_name)
        self.inference = InferenceService()
        self.loader = SessionLoader(self)
        self.flows = ModelFlows(self)
        self.runs = TrainingFlow(self)
        self.memory = Memory(self, fresh)
        self.active_pane = "predictor"
        self.narrow = False
        self._quitting = False
        self._laid_out = False  # the tabs announce their first tab before the panes exist

    def run(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        """Run the app. After the user quits, leave at once (see ``runtime.fast_exit``), once
        any checkpoint being written is complete. ``FAST_EXIT = False`` turns this off."""
        result = super().run(*args, **kwargs)
        if self._quitting and self.FAST_EXIT:
            runtime.fast_exit(self.return_code or 0, lambda: self.flows.saving, SAVE_GRACE)
        return result

    def on_load(self) -> None:
        asyncio.get_running_loop().set_default_executor(WorkerPool(thread_name_prefix="lstm-tui"))
        runtime.tune_gc()

    # -- what the app holds -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A load or reset is in flight."""
        return self.loader.busy

    @property
    def training_state(self) -> TrainState:
        if self.session is None:
            return TrainState.LOADING if self.busy else TrainState.NONE
        return self.runs.state

    @property
    def training(self) -> bool:
        return self.training_state.running

    @property
    def predictor(self) -> Predictor | None:
        return self.inference.predictor

    # -- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield PaneTabs(
            Tab("F2 Training", id="tab-training"),
            Tab("F3 Vocabulary", id="tab-vocab"),
            Tab("F4 Predictor", id="tab-predictor"),
            id="pane-tabs",
        )
        with Container(id="main"):
            yield TrainingPane(id="training", classes="pane")
            yield PredictorPane(self.inference, id="predictor", classes="pane -active")
            yield VocabPane(self.inference, id="vocab", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TrainingPane).border_title = "Training · F2"
        self.query_one(VocabPane).border_title = "Vocabulary · F3"
        self.query_one(PredictorPane).border_title = "Predictor · F4"
        self._apply_layout(self.size.width, self.size.height)
        self.query_one(PaneTabs).active = "tab-predictor"
        self._laid_out = True
        self.set_interval(LIVE_REFRESH, self._live_refresh)
        self.memory.apply_settings()
        self.train_config = TrainConfig(device=self.device_name)
        self.theme_changed_signal.subscribe(
            self, lambda theme: self.memory.theme_changed(theme.name)
        )
        if self.launch_checkpoint:
            self.load(LoadKind.CHECKPOINT, checkpoint_path(self.launch_checkpoint), fallback=True)
        elif self.launch_corpus:
            self.load(LoadKind.CORPUS, self.launch_corpus, fallback=True)
        else:
            self.load(*self.memory.first_load(), fallback=True)

    def on_resize(self, event: Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        if narrow != self.narrow:
            self.narrow = narrow
            self.refresh_bindings()
        self.set_class(narrow, "-narrow")

    def action_show_pane(self, name: str) -> None:
        if name not in PANES:
            return
        self.active_pane = name
        for pane in PANES:
            self.query_one(f"#{pane}").set_class(pane == name, "-active")
        tabs = self.query_one(PaneTabs)
        if tabs.active != f"tab-{name}":
            tabs.active = f"tab-{name}"
        if name == "training":
            self.query_one(TrainingPane).focus()
        elif name == "vocab":
            self.query_one("#vocab-table", DataTable).focus()
        else:
            self.query_one(PredictorPane).focus_input()

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        stale = event.tab.id != event.tabs.active  # switched again since: ignore
        name = (event.tab.id or "").removeprefix("tab-")
        if self._laid_out and not stale and name != self.active_pane:
            self.action_show_pane(name)

    # -- the footer and the header ----------------------------------------------------------------

    def get_key_display(self, binding: Binding) -> str:
        key = binding.key
        if not binding.key_display and len(key) <= 3 and key[0] == "f" and key[1:].isdigit():
            return key.upper()  # F5, as printed on the key, not f5
        return super().get_key_display(binding)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        ready = self.session is not None and not self.busy
        return action_allowed(action, self.training_state, ready, self.narrow)

    def _state_changed(self) -> None:
        self.query_one(TrainingPane).set_state(self.training_state)
        self.refresh_bindings()
        self._refresh_status()

    def _refresh_status(self) -> None:
        bar = self.query_one(StatusBar)
        session = self.session
        if session is None:
            bar.update_status(activity="loading model…" if self.busy else "no model")
            return
        corpus = self.corpus_path.name if self.corpus_path else session.corpus.name
        step = self.query_one(TrainingPane).last_step
        bar.status = session_status(session, corpus, self.training_state, self.busy, step)

    def _live_refresh(self, force: bool = False) -> None:
        """A few times a second: the status line, and fresher predictions if training moved."""
        if not self.is_running:  # shutting down: the widgets are going
            return
        self._refresh_status()
        if not self.busy:
            panes = [self.query_one(PredictorPane), self.query_one(VocabPane)]
            self.inference.refresh_if_due(self.query_one(PromptInput).value, panes, force)

    # -- loading ----------------------------------------------------------------------------------

    def load(
        self, kind: LoadKind, path: Path | None, hp: Hyperparams | None = None, fallback=False
    ) -> None:
        self.loader.load(
            LoadRequest(
                kind, self.device_name, self.train_config, path, hp, self.session,
                self.corpus_path, self.corpus, fallback,
            )
        )  # fmt: skip
        self._state_changed()

    def on_session_ready(self, message: SessionReady) -> None:
        if self.is_running:  # else shutting down: the widgets are going
            self.flows.opened(message)
            self._state_changed()

    def on_corpus_progress(self, message: CorpusProgress) -> None:
        meter = "█" * round(message.fraction * 10)
        activity = f"{message.label} {meter:░<10} {message.fraction:.0%}"
        self.query_one(StatusBar).update_status(activity=activity)

    def on_session_failed(self, message: SessionFailed) -> None:
        if self.is_running:  # else shutting down: the widgets are going
            self.flows.failed(message)
            self._state_changed()

    def on_inference_failed(self, message: InferenceFailed) -> None:
        if self.is_running:
            self.notify(message.error, severity="error")

    # -- training ---------------------------------------------------------------------------------

    def _not_ready(self) -> bool:
        if self.session is None or self.busy:
            self.notify("The model is still loading.", severity="warning", timeout=3)
            return True
        return False

    def action_train(self) -> None:
        if not self._not_ready():
            self.runs.train()
            self._state_changed()

    def action_pause(self) -> None:
        self.runs.pause()
        self._state_changed()

    def action_resume(self) -> None:
        self.runs.resume()
        self._state_changed()

    def action_toggle_pause(self) -> None:
        self.runs.toggle_pause()
        self._state_changed()

    def action_stop(self) -> None:
        self.runs.stop()
        self._state_changed()

    async def stop_training(self) -> None:
        await self.runs.stopped()

    def on_training_started(self, message: TrainingStarted) -> None:
        if self.is_running and self.runs.started(message):
            self._state_changed()

    def on_training_ended(self, message: TrainingEnded) -> None:
        if self.is_running and self.runs.ended(message, self._quitting):
            self._state_changed()
            self._live_refresh(force=True)

    # -- reset, hyperparameters, corpus, checkpoints --------------------------------------------

    def action_reset(self) -> None:
        if not self._not_ready():
            self.flows.reset()

    def on_weights_reset(self, message: WeightsReset) -> None:
        if self.is_running:  # else shutting down: the widgets are going
            self.flows.weights_reset(message)
            self.refresh_bindings()
            self._live_refresh(force=True)

    def action_hyperparams(self) -> None:
        if not self._not_ready():
            self.flows.hyperparams()

    def action_open_corpus(self) -> None:
        if self.busy:
            self.notify("Busy loading; try again in a moment.", timeout=3)
        else:
            self.flows.open_corpus()

    def action_load(self) -> None:
        if self.busy:
            self.notify("Busy loading; try again in a moment.", timeout=3)
        else:
            self.flows.load()

    def load_checkpoint(self, path: Path) -> None:
        self.flows.load_checkpoint(path)

    def action_export_history(self) -> None:
        self.flows.export_history()

    def action_runs(self) -> None:
        from lstm_tui.ui.screens.runs import RunsScreen, find_runs

        if isinstance(self.screen, RunsScreen):
            return
        source = self.session.source if self.session is not None else None
        current = (source.name.removesuffix(CHECKPOINT_SUFFIX),) if source else ()
        screen = RunsScreen(find_runs(also=source), picked=current)
        self.push_screen(screen, lambda path: self.load_checkpoint(path) if path else None)

    def action_save(self, then_quit: bool = False) -> None:
        if not self._not_ready():
            self.flows.save(then_quit)

    def on_saved(self, message: Saved) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.error or message.path is None:
            self.notify(message.error or "not saved", title="Save failed", severity="error")
            return
        self.notify(f"Saved {message.path}", title="Saved", timeout=4)
        self.memory.saved(message.path)
        self._refresh_status()
        if message.then_quit:
            self._quit_now()

    # -- quitting ---------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if self._quitting:
            return
        steps = self.flows.unsaved_steps()
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
        if self.runs.run is not None:
            self.runs.run.stop()
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
