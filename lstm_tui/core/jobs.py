"""Opening a model: from a checkpoint, as a fresh model for a text, or reshaped; no UI here.

Every function takes what it needs as arguments and returns an ``Opened``: the session, the
text it trains on (when known) and one plain-language note per thing worth telling the
user. The app calls these in a worker thread; the command line calls them directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core.errors import Cancelled, ConfigError
from lstm_tui.core.model.session import Session
from lstm_tui.core.store import paths
from lstm_tui.core.text.corpus import MAX_CORPUS_BYTES, Corpus
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.core.training.auto import auto_choice
from lstm_tui.core.training.config import TrainConfig

if TYPE_CHECKING:
    from lstm_tui.core.model.lstm import ModelConfig
    from lstm_tui.core.text.token_cache import ProgressFn


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

    [issue 16.4] The bundled model's text is the bundled copy, whatever path the file
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


def open_corpus(
    path: Path,
    train_config: TrainConfig,
    device: str,
    progress: ProgressFn | None = None,
    tokenizer: Tokenizer | str = Tokenizer.WORDS,
    cancel: threading.Event | None = None,
) -> Opened:
    """A new vocabulary and an untrained model sized for the text at ``path``.

    A big text goes through the token cache (``core/text/token_cache.py``): tokenised once on
    every core, with ``progress(phase, done, total)`` as it goes, and mapped, not read, later.
    Then the n-gram is counted (``progress(COUNTING, 0, 1)``, then ``(COUNTING, 1, 1)``), so
    that suggestions work the moment it opens. ``cancel`` stops either (``Cancelled``).
    """
    from lstm_tui.core.model.device import resolve_device
    from lstm_tui.core.text import token_cache

    device, problem = usable_device(device)
    kind = Tokenizer(tokenizer)
    loaded = token_cache.load_corpus(
        path, tokenizer=token_cache.Tokenizer.of(kind), progress=progress, cancel=cancel
    )
    corpus = loaded.corpus
    # The auto preset's training settings for a text of this size (training/auto.py), as the
    # CLI uses them; the n-gram is counted at once, so suggestions work before any training.
    tuned = auto_choice(len(corpus.train_ids)).train
    session = Session.new(corpus, "auto", replace(train_config, device=device, **tuned))
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


def reshape(
    session: Session,
    preset: str,
    shape: dict[str, float],
    train_config: TrainConfig,
) -> Session:
    """A fresh model of another shape (``layers``, ``hidden``, ``embed``, ``dropout``)."""
    from lstm_tui.core.model.lstm import make_config

    config = make_config(len(session.vocab), preset, session.config.softmax, **shape)
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
