"""Loading a model for the app, off the UI thread: one load (or weight reset) at a time.

The work is the core's (``core/jobs.py``); this adds the predictor's warm-up, the
fallback on the bundled model at launch, and the thread. Results go to the app as
``SessionReady`` (with a ``load_id``: ``take`` hands over the warmed-up predictor) /
``SessionFailed`` / ``WeightsReset``; the model dialogs apply them to the app's state.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core.errors import UserError
from lstm_tui.core.store import paths
from lstm_tui.ui.messages import CorpusProgress, SessionFailed, SessionReady, WeightsReset
from lstm_tui.ui.state import LoadKind

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from lstm_tui.core.jobs import Opened
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.training.config import TrainConfig
    from lstm_tui.ui.inference import LiveView
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
    fallback: bool = False  # at launch: if this fails, open the bundled model


@dataclass
class Warm:
    """A loaded model's predictor, warmed up in the load thread, and the view it reads."""

    view: LiveView
    predictor: Predictor


class SessionLoader:
    def __init__(self, reply_to: MessagePump) -> None:
        self.reply_to = reply_to
        self._ids = itertools.count(1)
        self._warm: dict[int, Warm] = {}  # by load id, until taken
        self._lock = threading.Lock()

    def load(self, request: LoadRequest) -> None:
        load_id = next(self._ids)
        self._start(lambda: self._load(request, load_id))

    def take(self, load_id: int) -> Warm:
        """On the UI thread, for a ``SessionReady``: its predictor, handed over once."""
        with self._lock:
            return self._warm.pop(load_id)

    def reset(self, session: Session, seed: int | None) -> None:
        def work() -> None:
            try:
                session.reset_weights(seed)
            except Exception as e:
                self.reply_to.post_message(WeightsReset(f"{type(e).__name__}: {e}"))
            else:
                self.reply_to.post_message(WeightsReset())

        self._start(work)

    def _start(self, work: Callable[[], None]) -> None:
        threading.Thread(target=work, name="lstm-tui-load", daemon=True).start()

    def _progress_of(self, request: LoadRequest) -> Callable[..., None]:
        """Tokenising a big text: progress for the status line."""
        name = request.path.name if request.path else "text"

        def progress(phase: object, done: int, total: int) -> None:
            label = f"{getattr(phase, 'value', phase)} {name}"
            self.reply_to.post_message(CorpusProgress(label, done / max(total, 1)))

        return progress

    def _load(self, request: LoadRequest, load_id: int) -> None:
        try:
            opened = build(request, self._progress_of(request))
            warm = warmed_up(opened)
        except Exception as e:  # a bad file or a bug: say so, keep the app and what it had
            self.reply_to.post_message(SessionFailed(self._failure(e), final=not request.fallback))
            if not request.fallback:
                return
            try:  # fall back on the bundled model, so that the app is usable
                fallback = LoadRequest(
                    LoadKind.CHECKPOINT,
                    request.device,
                    request.train_config,
                    paths.default_checkpoint(),
                )
                opened = build(fallback)
                warm = warmed_up(opened)
            except Exception as e2:  # nothing to show: the app says "no model"
                self.reply_to.post_message(SessionFailed(self._failure(e2)))
                return
            opened.notes.insert(0, "Opened the bundled fable model instead.")
        with self._lock:
            self._warm[load_id] = warm
        self.reply_to.post_message(SessionReady(load_id, opened))

    def _failure(self, error: Exception) -> str:
        """One line for the user; the traceback, for an error that is not theirs, to the log."""
        if isinstance(error, UserError):
            return str(error)
        self.reply_to.log.error(traceback.format_exc())
        return f"could not load: {type(error).__name__}: {error}"


def build(request: LoadRequest, progress: Callable[..., None] | None = None) -> Opened:
    """In the load thread: everything that needs torch."""
    from lstm_tui.core import jobs

    kind, path = request.kind, request.path
    if kind is LoadKind.CHECKPOINT:
        return jobs.open_checkpoint(path or paths.default_checkpoint(), request.device)
    if kind is LoadKind.CORPUS:
        assert path is not None
        return jobs.open_corpus(path, request.train_config, request.device, progress)
    current, hp = request.current, request.hyperparams
    assert current is not None and hp is not None
    shape = {"layers": hp.layers, "hidden": hp.hidden, "embed": hp.embed, "dropout": hp.dropout}
    session = jobs.reshape(current, hp.preset, shape, hp.train)
    opened = jobs.Opened(session, request.current_corpus_path, device=request.device, fresh=True)
    opened.notes.append(f"New untrained {session.summary()}: press F5 to train.")
    return opened


def warmed_up(opened: Opened) -> Warm:
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.ui.inference import LiveView

    view = LiveView(opened.session)
    predictor = Predictor(view)  # type: ignore[arg-type]  # a Session, as far as it reads
    predictor.suggest("the ")  # the first call pays for lazy set-up: not the first keystroke
    predictor.suggest("")
    return Warm(view, predictor)
