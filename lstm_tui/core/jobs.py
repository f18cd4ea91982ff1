"""The jobs the command line and the app share: open a text or a model, build, resume,
reshape, train and save. No UI here, and nothing printed.

Every job takes what it needs as arguments. ``open_checkpoint`` and ``open_corpus`` return an
``Opened``: the session, the text it trains on (when known) and one plain-language note per
thing worth telling the user. ``new_session`` is the one place a session is built;
``train_session`` is the one place a ``Trainer`` is driven. The app calls these in its own
threads; ``lstm-tui train`` calls them directly and only parses, prints and handles signals.

A new training setting is a field of ``TrainConfig`` and a ``train`` option of the same name
(``cli/parser.py``): ``train_overrides`` picks it up from there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_tui.core.errors import Cancelled, ConfigError, UserError
from lstm_tui.core.store import paths
from lstm_tui.core.text.corpus import MAX_CORPUS_BYTES, Corpus
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.core.training.auto import auto_choice
from lstm_tui.core.training.config import TrainConfig

if TYPE_CHECKING:
    import torch

    from lstm_tui.core.model.lstm import ModelConfig
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text.token_cache import Loaded, ProgressFn
    from lstm_tui.core.training.control import RunControl
    from lstm_tui.core.training.distributed import Distributed
    from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult

# The model's shape as options name it; None keeps the preset's value.
SHAPE_FIELDS = ("layers", "hidden", "embed", "dropout")


@dataclass(frozen=True)
class TextOptions:
    """How a new text becomes tokens (a trained model's text is read with the model's own)."""

    lowercase: bool = True
    tokenizer: str = "words"  # or "whitespace"
    min_count: int | None = None
    max_vocab: int | None = None
    val_fraction: float = 0.1
    max_bytes: int | None = None
    cache: bool | None = None  # the token cache; None: for a big text


@dataclass(frozen=True)
class ModelChoice:
    """What model to build for a new text."""

    preset: str = "auto"
    softmax: str = "auto"
    ngram_order: int | None = None  # None: the session's default (5)
    shape: Mapping[str, float | None] = field(default_factory=dict)  # SHAPE_FIELDS

    def check(self) -> ModelChoice:
        """Said before any text is read: an unknown preset is one line at once."""
        from lstm_tui.core.model.lstm import PRESETS

        if self.preset != "auto" and self.preset not in PRESETS:
            choices = ", ".join(PRESETS)
            raise UserError(f"unknown preset {self.preset!r}; choose from auto, {choices}")
        return self


def train_overrides(options: object) -> dict[str, Any]:
    """The training settings ``options`` (an argparse namespace, say) gives, by field name.

    Absent or None means "not given": the preset, the checkpoint or the default decides.
    """
    given = {f.name: getattr(options, f.name, None) for f in fields(TrainConfig)}
    return {k: v for k, v in given.items() if v is not None}


@dataclass
class Opened:
    session: Session
    corpus_path: Path | None  # the text to train on, if it is on this machine
    corpus: Corpus | None = None  # that text, already encoded in the session's vocabulary
    device: str = "auto"  # the device actually used (the CPU when the one asked for is absent)
    notes: list[str] = field(default_factory=list)
    warning: bool = False  # a note says something did not go as asked
    fresh: bool = False  # an untrained model

    @property
    def note(self) -> str:
        return " ".join(self.notes)


def usable_device(name: str) -> tuple[str, str | None]:
    """``name`` if this machine has it, else ``"cpu"`` and a note saying why."""
    from lstm_tui.core.model.device import resolve_device

    try:
        resolve_device(name)
    except ConfigError as e:
        return "cpu", f"{e}; using the CPU."
    return name, None


def corpus_of(session: Session) -> Path | None:
    """The text a session was trained on, if it can be found on this machine.

    The bundled model's text is the bundled copy, whatever path the file
    records (older builds recorded the build machine's absolute path, which may name
    another file here); a model trained on the bundled text records none.
    """
    bundled = paths.default_corpus()
    is_bundled_text = session.corpus.name == bundled.name and bundled.is_file()
    if is_bundled_text and _is_bundled_model(session.source):
        return bundled
    recorded = session.corpus.path
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    return bundled if is_bundled_text and not recorded else None


def _is_bundled_model(source: Path | None) -> bool:
    if source is None:
        return False
    try:
        return source.resolve().parent == paths.default_checkpoint().resolve().parent
    except OSError:
        return False


def preset_of(config: ModelConfig) -> str:
    """The preset a model's shape matches (``seed`` when none does)."""
    from lstm_tui.core.model.lstm import PRESETS

    shape = {"embed": config.embed, "hidden": config.hidden, "layers": config.layers}
    matches = (n for n, p in PRESETS.items() if all(p[k] == v for k, v in shape.items()))
    return next(matches, "seed")


