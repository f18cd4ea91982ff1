"""Messages: from the threads that do the work to the widget that asked, and from panes up.

Messages carry data and ids, never the live objects that sent them: results of model work
carry the ``generation`` of the model they were computed with (the inference service says
whether that is still the live one, ``InferenceService.current``), training messages the
``run_id`` of their run, a finished load its ``load_id`` (the loader hands over the warmed-up
predictor for it). None of these may be collapsed (``can_replace``): chart points and
transcript lines matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # torch-backed types: imported by the workers, never at module level here
    from lstm_tui.core.jobs import Opened
    from lstm_tui.core.serving.phrase import Phrase
    from lstm_tui.core.serving.predict import Continuation, Suggestions, WordProb
    from lstm_tui.core.serving.surprisal import WordSurprise
    from lstm_tui.core.text.corpus import Corpus
    from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult


# -- loading (to the app) ------------------------------------------------------------------------


@dataclass
class SessionReady(Message):
    """A model is loaded or built and its predictor warmed up (``SessionLoader.take``)."""

    load_id: int
    opened: Opened


@dataclass
class CorpusProgress(Message):
    """A big corpus is being tokenised into the token cache."""

    label: str  # "tokenising book.txt"
    fraction: float  # 0..1


@dataclass
class SessionFailed(Message):
    """Loading or building a model failed; the app keeps what it had."""

    error: str
    final: bool = True  # False: a fallback (the bundled model) is being loaded instead


@dataclass
class WeightsReset(Message):
    error: str | None = None


@dataclass
class Saved(Message):
    path: Path | None
    error: str | None = None
    then_quit: bool = False


# -- training (to the training pane; started and ended bubble on to the app) ----------------------


@dataclass
class TrainingStarted(Message):
    run_id: int
    corpus: Corpus
    description: str  # "batch 25 × bptt 8 · to 95.2% window accuracy, ≤300 epochs · cpu ×1"
    total_steps: int
    first_step: int  # the session's step count when the run began
    log_note: str = ""  # where the TensorBoard events go, or why there are none


@dataclass
class TrainingProgress(Message):
    """One StepEvent or EpochEvent, in order; never dropped."""

    run_id: int
    event: StepEvent | EpochEvent


@dataclass
class TrainingEnded(Message):
    run_id: int
    result: TrainResult | None
    error: str | None = None
    bad_corpus: bool = False  # the text could not be read: forget it


# -- model work (to the pane that asked) ----------------------------------------------------------


@dataclass
class PredictorRefreshed(Message):
    """The standby predictor caught up with the weights and is now the active one."""

    generation: int


@dataclass
class InferenceFailed(Message):
    error: str


@dataclass
class SuggestionsReady(Message):
    generation: int
    text: str  # the input value they are for
    suggestions: Suggestions


@dataclass
class PhraseReady(Message):
    """The phrase for a typed text, computed after its row was posted (it never waits)."""

    generation: int
    text: str  # the input value it is for
    phrase: Phrase | None


@dataclass
class ContinuationReady(Message):
    generation: int
    request: int  # which sent line this answers
    continuation: Continuation | None
    error: str | None = None
    surprise: list[WordSurprise] = field(default_factory=list)  # the sent line, word by word


@dataclass
class WordDetailsReady(Message):
    generation: int
    word: str
    next_words: list[WordProb]
    neighbours: list[WordProb]


@dataclass
class Learnt(Message):
    """The model learnt from a line the user sent (to the app: the status line says so)."""

    generation: int
    words: int  # words learnt from so far, in all
