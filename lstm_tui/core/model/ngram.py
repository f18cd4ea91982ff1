"""Interpolated modified Kneser-Ney n-gram model over a fixed vocabulary, in numpy.

References: R. Kneser and H. Ney, "Improved backing-off for m-gram language modeling",
ICASSP 1995; S. F. Chen and J. Goodman, "An empirical study of smoothing techniques for
language modeling", Harvard TR-10-98, 1998 (interpolated modified KN, three discounts per order).

For order k, history h (its last k-1 words) and h' (h without its oldest word):

    p_k(w | h) = alpha_k(h, w) + gamma_k(h) * p_{k-1}(w | h'),     p_0(w) = 1 / V
    alpha_k(h, w) = (c_k(h w) - D_k(c_k(h w))) / sum_v c_k(h v)
    gamma_k(h) = 1 - sum_w alpha_k(h, w)      (= sum of discounts / sum_v c_k(h v))

c_k is the raw count at the highest order and, below it, the continuation count: the number of
distinct words seen just before ``h w`` (the start of the text counts as one such word). A
history never seen has no alphas, so gamma = 1: the lower order decides alone. Writing gamma as
one minus the stored alphas keeps every level normalised, also after pruning (the mass of a
pruned n-gram goes to its history's gamma).

Layout, a "trie by ranks": level j holds every needed j-word history as a rank in a sorted table
of keys ``first word * size(level j-1) + rank of the other j-1 words`` (level 1 is the word id
itself), so a history is found with one searchsorted per level, newest word first. Order k
stores, CSR style, the followers of each level-(k-1) history: sorted word ids and float32 alphas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_tui.core.errors import CheckpointError

MAX_ORDER = 5
MAX_VOCAB = 1 << 24  # bounds the dense vectors a checkpoint can make us allocate
FORMAT_VERSION = 1
_BLOCK_FLOATS = 1 << 19  # log_probs_batch fills [B, V] in blocks of about this many floats
_GAMMA_FLOOR = 1e-12  # rounding must never leave a history with no mass for the lower order


def _discounts(counts: np.ndarray) -> np.ndarray:
    """D1, D2, D3+ from the count-of-counts n1..n4, as Chen & Goodman (1998) estimate them."""
    n = np.bincount(np.minimum(counts, 5), minlength=6)[1:5].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = n[0] / (n[0] + 2 * n[1])
        d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    # A small text lacks some count-of-counts; an estimate outside (0, i) would give its
    # n-grams no mass (or take all of it), so fall back to Ney's single discount Y.
    fallback = y if 0 < y < 1 else 0.5
    return np.where(np.isfinite(d) & (d > 0) & (d < np.arange(1, 4)), d, fallback)


def _round_down(alpha: np.ndarray) -> np.ndarray:
    """float32 alphas never above the float64 ones, so gamma = 1 - sum stays positive."""
    a32 = alpha.astype(np.float32)
    return np.where(a32 > alpha, np.nextafter(a32, np.float32(0)), a32)


@dataclass
class _Grams:
    """One order's n-grams while fitting, sorted by (history rank, word)."""

    ctx: np.ndarray  # rank of the history in its level's table
    words: np.ndarray
    counts: np.ndarray  # raw at the highest order, continuation counts below
    alphas: np.ndarray
    discounts: np.ndarray

    def keep(self, mask: np.ndarray) -> None:
        self.ctx, self.words = self.ctx[mask], self.words[mask]
        self.counts, self.alphas = self.counts[mask], self.alphas[mask]


