"""Predictions as a mixture: λ·LSTM + μ·n-gram + ν·cache, the weights fitted on held-out text.

Interpolating a neural model with a Kneser-Ney n-gram is what Mikolov's RNNLM toolkit did
(Mikolov et al. 2011, "Empirical evaluation and combination of advanced language modeling
techniques"): the two make different mistakes, and the mixture beats both. The cache is the
unigram cache of Kuhn & De Mori (1990): words the user has just written come back, which a
model trained on other text cannot know. Weights are fitted by expectation-maximisation, which
finds the best linear interpolation of fixed distributions exactly (the log-likelihood is
concave in the weights).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum

import numpy as np

from lstm_tui.core.errors import ConfigError

CACHE_WINDOW = 1000  # tokens of the user's own recent text the cache counts
_FLOOR = 1e-30  # log(0) guard for components that give a word no probability at all


class MixMode(str, Enum):
    AUTO = "auto"  # fit every weight on validation text
    OFF = "off"  # the LSTM alone
    FIXED = "fixed"  # the LSTM's weight given; the rest fitted in what is left

    def __str__(self) -> str:  # "auto", not "MixMode.AUTO", wherever it is shown
        return self.value


def parse_mix(value: str | float | None) -> tuple[MixMode, float | None]:
    """``auto``, ``off`` or the LSTM's weight as a number in [0, 1]."""
    if value is None or value == MixMode.AUTO.value:
        return MixMode.AUTO, None
    if value == MixMode.OFF.value:
        return MixMode.OFF, None
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"mix must be auto, off or a number in [0, 1], not {value!r}") from None
    if not 0.0 <= weight <= 1.0:  # also NaN
        raise ConfigError(f"mix must be auto, off or a number in [0, 1], not {value!r}")
    return MixMode.FIXED, weight


@dataclass(frozen=True)
class MixWeights:
    """How much each component counts; they sum to 1."""

    lstm: float = 1.0
    ngram: float = 0.0
    cache: float = 0.0

    @classmethod
    def lstm_only(cls) -> MixWeights:
        return cls(1.0, 0.0, 0.0)

    @classmethod
    def ngram_only(cls) -> MixWeights:
        return cls(0.0, 1.0, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MixWeights:
        if not isinstance(data, dict):
            raise ValueError(f"mixture weights must be a mapping, not {type(data).__name__}")
        values = [float(data.get(k, 0.0)) for k in ("lstm", "ngram", "cache")]
        if not all(math.isfinite(v) and v >= 0 for v in values) or not max(values) > 0:
            raise ValueError(f"mixture weights must be finite, non-negative, not all 0: {data}")
        # Three weights of 1e308 sum to infinity, and each divided by that would be 0 (the
        # mixture would then predict nothing): scale those by the largest first. Weights that
        # sum to a number are divided by it alone, so weights read back are the weights saved.
        if not math.isfinite(sum(values)):
            values = [v / max(values) for v in values]
        total = sum(values)
        return cls(*(v / total for v in values))

    def as_array(self) -> np.ndarray:
        return np.array([self.lstm, self.ngram, self.cache])


def fit_weights(
    probs: np.ndarray,
    fixed_first: float | None = None,
    iterations: int = 200,
    tolerance: float = 1e-7,
) -> np.ndarray:
    """EM for mixture weights: ``probs`` [K, N] is each component's probability of each token.

    Returns [K] weights that maximise the mean log-likelihood of the mixture. With
    ``fixed_first`` the first component's weight is held there and the rest share the remainder.
    """
    k, n = probs.shape
    probs = np.maximum(probs, _FLOOR)
    weights = np.full(k, 1.0 / k)
    if fixed_first is not None:
        rest = (1.0 - fixed_first) / max(1, k - 1)
        weights = np.array([fixed_first, *([rest] * (k - 1))])
    if n == 0:
        return weights
    previous = -math.inf
    for _ in range(iterations):
        joint = weights[:, None] * probs  # [K, N]
        total = joint.sum(0)  # [N]
        likelihood = float(np.log(total).mean())
        responsibility = (joint / total).mean(1)  # [K]: the E step and M step together
        if fixed_first is None:
            weights = responsibility
        else:
            rest = responsibility[1:]
            share = rest / rest.sum() if rest.sum() > 0 else np.full(k - 1, 1.0 / (k - 1))
            weights = np.array([fixed_first, *((1.0 - fixed_first) * share)])
        if likelihood - previous < tolerance:
            break
        previous = likelihood
    return weights


def mixture_log_likelihood(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[N] log of the mixture's probability of each token."""
    return np.asarray(np.log(np.maximum(weights @ probs, _FLOOR)))


def cache_row(ids: np.ndarray, position: int, size: int) -> np.ndarray:
    """[size] the unigram cache's distribution before ``position`` of ``ids``: how often each
    word occurs in the ``CACHE_WINDOW`` tokens before it (all zeros with no history)."""
    recent = np.asarray(ids[max(0, position - CACHE_WINDOW) : position], dtype=np.int64)
    counts = np.bincount(recent, minlength=size).astype(np.float64)
    return counts / len(recent) if len(recent) else counts


def cache_target_probs(ids: np.ndarray, window: int = CACHE_WINDOW) -> np.ndarray:
    """[len(ids) - 1]: the unigram cache's probability of ``ids[i]`` from the ``window`` before it.

    The cache's distribution after a history is how often each word occurs in its last
    ``window`` tokens; with no history it gives every word 0 (the mixture then leans on its
    other parts for the first word). Vectorised: for each token,
    the occurrences of the same word inside its window are its rank among that word's
    occurrences minus the rank of the first one inside the window.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    if n < 2:
        return np.zeros(0)
    positions = np.arange(n)
    order = np.lexsort((positions, ids))  # grouped by word, in text order within a word
    sorted_ids, sorted_pos = ids[order], positions[order]
    group_start = np.searchsorted(sorted_ids, sorted_ids, side="left")
    rank = np.arange(n) - group_start  # earlier occurrences of the same word
    # The first occurrence of the word at or after (position - window): searchsorted on the
    # combined key word * n + position keeps everything one sorted array.
    keys = sorted_ids * n + sorted_pos
    first_inside = np.searchsorted(keys, sorted_ids * n + np.maximum(sorted_pos - window, 0))
    inside = (np.arange(n) - first_inside).astype(np.float64)
    counts = np.empty(n)
    counts[order] = np.minimum(inside, rank)
    history = np.minimum(positions, window).astype(np.float64)  # tokens the cache holds
    probs = np.divide(counts, history, out=np.zeros(n), where=history > 0)
    return probs[1:]
