"""The n-gram's probabilities of held-out text, each token scored by a model that never read
it: K-fold cross-fitting (the cross-validation of Stone 1974, "Cross-validatory choice and
assessment of statistical predictions").

Why. After a run the n-gram is counted again on all the text, the held-out part too: text
near what the user writes next is worth the most. Scored by an n-gram of the training part
alone, the held-out text says what a model *without* that text does, so the figure a run
reports was pessimistic for the model it saves, and the mixture's weights were fitted for a
weaker n-gram than the one it serves with (issue 16: Shakespeare reported 126.9 where the
saved model gives 111.0 on unseen text).

How. The scored part of the held-out text is cut into folds of about ``FOLD_TOKENS``. Each
fold is scored by an n-gram counted on everything else: the training text and the rest of
the held-out text, before and after it. No token is ever scored by a model that has read it
or anything of its fold (about a scene of a play, a few paragraphs of prose), so the
figure stays a held-out figure, measured for a model that has read nearly what the saved
one has. One fit per fold: where a time budget cannot afford one per ``FOLD_TOKENS``, the
folds are fewer and longer (one fold: the n-gram reads only the held-out text not scored).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

UNKNOWN = 0  # ``<unk>``'s id in every vocabulary (text/vocab.py)
COUNT_CHUNK = 1 << 24  # tokens of the training text looked at a time (it may be a memory map)

FOLD_TOKENS = 1_000  # about a scene or a few paragraphs: the text left out around each token
MAX_FOLDS = 16


def fold_count(scored: int, fit_seconds: float | None = None, budget: float | None = None) -> int:
    """How many folds for ``scored`` held-out tokens: one per ``FOLD_TOKENS`` (at most
    ``MAX_FOLDS``), fewer where ``budget`` seconds cannot pay a fit of ``fit_seconds`` each."""
    wanted = max(1, min(MAX_FOLDS, math.ceil(scored / FOLD_TOKENS)))
    if budget is None or fit_seconds is None or fit_seconds <= 0:
        return wanted
    affordable = budget / fit_seconds  # may overflow to inf for a fit of no time at all
    return max(1, int(min(wanted, affordable)))


def last_tokens(pieces: list[np.ndarray], limit: int) -> np.ndarray:
    """int64: the last ``limit`` tokens of ``pieces`` joined, reading no more of them than
    that (the training text may be a memory map of a gigabyte's tokens)."""
    taken: list[np.ndarray] = []
    for piece in reversed(pieces):
        left = limit - sum(len(t) for t in taken)
        if left <= 0:
            break
        taken.append(np.asarray(piece[max(0, len(piece) - left) :], dtype=np.int64))
    return np.concatenate(taken[::-1]) if taken else np.zeros(0, np.int64)


def cross_fitted_log_probs(
    train_ids: np.ndarray,
    held_ids: np.ndarray,
    scored: int,
    vocab_size: int,
    order: int,
    folds: int,
    max_tokens: int,
    trained: np.ndarray | None = None,
) -> np.ndarray:
    """float64 [scored - 1]: log p(held[i] | the words before it in held[:scored]), i >= 1,
    as ``KneserNey.target_log_probs(held_ids[:scored])`` gives, but token i's from an n-gram
    counted on the training text and the held-out text less the fold that holds i.

    The text counted is cut to its last ``max_tokens``, as the session's own n-gram is.
    With ``trained`` (``words_in``), the held-out text is read as unseen text is, both where
    it is scored and where it is counted (``read_as_unseen``).
    """
    from lstm_tui.core.model.ngram import KneserNey  # as session.py: only when counting

    scored = min(scored, len(held_ids))

    def unseen(ids: np.ndarray) -> np.ndarray:
        return ids if trained is None else read_as_unseen(ids, trained)

    text = unseen(np.asarray(held_ids[:scored], dtype=np.int64))
    out = np.zeros(max(0, scored - 1))
    if scored < 2:
        return out
    bounds = np.linspace(0, scored, min(folds, scored) + 1).astype(np.int64)  # [folds + 1]
    for lo, hi in pairwise(bounds.tolist()):
        # The pieces either side of the fold are counted as one text: the few n-grams across
        # the seam join words on both sides of the fold, never a word inside it.
        pieces = [train_ids, held_ids[:lo], held_ids[hi:]]
        counted = unseen(last_tokens(pieces, max_tokens))
        model = KneserNey.fit(counted, vocab_size, order=order)
        # Token i's probability is at index i - 1. The fold's tokens are scored with their
        # order - 1 words of context, not the whole text again for each fold.
        start = max(lo - (order - 1), 0)
        scores = model.target_log_probs(text[start:hi])  # tokens start + 1 .. hi - 1
        out[max(lo - 1, 0) : hi - 1] = scores[max(lo, 1) - start - 1 :]
    return out


def words_in(train_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """bool [vocab_size]: which ids the training text holds, read a piece at a time (it may
    be a memory map of a gigabyte's tokens)."""
    holds = np.zeros(vocab_size, dtype=bool)
    for start in range(0, len(train_ids), COUNT_CHUNK):
        holds[np.asarray(train_ids[start : start + COUNT_CHUNK])] = True
    return holds


def read_as_unseen(ids: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """``ids`` with every word the training text never holds (``trained``, from ``words_in``)
    written as ``<unk>``.

    Why. The vocabulary is built from all the text, so a word that only the held-out part
    holds has an id of its own, one the LSTM never trained on (it gives it almost nothing),
    while in text that no part of the model has read, ``eval`` and the predictor meet such a
    word as ``<unk>``. The vocabulary has read the held-out text as the n-gram had: scored
    with those ids, the held-out figure was pessimistic for text the model has not read
    (Shakespeare: 2.6% of the held-out tokens; reported 121.6 where unseen text gave 110.6).
    Read this way, the held-out text is scored as unseen text is. The training text itself
    is left as it is: every word of it is in ``trained``.
    """
    ids = np.asarray(ids)
    return np.where(trained[ids], ids, UNKNOWN).astype(ids.dtype, copy=False)