def _count(ids: np.ndarray, v: int, order: int) -> tuple[list[_Grams], list[np.ndarray]]:
    """Every order's n-grams with their alphas, and every level's sorted table of keys."""
    n_tok = len(ids)
    small = np.int32 if n_tok < 2**31 else np.int64  # ranks and history ids: half the memory
    # Level j ranks the text's distinct j-grams in a sorted table; ``rank[t]`` is the rank of
    # the j-gram at position t. Order k needs levels k-1, k and k+1 only, so each order is
    # finished as soon as the next level exists and the older level is freed (memory).
    tables, size = [np.zeros(0, np.int64)] * 2, [1, v]
    prev_rank, rank = np.zeros(0, np.int64), ids  # levels k-1 and k
    first_k = raw_k = np.zeros(0, np.int64)  # level k: first position and count of each
    grams = []
    for k in range(1, order + 1):
        if k < order:
            n = max(n_tok - k, 0)
            key = ids[:n] * size[k] + rank[1 : n + 1]
            table, first_next, rank_next, raw_next = np.unique(key, True, True, True)
            del key
            tables.append(table)
            size.append(len(table))
        if k == order:  # the highest order keeps raw counts
            c = np.bincount(ids, minlength=v) if k == 1 else raw_k
        else:  # below it, the number of distinct words seen just before
            c = np.bincount(tables[k + 1] % size[k], minlength=size[k])
            if n_tok >= k:
                c[rank[0]] += 1  # the start of the text is a left neighbour too
            if k + 1 == order:
                tables[k + 1] = tables[0]  # the top level holds no histories: free it
        if k == 1:
            w = np.flatnonzero(c)
            ctx, c = np.zeros(len(w), np.int64), c[w]
        else:
            ctx, w = prev_rank[first_k], ids[first_k + k - 1]
        by_row = np.argsort(ctx.astype(np.int64) * v + w)
        ctx, w, c = ctx[by_row].astype(small), w[by_row].astype(np.int32), c[by_row]
        del by_row
        d = _discounts(c)
        total = np.bincount(ctx, weights=c, minlength=size[k - 1])
        alphas = _round_down((c - d[np.minimum(c, 3) - 1]) / total[ctx])
        grams.append(_Grams(ctx, w, c.astype(np.int32), alphas, d))
        if k < order:
            prev_rank, rank = rank, rank_next.reshape(-1).astype(small)
            first_k, raw_k = first_next, raw_next
    return grams, tables


def _prune(grams: list[_Grams], max_ngrams: int) -> None:
    """Drop the excess n-grams: lowest count first, then highest order first."""
    excess = sum(len(g.words) for g in grams) - max_ngrams
    if excess <= 0:
        return
    # Sort key: count, then the order from the top (0 for the highest), as one integer.
    group = np.concatenate(
        [g.counts.astype(np.int64) * len(grams) + (len(grams) - 1 - i) for i, g in enumerate(grams)]
    )
    keep = np.ones(len(group), bool)
    keep[np.argsort(group, kind="stable")[:excess]] = False
    ends = np.cumsum([len(g.words) for g in grams])
    for g, kept in zip(grams, np.split(keep, ends[:-1]), strict=True):
        g.keep(kept)


