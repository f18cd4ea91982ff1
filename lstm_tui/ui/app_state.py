"""What the app holds, in one place: the model, its text, the settings of the next run, and
whether a load or a run is under way.

One ``AppState`` lives on the UI thread. The controllers (``model_dialogs.py``,
``training_keys.py``, ``launch_memory.py``) change it; the main screen watches it
(``changed``, a Textual signal) and the footer, the training pane and the status line follow.
A batch of changes made in one handler is published once, after the handler. Worker threads
never touch it: they post messages, and a controller applies them here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.signal import Signal

from lstm_tui.core.training.config import TrainConfig
from lstm_tui.ui.state import TrainState

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text.corpus import Corpus


class AppState:
    changed: Signal[AppState]

    def __init__(self, owner: DOMNode, device: str = "auto", threads: int | None = None) -> None:
        object.__setattr__(self, "changed", Signal(owner, "app-state"))
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_pending", False)
        self.session: Session | None = None
        self.corpus: Corpus | None = None  # the training text in the session's vocabulary
        self.corpus_path: Path | None = None  # that text's file, when known
        self.device_name = device
        self.threads = threads  # torch threads for training on the CPU; None: the free cores
        self.preset = "seed"
        self.train_config = TrainConfig(device=device)  # the next run's settings
        self.loading = False  # a load or a weight reset is in flight
        self.load_activity = ""  # a text being opened: how far (shown while loading)
        self.run_state = TrainState.IDLE  # the current training run's, as last seen
        self.saved_to: Path | None = None  # the last checkpoint written
        self.narrow = False  # a small terminal: one pane at a time, a shorter footer
        self.learning = True  # learn from the lines sent (settings: learn); applied to each model
        self.log_runs = True  # TensorBoard events for every run (logbook.py)
        self.logdir: Path | None = None  # where they go (settings: logdir); None: by the model

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get(name, _UNSET) is value:
            return
        object.__setattr__(self, name, value)
        self._schedule()

    @property
    def training_state(self) -> TrainState:
        if self.session is None:
            return TrainState.LOADING if self.loading else TrainState.NONE
        return self.run_state

    @property
    def ready(self) -> bool:
        """A model is loaded and no load is running."""
        return self.session is not None and not self.loading

    def _schedule(self) -> None:
        owner: DOMNode = self.__dict__["_owner"]
        if self.__dict__["_pending"] or not owner.is_running:
            return  # before the app runs there is nothing to show; the mount shows it all
        object.__setattr__(self, "_pending", True)
        owner.call_next(self._publish)

    def _publish(self) -> None:
        object.__setattr__(self, "_pending", False)
        self.changed.publish(self)


_UNSET = object()
