"""Messages posted up: from worker threads to the app, and from panes to the app.

Every message from a worker carries the ``generation`` of the session it was computed for;
the app bumps the generation whenever it swaps the session, and drops stale results.
None of these may be collapsed (``can_replace``): chart points and transcript lines matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # torch-backed types: imported by the workers, never at module level here
    from lstm_tui.core.corpus import Corpus
    from lstm_tui.core.predict import Continuation, Predictor, Suggestions, WordProb
    from lstm_tui.core.session import Session
    from lstm_tui.core.train import EpochEvent, StepEvent, TrainResult
    from lstm_tui.ui.inference import LiveView


# -- from workers -----------------------------------------------------------------------------


@dataclass
class SessionReady(Message):
    """A model is loaded or built and its predictor warmed up."""

    session: Session
    view: LiveView  # the session as the predictor reads it
    predictor: Predictor
    corpus_path: Path | None  # the text to train on, if known
    corpus: Corpus | None  # that text already encoded in the session's vocabulary
    note: str  # what happened, for a notification
    severity: str = "information"
    fresh: bool = False  # an untrained model: the chart and log start empty


@dataclass
class CorpusProgress(Message):
    """A big corpus is being tokenised into the token cache (issue 9)."""

    label: str  # "tokenising book.txt"
    fraction: float  # 0..1


@dataclass
class SessionFailed(Message):
    """Loading or building a model failed; the app keeps what it had."""

    error: str


@dataclass
class TrainingStarted(Message):
    generation: int
    corpus: Corpus
    description: str  # "batch 25 × bptt 8 · 1,471 epochs · cpu"
    total_steps: int
    device: str


@dataclass
class TrainingProgress(Message):
    """One StepEvent or EpochEvent, in order; never dropped."""

    generation: int
    event: StepEvent | EpochEvent


@dataclass
class TrainingEnded(Message):
    generation: int
    result: TrainResult | None
    error: str | None = None
    bad_corpus: bool = False  # the text could not be read: forget it


@dataclass
class PredictorRefreshed(Message):
    """The standby predictor caught up with the weights and is now the active one."""

    generation: int
    error: str | None = None


@dataclass
class SuggestionsReady(Message):
    generation: int
    text: str  # the input value they are for
    suggestions: Suggestions
    version: int  # the session version the predictor read


@dataclass
class ContinuationReady(Message):
    generation: int
    request: int  # which sent line this answers
    continuation: Continuation | None
    error: str | None = None


@dataclass
class WordDetailsReady(Message):
    generation: int
    word: str
    next_words: list[WordProb]
    neighbours: list[WordProb]
    version: int


@dataclass
class Saved(Message):
    path: Path | None
    error: str | None = None
    then_quit: bool = False


@dataclass
class WeightsReset(Message):
    generation: int
    error: str | None = None


# -- from panes -------------------------------------------------------------------------------


@dataclass
class PromptChanged(Message):
    """The predictor's input changed: suggestions are wanted for ``text``."""

    text: str


@dataclass
class PromptSent(Message):
    """Enter in the predictor: continue ``text``."""

    text: str
    request: int


@dataclass
class WordSelected(Message):
    """A word was highlighted in the vocabulary browser."""

    word: str
