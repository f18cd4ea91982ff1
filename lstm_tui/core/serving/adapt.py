"""Learning as you type: the model adapts to the text it has read, strictly after scoring it.

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

import math
from collections import defaultdict
from copy import deepcopy
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import torch

from lstm_tui.core.model.lstm import LanguageModel, State
from lstm_tui.core.model.mixture import CACHE_WINDOW, MixWeights, cache_target_probs

if TYPE_CHECKING:
    from lstm_tui.core.model.ngram import KneserNey
    from lstm_tui.core.model.session import Session


@dataclass(frozen=True)
class AdaptConfig:
    """How fast and how far the model follows the text it reads (tuned on validation text:
    docs/TYPING_ADAPT.md)."""

    lr: float = 1.0  # η: SGD step on a segment's mean cross-entropy
    decay: float = 0.001  # λ: pull back toward the trained weights per step
    segment: int = 20  # tokens per gradient step (Krause et al. use 5-20 words)
    order: int = 3  # counted contexts of 1..order-1 words
    prior: float = 100.0  # β: how many counts the trained n-gram's opinion is worth

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AdaptConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class TextCounts:
    """n-gram counts of the text read so far, refining a trained distribution (MAP adaptation).

    ``ids`` is everything counted, in order; counts[k-1][context of k words][word] for
    k = 1..order-1.
    """

    def __init__(self, order: int = 3, prior: float = 100.0) -> None:
        self.order, self.prior = order, prior
        self.ids: list[int] = []
        self._counts: list[defaultdict[tuple[int, ...], dict[int, int]]] = [
            defaultdict(dict) for _ in range(order - 1)
        ]
        self._totals: list[defaultdict[tuple[int, ...], int]] = [
            defaultdict(int) for _ in range(order - 1)
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def extended(self, ids: list[int] | np.ndarray) -> TextCounts:
        """A copy that has also counted ``ids`` (readers of this one never see it change)."""
        copy = TextCounts(self.order, self.prior)
        copy.ids = list(self.ids)
        copy._counts = [
            defaultdict(dict, {c: dict(f) for c, f in level.items()}) for level in self._counts
        ]
        copy._totals = [defaultdict(int, level) for level in self._totals]
        copy.add(ids)
        return copy

    def add(self, ids: list[int] | np.ndarray) -> None:
        """Count ``ids`` as the text that follows what was counted before."""
        for token in (int(t) for t in ids):
            self._add_one(token)

    def _add_one(self, token: int) -> None:
        history = self.ids
        for k in range(1, min(self.order - 1, len(history)) + 1):
            context = tuple(history[-k:])
            followers = self._counts[k - 1][context]
            followers[token] = followers.get(token, 0) + 1
            self._totals[k - 1][context] += 1
        history.append(token)

    def _contexts(self, history: list[int]) -> list[tuple[tuple[int, ...], int]]:
        """(context, total) for the seen contexts of ``history``'s last 1, 2, … words."""
        out = []
        for k in range(1, min(self.order - 1, len(history)) + 1):
            context = tuple(history[-k:])
            total = self._totals[k - 1].get(context, 0)
            if total == 0:
                break  # a longer context than an unseen one is unseen too
            out.append((context, total))
        return out

    def prob(self, base: float, history: list[int], word: int) -> float:
        """The adapted probability of ``word`` after ``history``, the trained one being ``base``."""
        p = base
        for context, total in self._contexts(history):
            count = self._counts[len(context) - 1][context].get(word, 0)
            p = (count + self.prior * p) / (total + self.prior)
        return p

    def distribution(self, base: np.ndarray, history: list[int]) -> np.ndarray:
        """[V] the adapted distribution after ``history`` from the trained one ``base`` [V]."""
        p = base
        for context, total in self._contexts(history):
            p = p * (self.prior / (total + self.prior))
            followers = self._counts[len(context) - 1][context]
            words = np.fromiter(followers.keys(), np.int64, len(followers))
            counts = np.fromiter(followers.values(), np.float64, len(followers))
            p[words] += counts / (total + self.prior)
        return p


