"""Cross-fitted n-gram probabilities of held-out text (issue 16.2): each token is scored by
an n-gram that has read all the corpus but the fold that holds it, never the token itself."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_tui.core.model.ngram import KneserNey
from lstm_tui.core.training.crossfit import cross_fitted_log_probs, fold_count, last_tokens


def test_each_fold_is_scored_by_an_ngram_counted_on_everything_else(fable_text: str) -> None:
    from lstm_tui.core.text.corpus import Corpus

    corpus = Corpus.from_text(fable_text * 10, val_fraction=0.3)
    assert len(corpus.val_ids) > 100
    train, held = np.asarray(corpus.train_ids), np.asarray(corpus.val_ids)
    v, scored = len(corpus.vocab), len(held) - 20  # the last 20 tokens are read, never scored
    out = cross_fitted_log_probs(train, held, scored, v, order=3, folds=4, max_tokens=10**6)
    assert out.shape == (scored - 1,)
    bounds = np.linspace(0, scored, 5).astype(int)
    for lo, hi in pairwise(bounds.tolist()):
        blind = KneserNey.fit(np.concatenate([train, held[:lo], held[hi:]]), v, order=3)
        expected = blind.target_log_probs(held[:scored])
        first = max(lo - 1, 0)
        np.testing.assert_allclose(out[first : hi - 1], expected[first : hi - 1])


def test_a_word_only_one_fold_holds_is_news_to_the_ngram_that_scores_it() -> None:
    rng = np.random.default_rng(0)
    v = 40
    train = rng.integers(1, v - 1, 3_000)
    held = rng.integers(1, v - 1, 400)
    new = v - 1  # never in the training text, nor in any other fold
    held[250:260] = [new, 5] * 5  # inside the third of four folds (200..300)
    out = cross_fitted_log_probs(train, held, len(held), v, order=3, folds=4, max_tokens=10**6)
    read_all = KneserNey.fit(np.concatenate([train, held]), v, order=3).target_log_probs(held)
    never = KneserNey.fit(train, v, order=3).target_log_probs(held)
    at = [i - 1 for i in range(250, 260, 2)]  # each `new`, after the first
    # Counted on all the text, its fourth visit is a near certainty; cross-fitted, it is as
    # unlikely as to a model that never read it (the fold holds it, so it was left out).
    assert (read_all[at[1:]] > np.log(0.3)).all()
    np.testing.assert_allclose(out[at], never[at], rtol=0.2)
    assert (out[at] < np.log(0.01)).all()


def test_one_fold_reads_only_the_held_out_text_not_scored() -> None:
    rng = np.random.default_rng(1)
    train, held = rng.integers(0, 30, 2_000), rng.integers(0, 30, 500)
    out = cross_fitted_log_probs(train, held, 300, 30, order=2, folds=1, max_tokens=10**6)
    blind = KneserNey.fit(np.concatenate([train, held[300:]]), 30, order=2)
    np.testing.assert_allclose(out, blind.target_log_probs(held[:300]))


@settings(max_examples=50, deadline=None)
@given(
    scored=st.integers(0, 100_000),
    fit_seconds=st.one_of(st.none(), st.floats(0, 100)),
    budget=st.one_of(st.none(), st.floats(0, 1_000)),
)
def test_folds_are_one_per_thousand_tokens_at_most_sixteen_within_the_budget(
    scored: int, fit_seconds: float | None, budget: float | None
) -> None:
    folds = fold_count(scored, fit_seconds, budget)
    assert 1 <= folds <= min(16, max(1, -(-scored // 1_000)))
    if budget is not None and fit_seconds and folds > 1:
        assert folds * fit_seconds <= budget
    assert fold_count(16_000) == 16 and fold_count(16_000, 2.0, 6.0) == 3


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 50), min_size=1, max_size=4),
    limit=st.integers(1, 200),
)
def test_last_tokens_are_the_end_of_the_pieces_joined(sizes: list[int], limit: int) -> None:
    pieces = [np.arange(n) + 100 * i for i, n in enumerate(sizes)]
    joined = np.concatenate(pieces)
    np.testing.assert_array_equal(last_tokens(pieces, limit), joined[-limit:])


def test_last_tokens_read_no_more_of_a_huge_text_than_they_keep() -> None:
    """The training text of a 1 GB corpus is a memory map of ~250M tokens: a fold's count
    must not copy it whole (8 bytes a token) to keep its last 2M."""

    class Huge:  # a text too big to copy: only short slices can be read
        def __len__(self) -> int:
            return 10**12

        def __getitem__(self, part: slice) -> np.ndarray:
            start, stop = part.start or 0, len(self) if part.stop is None else part.stop
            assert stop - start <= 1_000, "read the whole text"
            return np.arange(start, stop) % 7

    held = np.arange(300)
    tail = last_tokens([Huge(), held[:100], held[200:]], 500)  # an array-like, as a memmap is
    assert len(tail) == 500 and (tail[-200:] == np.r_[held[:100], held[200:]]).all()


@settings(max_examples=60, deadline=None)
@given(
    train=st.lists(st.integers(0, 29), min_size=1, max_size=300),
    held=st.lists(st.integers(0, 29), min_size=1, max_size=100),
    chunk=st.integers(1, 64),
)
def test_the_held_out_text_keeps_exactly_the_words_the_training_text_holds(
    train: list[int], held: list[int], chunk: int
) -> None:
    """Every id the training text holds is kept; every other one becomes <unk> (0), however
    the training text is read in pieces (it may be a memory map of a gigabyte's tokens)."""
    from unittest import mock

    from lstm_tui.core.training import crossfit

    train_ids, held_ids = np.asarray(train, np.int32), np.asarray(held, np.int32)
    with mock.patch.object(crossfit, "COUNT_CHUNK", chunk):
        out = crossfit.read_as_unseen(held_ids, crossfit.words_in(train_ids, 30))
    assert out.dtype == held_ids.dtype and out.shape == held_ids.shape
    expected = [h if h in set(train) else 0 for h in held]
    assert out.tolist() == expected


def test_read_as_unseen_text_each_fold_is_counted_and_scored_with_its_new_words_as_unk() -> None:
    """With the training text's words given, the held-out text is read as unseen text is,
    in the fold scored and in the other folds counted: a word the training text lacks is
    <unk> there, however often the held-out text holds it."""
    from lstm_tui.core.training.crossfit import read_as_unseen, words_in

    rng = np.random.default_rng(1)
    v = 40
    train = rng.integers(0, v - 2, 3_000)  # <unk> (0) included, as words seen once are
    held = rng.integers(0, v, 400)  # ids v-2 and v-1: only the held-out text holds them
    trained = words_in(train, v)
    assert not trained[v - 2 :].any() and (held >= v - 2).any()
    out = cross_fitted_log_probs(train, held, len(held), v, 3, 4, 10**6, trained)
    seen = read_as_unseen(held, trained)
    assert (seen[held >= v - 2] == 0).all()
    bounds = np.linspace(0, len(held), 5).astype(int)
    for lo, hi in pairwise(bounds.tolist()):
        blind = KneserNey.fit(np.concatenate([train, seen[:lo], seen[hi:]]), v, order=3)
        first = max(lo - 1, 0)
        np.testing.assert_allclose(
            out[first : hi - 1], blind.target_log_probs(seen)[first : hi - 1]
        )
