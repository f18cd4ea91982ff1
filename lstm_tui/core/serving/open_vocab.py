"""The open vocabulary: every word of the training text, and every word typed, can be offered.

The LSTM and the n-gram predict over a small vocabulary in which rare words are one token,
``<unk>``. ``<unk>`` is a class of words, so the probability of one of them is the class's
times the word's share of the class, as in class-based language models (Brown et al. 1992):

    P(w | h) = P(<unk> | h) · c(w) / Σ_{v rare} c(v)        for a rare word w,

where c counts the word in the training text and in what the user typed (``RareWords``). The
split is the unigram distribution within the class: the models never saw these words apart,
so nothing better is known about which of them follows h. ``<unk>`` itself is never offered.

The unigram cache (Kuhn & De Mori 1990) is the exception: it counts the text just typed,
where each word is known by its spelling. Its share of ``<unk>`` (the recent tokens that were
``<unk>``) goes to those words by name (``cache_extras``), and only the rest of ``<unk>``'s
probability is split by counts: a name the user just typed comes back, even one never seen
in training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from lstm_tui.core.model.mixture import CACHE_WINDOW
from lstm_tui.core.text.tokenize import UNK
from lstm_tui.core.text.vocab import Vocabulary


def cache_extras(
    tokens: Sequence[str], ids: Sequence[int], weight: float, window: int = CACHE_WINDOW
) -> dict[str, float]:
    """The cache's probability (its mixture ``weight`` included) of each word outside the
    vocabulary among the last ``window`` tokens: its count there over the window's length,
    as the cache gives a word of the vocabulary."""
    if weight <= 0 or not ids:
        return {}
    recent = list(zip(tokens[-window:], ids[-window:], strict=True))
    counts = Counter(t for t, i in recent if i == 0 and t != UNK)
    return {w: weight * c / len(recent) for w, c in counts.items()}


def open_top(
    vocab: Vocabulary,
    logp: torch.Tensor,
    prefix: str,
    k: int,
    extras: dict[str, float] | None = None,
) -> tuple[list[str], torch.Tensor]:
    """The ``k`` likeliest words starting with ``prefix``, rare words included.

    ``logp`` [len(vocab)] is log P(next word) over the model's vocabulary, ``<unk>``'s share
    included; ``extras`` adds probability to words outside it (``cache_extras``). Returns the
    words, most likely first, and their log-probabilities [≤ k].
    """
    rare = vocab.rare
    if prefix:
        known = torch.as_tensor(vocab.prefix_ids(prefix))  # never <unk>
        known_scores = logp[known]
        rare_ids = rare.prefix_ids(prefix) if len(rare) else np.zeros(0, np.int64)
    else:
        masked = logp.clone()
        masked[0] = -float("inf")
        known_scores, known = masked.topk(min(k, len(logp) - 1))
        # A rare word's probability grows with its count: only the k commonest can rank.
        rare_ids = rare.most_common(k) if len(rare) else np.zeros(0, np.int64)
    names = [vocab.words[i] for i in known.tolist()]
    # <unk>'s probability less the cache's share of the words it names: that goes to them
    extras = extras or {}
    unk = max(0.0, float(logp[0].exp()) - sum(extras.values()))
    outside: dict[str, float] = {}  # words outside the vocabulary -> probability
    if len(rare_ids) and unk > 0:
        share = unk * np.exp(rare.log_share[rare_ids])
        outside = dict(zip((rare.words[i] for i in rare_ids), share.tolist(), strict=True))
    for word, p in extras.items():
        if word.startswith(prefix):
            i = rare.index.get(word)
            if word in outside:
                base = outside[word]
            elif i is not None:  # a rare word beyond the k commonest: its share too
                base = unk * float(np.exp(rare.log_share[i]))
            else:  # never seen in training: the cache alone knows it
                base = 0.0
            outside[word] = base + p
    scores = known_scores
    if outside:
        more = torch.log(torch.tensor(list(outside.values()), dtype=torch.float64))
        scores = torch.cat([known_scores, more.to(known_scores.dtype)])
        names += list(outside)
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    return [names[i] for i in order.tolist()], scores[order]


def rare_log_prob(vocab: Vocabulary, logp: torch.Tensor, word: str) -> float | None:
    """log P(word) for a rare word under the split above; None for a word it does not hold."""
    i = vocab.rare.index.get(word)
    if i is None:
        return None
    return float(logp[0]) + float(vocab.rare.log_share[i])