class Adaptation:
    """What the model learnt from the text it read: the LSTM's delta and the n-gram's counts.

    Not thread-safe on its own: the session's lock guards it (``Session.adaptation``).
    """

    def __init__(self, config: AdaptConfig | None = None) -> None:
        self.config = config or AdaptConfig()
        self.delta: dict[str, torch.Tensor] = {}  # θ − θ₀ by parameter name; empty: none yet
        self.counts = TextCounts(self.config.order, self.config.prior)
        self.enabled = True

    @property
    def words(self) -> int:
        """Tokens learnt from."""
        return len(self.counts)

    @property
    def active(self) -> bool:
        return self.enabled and self.words > 0

    def recent(self) -> list[int]:
        """The tail of the learnt text the unigram cache counts."""
        return self.counts.ids[-CACHE_WINDOW:]

    def reset(self) -> None:
        self.delta = {}
        self.counts = TextCounts(self.config.order, self.config.prior)

    def apply(self, model: LanguageModel) -> None:
        """Add the learnt delta to ``model``'s weights (a copy of the trained ones), in place."""
        if not self.delta:
            return
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.delta:
                    p.add_(self.delta[name].to(p.device, p.dtype))

    def learnt(
        self, trained: LanguageModel, delta: dict[str, torch.Tensor], ids: list[int]
    ) -> dict[str, torch.Tensor]:
        """The delta after dynamic evaluation over ``ids`` from θ₀ + ``delta`` (``trained`` is
        a private copy of θ₀: it is changed)."""
        if len(ids) < 2:
            return delta
        base = {n: p.detach().clone() for n, p in trained.named_parameters()}
        model = trained
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in delta:
                    p.add_(delta[name].to(p.device, p.dtype))
        dynamic_steps(model, ids, self.config, base)
        with torch.no_grad():
            return {n: (p - base[n]).cpu() for n, p in model.named_parameters()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """What to save: the delta and the learnt ids (the counts are rebuilt from them)."""
        out = {f"delta.{n}": t.contiguous() for n, t in self.delta.items()}
        out["ids"] = torch.tensor(self.counts.ids, dtype=torch.int64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], config: AdaptConfig) -> Adaptation:
        adaptation = cls(config)
        adaptation.delta = {
            k.removeprefix("delta."): v for k, v in tensors.items() if k.startswith("delta.")
        }
        adaptation.counts.add(tensors["ids"].tolist())
        return adaptation


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
        trained = _copy(session.model)
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


def _copy(model: LanguageModel) -> LanguageModel:
    """A private copy to adapt (no fresh initialisation: a big table's costs as much)."""
    copy = deepcopy(model)
    copy.eval()  # Krause et al. adapt without dropout
    for p in copy.parameters():
        p.requires_grad_(True)
    return copy


def _sgd_step(
    model: LanguageModel, loss: torch.Tensor, config: AdaptConfig, base: dict[str, torch.Tensor]
) -> None:
    """θ ← θ − η ∇L + λ (θ₀ − θ): one step of dynamic evaluation (Krause et al. 2018, eq. 8).

    As two fused updates over all the parameters at once (``torch._foreach_*``): the pull is
    a lerp toward θ₀ by λ.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    if not math.isfinite(float(loss.detach())):
        return  # a step on a non-finite loss would ruin the weights: skip it
    with torch.no_grad():
        stepped = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        if stepped and config.lr:
            torch._foreach_add_([p for p, _ in stepped], [g for _, g in stepped], alpha=-config.lr)
        if config.decay:
            torch._foreach_lerp_(params, [base[n] for n, _ in named], config.decay)


def dynamic_steps(
    model: LanguageModel,
    ids: list[int] | np.ndarray,
    config: AdaptConfig,
    base: dict[str, torch.Tensor],
    state: State | None = None,
    keep: dict[int, torch.Tensor] | None = None,
) -> tuple[np.ndarray, State | None]:
    """Read ``ids`` segment by segment, scoring then learning each; ``model`` is changed.

    Returns log P(ids[i] | ids[:i]) for i = 1..len-1 under the weights learnt from the
    segments strictly before i's, and the LSTM state after the text. ``keep``: positions
    whose whole distribution (log-probabilities [vocab], as scored) to fill in.
    """
    device = model.embedding.weight.device
    tokens = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)
    out = np.empty(max(len(tokens) - 1, 0))
    for start in range(0, len(tokens) - 1, config.segment):
        x = tokens[start : start + config.segment][None]  # [1, L]
        y = tokens[start + 1 : start + config.segment + 1][None]  # [1, L']
        x = x[:, : y.shape[1]]
        features, state = model.features(x, state)  # [1, L, hidden]
        logp = model.target_log_probs(features, y)  # [1, L]: scored before learning from it
        out[start : start + y.shape[1]] = logp[0].detach().cpu().double().numpy()
        for j in range(y.shape[1]):
            if keep is not None and start + j + 1 in keep:
                with torch.no_grad():
                    row = model.scores(features[0, j].detach()).float()
                    keep[start + j + 1] = torch.log_softmax(row, dim=-1).cpu()
        _sgd_step(model, -logp.mean(), config, base)
        state = (state[0].detach(), state[1].detach())
    return out, state


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
    adapted = _copy(model)
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

    def mixed(self, ids: np.ndarray, weights: np.ndarray, unigram: torch.Tensor):
        """``rows`` for the typist's ``RowOfferer``: the parts mixed as the predictor mixes."""

        def rows(positions: np.ndarray) -> torch.Tensor:
            out = torch.empty(len(positions), len(unigram))
            for r, p in enumerate(np.asarray(positions).tolist()):
                if p == 0:
                    out[r] = unigram
                    continue
                probs = self.lstm[p].exp() * float(weights[0])
                if weights[1] > 0:
                    probs += self.ngram[p] * float(weights[1])
                if weights[2] > 0:
                    recent = torch.from_numpy(ids[max(0, p - CACHE_WINDOW) : p])
                    probs.index_add_(
                        0, recent, torch.full((len(recent),), float(weights[2]) / len(recent))
                    )
                out[r] = torch.log(probs)
            return out

        return rows


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
