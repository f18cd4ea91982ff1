"""Changing the model the app holds: save, load, open a text, reshape (F9), reset (F8).

A controller on the UI thread: it pushes the dialogs, asks before unsaved training is thrown
away and, on an answer, asks the app to load (``LstmApp.load``), resets the weights through
the loader, or writes the checkpoint in a thread of its own, which posts ``Saved``. It
counts the saves in flight: a quit waits for them (``LstmApp.run``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core import runtime
from lstm_tui.core.errors import UserError
from lstm_tui.core.store import paths
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.ui.messages import Saved, SessionFailed, SessionReady, WeightsReset
from lstm_tui.ui.screens.confirm import Choice, ConfirmScreen
from lstm_tui.ui.screens.files import LoadScreen, OpenCorpusScreen, SaveScreen
from lstm_tui.ui.screens.hyperparams import Hyperparams, HyperparamsScreen
from lstm_tui.ui.state import LoadKind
from lstm_tui.ui.widgets.predictor import PredictorPane
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import VocabPane

if TYPE_CHECKING:
    from lstm_tui.core.model.session import Session
    from lstm_tui.ui.app import LstmApp


class ModelFlows:
    def __init__(self, app: LstmApp) -> None:
        self.app = app
        self._saves = 0
        self._saves_lock = threading.Lock()

    @property
    def saving(self) -> bool:
        with self._saves_lock:
            return self._saves > 0

    # -- the question before unsaved training is thrown away ---------------------------------

    def unsaved_steps(self) -> int:
        """Steps trained since the weights were last saved or loaded (0: nothing to lose)."""
        session = self.app.session
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

    def opened(self, message: SessionReady) -> None:
        """A model was loaded or built: the app holds it from now on."""
        from lstm_tui.core.jobs import preset_of

        app, opened = self.app, message.opened
        session = app.session = opened.session
        app.loader.done()
        app.corpus, app.corpus_path = opened.corpus, opened.corpus_path
        app.device_name = opened.device
        app.preset = preset_of(session.config)
        budget = {} if opened.fresh else {"epochs": None, "max_seconds": None}
        app.train_config = replace(
            session.train_config, **budget, target_accuracy=None, device=app.device_name
        )
        app.inference.use(session, message.predictor, message.view, app)
        app.query_one(TrainingPane).show_session(session, opened.fresh)
        app.query_one(VocabPane).set_vocab(session.vocab, session.lowercase)
        predictor = app.query_one(PredictorPane)
        predictor.set_ready(True)
        if app.active_pane == "predictor" and not isinstance(app.screen, ConfirmScreen):
            predictor.focus_input()
        runtime.freeze_heap()
        app.memory.opened(session.source, opened.corpus_path if opened.fresh else None)
        severity = "warning" if opened.warning else "information"
        app.notify(opened.note, severity=severity, timeout=10)

    def failed(self, message: SessionFailed) -> None:
        """A load failed: the app keeps what it had. With nothing at all (the launch's load
        and the bundled model both failed), say so rather than "loading model…"."""
        app = self.app
        if message.final:
            app.loader.done()
        app.notify(message.error, title="Could not open", severity="error", timeout=10)
        if message.final and app.session is None:
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
                app.corpus_path.parent if app.corpus_path else None,
                choose_tokenizer=True,
            ),
            lambda choice: (
                choice
                and self._after_stop(
                    f"Open {choice.path.name}?", LoadKind.CORPUS, choice.path, choice.tokenizer
                )
            ),
        )

    def load(self) -> None:
        session = self.app.session
        current = session.source if session is not None else None
        self.app.push_screen(
            LoadScreen(extra=[paths.default_checkpoint()], current=current),
            lambda path: self.load_checkpoint(path) if path is not None else None,
        )

    def load_checkpoint(self, path: Path) -> None:
        """Load a checkpoint (after asking, if the weights hold unsaved training)."""
        self._after_stop(f"Load {path.name}?", LoadKind.CHECKPOINT, path)

    def _after_stop(
        self, question: str, kind: LoadKind, path: Path | None, tokenizer: Tokenizer | None = None
    ) -> None:
        if path is None:
            return
        app = self.app

        async def go() -> None:
            await app.stop_training()
            app.load(kind, path, tokenizer=tokenizer)

        self.confirm_discard(question, go)

    def ask_training_text(self, then: Callable[[Path], Awaitable[None] | None]) -> None:
        """The model's own text is not on this machine: ask which text to train on."""
        session = self.app.session
        name = session.corpus.name if session is not None and session.corpus.name else "unknown"
        self.app.push_screen(
            OpenCorpusScreen(
                "Train on which text?",
                f"This model's corpus ({name}) was not found. Pick a text to train on: it "
                "is read with the model's vocabulary, and words it does not know become "
                "<unk>. (To start a new model on a text, use Open corpus, ctrl+n.)",
            ),
            lambda choice: then(choice.path) if choice is not None else None,
        )

    # -- shape and weights ------------------------------------------------------------------------

    def hyperparams(self) -> None:
        app = self.app
        assert app.session is not None
        session = app.session
        if app.corpus is not None:
            tokens: int | None = len(app.corpus.train_ids)
        else:  # the text is not read yet: where its split will fall
            from lstm_tui.core.text.corpus import split_point

            tokens = split_point(session.corpus.tokens, 0.1) if session.corpus.tokens else None
        screen = HyperparamsScreen(
            session.config, app.preset, app.train_config, app.training, tokens
        )
        app.push_screen(screen, self._hyperparams_chosen)

    def _hyperparams_chosen(self, result: Hyperparams | None) -> None:
        app = self.app
        if result is None or app.session is None:
            return
        config = app.session.config
        current = (config.layers, config.hidden, config.embed, config.dropout)
        app.train_config = result.train
        app.device_name = result.train.device
        if result.architecture() == current:
            app.preset = result.preset
            note = "the next run uses them" if app.training else "F5 trains with them"
            app.notify(f"Settings saved: {note}.", timeout=3)
        elif app.training:
            app.notify(
                "Stop training first (F7) to change the model's shape; the training settings "
                "are saved.",
                severity="warning",
                timeout=6,
            )
        else:
            app.preset = result.preset
            self.confirm_discard(
                "Start a new model?", lambda: app.load(LoadKind.ARCHITECTURE, None, result)
            )

    def reset(self) -> None:
        app = self.app
        if app.training:
            app.notify("Stop training first (F7), then reset.", severity="warning", timeout=4)
            return

        def reset() -> None:
            assert app.session is not None
            app.loader.reset(app.session, app.train_config.seed)
            app.refresh_bindings()

        self.confirm_discard("Reset the weights?", reset)

    def weights_reset(self, message: WeightsReset) -> None:
        app = self.app
        app.loader.done()
        if message.error:
            app.notify(message.error, title="Reset failed", severity="error")
            return
        app.query_one(TrainingPane).reset_history("weights reset: fresh random weights")
        app.notify("Fresh random weights: the model knows nothing yet. F5 trains it.")

    # -- the training history -----------------------------------------------------------------

    def export_history(self) -> None:
        """Write the history of the weights (every evaluation) next to the checkpoints, as CSV."""
        from lstm_tui.core.store import history

        session = self.app.session
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
        session = self.app.session
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
