"""How well a model predicts a text: perplexity, top-1/top-3, and the tutorial's window accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from lstm_tui.core.model.lstm import LanguageModel, State
from lstm_tui.core.model.mixture import CACHE_WINDOW, cache_target_probs
from lstm_tui.core.text.corpus import WINDOW

if TYPE_CHECKING:
    from lstm_tui.core.model.ngram import KneserNey
    from lstm_tui.core.model.session import Session

EVAL_CHUNK = 64  # tokens per stream per forward call: bounds the [streams, chunk, vocab] scores
EVAL_SCORES = 4_000_000  # ... unless more of them fit in this many scores (a small vocabulary)
SMALL_EVAL_TOKENS = 5_000  # texts up to this long are scored in one stream, exactly
EVAL_STREAMS = 16  # longer ones in this many pieces side by side (each from an empty state)
WINDOW_BATCH = 2048
MAX_WINDOWS = 5000  # past this many windows, window accuracy is measured on an even sample


def eval_streams(n_tokens: int) -> int:
    """How many side-by-side streams to score a text of ``n_tokens`` in (one policy for the
    trainer's evaluations and ``lstm-tui eval``): exact on a short text, fast on a long one."""
    return 1 if n_tokens <= SMALL_EVAL_TOKENS else EVAL_STREAMS


@dataclass(frozen=True)
class TextScore:
    tokens: int  # predictions scored
    loss: float
    top1: float
    top3: float

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))


def _as_tensor(ids: np.ndarray, device: torch.device) -> torch.Tensor:
    # One int64 copy, also of a read-only memory map (torch would warn about sharing it).
    return torch.from_numpy(np.array(ids, dtype=np.int64)).to(device)


