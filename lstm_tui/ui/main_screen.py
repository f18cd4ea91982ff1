"""The main screen: the three panes, the pane tabs, the status line and the footer.

It presents the app's state and nothing else: it watches ``AppState.changed`` (the training
pane's state, the footer's bindings, the status line follow), and a few times a second it
refreshes the status line and, while training moves the weights, the predictions. Keys and
dialogs are the app's (``app.py``) and its controllers'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Tab, Tabs

from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput
from lstm_tui.ui.widgets.status_bar import StatusBar, session_status
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import VocabPane

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from lstm_tui.ui.app_state import AppState
    from lstm_tui.ui.inference import InferenceService

NARROW_WIDTH = 100  # below this many columns (or NARROW_HEIGHT rows) one pane shows at a time
NARROW_HEIGHT = 30
PANES = ("training", "vocab", "predictor")
LIVE_REFRESH = 0.25  # seconds: status line, and predictions refreshed while training moves on


class PaneTabs(Tabs, can_focus=False):
    """The pane switcher shown on small terminals (F2, F3, F4 switch too)."""


class MainScreen(Screen[None]):
    def __init__(
        self, state: AppState, inference: InferenceService, mounted: Callable[[], None]
    ) -> None:
        super().__init__()
        self.state = state
        self.inference = inference
        self._mounted = mounted  # the app's launch: the panes exist from then on
        self.active_pane = "predictor"
        self._laid_out = False  # the tabs announce their first tab before the panes exist

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
        self.apply_layout(self.app.size.width, self.app.size.height)
        self.query_one(PaneTabs).active = "tab-predictor"
        self._laid_out = True
        self.set_interval(LIVE_REFRESH, self.live_refresh)
        self.state.changed.subscribe(self, self.show_state, immediate=True)
        self.show_state(self.state)
        self._mounted()

    # -- watching the state -----------------------------------------------------------------------

    def show_state(self, state: AppState) -> None:
        if not self.is_running:
            return
        self.app.set_class(state.narrow, "-narrow")
        self.query_one(TrainingPane).set_state(state.training_state)
        self.app.refresh_bindings()
        self.refresh_status()

    def refresh_status(self) -> None:
        bar = self.query_one(StatusBar)
        state = self.state
        session = state.session
        if session is None:
            bar.update_status(activity="loading model…" if state.loading else "no model")
            return
        corpus = state.corpus_path.name if state.corpus_path else session.corpus.name
        step = self.query_one(TrainingPane).last_step
        bar.status = session_status(session, corpus, state.training_state, state.loading, step)

    def show_activity(self, activity: str) -> None:
        self.query_one(StatusBar).update_status(activity=activity)

    def live_refresh(self, force: bool = False) -> None:
        """A few times a second: the status line, and fresher predictions if training moved."""
        if not self.is_running or not self.app.is_running:  # shutting down: widgets are going
            return
        self.refresh_status()
        if not self.state.loading:
            panes: list[MessagePump] = [self.query_one(PredictorPane), self.query_one(VocabPane)]
            self.inference.refresh_if_due(self.query_one(PromptInput).value, panes, force)

    # -- layout -----------------------------------------------------------------------------------

    def apply_layout(self, width: int, height: int) -> None:
        self.state.narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        self.app.set_class(self.state.narrow, "-narrow")

    def show_pane(self, name: str) -> None:
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
            self.show_pane(name)