def open_checkpoint(path: Path, device: str) -> Opened:
    from lstm_tui.core.store import checkpoint

    device, problem = usable_device(device)
    session = checkpoint.load(path, device=device)
    corpus_path = corpus_of(session)
    what = "the bundled fable model" if path == paths.default_checkpoint() else path.name
    opened = Opened(session, corpus_path, device=device, warning=problem is not None)
    opened.notes.append(f"Loaded {what}: {session.summary()}.")
    if problem:
        opened.notes.append(problem)
    if corpus_path is None:
        opened.notes.append(
            f"Its corpus ({session.corpus.name or 'unknown'}) was not found: "
            "F5 asks for a text to train on."
        )
    return opened


def open_text(
    path: str | Path,
    options: TextOptions | None = None,
    *,
    session: Session | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Loaded:
    """The text at ``path``, in a new vocabulary, or with ``session`` in that model's own.

    A big text goes through the token cache (``core/text/token_cache.py``): tokenised once on
    every core, with ``progress(phase, done, total)`` as it goes, and mapped, not read, later.
    Setting ``cancel`` stops it (``Cancelled``), leaving nothing behind.
    """
    from lstm_tui.core.text.token_cache import Tokenizer, load_corpus

    options = options or TextOptions()
    load = partial(
        load_corpus,
        path,
        val_fraction=options.val_fraction,
        cache=options.cache,
        progress=progress,
        max_bytes=options.max_bytes,
        cancel=cancel,
    )
    if session is not None:  # the model's vocabulary and tokenizer; unknown words are <unk>
        return load(
            tokenizer=Tokenizer.of(session.tokenizer, session.lowercase), vocab=session.vocab
        )
    return load(
        tokenizer=Tokenizer.of(options.tokenizer, options.lowercase),
        min_count=options.min_count,
        max_vocab=options.max_vocab,
    )


def new_session(
    corpus: Corpus,
    base: TrainConfig,
    overrides: Mapping[str, Any] | None = None,
    model: ModelChoice | None = None,
) -> Session:
    """An untrained model for ``corpus``: the one place a session is built.

    The training settings are ``base``, then the auto preset's for a text of this size
    (``training/auto.py``), then ``overrides``; ``base.seed`` seeds the initial weights, so a
    seeded run repeats from its very start.
    """
    from lstm_tui.core.model.session import DEFAULT_NGRAM_ORDER, Session

    model = (model or ModelChoice()).check()
    tuned = auto_choice(len(corpus.train_ids)).train if model.preset == "auto" else {}
    config = replace(base, **{**tuned, **(overrides or {})}).check()
    return Session.new(
        corpus,
        model.preset,
        config,
        softmax=model.softmax,
        ngram_order=(model.ngram_order or DEFAULT_NGRAM_ORDER) if config.mix != "off" else None,
        **dict(model.shape),
    )


def open_corpus(
    path: Path,
    train_config: TrainConfig,
    device: str,
    progress: ProgressFn | None = None,
    tokenizer: Tokenizer | str = Tokenizer.WORDS,
    cancel: threading.Event | None = None,
) -> Opened:
    """The app's "open a text": a new vocabulary and an untrained model sized for it, on
    ``device`` (the CPU when that is absent), the n-gram counted so suggestions work at once
    (``progress(COUNTING, 0, 1)``, then ``(COUNTING, 1, 1)``). ``cancel`` stops the
    tokenising or the counting (``Cancelled``)."""
    from lstm_tui.core.model.device import resolve_device

    device, problem = usable_device(device)
    options = TextOptions(tokenizer=Tokenizer(tokenizer).value)
    loaded = open_text(path, options, progress=progress, cancel=cancel)
    corpus = loaded.corpus
    session = new_session(corpus, replace(train_config, device=device))
    _wait_for_ngram(session, progress, cancel)
    session.to(resolve_device(device))
    opened = Opened(session, path, corpus, device, warning=problem is not None, fresh=True)
    opened.notes.append(
        f"New untrained {session.summary()} for {corpus.name} ({len(corpus.ids):,} "
        f"tokens, {len(corpus.vocab):,} words): press F5 to train."
    )
    if problem:
        opened.notes.append(problem)
    if loaded.note:  # the cache folder could not be written: read in memory instead
        opened.notes.append(loaded.note)
    return opened


def _wait_for_ngram(
    session: Session, progress: ProgressFn | None, cancel: threading.Event | None
) -> None:
    """A big text's n-gram is counted in a thread (seconds): wait, saying so, unless told to
    stop. A cancelled count runs on to its end in its thread, and is then dropped."""
    from lstm_tui.core.text.token_cache import Phase

    counting = session.counting
    if counting is None:
        return
    if progress:
        progress(Phase.COUNTING, 0, 1)
    while counting.is_alive():
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        counting.join(0.1)
    session.wait_for_ngram()
    if progress:
        progress(Phase.COUNTING, 1, 1)


@dataclass
class Resumed:
    session: Session
    config: TrainConfig  # the checkpoint's settings, with this run's limits and overrides
    text: Path  # the text to train on


def resume(path: Path, overrides: Mapping[str, Any], text: str | Path | None = None) -> Resumed:
    """A checkpoint to train further, on ``text`` or the text it names.

    The run limits (epochs, seconds, target) are this run's, not the last one's.
    """
    from lstm_tui.core.store import checkpoint

    session = checkpoint.load(path, device=None)
    text = text or corpus_of(session) or session.corpus.path
    if not text:
        raise UserError(f"{path.name}: says no corpus file; name the text to train on")
    limits = {"epochs": None, "max_seconds": None, "target_accuracy": None}
    config = TrainConfig.from_dict({**session.train_config.to_dict(), **limits, **overrides})
    return Resumed(session, config, Path(text))


def reshape(
    session: Session,
    preset: str,
    shape: dict[str, float],
    train_config: TrainConfig,
) -> Session:
    """A fresh model of another shape (``layers``, ``hidden``, ``embed``, ``dropout``)."""
    from lstm_tui.core.model.lstm import make_config

    config = make_config(len(session.vocab), preset, session.config.softmax, "cpu", **shape)
    return session.reshaped(config, train_config)


def corpus_for(
    session: Session,
    path: str | Path,
    val_fraction: float = 0.1,
    max_bytes: int = MAX_CORPUS_BYTES,
) -> Corpus:
    """The text at ``path`` read with a session's vocabulary (unknown words become <unk>)."""
    return Corpus.from_file(
        path,
        max_bytes=max_bytes,
        vocab=session.vocab,
        lowercase=session.lowercase,
        val_fraction=val_fraction,
        tokenizer=session.tokenizer,
    )


@dataclass(frozen=True)
class Started:
    """The first event of ``train_session``: how the run is set up, for the caller to show."""

    device: torch.device
    batch_size: int  # after fitting to the text
    bptt: int
    epochs: int | None  # None: unbounded, the time budget ends the run
    steps_per_epoch: int
    threads: int  # torch threads of a CPU run; 0 on an accelerator
    first_step: int  # the session's steps before this run
    target: float | None = None  # window accuracy that ends the run before its last epoch

    @property
    def total_steps(self) -> int | None:
        return self.epochs * self.steps_per_epoch if self.epochs else None


def train_session(
    session: Session,
    corpus: Corpus,
    config: TrainConfig,
    *,
    control: RunControl | None = None,
    dist: Distributed | None = None,
    precision: str = "auto",
    threads: int | None = None,
    reserve: int = 0,
    budget_started: float | None = None,
    save_seconds: float = 0.0,
) -> Iterator[Started | StepEvent | EpochEvent | TrainResult]:
    """Train ``session`` on ``corpus``: ``Started``, then the trainer's events, in order.

    ``control`` pauses and stops the run from any thread. A CPU run uses ``threads`` torch
    threads, or the free cores less ``reserve`` (the app keeps one for typing). A time budget
    (``config.max_seconds``) counts from ``budget_started`` (``time.perf_counter()``; None:
    the run's start) and keeps ``save_seconds`` for the save that follows.
    """
    import torch

    from lstm_tui.core.runtime import training_threads
    from lstm_tui.core.training.train import Trainer

    val = corpus.val_ids if corpus.has_validation else None
    trainer = Trainer(
        session,
        corpus.train_ids,
        val,
        config,
        control=control,
        dist=dist,
        precision=precision,
        budget_started=budget_started,
        reserve=save_seconds,
    )
    used = 0
    if trainer.device.type == "cpu":
        used = training_threads(threads, reserve=reserve)
        torch.set_num_threads(used)
    yield Started(
        trainer.device,
        trainer.batch_size,
        trainer.bptt,
        trainer.epochs,
        trainer.steps_per_epoch(),
        used,
        session.progress.steps,
        trainer.target,
    )
    yield from trainer.run()


def check_save(
    session: Session,
    out: Path,
    protect: tuple[Path, ...],
    weights_only: bool,
    text_tokens: int = 0,
) -> None:
    """Before any training: a save that cannot succeed (no room, the text itself) is said now.

    ``text_tokens``: the whole text's, from which the n-gram is counted again after the run
    (issue 16.7: the n-gram is often the larger part of the file, and was left out).
    """
    from lstm_tui.core.model.session import MAX_NGRAM_TOKENS
    from lstm_tui.core.store import checkpoint

    has_ngram = session.ngram is not None or session.counting is not None
    ngram_tokens = min(text_tokens, MAX_NGRAM_TOKENS) if has_ngram else 0
    size = checkpoint.saved_size(session, not weights_only, ngram_tokens)
    checkpoint.check_target(out, protect=protect, size_hint=size)


def save(session: Session, out: Path, weights_only: bool = False) -> Path:
    from lstm_tui.core.store import checkpoint

    return checkpoint.save(session, out, include_optimizer=not weights_only)
