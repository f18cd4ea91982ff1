"""A session: one model with its vocabulary and training record, shared across threads.

This is what a checkpoint holds. The trainer writes the weights under ``lock`` and bumps
``version``; a predictor copies them under the same lock whenever the version moved, so
it never reads a half-applied optimizer step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from lstm_tui.core import format as fmt
from lstm_tui.core.model.device import resolve_device
from lstm_tui.core.model.lstm import LanguageModel, ModelConfig, make_config
from lstm_tui.core.model.mixture import MixWeights
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.core.text.vocab import Vocabulary
from lstm_tui.core.training.auto import auto_choice
from lstm_tui.core.training.config import TrainConfig

if TYPE_CHECKING:
    from lstm_tui.core.model.adaptation import Adaptation
    from lstm_tui.core.model.ngram import KneserNey


DEFAULT_NGRAM_ORDER = 5
# The n-gram is counted from at most this many tokens (the last ones): counting takes memory
# in proportion to the text, and a few million tokens already give most of what it can do.
MAX_NGRAM_TOKENS = 2_000_000
# Past this many tokens the n-gram is counted in a thread while training starts (it takes
# seconds); the first evaluation waits for it.
BACKGROUND_NGRAM_TOKENS = 500_000


class NgramText(Enum):
    """Which part of the text the n-gram has counted (kept in the checkpoint).

    After a run the n-gram is counted again from all the text, the held-out
    part too; a later run must not fit the mixture's weights or measure perplexity on text
    the n-gram has read (it scored a perplexity of 7.4 there, against 105 on unseen text).
    """

    TRAINING = "training"  # the training part only: held-out figures are honest
    ALL = "all"  # the held-out part too (after a run; assumed for older checkpoints)


@dataclass
class Progress:
    epochs: int = 0
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CorpusInfo:
    """Where the vocabulary came from, so a resumed run can find its text again."""

    name: str = ""
    path: str | None = None
    tokens: int = 0
    lowercase: bool = True
    tokenizer: str = Tokenizer.WORDS.value  # older checkpoints predate the choice


@dataclass
class Session:
    vocab: Vocabulary
    model: LanguageModel
    corpus: CorpusInfo = field(default_factory=CorpusInfo)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    progress: Progress = field(default_factory=Progress)
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # one record per evaluation (history.py)
    counting: threading.Thread | None = field(default=None, repr=False)  # the n-gram, if busy
    # What counting the n-gram took, and on how many tokens: a time budget keeps room for
    # counting it again at the end of a run.
    ngram_seconds: float = field(default=0.0, repr=False)
    ngram_tokens: int = field(default=0, repr=False)
    optimizer_state: dict | None = None
    # The count-based half of the predictions: fitted on the training text when the session
    # is made, so suggestions work before any LSTM training. None: LSTM only (--mix off, or
    # a checkpoint from before mixtures).
    ngram: KneserNey | None = None
    ngram_text: NgramText = NgramText.TRAINING  # what the n-gram has read
    mix: MixWeights = field(default_factory=MixWeights.lstm_only)
    # What the model learnt from the text typed to it (serving/adapt.py); None: nothing yet.
    adaptation: Adaptation | None = None
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # Phrase thresholds fitted for these weights (``serving.predict.Predictor.phrase_fit``),
    # shared by the session's predictors; computed on load, never saved.
    phrase_fits: dict = field(default_factory=dict, repr=False)
    version: int = 0
    saved_version: int | None = None  # the version last saved or loaded
    source: Path | None = None  # the checkpoint file it was loaded from or saved to
    saved_steps: int = 0  # progress.steps in that file: training since then is unsaved

    @classmethod
    def new(
        cls,
        corpus: Corpus,
        preset: str = "auto",
        train_config: TrainConfig | None = None,
        softmax: str = "auto",
        ngram_order: int | None = DEFAULT_NGRAM_ORDER,
        **overrides: object,
    ) -> Session:
        """A fresh, untrained model for a corpus, sized for the device it will train on.

        ``preset="auto"`` picks sizes from the corpus (``auto_settings``); ``train_config.seed``
        seeds the initial weights, so that a seeded run repeats from its very start. With an
        ``ngram_order`` a Kneser-Ney model is counted from the training text at once, and
        predictions start from it alone until the LSTM has been evaluated.
        """
        train_config = train_config or TrainConfig()
        if preset == "auto":
            choice = auto_choice(len(corpus.train_ids))
            preset = choice.preset
            overrides = {**choice.model, **{k: v for k, v in overrides.items() if v is not None}}
        device_type = resolve_device(train_config.device).type
        config = make_config(len(corpus.vocab), preset, softmax, device_type, **overrides)
        info = CorpusInfo(
            corpus.name,
            _recorded_path(corpus.path),
            len(corpus.ids),
            corpus.lowercase,
            Tokenizer(corpus.tokenizer).value,
        )
        _seed_weights(train_config.seed)
        session = cls(corpus.vocab, _fresh_model(config, corpus.vocab), info, train_config)
        if ngram_order:
            session.count_ngram(corpus.train_ids, ngram_order)
        return session

    def count_ngram(
        self, train_ids: np.ndarray, order: int = DEFAULT_NGRAM_ORDER, keep_mix: bool = False
    ) -> None:
        """``fit_ngram`` on the training text: at once for a small text; for a big one in a
        thread (it takes seconds) that the first evaluation and any save wait for."""
        if len(train_ids) <= BACKGROUND_NGRAM_TOKENS:
            self.fit_ngram(train_ids, order, keep_mix)
            return
        self.wait_for_ngram()
        self.counting = threading.Thread(
            target=self.fit_ngram,
            args=(train_ids, order, keep_mix),
            name="lstm-tui-ngram",
            daemon=True,
        )
        self.counting.start()

    def wait_for_ngram(self) -> None:
        """Until an n-gram being counted in the background is ready (evaluations need it)."""
        counting = self.counting
        if counting is not None:
            counting.join()
            self.counting = None

    def fit_ngram(
        self,
        train_ids: np.ndarray,
        order: int = DEFAULT_NGRAM_ORDER,
        keep_mix: bool = False,
        text: NgramText = NgramText.TRAINING,
    ) -> None:
        """Count a Kneser-Ney model from the text; predict from it alone for now, unless
        ``keep_mix`` (a recount on more text, with the mixture's weights already fitted).
        ``text`` says which part of the corpus ``train_ids`` is (``ALL``: held-out too)."""
        from lstm_tui.core.model.ngram import KneserNey

        began = time.perf_counter()
        recent = np.asarray(train_ids[-MAX_NGRAM_TOKENS:])  # counting memory grows with the text
        ngram = KneserNey.fit(recent, len(self.vocab), order=order)
        with self.lock:
            self.ngram = ngram
            self.ngram_text = text
            self.ngram_seconds, self.ngram_tokens = time.perf_counter() - began, len(recent)
            if not keep_mix:
                self.mix = MixWeights.ngram_only()
            self.mark_changed()

    def reshaped(self, config: ModelConfig, train_config: TrainConfig) -> Session:
        """A fresh, untrained model of another shape for the same vocabulary and corpus."""
        _seed_weights(train_config.seed)
        model = _fresh_model(config, self.vocab).to(self.device)
        mix = MixWeights.ngram_only() if self.ngram is not None else MixWeights.lstm_only()
        return Session(
            self.vocab,
            model,
            replace(self.corpus),
            train_config,
            ngram=self.ngram,
            ngram_text=self.ngram_text,
            mix=mix,
        )

    def adapting(self) -> Adaptation:
        """The session's adaptation, made on first use. Call under ``lock``."""
        if self.adaptation is None:
            from lstm_tui.core.model.adaptation import Adaptation

            self.adaptation = Adaptation()
        return self.adaptation

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def lowercase(self) -> bool:
        return self.corpus.lowercase

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.corpus.tokenizer)

    @property
    def device(self) -> torch.device:
        return self.model.embedding.weight.device

    @property
    def is_saved(self) -> bool:
        return self.saved_version == self.version

    def mark_changed(self) -> None:
        """Call under ``lock`` after the weights change."""
        self.version += 1

    def mark_saved(self, path: Path, version: int | None = None, steps: int | None = None) -> None:
        """The weights at ``version`` (default: now), ``steps`` into training, are in ``path``."""
        self.saved_version = self.version if version is None else version
        self.saved_steps = self.progress.steps if steps is None else steps
        self.source = path

    def reset_weights(self, seed: int | None = None) -> None:
        """Fresh random weights, same architecture and vocabulary."""
        _seed_weights(seed)
        with self.lock:
            device = self.device
            self.model = _fresh_model(self.config, self.vocab).to(device)
            self.optimizer_state = None
            self.progress = Progress()
            self.metrics = {}
            self.history = []
            if self.ngram is not None:  # an untrained LSTM adds nothing to the n-gram
                self.mix = MixWeights.ngram_only()
            self.saved_steps = 0  # nothing saved is left in these weights
            if self.adaptation is not None:  # a delta from other weights means nothing here
                self.adaptation.delta = {}
            self.mark_changed()

    def learn_words(self, words: Iterable[str]) -> list[str]:
        """Words the user typed (tokens, as this session's tokenizer gives them): those the
        vocabulary lacks are counted among its rare words, so the predictor offers them from
        now on. Returns the words it had never seen. The n-gram and the LSTM are untouched."""
        with self.lock:
            return self.vocab.learn(words)

    def record_evaluation(self, metrics: dict) -> None:
        """The metrics of an evaluation just made: the latest, and one more history record."""
        self.metrics = dict(metrics)
        progress = self.progress
        flat = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
        self.history.append({"step": progress.steps, "epoch": progress.epochs, **flat})

    def to(self, device: torch.device) -> None:
        with self.lock:
            self.model.to(device)

    def summary(self) -> str:
        params = self.model.num_parameters()
        return f"{self.config.layers}×{self.config.hidden} LSTM · {fmt.count(params)} params"


def _recorded_path(path: Path | str | None) -> str | None:
    """Where a checkpoint says its text is: absolute, so that a resumed run finds it from
    any working folder; none for the bundled fable (issue 16.4: a model built from it must
    not carry the build machine's path, which may name another file elsewhere), which is
    found by name wherever the package is installed (``jobs.corpus_of``)."""
    from lstm_tui.core.store.paths import default_corpus

    if not path:
        return None
    resolved = Path(path).resolve()
    try:
        if resolved == default_corpus().resolve():
            return None
    except OSError:
        pass
    return str(resolved)


def _seed_weights(seed: int | None) -> None:
    if seed is not None:
        torch.manual_seed(seed)


def _fresh_model(config: ModelConfig, vocab: Vocabulary) -> LanguageModel:
    """Untrained weights, the output starting from the words' frequencies."""
    model = LanguageModel(config)
    model.start_from_frequencies(vocab.counts)
    return model
