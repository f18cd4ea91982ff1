"""Learning as you type: the model adapts to the text it has read, strictly after scoring it.

The learning itself (dynamic evaluation, n-gram counts) lives in ``core/model/adaptation.py``;
here: a session learning from a sent line, and a text read learning as it goes (``eval --adapt``).

Two parts learn, each only from text already scored:

- The LSTM, by dynamic evaluation (Krause, Kahembwe, Murray & Renals 2018, "Dynamic Evaluation
  of Neural Sequence Models", ICML): after each segment of text it takes a gradient step on that
  segment's loss, and is pulled back toward the trained weights θ₀ (their SGD rule with a
  global prior, eq. 8):  θ ← θ − η ∇L(segment) + λ (θ₀ − θ).  The adapted weights are kept as a
  delta Δ = θ − θ₀, so that training may go on moving θ₀ while what was learnt is kept:
  Δ ← (1 − λ) Δ − η ∇L.
- The n-gram, by counting the text read so far (``TextCounts``): each of its contexts of one
  to ``order - 1`` words refines the trained Kneser-Ney distribution the way MAP adaptation
  does (Federico 1996, "Bayesian estimation methods for n-gram language model adaptation";
  Bacchiani & Roark 2003): p(w | h) = (c(h w) + β p_lower(w | h)) / (c(h) + β), from the
  shortest context up, the trained n-gram at the bottom. The unigram cache counts the same
  recent text. A name typed once after "met" is offered the next time "met" is typed.

Causality is the point of the exercise: ``adaptive_scores`` scores each position with the
weights and counts learnt from the text strictly before it, and only then learns from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from lstm_tui.core.model.adaptation import (
    AdaptConfig,
    TextCounts,
    adaptable_copy,
    dynamic_steps,
)
from lstm_tui.core.model.lstm import LanguageModel
from lstm_tui.core.model.mixture import MixWeights, cache_target_probs

if TYPE_CHECKING:
    from lstm_tui.core.model.ngram import KneserNey
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.typist import RowsFn


def learn(session: Session, ids: list[int]) -> bool:
    """Adapt a session to a line the user sent; False (nothing learnt) when adaptation is off.

    The heavy part runs outside the session's lock, on a copy of the trained weights; what
    was learnt replaces the old in one assignment under the lock (a predictor reading the old
    counts keeps reading them unchanged), unless a reset came in between.
    """
    with session.lock:
        adaptation = session.adapting()
        if not adaptation.enabled or not ids:
            return False
        trained = adaptable_copy(session.model)
        delta, counts = adaptation.delta, adaptation.counts
    new_delta = adaptation.learnt(trained, delta, ids)
    new_counts = counts.extended(ids)
    with session.lock:
        if session.adaptation is adaptation and adaptation.counts is counts:
            adaptation.delta, adaptation.counts = new_delta, new_counts
            session.mark_changed()
    return True


def set_learning(session: Session, on: bool) -> None:
    """Turn learning as you type on or off; what was learnt is kept (and used only when on)."""
    with session.lock:
        adaptation = session.adapting()
        if adaptation.enabled != on:
            adaptation.enabled = on
            if adaptation.words:  # the predictions change: predictors must read them again
                session.mark_changed()


def forget(session: Session) -> int:
    """Forget what was learnt from the text typed; returns how many words that was."""
    with session.lock:
        adaptation = session.adaptation
        if adaptation is None or (adaptation.words == 0 and not adaptation.delta):
            return 0
        words = adaptation.words
        adaptation.reset()
        session.mark_changed()
        return words


@dataclass(frozen=True)
class AdaptScores:
    """Per-token probabilities [3, N] (LSTM, n-gram, cache) without and with adaptation."""

    static: np.ndarray
    adapted: np.ndarray
    weights: np.ndarray  # [3], the session's mixture

    def perplexities(self) -> dict[str, dict[str, float]]:
        def ppl(row: np.ndarray) -> float:
            return float(np.exp(-np.log(np.maximum(row, 1e-30)).mean()))

        out: dict[str, dict[str, float]] = {}
        for label, probs in (("static", self.static), ("adapted", self.adapted)):
            figures = {"lstm": ppl(probs[0])}
            if probs[1].any():
                figures["ngram"] = ppl(probs[1])
            figures["mixture"] = ppl(self.weights @ probs)
            out[label] = figures
        return out


def adaptive_probs(
    model: LanguageModel,
    ngram: KneserNey | None,
    ids: np.ndarray,
    config: AdaptConfig,
    rows: AdaptRows | None = None,
) -> np.ndarray:
    """[3, len(ids) - 1]: each part's probability of ids[i], learning as it reads (causal).

    The LSTM is a copy of ``model`` adapted by dynamic evaluation; the n-gram's counts grow by
    each word once it is scored; the cache counts the text before each word, as without
    adaptation (it never learns anything else). ``rows``: positions whose whole next-word
    distributions to keep as well (for the typist).
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids) - 1
    probs = np.zeros((3, n))
    adapted = adaptable_copy(model)
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    keep = rows.lstm if rows is not None else None
    lstm, _ = dynamic_steps(adapted, ids, config, base, keep=keep)
    probs[0] = np.exp(lstm)
    if ngram is not None:
        trained = np.exp(ngram.target_log_probs(ids))  # [n], from the words before each only
        counts = TextCounts(config.order, config.prior)
        counts.add(ids[:1])
        history = counts.ids
        wanted = rows.lstm.keys() if rows is not None else ()
        for i in range(n):
            word = int(ids[i + 1])
            probs[1, i] = counts.prob(float(trained[i]), history, word)
            if i + 1 in wanted:
                assert rows is not None
                rows.ngram[i + 1] = _ngram_row(ngram, counts, ids, i + 1)
            counts.add([word])  # learnt only after it is scored
    probs[2] = cache_target_probs(ids)
    return probs


