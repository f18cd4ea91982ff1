"""The lstm-tui app: live training, a vocabulary browser and a predictor that completes as you type.

Threads, and who owns what:

* The UI loop owns every widget and the app's state (session, predictors, corpus, settings).
  Workers post messages; the app applies them. Nothing here imports torch at module level:
  the screen is up (saying "loading model…") before torch is.
* One ``load`` worker at a time builds a session (imports torch, reads a checkpoint or a
  corpus, warms a predictor up) and posts ``SessionReady``; the app swaps it in and bumps
  ``generation``, so that anything computed for the old session is dropped.
* The ``train`` worker (``@work(thread=True, exclusive=True, group="train")``) reads the
  corpus, builds the ``Trainer`` and iterates ``Trainer.run()`` in a thread of its own at a
  lower OS priority (``background.py``), posting every event in order; ``RunControl``
  pauses and stops it between steps.
* One long-lived ``inference`` worker takes model jobs from an ``InferenceQueue``
  (suggestions, newest first; continuations, in order; word details): the model never runs
  on the UI loop. A ``refresh`` worker brings the standby predictor up to date with the
  training weights between keystrokes (``PredictorPair``): no keystroke waits for a copy.

Measured keystroke-to-screen latency: bench/tui_latency.py.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import inspect
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable, Footer, Tab, Tabs
from textual.worker import Worker, get_current_worker

from lstm_tui.core import paths
from lstm_tui.core.config import TrainConfig
from lstm_tui.core.errors import UserError
from lstm_tui.ui import format as fmt
from lstm_tui.ui.background import REFRESH_NICE, TRAIN_NICE, run_at_low_priority
from lstm_tui.ui.commands import LstmCommands
from lstm_tui.ui.inference import InferenceQueue, Job, LiveView, PredictorPair
from lstm_tui.ui.messages import (
    ContinuationReady,
    CorpusProgress,
    PredictorRefreshed,
    PromptChanged,
    PromptSent,
    Saved,
    SessionFailed,
    SessionReady,
    SuggestionsReady,
    TrainingEnded,
    TrainingProgress,
    TrainingStarted,
    WeightsReset,
    WordDetailsReady,
    WordSelected,
)
from lstm_tui.ui.run_control import RunControl
from lstm_tui.ui.screens.confirm import Choice, ConfirmScreen
from lstm_tui.ui.screens.files import LoadScreen, OpenCorpusScreen, SaveScreen
from lstm_tui.ui.screens.help import HelpScreen, binding_rows
from lstm_tui.ui.screens.hyperparams import Hyperparams, HyperparamsScreen
from lstm_tui.ui.widgets.predictor import TOP_K, PredictorPane, PromptInput
from lstm_tui.ui.widgets.status_bar import StatusBar
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import VocabPane

if TYPE_CHECKING:
    from lstm_tui.core.corpus import Corpus
    from lstm_tui.core.predict import Predictor
    from lstm_tui.core.session import Session

NARROW_WIDTH = 100  # below this many columns (or NARROW_HEIGHT rows) one pane shows at a time
NARROW_HEIGHT = 30
PANES = ("training", "vocab", "predictor")
LIVE_REFRESH = 0.25  # seconds: status line, and predictions refreshed while training moves on
TYPING_PAUSE = 0.3  # seconds without a keystroke: a good moment to copy fresh weights
MAX_STALE = 1.0  # seconds: while typing non-stop, refresh the predictions at least this often
DETAIL_WORDS = 8


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


# Torch's CPU thread count is per thread that calls it: set in each of our worker threads.
# Predictions are batch-1 steps, no faster on two threads; training leaves a core free for the
# UI and the predictor (on 2 cores: 1 thread), so typing stays snappy while it runs.
PREDICT_THREADS = 1
TRAIN_THREADS = int(os.environ.get("LSTM_TUI_TRAIN_THREADS", 0)) or max(1, usable_cores() - 1)
SAVE_GRACE = 30.0  # seconds a checkpoint being written at quit may take to finish


class WorkerPool(ThreadPoolExecutor):
    """The pool the app's thread workers run in: its shutdown does not wait for them.

    asyncio.run() joins the default executor's threads before ``App.run()`` returns, and a
    training step (or an evaluation on a big corpus) cannot be interrupted: it could hold
    the exit up for seconds. ``LstmApp.run`` decides how long to wait (see there).
    """

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=cancel_futures)


@dataclass(frozen=True)
class LoadRequest:
    """What the load worker should build."""

    kind: str  # "startup", "checkpoint", "corpus" or "architecture"
    path: Path | None = None
    hyperparams: Hyperparams | None = None


class InferenceFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class PaneTabs(Tabs, can_focus=False):
    """The pane switcher shown on small terminals (F2, F3, F4 switch too)."""


class LstmApp(App[None]):
    """Train a word-level LSTM on your text and type with it."""

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere find it
    TITLE = "lstm-tui"
    COMMANDS = App.COMMANDS | {LstmCommands}
    ENABLE_COMMAND_PALETTE = True
    FAST_EXIT = True  # see run()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", tooltip="Every key"),
        Binding("f2", "show_pane('training')", "Training pane", show=False),
        Binding("f3", "show_pane('vocab')", "Vocabulary pane", show=False),
        Binding("f4", "show_pane('predictor')", "Predictor pane", show=False),
        Binding("f5", "train", "Train", tooltip="Start training, or resume a paused run"),
        Binding("f6", "pause", "Pause", tooltip="Pause training between two steps"),
        Binding("f6", "resume", "Resume", tooltip="Resume a paused run"),
        Binding("f7", "stop", "Stop", tooltip="Stop training after the current step"),
        Binding("f8", "reset", "Reset", tooltip="Fresh random weights (asks first)"),
        Binding("f9", "hyperparams", "Settings", tooltip="Edit the hyperparameters"),
        Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint"),
        Binding("ctrl+o", "load", "Load", tooltip="Load a checkpoint"),
        Binding("ctrl+n", "open_corpus", "Corpus", show=False, tooltip="Open another text"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit (asks if unsaved)"),
    ]

    def __init__(
        self,
        corpus: str | Path | None = None,
        checkpoint: str | Path | None = None,
        device: str = "auto",
    ) -> None:
        super().__init__()
        self.launch_corpus = Path(corpus) if corpus else None
        self.launch_checkpoint = checkpoint
        self.device_name = device or "auto"
        self.session: Session | None = None
        self.predictors: PredictorPair | None = None  # one answers keys, one catches up
        self._refreshing = False
        self.corpus: Corpus | None = None  # the training text in the session's vocabulary
        self.corpus_path: Path | None = None
        self.preset = "seed"
        self.train_config = TrainConfig(device=self.device_name)
        self.generation = 0
        self.inference = InferenceQueue()
        self.run_control: RunControl | None = None
        self.train_worker: Worker[None] | None = None
        self.training_state = "loading"  # loading, idle, starting, training, paused, stopping
        self.active_pane = "predictor"
        self.narrow = False
        self.busy = False  # a load or reset is in flight
        self._quitting = False
        self._laid_out = False  # the tabs announce their first tab before the panes exist
        self._inference_started = False
        self._saves_in_flight = 0
        self._saves_lock = threading.Lock()
        self._last_keystroke = 0.0
        self._selected_word: str | None = None

    def run(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        """Run the app. After the user quits, leave at once (the terminal is restored by then).

        Two things would hold the exit up for seconds: a training step or an evaluation
        that cannot be interrupted, and the interpreter's teardown of torch (1-2 s on a busy
        2-core machine). Nothing is left to do, so the process ends with ``os._exit`` once
        any checkpoint being written is complete. ``FAST_EXIT = False`` turns this off.
        """
        result = super().run(*args, **kwargs)
        if self._quitting and self.FAST_EXIT:
            deadline = time.monotonic() + SAVE_GRACE
            while self._saves_in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(self.return_code or 0)
        return result

    def on_load(self) -> None:
        asyncio.get_running_loop().set_default_executor(WorkerPool(thread_name_prefix="lstm-tui"))
        # Torch, Textual and a model are hundreds of thousands of long-lived objects. A full
        # garbage collection walks them all, 50-250 ms on a busy 2-core machine, holding the
        # GIL: whatever keystroke is in flight waits. So: the objects alive once a model is
        # loaded (and once training has started) are frozen out of every collection, and
        # full collections come far less often (young ones stay cheap and frequent).
        gc.set_threshold(10_000, 50, 100)

    # -- layout -----------------------------------------------------------------------------

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
            yield PredictorPane(id="predictor", classes="pane -active")
            yield VocabPane(id="vocab", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#training", TrainingPane).border_title = "Training · F2"
        self.query_one("#vocab", VocabPane).border_title = "Vocabulary · F3"
        self.query_one("#predictor", PredictorPane).border_title = "Predictor · F4"
        self._apply_layout(self.size.width, self.size.height)
        self.query_one(PaneTabs).active = "tab-predictor"
        self._laid_out = True
        self.set_interval(LIVE_REFRESH, self._live_refresh)
        self._load(LoadRequest("startup"))

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
            prompt = self.query_one(PromptInput)
            if not prompt.disabled:
                prompt.focus()

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        stale = event.tab.id != event.tabs.active  # switched again since: ignore
        name = (event.tab.id or "").removeprefix("tab-")
        if self._laid_out and not stale and name != self.active_pane:
            self.action_show_pane(name)

    # -- bindings shown in the footer ---------------------------------------------------------

    def get_key_display(self, binding: Binding) -> str:
        key = binding.key
        if not binding.key_display and len(key) <= 3 and key[0] == "f" and key[1:].isdigit():
            return key.upper()  # F5, as printed on the key, not f5
        return super().get_key_display(binding)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        training = self.training_state in ("starting", "training", "paused", "stopping")
        paused = self.training_state == "paused"
        ready = self.session is not None and not self.busy
        # Not possible now: dimmed in the footer; on a small terminal, left out to make room.
        off = False if self.narrow else None
        if action == "pause":
            return False if paused else (True if self.training_state == "training" else off)
        if action == "resume":
            return paused
        if action == "stop":
            return True if training and self.training_state != "stopping" else off
        if action == "train":
            return True if ready and (not training or paused) else off
        if action in ("reset",):
            return True if ready and not training else off
        if action in ("save", "hyperparams"):
            return True if ready else off
        return True

    def _set_training_state(self, state: str) -> None:
        self.training_state = state
        self.query_one(TrainingPane).set_state(state)
        self.refresh_bindings()
        self._refresh_status()

    # -- status line --------------------------------------------------------------------------

    def _refresh_status(self) -> None:
        bar = self.query_one(StatusBar)
        session = self.session
        if session is None:
            bar.update_status(activity="loading model…" if self.busy else "no model")
            return
        trained = session.progress.steps > 0
        saved: bool | None = session.is_saved
        if not trained and not saved:
            saved = None
        source = session.source
        state = self.training_state
        if self.busy:
            activity = "loading…"
        elif state == "training":
            pane = self.query_one(TrainingPane)
            step = pane.last_step
            activity = (
                f"training {step.progress:.0%} · ETA {fmt.duration(step.eta)}"
                if step
                else "training…"
            )
        elif state in ("paused", "stopping", "starting"):
            activity = state
        else:
            activity = "untrained · F5 to train" if not trained else ""
        bar.update_status(
            corpus=self.corpus_path.name if self.corpus_path else session.corpus.name,
            corpus_tokens=session.corpus.tokens or None,
            model=session.summary(),
            device=str(session.device),
            saved=saved,
            saved_as=source.name.removesuffix(paths.CHECKPOINT_SUFFIX) if source else "",
            activity=activity,
        )

    @property
    def predictor(self) -> Predictor | None:
        """The predictor answering keystrokes now."""
        return self.predictors.active if self.predictors is not None else None

    def _live_refresh(self, force: bool = False) -> None:
        """A few times a second: the status line, and fresher predictions if training moved.

        The standby predictor catches up with the weights in a background worker, in a
        pause in typing (or every ``MAX_STALE`` seconds of non-stop typing), then becomes
        the active one: a keystroke never waits for a weight copy or an optimizer step.
        """
        if not self.is_running:  # shutting down: the widgets are going
            return
        self._refresh_status()
        pair = self.predictors
        if pair is None or self.busy or self._refreshing or not pair.behind:
            return
        now = time.monotonic()
        typing = now - self._last_keystroke < TYPING_PAUSE
        if force or not typing or now - pair.refreshed_at >= MAX_STALE:
            self._refreshing = True
            self._refresh_worker(pair, self.generation, self.query_one(PromptInput).value)

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False)
    def _refresh_worker(self, pair: PredictorPair, generation: int, text: str) -> None:
        import torch

        torch.set_num_threads(PREDICT_THREADS)
        try:
            run_at_low_priority(
                lambda: pair.refresh(text), name="lstm-tui-refresh", nice=REFRESH_NICE
            )
        except Exception as e:
            self.log.error(traceback.format_exc())
            self.post_message(PredictorRefreshed(generation, f"{type(e).__name__}: {e}"))
        else:
            self.post_message(PredictorRefreshed(generation))

    def on_predictor_refreshed(self, message: PredictorRefreshed) -> None:
        self._refreshing = False
        if not self.is_running or message.generation != self.generation:
            return
        if message.error:
            self.notify(f"could not refresh the predictor: {message.error}", severity="error")
            return
        self._request_suggestions(self.query_one(PromptInput).value)
        if self._selected_word is not None:
            self._request_details(self._selected_word)

    # -- loading ------------------------------------------------------------------------------

    def _load(self, request: LoadRequest) -> None:
        self.busy = True
        if self.session is None:
            self.query_one(TrainingPane).set_state("loading")
        self._refresh_status()
        self.refresh_bindings()
        self._load_worker(request, self.session)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_worker(self, request: LoadRequest, current: Session | None) -> None:
        try:
            ready = self._build(request, current)
        except UserError as e:
            if request.kind == "startup":
                self.post_message(SessionFailed(str(e)))
                try:  # fall back on the bundled model, so that the app is usable
                    ready = self._build(LoadRequest("checkpoint", paths.default_checkpoint()), None)
                except UserError as e2:
                    self.post_message(SessionFailed(str(e2)))
                    return
                ready.note = f"Opened the bundled fable model instead. {ready.note}"
            else:
                self.post_message(SessionFailed(str(e)))
                return
        except Exception as e:  # a bug: say so, keep the app and what it had
            self.log.error(traceback.format_exc())
            self.post_message(SessionFailed(f"could not load: {type(e).__name__}: {e}"))
            return
        self.post_message(ready)

    def _build(self, request: LoadRequest, current: Session | None) -> SessionReady:
        """Runs in the load worker: everything that needs torch."""
        from lstm_tui.core import checkpoint
        from lstm_tui.core.device import resolve_device
        from lstm_tui.core.errors import ConfigError
        from lstm_tui.core.model import make_config
        from lstm_tui.core.predict import Predictor
        from lstm_tui.core.session import Session

        notes: list[str] = []
        severity = "information"
        device = self.device_name
        try:
            resolve_device(device)
        except ConfigError as e:
            notes.append(f"{e}; using the CPU.")
            severity = "warning"
            device = "cpu"
            self.device_name = "cpu"
        kind, path = request.kind, request.path
        if kind == "startup":
            if self.launch_checkpoint:
                kind, path = "checkpoint", paths.checkpoint_path(self.launch_checkpoint)
            elif self.launch_corpus:
                kind, path = "corpus", self.launch_corpus
            else:
                kind, path = "checkpoint", paths.default_checkpoint()
        corpus: Corpus | None = None
        corpus_path: Path | None = None
        fresh = False
        if kind == "checkpoint":
            assert path is not None
            session = checkpoint.load(path, device=device)
            corpus_path = _corpus_of(session.corpus.path, session.corpus.name)
            what = "the bundled fable model" if path == paths.default_checkpoint() else path.name
            notes.insert(0, f"Loaded {what}: {session.summary()}.")
            if corpus_path is None:
                notes.append(
                    f"Its corpus ({session.corpus.name or 'unknown'}) was not found: "
                    "F5 asks for a text to train on."
                )
        elif kind == "corpus":
            assert path is not None
            corpus = self._read_corpus(path)
            session = Session.new(corpus, "auto", replace(self.train_config, device=device))
            session.to(resolve_device(device))
            corpus_path = path
            fresh = True
            notes.insert(
                0,
                f"New untrained {session.summary()} for {corpus.name} ({len(corpus.ids):,} "
                f"tokens, {len(corpus.vocab):,} words): press F5 to train.",
            )
        else:  # a new architecture, same vocabulary and corpus
            assert current is not None and request.hyperparams is not None
            hp = request.hyperparams
            config = make_config(
                len(current.vocab),
                hp.preset,
                current.config.softmax,
                layers=hp.layers,
                hidden=hp.hidden,
                embed=hp.embed,
                dropout=hp.dropout,
            )
            session = current.reshaped(config, hp.train)
            corpus_path = self.corpus_path
            corpus = self.corpus
            fresh = True
            notes.insert(0, f"New untrained {session.summary()}: press F5 to train.")
        view = LiveView(session)
        predictor = Predictor(view)  # type: ignore[arg-type]  # a Session, as far as it reads
        predictor.suggest("the ")  # the first call pays for lazy set-up: not the first keystroke
        predictor.suggest("")
        return SessionReady(
            session=session,
            view=view,
            predictor=predictor,
            corpus_path=corpus_path,
            corpus=corpus,
            note=" ".join(notes),
            severity=severity,
            fresh=fresh,
        )

    def _read_corpus(self, path: Path, **options: object) -> Corpus:
        """In a worker: a text through the token cache when it is big, progress on the status
        line (``CorpusProgress``); the UI loop is never the one waiting."""
        from lstm_tui.core.token_cache import Phase, Tokenizer, load_corpus

        def progress(phase: Phase, done: int, total: int) -> None:
            self.post_message(CorpusProgress(f"{phase.value} {path.name}", done / max(total, 1)))

        lowercase = bool(options.pop("lowercase", True))
        loaded = load_corpus(
            path, tokenizer=Tokenizer.words(lowercase), progress=progress, **options
        )  # type: ignore[arg-type]
        if loaded.note:  # the cache folder cannot be written: read in memory instead
            self.call_from_thread(self.notify, loaded.note, severity="warning", timeout=10)
        return loaded.corpus

    def on_corpus_progress(self, message: CorpusProgress) -> None:
        filled = round(message.fraction * 10)
        meter = "█" * filled + "░" * (10 - filled)
        activity = f"{message.label} {meter} {message.fraction:.0%}"
        self.query_one(StatusBar).update_status(activity=activity)

    def on_session_ready(self, message: SessionReady) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        from lstm_tui.core.model import PRESETS

        self.generation += 1
        self.busy = False
        self.inference.clear()
        session = message.session
        self.session = session
        self.predictors = PredictorPair(session, message.predictor, message.view)
        self._refreshing = False
        self.corpus = message.corpus
        self.corpus_path = message.corpus_path
        config = session.config
        shape = {"embed": config.embed, "hidden": config.hidden, "layers": config.layers}
        self.preset = next(
            (name for name, p in PRESETS.items() if all(p[k] == v for k, v in shape.items())),
            "seed",
        )
        if not message.fresh:  # a loaded checkpoint: train on with its settings, a new budget
            self.train_config = replace(
                session.train_config,
                epochs=None,
                max_seconds=None,
                target_accuracy=None,
                device=self.device_name,
            )
        else:
            self.train_config = replace(session.train_config, device=self.device_name)
        self._selected_word = None
        pane = self.query_one(TrainingPane)
        pane.reset_history(
            "new model: no training yet"
            if message.fresh
            else f"loaded: {session.progress.steps:,} steps, {session.progress.epochs:,} epochs "
            f"trained before"
        )
        pane.show_metrics(session.metrics)
        self.query_one(VocabPane).set_vocab(session.vocab, session.lowercase)
        if not self._inference_started:
            self._inference_started = True
            self._inference_loop()
        predictor = message.predictor

        def warm_up() -> None:  # a model's first call in a new thread costs up to a second
            predictor.suggest("the ", k=TOP_K)

        self._submit("warm-up", warm_up)
        predictor_pane = self.query_one(PredictorPane)
        predictor_pane.set_ready(True)
        if self.active_pane == "predictor" and not isinstance(self.screen, ConfirmScreen):
            self.query_one(PromptInput).focus()
        self._set_training_state("idle")
        gc.freeze()  # see on_load
        self.notify(message.note, severity=message.severity, timeout=10)  # type: ignore[arg-type]

    def on_session_failed(self, message: SessionFailed) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        self.busy = False
        self.notify(message.error, title="Could not open", severity="error", timeout=10)
        if self.session is None:
            self._set_training_state("loading")
        self._refresh_status()
        self.refresh_bindings()

    # -- model jobs -----------------------------------------------------------------------------

    def _submit(self, kind: str, job: Job) -> None:
        self.inference.submit(kind, job)

    @work(thread=True, exclusive=True, group="inference", exit_on_error=False)
    def _inference_loop(self) -> None:
        """Runs for the app's lifetime: takes model jobs off the queue, one at a time."""
        import torch

        torch.set_num_threads(PREDICT_THREADS)
        worker = get_current_worker()
        while not worker.is_cancelled:
            job = self.inference.take(timeout=0.5)
            if job is None:
                if self.inference.closed:
                    return
                continue
            try:
                job()
            except UserError as e:
                self.post_message(InferenceFailed(str(e)))
            except Exception as e:  # a bug; the app goes on
                self.log.error(traceback.format_exc())
                self.post_message(InferenceFailed(f"prediction failed: {type(e).__name__}: {e}"))

    def on_inference_failed(self, message: InferenceFailed) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        self.notify(message.error, severity="error")

    def on_prompt_changed(self, message: PromptChanged) -> None:
        self._last_keystroke = time.monotonic()
        self._request_suggestions(message.text)

    def _request_suggestions(self, text: str) -> None:
        pair, session, generation = self.predictors, self.session, self.generation
        if pair is None or session is None:
            return

        def job() -> None:
            version = session.version
            suggestions = pair.active.suggest(text, k=TOP_K)
            self.post_message(SuggestionsReady(generation, text, suggestions, version))

        self._submit("suggest", job)

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.generation != self.generation:
            return
        self.query_one(PredictorPane).show_suggestions(message.text, message.suggestions)

    def on_prompt_sent(self, message: PromptSent) -> None:
        pair, generation = self.predictors, self.generation
        if pair is None:
            return
        pane = self.query_one(PredictorPane)
        text, request = message.text, message.request
        n_words, temperature = pane.n_words, pane.temperature

        def job() -> None:
            continuation = pair.active.continue_text(text, n_words, temperature=temperature)
            self.post_message(ContinuationReady(generation, request, continuation))

        self._submit("continue", job)

    def on_continuation_ready(self, message: ContinuationReady) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        pane = self.query_one(PredictorPane)
        if message.generation != self.generation:
            pane.show_continuation(message.request, None, "the model changed")
            return
        pane.show_continuation(message.request, message.continuation, message.error)

    def on_word_selected(self, message: WordSelected) -> None:
        self._selected_word = message.word
        self._request_details(message.word)

    def _request_details(self, word: str) -> None:
        pair, session, generation = self.predictors, self.session, self.generation
        if pair is None or session is None:
            return

        def job() -> None:
            version = session.version
            after = pair.active.next_words(word, k=DETAIL_WORDS)
            like = pair.active.neighbours(word, k=DETAIL_WORDS)
            self.post_message(WordDetailsReady(generation, word, after, like, version))

        self._submit("details", job)

    def on_word_details_ready(self, message: WordDetailsReady) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.generation != self.generation:
            return
        self.query_one(VocabPane).show_details(message.word, message.next_words, message.neighbours)

    # -- training -------------------------------------------------------------------------------

    def _not_ready(self) -> bool:
        if self.session is None or self.busy:
            self.notify("The model is still loading.", severity="warning", timeout=3)
            return True
        return False

    @property
    def training(self) -> bool:
        return self.training_state in ("starting", "training", "paused", "stopping")

    def action_train(self) -> None:
        if self._not_ready():
            return
        if self.training_state == "paused":
            self.action_resume()
            return
        if self.training:
            self.notify("Training is already running (F6 pauses, F7 stops).", timeout=3)
            return
        if self.corpus is None and self.corpus_path is None:
            assert self.session is not None
            name = self.session.corpus.name or "unknown"
            self.push_screen(
                OpenCorpusScreen(
                    "Train on which text?",
                    f"This model's corpus ({name}) was not found. Pick a text to train on: it "
                    "is read with the model's vocabulary, and words it does not know become "
                    "<unk>. (To start a new model on a text, use Open corpus, ctrl+n.)",
                ),
                self._train_on_chosen,
            )
            return
        self._start_training()

    def _train_on_chosen(self, path: Path | None) -> None:
        if path is None:
            return
        self.corpus_path = path
        self.corpus = None
        self._start_training()

    def _start_training(self) -> None:
        assert self.session is not None
        control = RunControl()
        self.run_control = control
        self._set_training_state("starting")
        self.train_worker = self._train_worker(
            self.generation,
            self.session,
            self.corpus,
            self.corpus_path,
            self.train_config,
            control,
        )

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train_worker(
        self,
        generation: int,
        session: Session,
        corpus: Corpus | None,
        corpus_path: Path | None,
        config: TrainConfig,
        control: RunControl,
    ) -> None:
        worker = get_current_worker()
        try:
            import torch

            from lstm_tui.core.device import describe_device
            from lstm_tui.core.errors import CorpusError
            from lstm_tui.core.train import Trainer, TrainResult

            if corpus is None:
                assert corpus_path is not None
                try:
                    corpus = self._read_corpus(
                        corpus_path, vocab=session.vocab, lowercase=session.lowercase
                    )
                except CorpusError as e:
                    self.post_message(TrainingEnded(generation, None, str(e), bad_corpus=True))
                    return
            val = corpus.val_ids if corpus.has_validation else None
            trainer = Trainer(session, corpus.train_ids, val, config)
            where = describe_device(trainer.device)
            on_cpu = trainer.device.type == "cpu"
            if on_cpu:
                where += f" ×{TRAIN_THREADS}"
            control.attach(trainer)
            total = trainer.epochs * trainer.steps_per_epoch()
            description = (
                f"batch {trainer.batch_size} × bptt {trainer.bptt} · {trainer.epochs:,} epochs "
                f"· {where}"
            )
            self.post_message(
                TrainingStarted(generation, corpus, description, total, str(trainer.device))
            )
            results: list[TrainResult] = []

            def train() -> None:  # in its own low-priority thread: keystrokes come first
                if on_cpu:
                    torch.set_num_threads(TRAIN_THREADS)
                for event in trainer.run():
                    if isinstance(event, TrainResult):
                        results.append(event)
                    else:
                        self.post_message(TrainingProgress(generation, event))

            def check_cancel() -> None:
                if worker.is_cancelled:
                    control.stop()

            run_at_low_priority(
                train, name="lstm-tui-train", nice=TRAIN_NICE, while_waiting=check_cancel
            )
            self.post_message(TrainingEnded(generation, results[-1] if results else None))
        except UserError as e:
            self.post_message(TrainingEnded(generation, None, str(e)))
        except Exception as e:  # a bug: report it, keep the app and the weights
            self.log.error(traceback.format_exc())
            self.post_message(TrainingEnded(generation, None, f"{type(e).__name__}: {e}"))
        finally:
            control.done()

    def on_training_started(self, message: TrainingStarted) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.generation != self.generation or self.session is None:
            return
        self.corpus = message.corpus
        gc.freeze()  # see on_load: training's first steps import and build a lot
        pane = self.query_one(TrainingPane)
        pane.run_started(message.description, message.total_steps, self.session.progress.steps)
        control = self.run_control
        self._set_training_state("paused" if control and control.paused else "training")
        if control and control.stop_requested:
            self._set_training_state("stopping")

    def on_training_progress(self, message: TrainingProgress) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.generation != self.generation:
            return
        from lstm_tui.core.train import StepEvent

        pane = self.query_one(TrainingPane)
        if isinstance(message.event, StepEvent):
            pane.step(message.event)
        else:
            pane.epoch(message.event)

    def on_training_ended(self, message: TrainingEnded) -> None:
        self.run_control = None
        self.train_worker = None
        if message.bad_corpus:
            self.corpus_path = None if self.corpus is None else self.corpus_path
        if message.generation != self.generation or not self.is_running:
            return
        self.query_one(TrainingPane).run_ended(message.result, message.error)
        self._set_training_state("idle")
        result = message.result
        if message.error:
            self.notify(message.error, title="Training failed", severity="error", timeout=10)
        elif result is not None and result.reason == "diverged":
            self.notify(result.message, title="Training diverged", severity="error", timeout=10)
        elif result is not None and not self._quitting:
            accuracy = (
                f" · window accuracy {fmt.percent(result.window_accuracy)}"
                if result.window_accuracy is not None
                else ""
            )
            self.notify(
                f"{result.message}: {result.steps:,} steps in {fmt.duration(result.seconds)}"
                f"{accuracy}",
                title="Training " + ("stopped" if result.reason == "stopped" else "done"),
                timeout=5,
            )
        self._live_refresh(force=True)

    def action_pause(self) -> None:
        if self.run_control is None or self.training_state not in ("training", "starting"):
            self.notify("Nothing to pause: training is not running.", timeout=3)
            return
        self.run_control.pause()
        self._set_training_state("paused")

    def action_resume(self) -> None:
        if self.run_control is None or self.training_state != "paused":
            self.notify("Nothing to resume.", timeout=3)
            return
        self.run_control.resume()
        self._set_training_state("training")

    def action_toggle_pause(self) -> None:
        if self.training_state == "paused":
            self.action_resume()
        else:
            self.action_pause()

    def action_stop(self) -> None:
        if self.run_control is None or not self.training:
            self.notify("Training is not running.", timeout=3)
            return
        self.run_control.stop()
        self._set_training_state("stopping")

    async def _stop_training(self) -> None:
        """Stop a run and wait for its worker to end (a step, well under a second)."""
        control = self.run_control
        if control is not None:
            control.stop()
            while not control.finished.is_set():
                await asyncio.sleep(0.02)

    # -- reset, hyperparameters, corpus, checkpoints -------------------------------------------

    def _unsaved_work(self) -> bool:
        session = self.session
        return session is not None and not session.is_saved and session.progress.steps > 0

    def _confirm_discard(self, what: str, then: Callable[[], object]) -> None:
        """Run ``then()`` now, or after a yes, if the weights hold unsaved training."""
        if not self._unsaved_work():
            self.call_later(then)
            return
        assert self.session is not None

        def answered(choice: str | None) -> None:
            if choice == "y":
                self.call_later(then)

        self.push_screen(
            ConfirmScreen(
                what,
                f"The weights have {self.session.progress.steps:,} steps of training that are "
                "not saved. Discard them?",
                [Choice("y", "Discard", "error")],
            ),
            answered,
        )

    def action_reset(self) -> None:
        if self._not_ready():
            return
        if self.training:
            self.notify("Stop training first (F7), then reset.", severity="warning", timeout=4)
            return
        self._confirm_discard("Reset the weights?", self._do_reset)

    def _do_reset(self) -> None:
        assert self.session is not None
        self.busy = True
        self.refresh_bindings()
        self._reset_worker(self.generation, self.session, self.train_config.seed)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _reset_worker(self, generation: int, session: Session, seed: int | None) -> None:
        try:
            session.reset_weights(seed)
            self.post_message(WeightsReset(generation))
        except Exception as e:
            self.post_message(WeightsReset(generation, f"{type(e).__name__}: {e}"))

    def on_weights_reset(self, message: WeightsReset) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        self.busy = False
        self.refresh_bindings()
        if message.error:
            self.notify(message.error, title="Reset failed", severity="error")
            return
        self.query_one(TrainingPane).reset_history("weights reset: fresh random weights")
        self.notify("Fresh random weights: the model knows nothing yet. F5 trains it.")
        self._live_refresh(force=True)
        self._refresh_status()

    def action_hyperparams(self) -> None:
        if self._not_ready():
            return
        assert self.session is not None
        self.push_screen(
            HyperparamsScreen(self.session.config, self.preset, self.train_config, self.training),
            self._hyperparams_chosen,
        )

    def _hyperparams_chosen(self, result: Hyperparams | None) -> None:
        if result is None or self.session is None:
            return
        config = self.session.config
        current = (config.layers, config.hidden, config.embed, config.dropout)
        self.train_config = result.train
        self.device_name = result.train.device
        if result.architecture() == current:
            self.preset = result.preset
            note = "the next run uses them" if self.training else "F5 trains with them"
            self.notify(f"Settings saved: {note}.", timeout=3)
            return
        if self.training:
            self.notify(
                "Stop training first (F7) to change the model's shape; the training settings "
                "are saved.",
                severity="warning",
                timeout=6,
            )
            return
        self.preset = result.preset

        def rebuild() -> None:
            self._load(LoadRequest("architecture", hyperparams=result))

        self._confirm_discard("Start a new model?", rebuild)

    def action_open_corpus(self) -> None:
        if self.busy:
            self.notify("Busy loading; try again in a moment.", timeout=3)
            return
        self.push_screen(
            OpenCorpusScreen(
                "Open corpus",
                "A UTF-8 text file. Opening it makes a new vocabulary and a new, untrained "
                "model sized for it (the current one is closed).",
                self.corpus_path.parent if self.corpus_path else None,
            ),
            self._corpus_chosen,
        )

    def _corpus_chosen(self, path: Path | None) -> None:
        if path is None:
            return

        async def open_it() -> None:
            await self._stop_training()
            self._load(LoadRequest("corpus", path))

        self._confirm_discard(f"Open {path.name}?", open_it)

    def action_load(self) -> None:
        if self.busy:
            self.notify("Busy loading; try again in a moment.", timeout=3)
            return
        self.push_screen(LoadScreen(extra=[paths.default_checkpoint()]), self._checkpoint_chosen)

    def _checkpoint_chosen(self, path: Path | None) -> None:
        if path is None:
            return
        self.load_checkpoint(path)

    def load_checkpoint(self, path: Path) -> None:
        """Load a checkpoint (after asking, if the weights hold unsaved training)."""

        async def load_it() -> None:
            await self._stop_training()
            self._load(LoadRequest("checkpoint", path))

        self._confirm_discard(f"Load {path.name}?", load_it)

    def action_save(self, then_quit: bool = False) -> None:
        if self._not_ready():
            return
        assert self.session is not None
        source = self.session.source
        if source is not None and source.parent == paths.checkpoints_dir():
            name = source.name.removesuffix(paths.CHECKPOINT_SUFFIX)
        else:
            name = Path(self.session.corpus.name or "model").stem

        def chosen(result: tuple[Path, bool] | None) -> None:
            if result is None:
                return
            path, include_optimizer = result
            self._save_worker(self.session, path, include_optimizer, then_quit)

        self.push_screen(SaveScreen(name), chosen)

    @work(thread=True, group="save", exit_on_error=False)
    def _save_worker(
        self, session: Session | None, path: Path, include_optimizer: bool, then_quit: bool
    ) -> None:
        from lstm_tui.core import checkpoint

        assert session is not None
        with self._saves_lock:
            self._saves_in_flight += 1
        try:
            saved = checkpoint.save(session, path, include_optimizer=include_optimizer)
        except UserError as e:
            self.post_message(Saved(None, str(e), then_quit))
        except Exception as e:
            self.log.error(traceback.format_exc())
            self.post_message(Saved(None, f"{type(e).__name__}: {e}", then_quit))
        else:
            self.post_message(Saved(saved, None, then_quit))
        finally:
            with self._saves_lock:
                self._saves_in_flight -= 1

    def on_saved(self, message: Saved) -> None:
        if not self.is_running:  # shutting down: the widgets are going
            return
        if message.error or message.path is None:
            self.notify(message.error or "not saved", title="Save failed", severity="error")
            return
        self.notify(f"Saved {message.path}", title="Saved", timeout=4)
        self._refresh_status()
        if message.then_quit:
            self._quit_now()

    # -- quitting ---------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if self._quitting:
            return
        if not self._unsaved_work():
            self._quit_now()
            return
        assert self.session is not None
        running = " Training will stop." if self.training else ""

        def answered(choice: str | None) -> None:
            if choice == "q":
                self._quit_now()
            elif choice == "s":
                self.action_save(then_quit=True)

        self.push_screen(
            ConfirmScreen(
                "Quit?",
                f"The weights have {self.session.progress.steps:,} steps of training that are "
                f"not saved.{running}",
                [Choice("s", "Save and quit", "primary"), Choice("q", "Quit", "error")],
            ),
            answered,
        )

    def _quit_now(self) -> None:
        self._quitting = True
        if self.run_control is not None:
            self.run_control.stop()
        self.inference.close()
        self.exit()

    def on_unmount(self) -> None:
        # However the app ends (ctrl+q, a signal, a test), let no thread outlive it by long.
        if self.run_control is not None:
            self.run_control.stop()
        self.inference.close()

    # -- help, palette, and pane actions reachable from it --------------------------------------

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        from lstm_tui.ui.screens.files import LoadScreen as Loader
        from lstm_tui.ui.screens.hyperparams import HyperparamsScreen as Form

        app_rows = binding_rows(self.BINDINGS)
        app_rows.append(("ctrl+p", "Command palette: every action by name"))
        return [
            ("Everywhere", app_rows),
            (
                "Predictor",
                binding_rows(PromptInput.BINDINGS) + binding_rows(PredictorPane.BINDINGS),
            ),
            ("Vocabulary", binding_rows(VocabPane.BINDINGS)),
            ("Dialogs", binding_rows(Form.BINDINGS) + binding_rows(Loader.BINDINGS)),
        ]

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.help_sections()))

    async def run_command(self, action: str) -> None:
        """Run an ``action_*`` method by name, past ``check_action``: it says why it can't."""
        name, _, rest = action.partition("(")
        args = ast.literal_eval(f"({rest[:-1]},)") if rest else ()
        method = getattr(self, f"action_{name}")
        result = method(*args)
        if inspect.isawaitable(result):
            await result

    def action_cycle_mode(self) -> None:
        self.query_one(PredictorPane).action_cycle_mode()

    def action_more_words(self) -> None:
        self.query_one(PredictorPane).action_more_words()

    def action_fewer_words(self) -> None:
        self.query_one(PredictorPane).action_fewer_words()

    def action_clear_transcript(self) -> None:
        self.query_one(PredictorPane).action_clear_transcript()

    def action_vocab_sort(self) -> None:
        self.query_one(VocabPane).action_cycle_sort()

    def action_vocab_reverse(self) -> None:
        self.query_one(VocabPane).action_reverse()


def _corpus_of(recorded: str | None, name: str) -> Path | None:
    """The text a checkpoint was trained on, if it can be found on this machine."""
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    bundled = paths.default_corpus()
    if name == bundled.name and bundled.is_file():
        return bundled
    return None
