"""The open vocabulary: every word of the training text, and every word typed, can be offered.

The LSTM and the n-gram predict over a small vocabulary in which rare words are one token,
``<unk>``. ``<unk>`` is a class of words, so the probability of one of them is the class's
times the word's share of the class, as in class-based language models (Brown et al. 1992):

    P(w | h) = P(<unk> | h) · c(w) / Σ_{v rare} c(v)        for a rare word w,

where c counts the word in the training text and in what the user typed (``RareWords``). The
split is the unigram distribution within the class: the models never saw these words apart,
so nothing better is known about which of them follows h. ``<unk>`` itself is never offered.
"""

from __future__ import annotations

import numpy as np
import torch

from lstm_tui.core.text.vocab import Vocabulary


def open_top(
    vocab: Vocabulary, logp: torch.Tensor, prefix: str, k: int
) -> tuple[list[str], torch.Tensor]:
    """The ``k`` likeliest words starting with ``prefix``, rare words included.

    ``logp`` [len(vocab)] is log P(next word) over the model's vocabulary, ``<unk>``'s share
    included. Returns the words, most likely first, and their log-probabilities [≤ k].
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
    if len(rare_ids) and bool(torch.isfinite(logp[0])):
        share = torch.from_numpy(rare.log_share[rare_ids]).to(logp.dtype)
        scores = torch.cat([known_scores, logp[0] + share])
        names = [vocab.words[i] for i in known.tolist()] + [rare.words[i] for i in rare_ids]
    else:
        scores, names = known_scores, [vocab.words[i] for i in known.tolist()]
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    return [names[i] for i in order.tolist()], scores[order]


def rare_log_prob(vocab: Vocabulary, logp: torch.Tensor, word: str) -> float | None:
    """log P(word) for a rare word under the split above; None for a word it does not hold."""
    i = vocab.rare.index.get(word)
    if i is None:
        return None
    return float(logp[0]) + float(vocab.rare.log_share[i])