def _index(
    grams: list[_Grams], tables: list[np.ndarray], v: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The stored history tables and the CSR offsets of every order's followers.

    A history is kept if it has followers or is the newer part of a kept longer one (the
    lookup walks from the newest word back); kept histories are renumbered densely.
    """
    order = len(grams)
    needed: dict[int, np.ndarray] = {}
    for j in range(order - 1, 1, -1):
        need = np.zeros(len(tables[j]), bool)
        need[grams[j].ctx] = True
        if j + 1 < order:
            need[tables[j + 1][needed[j + 1]] % len(tables[j])] = True
        needed[j] = need
    new_rank: dict[int, np.ndarray] = {}
    hists, new_size = [np.zeros(0, np.int64)] * 2, {1: v}
    for j in range(2, order):
        kept, old_size = tables[j][needed[j]], v if j == 2 else len(tables[j - 1])
        newer = kept % old_size if j == 2 else new_rank[j - 1][kept % old_size]
        hists.append(kept // old_size * new_size[j - 1] + newer)
        new_rank[j] = np.cumsum(needed[j]) - 1
        new_size[j] = int(needed[j].sum())
    offsets = [np.array([0, len(grams[0].words)], np.int64)]
    for k in range(2, order + 1):
        ctx = grams[k - 1].ctx if k == 2 else new_rank[k - 1][grams[k - 1].ctx]
        rows = np.bincount(ctx, minlength=new_size[k - 1])
        offsets.append(np.concatenate([[0], np.cumsum(rows)]).astype(np.int64))
    return hists, offsets


class KneserNey:
    """A fitted model: ``fit`` counts a text, ``log_probs*`` give next-word distributions."""

    def __init__(
        self,
        order: int,
        vocab_size: int,
        discounts: np.ndarray,
        offsets: list[np.ndarray],
        words: list[np.ndarray],
        alphas: list[np.ndarray],
        hists: list[np.ndarray],
    ) -> None:
        self.order, self.vocab_size, self.discounts = order, vocab_size, discounts
        # Index k-1 holds order k; hists[j] holds level j (0 and 1 are implicit, left empty).
        self._offsets, self._words, self._alphas, self._hists = offsets, words, alphas, hists
        # gamma of each history, then a 1 for row -1, an unseen history: it backs off fully.
        self._gammas = [
            np.append(np.maximum(1.0 - _row_sums(off, alpha), _GAMMA_FLOOR), 1.0)
            for off, alpha in zip(offsets, alphas, strict=True)
        ]
        # Bisection steps to find a word in the longest follower row (target_log_probs).
        self._depth = [int(np.diff(off).max(initial=0)).bit_length() for off in offsets]
        # The order-1 distribution is the same for every context: compute it once.
        self._unigram = np.full(vocab_size, self._gammas[0][0] / vocab_size)
        self._unigram[words[0]] += alphas[0]
        self._unigram32 = self._unigram.astype(np.float32)

    # ---- fitting -----------------------------------------------------------------------

    @classmethod
    def fit(
        cls, ids: np.ndarray, vocab_size: int, order: int = 5, max_ngrams: int = 4_000_000
    ) -> KneserNey:
        """Count a whole text of token ids (no sentence markers) into an order-``order`` model.

        If more than ``max_ngrams`` n-grams of orders >= 3 would be stored, the rarest are
        pruned, highest order first among equal counts.
        """
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be 1..{MAX_ORDER}, not {order}")
        if not 1 <= vocab_size <= MAX_VOCAB:
            raise ValueError(f"vocab_size must be 1..{MAX_VOCAB}, not {vocab_size}")
        if max_ngrams < 0:
            raise ValueError(f"max_ngrams must be >= 0, not {max_ngrams}")
        grams, tables = _count(_check_ids(ids, vocab_size), vocab_size, order)
        _prune(grams[2:], max_ngrams)
        hists, offsets = _index(grams, tables, vocab_size)
        discounts = np.array([g.discounts for g in grams])
        words, alphas = [g.words for g in grams], [g.alphas for g in grams]
        return cls(order, vocab_size, discounts, offsets, words, alphas, hists)

    # ---- queries -----------------------------------------------------------------------

    def _rows(self, hist: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """The row of each history at every order (index k-1 for order k), -1 if unseen."""
        b = len(hist)
        rows = [np.zeros(b, np.int64)]  # order 1: one row, the empty history
        if self.order == 1:
            return rows
        row = np.where(lengths >= 1, hist[:, -1], -1)  # order 2: the row is the word itself
        rows.append(row)
        for j in range(2, self.order):
            keys = self._hists[j]
            key = hist[:, -j] * (self.vocab_size if j == 2 else len(self._hists[j - 1])) + row
            at = np.searchsorted(keys, key)
            ok = (row >= 0) & (lengths >= j) & (at < len(keys))
            ok[ok] = keys[at[ok]] == key[ok]
            row = np.where(ok, at, -1)
            rows.append(row)
        return rows

    def _batch_rows(self, contexts: np.ndarray, lengths: np.ndarray | None) -> tuple:
        n = self.order - 1
        hist = np.asarray(contexts, dtype=np.int64)
        if hist.ndim != 2 or hist.shape[1] != n:
            raise ValueError(f"contexts must have shape [B, {n}], not {list(hist.shape)}")
        lengths = np.full(len(hist), n) if lengths is None else np.asarray(lengths, np.int64)
        if lengths.shape != (len(hist),) or ((lengths < 0) | (lengths > n)).any():
            raise ValueError(f"lengths must be {len(hist)} values in 0..{n}")
        real = np.arange(n)[None, :] >= n - lengths[:, None]
        _check_ids(hist[real], self.vocab_size)
        return hist, self._rows(hist, lengths)

    def log_probs(self, context: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 [V]: log p(next word | the last order-1 ids of ``context``)."""
        ctx = _check_ids(context, self.vocab_size)
        ctx = ctx[len(ctx) - min(len(ctx), self.order - 1) :]
        hist = np.zeros((1, self.order - 1), np.int64)
        hist[0, hist.shape[1] - len(ctx) :] = ctx
        rows = self._rows(hist, np.array([len(ctx)]))
        p = self._unigram.copy()
        for k in range(2, self.order + 1):
            r = int(rows[k - 1][0])
            if r < 0:
                break  # a longer history than an unseen one is unseen too
            lo, hi = self._offsets[k - 1][r : r + 2]
            p *= self._gammas[k - 1][r]
            p[self._words[k - 1][lo:hi]] += self._alphas[k - 1][lo:hi]
        return np.asarray(np.log(p), dtype=np.float32)

    def log_probs_batch(
        self, contexts: np.ndarray, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """float32 [B, V] log-probs for right-aligned ``contexts`` [B, order-1].

        ``lengths[b]``: how many of row b's rightmost ids are real history (None: all).
        """
        return self._dense(contexts, lengths, log=True)

    def probs_batch(self, contexts: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """float32 [B, V] probabilities, as ``log_probs_batch`` without the log (a mixture
        of distributions adds probabilities: this spares it a log and an exp over [B, V])."""
        return self._dense(contexts, lengths, log=False)

    def _dense(self, contexts: np.ndarray, lengths: np.ndarray | None, log: bool) -> np.ndarray:
        hist, rows = self._batch_rows(contexts, lengths)
        b, v = len(hist), self.vocab_size
        # p = w_1 * p_1 + sum_k w_k * alpha_k, with w_k the product of the gammas above order k.
        weights = [np.ones(b)]
        for k in range(self.order, 1, -1):
            weights.append(weights[-1] * self._gammas[k - 1][rows[k - 1]])
        weights.reverse()  # weights[k-1]: the weight of order k
        weights[0] = weights[0].astype(np.float32)  # the dense part in float32: half the traffic
        out = np.empty((b, v), np.float32)
        # A few rows at a time, so that each block stays in cache from first write to log.
        step = max(1, _BLOCK_FLOATS // v)
        for start in range(0, b, step):
            block = out[start : start + step]
            np.multiply.outer(weights[0][start : start + step], self._unigram32, out=block)
            flat = block.reshape(-1)
            for k in range(2, self.order + 1):
                row = rows[k - 1][start : start + step]
                seen = np.flatnonzero(row >= 0)
                off = self._offsets[k - 1]
                lo = off[row[seen]]
                n = off[row[seen] + 1] - lo
                entry = np.arange(n.sum()) + np.repeat(lo - np.cumsum(n) + n, n)
                who = np.repeat(seen, n)
                # (row, word) pairs are unique within an order: += with fancy indexing is exact.
                flat[who * v + self._words[k - 1][entry]] += (
                    weights[k - 1][start + who] * self._alphas[k - 1][entry]
                ).astype(np.float32)
            if log:
                np.log(block, out=block)
        return out

    def _alpha_of(self, k: int, row: np.ndarray, word: np.ndarray) -> np.ndarray:
        """alpha_k(row, word) for many pairs at once, 0 where absent: bisection in each row."""
        off, words, alpha = self._offsets[k - 1], self._words[k - 1], self._alphas[k - 1]
        if len(words) == 0:
            return np.zeros(len(row))
        r = np.maximum(row, 0)
        lo, hi = off[r], np.where(row >= 0, off[r + 1], off[r])
        end = hi.copy()
        for _ in range(self._depth[k - 1]):
            mid = (lo + hi) >> 1
            right = words[np.minimum(mid, len(words) - 1)] < word
            lo, hi = np.where((lo < hi) & right, mid + 1, lo), np.where(right, hi, mid)
        at = np.minimum(lo, len(words) - 1)
        return np.where((lo < end) & (words[at] == word), alpha[at], 0.0)

    def target_log_probs(self, ids: np.ndarray) -> np.ndarray:
        """float64 [len(ids)-1]: log p(ids[i] | the order-1 ids before it), i = 1..len-1."""
        ids = _check_ids(ids, self.vocab_size)
        n, t = self.order - 1, len(ids)
        if t < 2:
            return np.zeros(0)
        padded = np.concatenate([np.zeros(n, np.int64), ids[:-1]])
        hist = (
            np.lib.stride_tricks.sliding_window_view(padded, n)[1:] if n else np.zeros((t - 1, 0))
        )
        rows = self._rows(hist.astype(np.int64), np.minimum(np.arange(1, t), n))
        target = ids[1:]
        p = np.full(t - 1, 1.0 / self.vocab_size)
        for k in range(1, self.order + 1):
            row = rows[k - 1]
            p = self._alpha_of(k, row, target) + self._gammas[k - 1][row] * p
        return np.asarray(np.log(p))

    def perplexity(self, ids: np.ndarray) -> float:
        return float(np.exp(-np.mean(self.target_log_probs(ids))))

    def num_ngrams(self) -> dict[int, int]:
        return {k: len(w) for k, w in enumerate(self._words, start=1)}

    def nbytes(self) -> int:
        arrays = [*self._offsets, *self._words, *self._alphas, *self._hists, *self._gammas]
        return sum(a.nbytes for a in arrays) + self._unigram.nbytes + self._unigram32.nbytes

    # ---- storage -----------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain numeric arrays (safetensors-ready) from which ``from_arrays`` rebuilds it."""
        out = {
            "meta": np.array([FORMAT_VERSION, self.order, self.vocab_size], np.int64),
            "discounts": self.discounts.astype(np.float64),
        }
        for k in range(1, self.order + 1):
            out[f"offsets{k}"] = self._offsets[k - 1]
            out[f"words{k}"] = self._words[k - 1]
            out[f"alphas{k}"] = self._alphas[k - 1]
        for j in range(2, self.order):
            out[f"hist{j}"] = self._hists[j]
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> KneserNey:
        """Rebuild from ``to_arrays``; anything inconsistent raises ``CheckpointError``.

        Sizes are checked against each other before anything is derived from them.
        """
        meta = _array(arrays, "meta", np.int64)
        _require(meta.shape == (3,) and meta[0] == FORMAT_VERSION, "unknown format")
        order, v = int(meta[1]), int(meta[2])
        _require(1 <= order <= MAX_ORDER, f"order {order} is not 1..{MAX_ORDER}")
        _require(1 <= v <= MAX_VOCAB, f"vocabulary size {v} is not 1..{MAX_VOCAB}")
        expected = {"meta", "discounts"} | {f"hist{j}" for j in range(2, order)}
        expected |= {f"{n}{k}" for n in ("offsets", "words", "alphas") for k in range(1, order + 1)}
        _require(set(arrays) == expected, f"arrays {sorted(arrays)} are not an order-{order} model")
        discounts = _array(arrays, "discounts", np.float64)
        ok: object = discounts.shape == (order, 3) and ((discounts >= 0) & (discounts <= 3)).all()
        _require(ok, "discounts must be [order, 3] values in 0..3")
        hists: list[np.ndarray] = [np.zeros(0, np.int64)] * 2
        size = [1, v]
        for j in range(2, order):
            keys = _array(arrays, f"hist{j}", np.int64)
            _require(keys.ndim == 1 and (np.diff(keys) > 0).all(), f"hist{j} is not increasing")
            ok = len(keys) == 0 or (keys[0] >= 0 and int(keys[-1]) < v * size[j - 1])
            _require(ok, f"hist{j} is out of range")
            hists.append(keys)
            size.append(len(keys))
        offsets, words, alphas = [], [], []
        for k in range(1, order + 1):
            off = _array(arrays, f"offsets{k}", np.int64)
            w = _array(arrays, f"words{k}", np.int32)
            a = _array(arrays, f"alphas{k}", np.float32)
            ok = off.shape == (size[k - 1] + 1,) and w.ndim == 1 and a.shape == w.shape
            _require(ok, f"order {k} arrays have inconsistent shapes")
            ok = off[0] == 0 and off[-1] == len(w) and (np.diff(off) >= 0).all()
            _require(ok, f"offsets{k} are not row offsets into words{k}")
            _require(len(w) == 0 or 0 <= w.min() <= w.max() < v, f"words{k} outside 0..{v - 1}")
            starts = np.zeros(len(w), bool)
            starts[off[:-1][off[:-1] < len(w)]] = True
            ok = (np.diff(w.astype(np.int64)) > 0)[~starts[1:]].all()
            _require(ok, f"words{k} rows are not strictly increasing")
            _require(((a >= 0) & (a <= 1)).all(), f"alphas{k} are not probabilities")  # NaN too
            ok = (_row_sums(off, a) <= 1 + 1e-6).all()
            _require(ok, f"alphas{k} of one history sum to more than 1")
            offsets.append(off)
            words.append(w)
            alphas.append(a)
        return cls(order, v, discounts, offsets, words, alphas, hists)


def _require(ok: object, problem: str) -> None:  # a bool, or numpy's
    if not ok:
        raise CheckpointError(f"n-gram: {problem}")


def _row_sums(offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """float64 sum of each CSR row (bincount adds in order: exact enough for gamma)."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return np.bincount(rows, weights=values.astype(np.float64), minlength=len(offsets) - 1)


def _array(arrays: dict[str, np.ndarray], name: str, dtype: type) -> np.ndarray:
    a = arrays.get(name)
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        raise CheckpointError(f"n-gram: {name} is not {np.dtype(dtype)}")
    return a


def _check_ids(ids: Sequence[int] | np.ndarray, vocab_size: int) -> np.ndarray:
    """1-D int64 ids, or ValueError if any lies outside the vocabulary."""
    a = np.asarray(ids)
    if a.size == 0:
        return np.zeros(0, np.int64)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError("token ids must be a 1-D integer array")
    if a.min() < 0 or a.max() >= vocab_size:
        raise ValueError(f"token ids must lie in 0..{vocab_size - 1}")
    return a.astype(np.int64)
