"""The Kneser-Ney n-gram: exact by hand, normalised always, equal to a literal reference."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core.errors import CheckpointError
from lstm_tui.core.model.ngram import KneserNey
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.text.tokenize import tokenize

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


class LiteralKN:
    """Interpolated modified KN written straight from Chen & Goodman's formulas with dicts:
    gamma from the discount sums (not as 1 - sum of alphas), histories as tuples."""

    def __init__(self, ids: list[int], vocab_size: int, order: int) -> None:
        self.v, self.order = vocab_size, order
        self.count: dict[int, Counter] = {}
        for k in range(1, order + 1):
            grams = [tuple(ids[t : t + k]) for t in range(len(ids) - k + 1)]
            if k == order:
                self.count[k] = Counter(grams)
            else:  # continuation count: distinct left neighbours, the text start being one
                left = defaultdict(set)
                for t, g in enumerate(grams):
                    left[g].add(ids[t - 1] if t > 0 else -1)
                self.count[k] = Counter({g: len(s) for g, s in left.items()})
        self.discount = {k: self._discounts(list(c.values())) for k, c in self.count.items()}
        self.total: dict[int, Counter] = {k: Counter() for k in self.count}
        self.kinds: dict[int, dict] = {k: defaultdict(lambda: [0, 0, 0]) for k in self.count}
        for k, counts in self.count.items():
            for g, c in counts.items():
                self.total[k][g[:-1]] += c
                self.kinds[k][g[:-1]][min(c, 3) - 1] += 1

    @staticmethod
    def _discounts(counts: list[int]) -> list[float]:
        n = [counts.count(i) for i in range(1, 5)]
        y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] else float("nan")
        fallback = y if 0 < y < 1 else 0.5
        out = []
        for i in (1, 2, 3):
            d = i - (i + 1) * y * n[i] / n[i - 1] if n[i - 1] else float("nan")
            out.append(d if 0 < d < i else fallback)  # NaN fails the test too
        return out

    def prob(self, history: list[int], word: int, k: int | None = None) -> float:
        k = self.order if k is None else k
        if k == 0:
            return 1 / self.v
        if len(history) < k - 1:  # the text start: no history this long
            return self.prob(history, word, k - 1)
        h = tuple(history[len(history) - k + 1 :]) if k > 1 else ()
        total = self.total[k].get(h, 0)
        lower = self.prob(list(h[1:]), word, k - 1)
        if total == 0:
            return lower
        d = self.discount[k]
        c = self.count[k].get((*h, word), 0)
        alpha = (c - d[min(c, 3) - 1]) / total if c else 0.0
        gamma = sum(d[i] * self.kinds[k][h][i] for i in range(3)) / total
        return alpha + gamma * lower


def test_bigram_worked_by_hand() -> None:
    # Text "a a a a a b a b a b c" (a=0, b=1, c=2), V=4: d (3) never appears.
    # Bigram counts (the top order keeps raw counts): aa 4, ab 3, ba 2, bc 1.
    #   count-of-counts n1..n4 = 1, 1, 1, 1; Y = n1 / (n1 + 2 n2) = 1/3
    #   D1 = 1 - 2Y n2/n1 = 1/3,  D2 = 2 - 3Y n3/n2 = 1,  D3+ = 3 - 4Y n4/n3 = 5/3
    # Unigram continuation counts (distinct left neighbours, the text start counts as one):
    #   a: {start, a, b} = 3, b: {a} = 1, c: {b} = 1; n1..n4 = 2, 0, 1, 0: Y = 1, so D1 = 1,
    #   D2 divides by n2 = 0, D3+ = 3: none lies in (0, i), all fall back to 0.5.
    #   alpha: a (3 - .5)/5 = .5, b (1 - .5)/5 = .1, c .1; gamma = 3 * .5 / 5 = .3
    #   p1 = alpha + .3/4: a .575, b .175, c .175, d .075
    # After a (a 4, b 3; total 7): alpha a (4 - 5/3)/7 = 1/3, b (3 - 5/3)/7 = 4/21,
    #   gamma = (5/3 + 5/3)/7 = 10/21
    #   p = 1/3 + 10/21 * .575 = 17/28, 4/21 + 10/21 * .175 = 23/84, 10/21 * .175 = 1/12,
    #       10/21 * .075 = 1/28
    # After b (a 2, c 1; total 3): alpha a (2 - 1)/3 = 1/3, c (1 - 1/3)/3 = 2/9, gamma = 4/9
    #   p = 1/3 + 4/9 * .575 = 53/90, 4/9 * .175 = 7/90, 2/9 + 4/9 * .175 = 3/10, 4/9 * .075 = 1/30
    # After c (never followed by anything), after d (unseen), and with no history: p1.
    model = KneserNey.fit(np.array([0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 2]), vocab_size=4, order=2)
    np.testing.assert_allclose(model.discounts, [[0.5, 0.5, 0.5], [1 / 3, 1, 5 / 3]])
    expected = {
        (0,): [17 / 28, 23 / 84, 1 / 12, 1 / 28],
        (1,): [53 / 90, 7 / 90, 3 / 10, 1 / 30],
        (2,): [0.575, 0.175, 0.175, 0.075],
        (3,): [0.575, 0.175, 0.175, 0.075],
        (): [0.575, 0.175, 0.175, 0.075],
    }
    for history, probs in expected.items():
        np.testing.assert_allclose(np.exp(model.log_probs(list(history))), probs, rtol=1e-6)
    assert model.num_ngrams() == {1: 3, 2: 4}


@st.composite
def corpora(draw: st.DrawFn) -> tuple[np.ndarray, int, int, int]:
    vocab_size = draw(st.integers(1, 12))
    used = min(vocab_size - 1, draw(st.integers(0, 11)))  # ids above it stay unseen
    text = draw(st.lists(st.integers(0, used), max_size=80))
    max_ngrams = draw(st.one_of(st.just(4_000_000), st.integers(0, 60)))  # half of them pruned
    return np.array(text, np.int64), vocab_size, draw(st.integers(1, 5)), max_ngrams


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpora(), st.data())
def test_distributions_normalised_consistent_and_literal(corpus, data) -> None:
    ids, v, order, max_ngrams = corpus
    model = KneserNey.fit(ids, v, order, max_ngrams)
    n = order - 1
    contexts = data.draw(
        st.lists(st.lists(st.integers(0, v - 1), max_size=6), min_size=1, max_size=6)
    )
    lengths = np.array([min(len(c), n) for c in contexts])
    batch_in = np.zeros((len(contexts), n), np.int64)
    for b, c in enumerate(contexts):
        batch_in[b, n - lengths[b] :] = c[len(c) - lengths[b] :]
    batch = model.log_probs_batch(batch_in, lengths)
    assert batch.shape == (len(contexts), v) and batch.dtype == np.float32
    probs = model.probs_batch(batch_in, lengths)
    np.testing.assert_allclose(np.log(probs), batch, atol=1e-6)
    np.testing.assert_allclose(probs.astype(np.float64).sum(axis=1), 1, atol=1e-5)
    for b, context in enumerate(contexts):
        single = model.log_probs(context)
        assert single.dtype == np.float32 and np.isfinite(single).all()  # every p > 0
        assert abs(np.exp(single.astype(np.float64)).sum() - 1) < 1e-5
        np.testing.assert_allclose(batch[b], single, atol=1e-5)
    if len(ids) >= 2:
        targets = model.target_log_probs(ids)
        picked = [model.log_probs(ids[max(0, i - n) : i])[ids[i]] for i in range(1, len(ids))]
        np.testing.assert_allclose(targets, picked, atol=1e-5)
    stored = sum(c for k, c in model.num_ngrams().items() if k >= 3)
    assert stored <= max_ngrams
    if stored == sum(c for k, c in KneserNey.fit(ids, v, order).num_ngrams().items() if k >= 3):
        literal = LiteralKN(ids.tolist(), v, order)  # unpruned: must equal the formulas
        for context in contexts:
            want = [literal.prob(context, w) for w in range(v)]
            np.testing.assert_allclose(np.exp(model.log_probs(context)), want, rtol=2e-5)
        if len(ids) >= 2:  # the text's own histories: all seen, at every order
            text = ids.tolist()
            want = [literal.prob(text[max(0, i - n) : i], text[i]) for i in range(1, len(text))]
            np.testing.assert_allclose(model.target_log_probs(ids), np.log(want), atol=2e-5)


def test_pruning_drops_rarest_top_order_first_and_stays_normalised() -> None:
    ids = np.random.default_rng(1).integers(0, 30, 3000)
    full = KneserNey.fit(ids, 30, order=4).num_ngrams()
    bound = full[3] + full[4] - 100  # fewer than the 4-grams seen once: only those go
    pruned = KneserNey.fit(ids, 30, order=4, max_ngrams=bound)
    assert pruned.num_ngrams() == {**full, 4: full[4] - 100}
    tiny = KneserNey.fit(ids, 30, order=4, max_ngrams=50)
    counts = tiny.num_ngrams()
    assert counts[3] + counts[4] == 50 and counts[4] == 0 and counts[2] == full[2]
    for model in (pruned, tiny):
        for context in ([], [3], [3, 7, 1], ids[-3:]):
            assert abs(np.exp(model.log_probs(context).astype(np.float64)).sum() - 1) < 1e-5
    # Removing the least informative n-grams costs little on the training text.
    assert pruned.perplexity(ids) < 1.02 * KneserNey.fit(ids, 30, order=4).perplexity(ids)


def test_round_trip_is_exact_and_plain_numeric(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    ids = np.random.default_rng(2).integers(0, 50, 2000)
    model = KneserNey.fit(ids, 50, order=5, max_ngrams=3000)
    arrays = model.to_arrays()
    assert all(a.dtype.kind in "iuf" for a in arrays.values())
    save_file(arrays, str(tmp_path / "ngram.safetensors"))
    loaded = KneserNey.from_arrays(load_file(str(tmp_path / "ngram.safetensors")))
    assert (loaded.order, loaded.vocab_size) == (5, 50)
    assert loaded.num_ngrams() == model.num_ngrams() and loaded.nbytes() == model.nbytes()
    contexts = np.stack([ids[i : i + 4] for i in range(0, 400, 7)])
    np.testing.assert_array_equal(loaded.log_probs_batch(contexts), model.log_probs_batch(contexts))
    np.testing.assert_array_equal(loaded.target_log_probs(ids), model.target_log_probs(ids))
    np.testing.assert_array_equal(loaded.log_probs([49, 1]), model.log_probs([49, 1]))


def _corrupt(arrays: dict[str, np.ndarray], name: str, change) -> dict[str, np.ndarray]:
    out = {k: a.copy() for k, a in arrays.items()}
    out[name] = change(out[name])
    return out


def _set(index, value):
    def change(a: np.ndarray) -> np.ndarray:
        a[index] = value
        return a

    return change


CORRUPTIONS = {
    "unknown version": ("meta", _set(0, 7)),
    "order 9": ("meta", _set(1, 9)),
    "a vocabulary of 10^12": ("meta", _set(2, 10**12)),
    "vocabulary unlike the offsets": ("meta", _set(2, 41)),
    "float meta": ("meta", lambda a: a.astype(np.float64)),
    "NaN discount": ("discounts", _set((0, 0), np.nan)),
    "discounts of the wrong shape": ("discounts", lambda a: a[:2]),
    "word id past the vocabulary": ("words3", _set(0, 40)),
    "negative word id": ("words2", _set(-1, -1)),
    "words out of order": ("words1", lambda a: a[::-1].copy()),
    "NaN alpha": ("alphas4", _set(0, np.nan)),
    "negative alpha": ("alphas2", _set(0, -0.1)),
    "alphas summing past 1": ("alphas1", lambda a: a * 2),
    "offsets past the words": ("offsets3", _set(-1, 10**9)),
    "negative offset": ("offsets2", _set(1, -5)),
    "offsets of the wrong length": ("offsets5", lambda a: a[:-1]),
    "2-D words": ("words5", lambda a: a.reshape(1, -1)),
    "history keys out of order": ("hist3", lambda a: a[::-1].copy()),
    "history key out of range": ("hist2", _set(-1, 2**62)),
    "int64 words": ("words4", lambda a: a.astype(np.int64)),
    "a list, not an array": ("alphas3", lambda a: a.tolist()),
}


@pytest.mark.parametrize("what", CORRUPTIONS)
def test_corrupted_arrays_raise_checkpoint_error(what: str) -> None:
    ids = np.random.default_rng(3).integers(0, 40, 1500)
    arrays = KneserNey.fit(ids, 40, order=5).to_arrays()
    name, change = CORRUPTIONS[what]
    with pytest.raises(CheckpointError, match=r"^n-gram: [^\n]+$"):
        KneserNey.from_arrays(_corrupt(arrays, name, change))


def test_missing_or_extra_arrays_raise_checkpoint_error() -> None:
    arrays = KneserNey.fit(np.arange(20) % 7, 7, order=3).to_arrays()
    for broken in (
        {k: a for k, a in arrays.items() if k != "hist2"},
        {**arrays, "x": arrays["meta"]},
    ):
        with pytest.raises(CheckpointError):
            KneserNey.from_arrays(broken)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_single_value_changed_loads_normalised_or_is_refused(data) -> None:
    arrays = KneserNey.fit(np.arange(60) * 7 % 11, 11, order=4).to_arrays()
    name = data.draw(st.sampled_from(sorted(arrays)))
    if arrays[name].size == 0:
        return
    index = data.draw(st.integers(0, arrays[name].size - 1))
    value = data.draw(st.sampled_from([-1, 0, 1, 2, 3, 10, 2**31 - 1, 0.5, np.nan, np.inf]))
    broken = _corrupt(arrays, name, lambda a: a)
    flat = broken[name].reshape(-1)
    try:
        flat[index] = value
    except (ValueError, OverflowError):  # NaN into an int array: not a value it can hold
        return
    try:
        model = KneserNey.from_arrays(broken)
    except CheckpointError:
        return
    for context in ([], [3], [1, 2, 3]):
        probs = np.exp(model.log_probs(context).astype(np.float64))
        assert (probs > 0).all() and abs(probs.sum() - 1) < 1e-5


def test_bad_ids_are_refused_with_value_error() -> None:
    model = KneserNey.fit(np.arange(10), 10, order=3)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        model.log_probs([3, 10])
    with pytest.raises(ValueError, match=r"0\.\.9"):
        KneserNey.fit(np.array([1, -1]), 10)
    with pytest.raises(ValueError, match="shape"):
        model.log_probs_batch(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="order"):
        KneserNey.fit(np.arange(10), 10, order=6)


def test_fable_kn3_beats_unigram_and_order_1_is_the_smoothed_unigram() -> None:
    corpus = Corpus.from_file(REPO / "data" / "belling_the_cat.txt")
    ids, v = corpus.ids.astype(np.int64), len(corpus.vocab)
    train, held_out = ids[:160], ids[159:]  # the last 44 tokens, after their own history
    unigram = KneserNey.fit(train, v, order=1)
    assert KneserNey.fit(train, v, order=3).perplexity(held_out) < 0.9 * unigram.perplexity(
        held_out
    )
    # Order 1 keeps raw counts: p(w) = (c(w) - D(c(w)))/N + gamma/V, gamma = sum of D / N.
    counts = np.bincount(train, minlength=v)
    n1, n2, n3, n4 = (np.sum(counts == i) for i in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2)
    d = np.array([0, 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
    assert ((d[1:] > 0) & (d[1:] < [1, 2, 3])).all()  # the fable needs no fallback
    discount = d[np.minimum(counts, 3)]
    gamma = discount.sum() / len(train)
    want = (counts - discount) / len(train) + gamma / v
    for context in ([], [5], ids[:4]):
        np.testing.assert_allclose(np.exp(unigram.log_probs(context)), want, rtol=1e-6)


@pytest.mark.skipif(not (SHARED / "tinyshakespeare").exists(), reason="no ../shared/data")
def test_shakespeare_matches_literal_formulas_and_longer_histories_help() -> None:
    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:150_000]
    words = tokenize(text)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = np.array([vocab[w] for w in words], np.int64)
    train, test = ids[:-3000], ids[-3000:]
    ppl = {n: KneserNey.fit(train, len(vocab), n).perplexity(test) for n in (1, 2, 3)}
    assert ppl[3] < ppl[2] < 0.7 * ppl[1]
    literal = LiteralKN(train.tolist(), len(vocab), 3)
    logs = [np.log(literal.prob(test[i - 2 : i].tolist(), test[i])) for i in range(2, len(test))]
    model = KneserNey.fit(train, len(vocab), 3)
    np.testing.assert_allclose(model.target_log_probs(test)[1:], logs, atol=1e-5)