@torch.inference_mode()
def score_text(model: LanguageModel, ids: np.ndarray, streams: int = 1) -> TextScore:
    """Score every next-word prediction given all text before it.

    With ``streams`` > 1 the text is cut into that many contiguous pieces read side by
    side (much faster on long texts); each piece then starts from an empty state.
    """
    was_training = model.training
    model.eval()
    device = model.embedding.weight.device
    streams = max(1, min(streams, (len(ids) - 1) // 2))
    length = (len(ids) - 1) // streams
    if length < 1:
        return TextScore(0, float("nan"), float("nan"), float("nan"))
    x = _as_tensor(ids[: streams * length], device).view(streams, length)
    y = _as_tensor(ids[1 : streams * length + 1], device).view(streams, length)
    state: State | None = None
    total_loss, top1, top3 = 0.0, 0, 0
    for t in range(0, length, EVAL_CHUNK):
        features, state = model.features(x[:, t : t + EVAL_CHUNK], state)
        logp = torch.log_softmax(model.scores(features).float(), dim=-1)
        target = y[:, t : t + EVAL_CHUNK]
        total_loss -= logp.gather(-1, target.unsqueeze(-1)).sum().item()
        hit1, hit3 = _top_hits(logp, target)
        top1, top3 = top1 + hit1, top3 + hit3
    n = streams * length
    model.train(was_training)
    return TextScore(n, total_loss / n, top1 / n, top3 / n)


@torch.inference_mode()
def window_accuracy(
    model: LanguageModel,
    ids: np.ndarray,
    window: int = WINDOW,
    max_windows: int | None = MAX_WINDOWS,
) -> float:
    """The tutorial's metric: top-1 accuracy predicting each word from the ``window`` before it.

    Every window of the text is scored from an empty state (the fable has 201); on long
    texts an evenly spaced sample of ``max_windows``.
    """
    n = len(ids) - window
    if n < 1:
        return float("nan")
    starts = np.arange(n)
    if max_windows is not None and n > max_windows:
        starts = np.linspace(0, n - 1, max_windows).astype(np.int64)
    was_training = model.training
    model.eval()
    device = model.embedding.weight.device
    ids_t = _as_tensor(ids, device)
    hits = 0
    for lo in range(0, len(starts), WINDOW_BATCH):
        first = torch.as_tensor(starts[lo : lo + WINDOW_BATCH], device=device)
        positions = first.unsqueeze(1) + torch.arange(window + 1, device=device)
        rows = ids_t[positions]  # [N, window + 1]
        features, _ = model.features(rows[:, :window])
        predicted = model.scores(features[:, -1]).argmax(-1)
        hits += int((predicted == rows[:, window]).sum().item())
    model.train(was_training)
    return hits / len(starts)


@dataclass(frozen=True)
class ComponentScores:
    """The LSTM's, the n-gram's and the mixture's figures on a text, with per-token probabilities.

    ``probs`` [3, N] holds the LSTM's, the n-gram's and the cache's probability of each of the
    N predicted tokens (rows of a missing component are zero), for fitting mixture weights.
    Perplexities are over every token. Top-1/top-3 need whole distributions, so on a long text
    they are counted on an even sample of positions (``TOPK_POSITIONS``); the n-gram's and the
    mixture's only with ``full=True``. The cache is no model on its own (it knows nothing
    before the text starts), so it is reported as its weight in the mixture, not alone.
    """

    lstm: TextScore
    ngram: TextScore | None
    mixture: TextScore | None
    probs: np.ndarray

    def to_dict(self) -> dict:
        parts = {"lstm": self.lstm, "ngram": self.ngram, "mixture": self.mixture}
        return {
            name: {
                "perplexity": score.perplexity,
                "top1": None if math.isnan(score.top1) else score.top1,
                "top3": None if math.isnan(score.top3) else score.top3,
            }
            for name, score in parts.items()
            if score is not None
        }


TOPK_POSITIONS = 20_000  # top-1/top-3 of a long text are counted on an even sample this big


@torch.inference_mode()
def score_components(
    model: LanguageModel,
    ids: np.ndarray,
    streams: int = 1,
    ngram: KneserNey | None = None,
    weights: np.ndarray | None = None,
    cache: bool = True,
    full: bool = False,
    topk_positions: int = TOPK_POSITIONS,
    ngram_log_probs: np.ndarray | None = None,
) -> ComponentScores:
    """Score the LSTM, the n-gram and their mixture with the cache (``weights`` [3]) on a text.

    The LSTM reads the text as ``score_text`` does (``streams`` pieces side by side); the
    n-gram sees the true words before each position, and the cache the tokens before it.
    ``ngram_log_probs`` [len(ids) - 1], if given, are the n-gram's log-probabilities of the
    tokens in place of ``ngram``'s (cross-fitted ones, see ``crossfit``); ``ngram`` still
    gives the whole distributions that top-1/top-3 need.
    """
    was_training = model.training
    model.eval()
    device = model.embedding.weight.device
    ids = np.asarray(ids, dtype=np.int64)
    streams = max(1, min(streams, (len(ids) - 1) // 2))
    length = (len(ids) - 1) // streams
    n = streams * length
    if length < 1:
        raise ValueError("a text to score needs at least two tokens")
    positions = np.arange(streams)[:, None] * length + np.arange(length)[None, :] + 1  # [S, L]
    sampled = np.zeros(len(ids), dtype=bool)  # positions whose whole distributions are scored
    sampled[np.unique(np.linspace(1, n, min(n, topk_positions)).astype(np.int64))] = True
    use_mixture = weights is not None and (ngram is not None or cache)
    w = np.asarray(weights if weights is not None else [1.0, 0.0, 0.0], dtype=np.float64)
    x = _as_tensor(ids[:n], device).view(streams, length)
    y = _as_tensor(ids[1 : n + 1], device).view(streams, length)
    state: State | None = None
    lstm_target = np.empty((streams, length))
    hits = {name: np.zeros(2) for name in ("lstm", "ngram", "mixture")}
    # Each call has a fixed cost: a short text over a small vocabulary is read in one.
    chunk = max(EVAL_CHUNK, EVAL_SCORES // (streams * model.config.vocab_size))
    for t in range(0, length, chunk):
        features, state = model.features(x[:, t : t + chunk], state)  # [S, C, hidden]
        target = y[:, t : t + chunk]  # [S, C]
        lstm_target[:, t : t + chunk] = model.target_log_probs(features, target).cpu()
        where = positions[:, t : t + chunk]
        chosen = torch.as_tensor(sampled[where], device=device)
        if not bool(chosen.any()):
            continue
        logp = torch.log_softmax(model.scores(features[chosen]).float(), dim=-1).cpu()  # [M, V]
        wanted = target[chosen].cpu()
        hits["lstm"] += _top_hits(logp, wanted)
        if not full:
            continue
        at = where[sampled[where]]  # text positions of the M rows
        mixed = logp.exp_().mul_(w[0])  # probabilities: cheaper to mix than log-probabilities
        if ngram is not None:
            kn = torch.from_numpy(_ngram_rows(ngram, ids, at))  # probabilities [M, V]
            hits["ngram"] += _top_hits(kn, wanted)
            mixed.add_(kn, alpha=w[1])
        if cache and w[2] > 0:
            _add_cache(mixed, ids, at, w[2])
        if use_mixture:
            hits["mixture"] += _top_hits(mixed, wanted)
    model.train(was_training)

    flat_positions = positions.reshape(-1)
    probs = np.zeros((3, n))
    probs[0] = np.exp(lstm_target.reshape(-1))
    if ngram is not None:
        targets = ngram.target_log_probs(ids) if ngram_log_probs is None else ngram_log_probs
        probs[1] = np.exp(targets[flat_positions - 1])
    if cache:
        probs[2] = cache_target_probs(ids)[flat_positions - 1]
    counted = int(sampled.sum())

    def score(row: np.ndarray, name: str) -> TextScore:
        loss = float(-np.log(np.maximum(row, 1e-30)).mean())
        top1, top3 = (hits[name] / counted) if full or name == "lstm" else (math.nan, math.nan)
        return TextScore(n, loss, float(top1), float(top3))

    return ComponentScores(
        lstm=score(probs[0], "lstm"),
        ngram=score(probs[1], "ngram") if ngram is not None else None,
        mixture=score(w @ probs, "mixture") if use_mixture else None,
        probs=probs,
    )


def _top_hits(logp: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """[top-1 hits, top-3 hits] of scores [..., V] (any increasing function of probability).

    Top-k counts the k words the app would suggest, and it never suggests ``<unk>`` (id 0):
    a ``<unk>`` ranked in the top 3 gives its place to the next word, and a ``<unk>`` target
    is never a hit. Perplexity still scores ``<unk>`` like any word.
    """
    best = logp.topk(min(4, logp.shape[-1]), dim=-1).indices  # [..., 4]
    unk_last = torch.argsort((best == 0).to(torch.int8), dim=-1, stable=True)
    best = best.gather(-1, unk_last)[..., :3]
    known = target != 0  # (a vocabulary of three words or fewer may still rank <unk>)
    top1 = ((best[..., 0] == target) & known).sum().item()
    top3 = ((best == target.unsqueeze(-1)).any(-1) & known).sum().item()
    return np.array([top1, top3], dtype=np.float64)


def _ngram_rows(ngram: KneserNey, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """[len(positions), V] the n-gram's probabilities of the word at each position."""
    k = ngram.order - 1
    offsets = np.arange(-k, 0)  # the k words before a position, oldest first
    contexts = ids[np.maximum(positions[:, None] + offsets[None, :], 0)]
    return ngram.probs_batch(contexts, np.minimum(positions, k))


def _add_cache(mixed: torch.Tensor, ids: np.ndarray, positions: np.ndarray, weight: float) -> None:
    """Add ``weight`` × the unigram cache before each position to the rows of ``mixed``."""
    for r, p in enumerate(positions.tolist()):
        recent = torch.from_numpy(ids[max(0, p - CACHE_WINDOW) : p])
        if len(recent):
            mixed[r].index_add_(0, recent, torch.full((len(recent),), weight / len(recent)))


def with_mixture(scores: ComponentScores, weights: np.ndarray) -> ComponentScores:
    """The same scores with the mixture's perplexity for these weights (no top-1/top-3)."""
    n = scores.probs.shape[1]
    loss = float(-np.log(np.maximum(np.asarray(weights) @ scores.probs, 1e-30)).mean())
    return replace(scores, mixture=TextScore(n, loss, math.nan, math.nan))


def evaluate_session(session: Session, ids: np.ndarray) -> dict:
    """Held-out figures of a session as it predicts: the mixture, and each part alone.

    The top-level perplexity, top-1 and top-3 are the mixture's (what the predictor
    suggests from), with the weights fitted on validation text during training, never on
    this text. ``components`` has the LSTM, the n-gram, the cache and the mixture apart.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        raise ValueError("a text to score needs at least two tokens")
    mix = session.mix if session.ngram is not None else None
    weights = mix.as_array() if mix is not None else None
    cache = mix is not None and mix.cache > 0
    scores = score_components(
        session.model, ids, eval_streams(len(ids)), session.ngram, weights, cache, full=True
    )
    overall = scores.mixture or scores.lstm
    window = window_accuracy(session.model, ids)
    return {
        "tokens": len(ids),
        "perplexity": overall.perplexity,
        "loss": overall.loss,
        "top1": overall.top1,
        "top3": overall.top3,
        # NaN for a text shorter than one window: null, as NaN is not JSON.
        "window_accuracy": None if math.isnan(window) else window,
        "oov_rate": float((ids == 0).mean()),
        "mix": mix.to_dict() if mix is not None else None,
        "components": scores.to_dict(),
    }
