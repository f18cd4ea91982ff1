"""Changing the model the app holds: save, load, open a text, reshape (F9), reset (F8).

A controller on the UI thread: it pushes the dialogs, asks before unsaved training is thrown
away and, on an answer, starts a load (``open_model``, through the ``SessionLoader``), resets the
weights through the loader, or writes the checkpoint in a thread of its own, which posts
``Saved``. A load's answer is applied to the app's state here (``opened``, ``failed``). It
counts the saves in flight: a quit waits for them (``LstmApp.run``). It knows the app only
as Textual's ``App`` (dialogs, notifications, the panes) and its ``AppState``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_tui.core import runtime
from lstm_tui.core.errors import UserError
from lstm_tui.core.store import paths
from lstm_tui.ui.messages import Saved, SessionFailed, SessionReady, WeightsReset
from lstm_tui.ui.screens.confirm import Choice, ConfirmScreen
from lstm_tui.ui.screens.files import LoadScreen, OpenCorpusScreen, SaveScreen
from lstm_tui.ui.screens.hyperparams import Hyperparams, HyperparamsScreen
from lstm_tui.ui.session_loader import LoadRequest
from lstm_tui.ui.state import LoadKind
from lstm_tui.ui.widgets.predictor import PredictorPane
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import VocabPane

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel

    from lstm_tui.core.model.session import Session
    from lstm_tui.ui.app_state import AppState
    from lstm_tui.ui.inference import InferenceService
    from lstm_tui.ui.launch_memory import LaunchMemory
    from lstm_tui.ui.session_loader import SessionLoader


class ModelDialogs:
    def __init__(
        self,
        shell: App,
        state: AppState,
        loader: SessionLoader,
        inference: InferenceService,
        memory: LaunchMemory,
        stop_training: Callable[[], Awaitable[None]],
    ) -> None:
        self.app = shell  # Textual's App: dialogs, notifications, the panes
        self.state = state
        self.loader = loader
        self.inference = inference
        self.memory = memory
        self.stop_training = stop_training
        self._saves = 0
        self._saves_lock = threading.Lock()

    @property
    def saving(self) -> bool:
        with self._saves_lock:
            return self._saves > 0

    # -- the question before unsaved training is thrown away ---------------------------------

    def unsaved_steps(self) -> int:
        """Steps trained since the weights were last saved or loaded (0: nothing to lose)."""
        session = self.state.session
        if session is None or session.is_saved:
            return 0
        return session.progress.steps - session.saved_steps

    def confirm_discard(self, what: str, then: Callable[[], object]) -> None:
        """Run ``then()`` now, or after a yes, if the weights hold unsaved training."""
        steps = self.unsaved_steps()
        if not steps:
            self.app.call_later(then)
            return

        def answered(choice: str | None) -> None:
            if choice == "y":
                self.app.call_later(then)

        self.app.push_screen(
            ConfirmScreen(
                what,
                f"The weights have {steps:,} steps of training that are not saved. Discard them?",
                [Choice("y", "Discard", "error")],
            ),
            answered,
        )

    def open_model(
        self,
        kind: LoadKind,
        path: Path | None,
        hp: Hyperparams | None = None,
        fallback: bool = False,
    ) -> None:
        """Load or build a model in the loader's thread; ``opened`` or ``failed`` follows."""
        state = self.state
        self.loader.load(
            LoadRequest(
                kind, state.device_name, state.train_config, path, hp, state.session,
                state.corpus_path, fallback,
            )
        )  # fmt: skip
        state.loading = True

    def opened(self, message: SessionReady) -> None:
        """A model was loaded or built: the app holds it from now on."""
        from lstm_tui.core.jobs import preset_of

        app, state, opened = self.app, self.state, message.opened
        warm = self.loader.take(message.load_id)
        session = opened.session
        state.loading = False
        state.session = session
        state.corpus, state.corpus_path = opened.corpus, opened.corpus_path
        state.device_name = opened.device
        state.preset = preset_of(session.config)
        budget: dict[str, Any] = {} if opened.fresh else {"epochs": None, "max_seconds": None}
        state.train_config = replace(
            session.train_config, **budget, target_accuracy=None, device=state.device_name
        )
        self.inference.use(session, warm.predictor, warm.view, app)
        app.query_one(TrainingPane).show_session(session, opened.fresh)
        app.query_one(VocabPane).set_vocab(session.vocab, session.lowercase)
        predictor = app.query_one(PredictorPane)
        predictor.set_ready(True)
        if predictor.has_class("-active") and not isinstance(app.screen, ConfirmScreen):
            predictor.focus_input()
        runtime.freeze_heap()
        self.memory.opened(session.source, opened.corpus_path if opened.fresh else None)
        severity: SeverityLevel = "warning" if opened.warning else "information"
        app.notify(opened.note, severity=severity, timeout=10)

    def failed(self, message: SessionFailed) -> None:
        """A load failed: the app keeps what it had. With nothing at all (the launch's load
        and the bundled model both failed), say so rather than "loading model…"."""
        app = self.app
        if message.final:
            self.state.loading = False
        app.notify(message.error, title="Could not open", severity="error", timeout=10)
        if message.final and self.state.session is None:
            no_model = "no model: ctrl+o loads one, ctrl+n opens a text"
            app.query_one(PredictorPane).set_ready(False, no_model)

    # -- opening --------------------------------------------------------------------------------

    def open_corpus(self) -> None:
        app = self.app
        app.push_screen(
            OpenCorpusScreen(
                "Open corpus",
                "A UTF-8 text file. Opening it makes a new vocabulary and a new, untrained "
                "model sized for it (the current one is closed).",
                self.state.corpus_path.parent if self.state.corpus_path else None,
            ),
            self._open_corpus_chosen,
        )

    def _open_corpus_chosen(self, path: Path | None) -> None:
        if path is not None:
            self._after_stop(f"Open {path.name}?", LoadKind.CORPUS, path)

    def load(self) -> None:
        session = self.state.session
        current = session.source if session is not None else None
        self.app.push_screen(
            LoadScreen(extra=[paths.default_checkpoint()], current=current),
            lambda path: self.load_checkpoint(path) if path is not None else None,
        )

    def load_checkpoint(self, path: Path) -> None:
        """Load a checkpoint (after asking, if the weights hold unsaved training)."""
        self._after_stop(f"Load {path.name}?", LoadKind.CHECKPOINT, path)

    def _after_stop(self, question: str, kind: LoadKind, path: Path | None) -> None:
        if path is None:
            return

        async def go() -> None:
            await self.stop_training()
            self.open_model(kind, path)

        self.confirm_discard(question, go)

    def ask_training_text(self, then: Callable[[Path], None]) -> None:
        """The model's own text is not on this machine: ask which text to train on."""
        session = self.state.session
        name = session.corpus.name if session is not None and session.corpus.name else "unknown"
        self.app.push_screen(
            OpenCorpusScreen(
                "Train on which text?",
                f"This model's corpus ({name}) was not found. Pick a text to train on: it "
                "is read with the model's vocabulary, and words it does not know become "
                "<unk>. (To start a new model on a text, use Open corpus, ctrl+n.)",
            ),
            lambda path: None if path is None else then(path),
        )

    # -- shape and weights ------------------------------------------------------------------------

    def hyperparams(self) -> None:
        state = self.state
        assert state.session is not None
        session = state.session
        if state.corpus is not None:
            tokens: int | None = len(state.corpus.train_ids)
        else:  # the text is not read yet: where its split will fall
            from lstm_tui.core.text.corpus import split_point

            tokens = split_point(session.corpus.tokens, 0.1) if session.corpus.tokens else None
        training = state.training_state.running
        screen = HyperparamsScreen(
            session.config, state.preset, state.train_config, training, tokens
        )
        self.app.push_screen(screen, self._hyperparams_chosen)

    def _hyperparams_chosen(self, result: Hyperparams | None) -> None:
        app, state = self.app, self.state
        if result is None or state.session is None:
            return
        config = state.session.config
        current = (config.layers, config.hidden, config.embed, config.dropout)
        state.train_config = result.train
        state.device_name = result.train.device
        training = state.training_state.running
        if result.architecture() == current:
            state.preset = result.preset
            note = "the next run uses them" if training else "F5 trains with them"
            app.notify(f"Settings saved: {note}.", timeout=3)
        elif training:
            app.notify(
                "Stop training first (F7) to change the model's shape; the training settings "
                "are saved.",
                severity="warning",
                timeout=6,
            )
        else:
            state.preset = result.preset
            self.confirm_discard(
                "Start a new model?", lambda: self.open_model(LoadKind.ARCHITECTURE, None, result)
            )

    def reset(self) -> None:
        state = self.state
        if state.training_state.running:
            self.app.notify("Stop training first (F7), then reset.", severity="warning", timeout=4)
            return

        def reset() -> None:
            assert state.session is not None
            self.loader.reset(state.session, state.train_config.seed)
            state.loading = True

        self.confirm_discard("Reset the weights?", reset)

    def weights_reset(self, message: WeightsReset) -> None:
        app = self.app
        self.state.loading = False
        if message.error:
            app.notify(message.error, title="Reset failed", severity="error")
            return
        app.query_one(TrainingPane).reset_history("weights reset: fresh random weights")
        app.notify("Fresh random weights: the model knows nothing yet. F5 trains it.")

    # -- the training history -----------------------------------------------------------------

    def export_history(self) -> None:
        """Write the history of the weights (every evaluation) next to the checkpoints, as CSV."""
        from lstm_tui.core.store import history

        session = self.state.session
        if session is None or not session.history:
            self.app.notify("No training history yet: train (F5), then export.", timeout=4)
            return
        name = (session.source.stem if session.source else "") or Path(session.corpus.name).stem
        path = paths.checkpoints_dir() / f"{name or 'model'}.history.csv"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(history.to_csv(session.history), encoding="utf-8")
        except OSError as e:
            self.app.notify(f"{path}: {e.strerror or e}", title="Export failed", severity="error")
            return
        rows = len(session.history)
        self.app.notify(f"{rows:,} evaluations written to {path}", title="History", timeout=6)

    # -- saving -----------------------------------------------------------------------------------

    def save(self, then_quit: bool = False) -> None:
        session = self.state.session
        assert session is not None
        source = session.source
        if source is not None and source.parent == paths.checkpoints_dir():
            name = source.name.removesuffix(paths.CHECKPOINT_SUFFIX)
        else:
            name = Path(session.corpus.name or "model").stem

        def chosen(result: tuple[Path, bool] | None) -> None:
            if result is not None:
                self._write(session, *result, then_quit)

        self.app.push_screen(SaveScreen(name), chosen)

    def _write(self, session: Session, path: Path, optimizer: bool, then_quit: bool) -> None:
        with self._saves_lock:
            self._saves += 1
        reply_to = self.app

        def work() -> None:
            from lstm_tui.core.store import checkpoint

            try:
                saved = checkpoint.save(session, path, include_optimizer=optimizer)
            except UserError as e:
                reply_to.post_message(Saved(None, str(e), then_quit))
            except Exception as e:
                reply_to.post_message(Saved(None, f"{type(e).__name__}: {e}", then_quit))
            else:
                reply_to.post_message(Saved(saved, None, then_quit))
            finally:
                with self._saves_lock:
                    self._saves -= 1

        threading.Thread(target=work, name="lstm-tui-save", daemon=True).start()
