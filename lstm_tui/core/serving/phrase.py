"""Phrases: more than one word of ghost text, offered only when the model is confident.

Smart Compose's recipe (Chen et al. 2019, "Gmail Smart Compose: Real-Time Assisted Writing",
KDD): a beam search over the language model proposes the likeliest continuation, and a
phrase is shown only when its probability clears a threshold. Here the model is the
predictor's mixture (LSTM + Kneser-Ney + cache), and the threshold is fitted on held-out text:

    P(w_1 … w_L | text) = Π_i P(w_i | text, w_1 … w_{i-1})        (the mixture's, chained)

For a threshold t the phrase offered after a text is the longest beam hypothesis of at least
``min_words`` words whose probability is ≥ t (probabilities only fall as a phrase grows, so
every hypothesis below t is pruned at once, which is also what keeps the search quick).
``fit_threshold`` walks evenly spaced positions of validation text, offers the phrase the
search finds at each, and keeps the lowest t whose offered phrases are exactly the words that
follow in the text at least ``target_precision`` of the time.

The threshold is computed on load (``Predictor.phrase`` fits it the first time it is asked,
and again after the session records a new evaluation): a checkpoint from before phrases needs
nothing new. The held-out text is the end of the training file the checkpoint names (the part
training validated on); a text too small to have held out any is used whole, and a model whose
text cannot be read falls back to ``DEFAULT_THRESHOLD``. ``PhraseFit.source`` says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

SENTENCE_END = frozenset(".!?")  # a phrase stops after one of these, as Smart Compose does
DEFAULT_THRESHOLD = 0.5  # when there is no text to fit on
TAIL_BYTES = 256 * 1024  # at most this much of the end of the training file is read to fit on
FIT_TOKENS = 1000  # the threshold is fitted on at most this many tokens (read once, in order)


@dataclass(frozen=True)
class PhraseConfig:
    beam: int = 3  # hypotheses kept per length
    max_words: int = 5  # the longest phrase offered
    min_words: int = 2  # fewer is a completion, which the row and ghost already offer
    target_precision: float = 0.6  # of phrases offered on held-out text, the share exactly right
    fit_positions: int = 100  # positions of held-out text the threshold is fitted on
    floor: float = 0.05  # the lowest threshold tried (and the pruning bound while fitting)


class FitSource(str, Enum):
    VALIDATION = "validation text"  # the held-out end of the training file
    TRAINING = "training text"  # too small to hold any out: fitted on the text itself
    DEFAULT = "default"  # no text to read

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PhraseFit:
    threshold: float  # math.inf: phrases are never offered (none were reliable enough)
    precision: float | None  # of the phrases the threshold lets through, on the fitting text
    offered: int  # positions where a phrase was offered, at that threshold
    positions: int  # positions tried
    source: FitSource

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": None if math.isinf(self.threshold) else self.threshold,
            "precision": self.precision,
            "offered": self.offered,
            "positions": self.positions,
            "source": self.source.value,
        }


@dataclass(frozen=True)
class Phrase:
    words: list[str]  # the words offered; the first completes the partial word, if any
    text: str  # what the ghost shows after the typed text: "e mice had a" after "th"
    prob: float  # P(these words | the typed text) under the mixture


# The search's view of a model: ``step(token, state)`` the state after one more token, and
# ``dist(state, context)`` the mixture's log P(next word) [vocab] after ``context``.
Step = Callable[[int, Any], Any]
Dist = Callable[[Any, list[int]], "torch.Tensor"]


def beam_search(
    first: torch.Tensor,
    ids: list[int],
    state: Any,
    step: Step,
    dist: Dist,
    stops: frozenset[int],
    floor: float,
    config: PhraseConfig,
    stop: Callable[[], bool] | None = None,
) -> list[tuple[float, list[int]]]:
    """The likeliest phrase of each length 1 … ``max_words`` whose probability is ≥ ``floor``.

    ``first`` is log P(first word) [vocab] after ``ids`` (restricted to and renormalised over
    the words the partial word allows, -inf elsewhere); ``state`` the LSTM state after ``ids``.
    Returns ``[(probability, token ids)]`` indexed by length - 1, stopping at the first length
    with no hypothesis left. A hypothesis ending in a token of ``stops`` is not extended.
    ``stop()`` is asked before each LSTM step: once it says so, the search ends with what it
    has (the app stops it when a newer keystroke waits).
    """
    import torch

    bound = math.log(floor)
    # Each hypothesis: (log-probability, tokens, LSTM state before its last token is read).
    hyps: list[tuple[float, list[int], Any]] = []
    # A word never follows itself in a phrase ("the mice mice"): as the greedy continuation's
    # guard, and a model that has just learnt a short line is prone to it.
    last = ids[-1] if ids else None
    values, chosen = first.topk(min(config.beam + 1, len(first)))
    for lp, token in zip(values.tolist(), chosen.tolist(), strict=True):
        if lp >= bound and token != last and len(hyps) < config.beam:
            hyps.append((lp, [token], state))
    best: list[tuple[float, list[int]]] = []
    while hyps:
        top = max(hyps, key=lambda h: h[0])
        best.append((math.exp(top[0]), top[1]))
        if len(best) == config.max_words:
            break
        pool: list[tuple[float, list[int], Any]] = []
        for lp, tokens, before in hyps:
            if tokens[-1] in stops:
                continue
            if stop is not None and stop():
                return best
            after = step(tokens[-1], before)
            logp = dist(after, ids + tokens)
            values, chosen = torch.topk(logp, min(config.beam + 1, len(logp)))
            for more, token in zip(values.tolist(), chosen.tolist(), strict=True):
                if lp + more >= bound and token != tokens[-1]:
                    pool.append((lp + more, [*tokens, token], after))
        pool.sort(key=lambda h: h[0], reverse=True)
        hyps = pool[: config.beam]
    return best


def choose(
    best: list[tuple[float, list[int]]], threshold: float, config: PhraseConfig
) -> tuple[float, list[int]] | None:
    """The longest phrase of at least ``min_words`` words whose probability is ≥ threshold."""
    for prob, tokens in reversed(best):
        if len(tokens) >= config.min_words and prob >= threshold:
            return prob, tokens
    return None


def fit_threshold(
    search: Callable[[int, float], list[tuple[float, list[int]]]],
    ids: np.ndarray,
    source: FitSource,
    config: PhraseConfig,
    stop: Callable[[], bool] | None = None,
) -> PhraseFit | None:
    """The lowest threshold whose phrases on ``ids`` are right ``target_precision`` of the time.

    None if ``stop()`` said so between two positions (the app is quitting).

    ``search(p, floor)`` runs ``beam_search`` after ``ids[:p]`` (no partial word); it is
    called with rising ``p``, so it can read the text once. Positions are spread evenly over
    the first ``FIT_TOKENS`` tokens, at most ``fit_positions`` of them; a position whose next
    words include ``<unk>`` (id 0) still counts: a phrase offered there is wrong.
    """
    ids = np.asarray(ids, dtype=np.int64)[:FIT_TOKENS]
    n = len(ids)
    if n < config.min_words + 2:
        return PhraseFit(DEFAULT_THRESHOLD, None, 0, 0, FitSource.DEFAULT)
    count = min(config.fit_positions, n - config.min_words)
    positions = np.unique(np.linspace(1, n - config.min_words, count).astype(int))
    found: list[list[tuple[float, bool]]] = []  # per position: (probability, right) per length
    for p in positions.tolist():
        if stop is not None and stop():
            return None
        best = search(p, config.floor)
        truth = ids[p : p + config.max_words].tolist()
        found.append([(prob, tokens == truth[: len(tokens)]) for prob, tokens in best])
    candidates = sorted(
        {prob for per in found for prob, _ in per[config.min_words - 1 :]}, reverse=True
    )
    chosen = PhraseFit(math.inf, None, 0, len(found), source)
    for t in candidates:  # falling: the last one that keeps the precision is the lowest
        right = offered = 0
        for per in found:
            longest = next(
                (
                    ok
                    for i, (prob, ok) in reversed(list(enumerate(per)))
                    if i + 1 >= config.min_words and prob >= t
                ),
                None,
            )
            if longest is not None:
                offered += 1
                right += longest
        if offered and right / offered >= config.target_precision:
            chosen = PhraseFit(t, right / offered, offered, len(found), source)
    return chosen


def held_out_text(corpus_path: str | None, val_fraction: float = 0.1) -> tuple[str, FitSource]:
    """The end of the training file that training held out, or the whole of a small file.

    Only the last ``val_fraction`` of the file (at most ``TAIL_BYTES``) is read: validation
    is the last tokens of the text (``corpus.split_point``), about the same share of bytes.
    Returns ("", DEFAULT) when the file is gone or unreadable.
    """
    from lstm_tui.core.text.corpus import MIN_TOKENS_FOR_SPLIT

    if not corpus_path:
        return "", FitSource.DEFAULT
    path = Path(corpus_path)
    try:
        if not path.is_file():
            return "", FitSource.DEFAULT
        size = path.stat().st_size
        want = min(TAIL_BYTES, max(1, int(size * val_fraction)))
        with path.open("rb") as f:
            f.seek(max(0, size - want))
            tail = f.read(want).decode("utf-8", errors="ignore")
            if size - want > 0:
                tail = tail.split(None, 1)[-1] if tail.strip() else ""  # no half word
            else:
                return tail, FitSource.TRAINING
    except OSError:
        return "", FitSource.DEFAULT
    # A file this short was trained on whole (no split): fit on all of it.
    if len(tail.split()) * 10 < MIN_TOKENS_FOR_SPLIT:
        try:
            return path.read_text("utf-8", errors="ignore"), FitSource.TRAINING
        except OSError:
            return "", FitSource.DEFAULT
    return tail, FitSource.VALIDATION
