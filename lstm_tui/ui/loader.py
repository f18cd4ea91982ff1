"""Loading a model for the app, off the UI thread: one load (or weight reset) at a time.

The work is the core's (``core/jobs.py``); this adds the predictor's warm-up, the
fallback on the bundled model at launch, and the thread. Results go to the app as
``SessionReady`` / ``SessionFailed`` / ``WeightsReset``; the app applies them.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core.errors import Cancelled, UserError
from lstm_tui.core.store import paths
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.ui.messages import CorpusProgress, SessionFailed, SessionReady, WeightsReset
from lstm_tui.ui.state import LoadKind

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from lstm_tui.core.jobs import Opened
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text.corpus import Corpus
    from lstm_tui.core.training.config import TrainConfig
    from lstm_tui.ui.screens.hyperparams import Hyperparams


@dataclass(frozen=True)
class LoadRequest:
    """What to build, with everything it needs: the thread reads nothing else."""

    kind: LoadKind
    device: str
    train_config: TrainConfig
    path: Path | None = None
    hyperparams: Hyperparams | None = None
    current: Session | None = None  # the model to reshape (ARCHITECTURE)
    current_corpus_path: Path | None = None
    current_corpus: Corpus | None = None
    fallback: bool = False  # at launch: if this fails, open the bundled model
    tokenizer: Tokenizer = Tokenizer.WORDS  # how a new text (CORPUS) is cut into words


class SessionLoader:
    def __init__(self, reply_to: MessagePump) -> None:
        self.reply_to = reply_to
        self.busy = False  # a load or reset is in flight; cleared by the app on its answer
        self._cancel = threading.Event()  # the load in flight's: set by ``cancel``

    def load(self, request: LoadRequest) -> None:
        self._cancel = cancel = threading.Event()
        self._start(lambda: self._load(request, cancel))

    def cancel(self) -> bool:
        """Stop opening a text (tokenising, counting its n-gram); False if none is opening.
        The app keeps the model it had; the load's thread posts the answer."""
        if not self.busy or self._cancel.is_set():
            return False
        self._cancel.set()
        return True

    def reset(self, session: Session, seed: int | None) -> None:
        def work() -> None:
            try:
                session.reset_weights(seed)
            except Exception as e:
                self.reply_to.post_message(WeightsReset(f"{type(e).__name__}: {e}"))
            else:
                self.reply_to.post_message(WeightsReset())

        self._start(work)

    def done(self) -> None:
        """On the UI thread, once the answer is applied."""
        self.busy = False

    def _start(self, work: Callable[[], None]) -> None:
        self.busy = True
        threading.Thread(target=work, name="lstm-tui-load", daemon=True).start()

    def _progress_of(self, request: LoadRequest) -> Callable[..., None]:
        """Tokenising a big text: progress for the status line."""
        name = request.path.name if request.path else "text"

        def progress(phase: object, done: int, total: int) -> None:
            label = f"{getattr(phase, 'value', phase)} {name}"
            self.reply_to.post_message(CorpusProgress(label, done / max(total, 1)))

        return progress

    def _load(self, request: LoadRequest, cancel: threading.Event) -> None:
        try:
            ready = warmed_up(build(request, self._progress_of(request), cancel))
        except Exception as e:  # a bad file or a bug: say so, keep the app and what it had
            if isinstance(e, Cancelled):
                name = request.path.name if request.path else "the text"
                error = f"Stopped opening {name}; nothing changed."
            else:
                error = self._failure(e)
            self.reply_to.post_message(SessionFailed(error, final=not request.fallback))
            if request.fallback:
                self._fall_back(request)
            return
        self.reply_to.post_message(ready)

    def _fall_back(self, request: LoadRequest) -> None:
        """At launch: open the bundled model, so that the app is usable."""
        try:
            bundled, config = paths.default_checkpoint(), request.train_config
            fallback = LoadRequest(LoadKind.CHECKPOINT, request.device, config, bundled)
            ready = warmed_up(build(fallback))
        except Exception as e:  # nothing to show: the app says "no model"
            self.reply_to.post_message(SessionFailed(self._failure(e)))
            return
        ready.opened.notes.insert(0, "Opened the bundled fable model instead.")
        self.reply_to.post_message(ready)

    def _failure(self, error: Exception) -> str:
        """One line for the user; the traceback, for an error that is not theirs, to the log."""
        if isinstance(error, UserError):
            return str(error)
        self.reply_to.log.error(traceback.format_exc())
        return f"could not load: {type(error).__name__}: {error}"


def build(
    request: LoadRequest,
    progress: Callable[..., None] | None = None,
    cancel: threading.Event | None = None,
) -> Opened:
    """In the load thread: everything that needs torch."""
    from lstm_tui.core import jobs

    kind, path = request.kind, request.path
    if kind is LoadKind.CHECKPOINT:
        return jobs.open_checkpoint(path or paths.default_checkpoint(), request.device)
    if kind is LoadKind.CORPUS:
        assert path is not None
        return jobs.open_corpus(
            path, request.train_config, request.device, progress, request.tokenizer, cancel
        )
    current, hp = request.current, request.hyperparams
    assert current is not None and hp is not None
    shape = {"layers": hp.layers, "hidden": hp.hidden, "embed": hp.embed, "dropout": hp.dropout}
    session = jobs.reshape(current, hp.preset, shape, hp.train)
    opened = jobs.Opened(session, request.current_corpus_path, device=request.device, fresh=True)
    opened.notes.append(f"New untrained {session.summary()}: press F5 to train.")
    return opened


def warmed_up(opened: Opened) -> SessionReady:
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.ui.inference import LiveView

    view = LiveView(opened.session)
    predictor = Predictor(view)  # type: ignore[arg-type]  # a Session, as far as it reads
    predictor.suggest("the ")  # the first call pays for lazy set-up: not the first keystroke
    predictor.suggest("")
    return SessionReady(opened, view, predictor)