def _ngram_row(ngram: KneserNey, counts: TextCounts, ids: np.ndarray, at: int) -> torch.Tensor:
    """[vocab] the adapted n-gram's probabilities of the word at ``at``, from ``counts`` of
    the words before it."""
    context = ids[max(0, at - (ngram.order - 1)) : at]
    trained = np.exp(ngram.log_probs(context).astype(np.float64))
    return torch.from_numpy(counts.distribution(trained, counts.ids)).float()


@dataclass
class AdaptRows:
    """Whole next-word distributions at chosen positions, as an adapting model read them."""

    lstm: dict[int, torch.Tensor]  # position -> log-probabilities [vocab]
    ngram: dict[int, torch.Tensor]  # position -> probabilities [vocab]

    @classmethod
    def at(cls, positions: np.ndarray) -> AdaptRows:
        wanted = [int(p) for p in positions if p > 0]
        return cls(dict.fromkeys(wanted), {})  # type: ignore[arg-type]  # filled as it reads

    def mixed(self, ids: np.ndarray, weights: np.ndarray, unigram: torch.Tensor) -> RowsFn:
        """``rows`` for the typist's ``RowOfferer``: the parts mixed as the predictor mixes."""

        from lstm_tui.core.serving.typist import cache_rows, mix_rows

        parts = (
            lambda at: torch.stack([self.lstm[p] for p in at.tolist()]).exp(),
            lambda at: torch.stack([self.ngram[p] for p in at.tolist()]),
            lambda at: cache_rows(ids, at, len(unigram)),
        )
        return lambda positions: mix_rows(positions, unigram, weights, parts)


def adaptive_ksr(
    session: Session,
    tokens: list[str],
    ids: np.ndarray,
    k: int,
    config: AdaptConfig,
    positions: int = 2_000,
) -> dict:
    """Keystrokes saved by the session's mixture on a text, as trained and learning as it
    reads, at the same positions with the same typist (``typist.py``), the text in one stream."""
    from lstm_tui.core.serving.typist import (
        PartRows,
        RowOfferer,
        sample_positions,
        session_ksr,
        simulate,
    )

    ids = np.asarray(ids, dtype=np.int64)
    static = session_ksr(session, tokens, ids, k, positions, streams=1, parts=False)
    chosen = sample_positions(len(tokens), positions)
    chosen = chosen[chosen < len(ids)]
    rows = AdaptRows.at(chosen)
    adaptive_probs(session.model, session.ngram, ids, config, rows)
    parts = PartRows.read(session, ids[:1], np.zeros(0, np.int64))  # the unigram and weights
    parts.ids = ids
    mix = session.mix if session.ngram is not None else MixWeights.lstm_only()
    weights = parts._weights(mix)
    offerer = RowOfferer(
        session.vocab, rows.mixed(ids, weights, parts.unigram), chosen, k, parts.extras(tokens, mix)
    )
    adapted = simulate(offerer, tokens, chosen).to_dict()
    return {"without": static["mixture"], "with": adapted, "positions": len(chosen), "top_k": k}


def adaptive_scores(
    model: LanguageModel,
    ngram: KneserNey | None,
    mix: MixWeights,
    ids: np.ndarray,
    config: AdaptConfig,
) -> AdaptScores:
    """The text read once as trained and once learning as it goes: same model, one stream."""
    from lstm_tui.core.training.metrics import score_components

    ids = np.asarray(ids, dtype=np.int64)
    weights = mix.as_array() if ngram is not None else np.array([1.0, 0.0, 0.0])
    static = score_components(model, ids, 1, ngram, weights, cache=weights[2] > 0).probs
    adapted = adaptive_probs(model, ngram, ids, config)
    if weights[2] == 0:
        adapted[2] = 0.0
    return AdaptScores(static, adapted, weights)
