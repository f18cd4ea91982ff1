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

import numpy as np

from lstm_tui.core.errors import CheckpointError

MAX_ORDER = 5
MAX_VOCAB = 1 << 24  # bounds the dense vectors a checkpoint can make us allocate
FORMAT_VERSION = 1
_GAMMA_FLOOR = 1e-12  # rounding must never leave a history with no mass for the lower order


def _discounts(counts: np.ndarray) -> np.ndarray:
    """D1, D2, D3+ from the count-of-counts n1..n4 (Chen & Goodman 1998, eq. 26)."""
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
        self._gammas: list[np.ndarray] = []
        for off, alpha in zip(offsets, alphas, strict=True):
            rows = np.repeat(np.arange(len(off) - 1), np.diff(off))
            mass = np.bincount(rows, weights=alpha.astype(np.float64), minlength=len(off) - 1)
            self._gammas.append(np.maximum(1.0 - mass, _GAMMA_FLOOR))
        # Bisection steps to find a word in the longest follower row (target_log_probs).
        self._depth = [int(np.diff(off).max(initial=0)).bit_length() for off in offsets]
        # The order-1 distribution is the same for every context: compute it once.
        self._unigram = np.full(vocab_size, self._gammas[0][0] / vocab_size)
        self._unigram[words[0]] += alphas[0]

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
        ids = _check_ids(ids, vocab_size)
        n_tok, v = len(ids), vocab_size
        # Level j ranks the text's distinct j-grams in a sorted table; ``rank[t]`` is the rank of
        # the j-gram at position t. Order k needs levels k-1, k and k+1 only, so each order is
        # finished as soon as the next level exists and the older level is freed (memory).
        tables, size = {}, {0: 1, 1: v}
        small = np.int32 if n_tok < 2**31 else np.int64  # ranks and row ids: half the memory
        prev_rank, rank = np.zeros(0, np.int64), ids  # levels k-1 and k
        first_k = raw_k = np.zeros(0, np.int64)  # level k: first position and count of each
        ctxs, followers, counts, alphas, discounts = [], [], [], [], []
        for k in range(1, order + 1):
            if k < order:
                n = max(n_tok - k, 0)
                key = ids[:n] * size[k] + rank[1 : n + 1]
                tables[k + 1], first_next, rank_next, raw_next = np.unique(key, True, True, True)
                size[k + 1] = len(tables[k + 1])
                del key
            if k == order:  # the highest order keeps raw counts
                c = np.bincount(ids, minlength=v) if k == 1 else raw_k
            else:  # below it, the number of distinct words seen just before
                c = np.bincount(tables[k + 1] % size[k], minlength=size[k])
                if k + 1 == order:
                    del tables[k + 1]  # the top level holds no histories
                if n_tok >= k:
                    c[rank[0]] += 1  # the start of the text is a left neighbour too
            if k == 1:
                w = np.flatnonzero(c)
                ctx, c = np.zeros(len(w), np.int64), c[w]
            else:
                ctx, w = prev_rank[first_k], ids[first_k + k - 1]
            by_row = np.argsort(ctx.astype(np.int64) * v + w)
            ctx, w, c = ctx[by_row].astype(small), w[by_row], c[by_row]
            del by_row
            d = _discounts(c)
            total = np.bincount(ctx, weights=c, minlength=size[k - 1])
            alphas.append(_round_down((c - d[np.minimum(c, 3) - 1]) / total[ctx]))
            ctxs.append(ctx)
            followers.append(w.astype(np.int32))
            counts.append(c.astype(np.int32))
            discounts.append(d)
            if k < order:
                prev_rank, rank = rank, rank_next.reshape(-1).astype(small)
                del rank_next
                first_k, raw_k = first_next, raw_next
        del prev_rank, rank, first_k, raw_k

        # Pruning: drop the excess n-grams of orders >= 3, lowest count first, then highest order.
        high = list(range(order, 2, -1))
        excess = sum(len(counts[k - 1]) for k in high) - max_ngrams
        if excess > 0:
            group = np.concatenate(
                [counts[k - 1].astype(np.int64) * (order + 1) + (order - k) for k in high]
            )
            keep = np.ones(len(group), bool)
            keep[np.argsort(group, kind="stable")[:excess]] = False
            parts = np.split(keep, np.cumsum([len(counts[k - 1]) for k in high])[:-1])
            for k, kept in zip(high, parts, strict=True):
                ctxs[k - 1], followers[k - 1] = ctxs[k - 1][kept], followers[k - 1][kept]
                alphas[k - 1] = alphas[k - 1][kept]

        # Keep the histories that have followers, or are the newer part of a kept longer one
        # (the lookup walks from the newest word back), then renumber them densely.
        needed: dict[int, np.ndarray] = {}
        for j in range(order - 1, 1, -1):
            need = np.zeros(size[j], bool)
            need[ctxs[j]] = True
            if j + 1 < order:
                need[tables[j + 1][needed[j + 1]] % size[j]] = True
            needed[j] = need
        hists, new_rank, new_size = [np.zeros(0, np.int64)] * 2, {}, {1: v}
        for j in range(2, order):
            kept = tables[j][needed[j]]
            newer = kept % size[j - 1]
            if j > 2:
                newer = new_rank[j - 1][newer]
            hists.append(kept // size[j - 1] * new_size[j - 1] + newer)
            new_rank[j] = np.cumsum(needed[j]) - 1
            new_size[j] = int(needed[j].sum())
        offsets = [np.array([0, len(followers[0])], np.int64)]
        for k in range(2, order + 1):
            ctx = ctxs[k - 1] if k == 2 else new_rank[k - 1][ctxs[k - 1]]
            rows = np.bincount(ctx, minlength=new_size[k - 1])
            offsets.append(np.concatenate([[0], np.cumsum(rows)]).astype(np.int64))
        return cls(order, v, np.array(discounts), offsets, followers, alphas, hists)

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

    def _history(self, contexts: np.ndarray, lengths: np.ndarray | None) -> tuple:
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
        return np.log(p).astype(np.float32)

    def log_probs_batch(
        self, contexts: np.ndarray, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """float32 [B, V] log-probs for right-aligned ``contexts`` [B, order-1]."""
        hist, rows = self._history(contexts, lengths)
        b, v = len(hist), self.vocab_size
        # p = w_1 * p_1 + sum_k w_k * alpha_k, with w_k the product of the gammas above order k.
        weight = np.ones(b)
        weights = [weight]
        for k in range(self.order, 1, -1):
            row = rows[k - 1]
            weight = weight * self._gamma_at(k, row)
            weights.append(weight)
        weights.reverse()  # weights[k-1]: the weight of order k
        out = np.multiply.outer(weights[0].astype(np.float32), self._unigram.astype(np.float32))
        flat = out.reshape(-1)
        for k in range(2, self.order + 1):
            seen = np.flatnonzero(rows[k - 1] >= 0)
            off = self._offsets[k - 1]
            lo = off[rows[k - 1][seen]]
            n = off[rows[k - 1][seen] + 1] - lo
            entry = np.arange(n.sum()) + np.repeat(lo - np.cumsum(n) + n, n)
            who = np.repeat(seen, n)
            # (row, word) pairs are unique within an order, so += with fancy indexing is exact.
            flat[who * v + self._words[k - 1][entry]] += (
                weights[k - 1][who] * self._alphas[k - 1][entry]
            ).astype(np.float32)
        return np.log(out, out=out)

    def _gamma_at(self, k: int, row: np.ndarray) -> np.ndarray:
        """gamma_k of each row, 1 for an unseen history (-1): it backs off fully."""
        gammas = self._gammas[k - 1]
        if len(gammas) == 0:
            return np.ones(len(row))
        return np.where(row >= 0, gammas[np.maximum(row, 0)], 1.0)

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
            p = self._alpha_of(k, row, target) + self._gamma_at(k, row) * p
        return np.log(p)

    def perplexity(self, ids: np.ndarray) -> float:
        return float(np.exp(-np.mean(self.target_log_probs(ids))))

    def num_ngrams(self) -> dict[int, int]:
        return {k: len(w) for k, w in enumerate(self._words, start=1)}

    def nbytes(self) -> int:
        arrays = [*self._offsets, *self._words, *self._alphas, *self._hists, *self._gammas]
        return sum(a.nbytes for a in arrays) + self._unigram.nbytes

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
        """Rebuild from ``to_arrays``; anything inconsistent raises ``CheckpointError``."""
        meta = _array(arrays, "meta", np.int64)
        if meta.shape != (3,) or meta[0] != FORMAT_VERSION:
            raise CheckpointError("n-gram: unknown format (meta must be [1, order, vocab_size])")
        order, v = int(meta[1]), int(meta[2])
        if not (1 <= order <= MAX_ORDER and 1 <= v <= MAX_VOCAB):
            raise CheckpointError(f"n-gram: order {order} or vocabulary size {v} out of range")
        expected = {"meta", "discounts"} | {f"hist{j}" for j in range(2, order)}
        expected |= {f"{n}{k}" for n in ("offsets", "words", "alphas") for k in range(1, order + 1)}
        if set(arrays) != expected:
            raise CheckpointError(
                f"n-gram: arrays {sorted(arrays)} do not make an order-{order} model"
            )
        discounts = _array(arrays, "discounts", np.float64)
        if discounts.shape != (order, 3) or not ((discounts >= 0) & (discounts <= 3)).all():
            raise CheckpointError("n-gram: discounts must be [order, 3] values in 0..3")
        hists: list[np.ndarray] = [np.zeros(0, np.int64)] * 2
        size = [1, v]
        for j in range(2, order):
            keys = _array(arrays, f"hist{j}", np.int64)
            if keys.ndim != 1 or (len(keys) and (keys[0] < 0 or int(keys[-1]) >= v * size[j - 1])):
                raise CheckpointError(f"n-gram: hist{j} out of range")
            if (np.diff(keys) <= 0).any():
                raise CheckpointError(f"n-gram: hist{j} is not strictly increasing")
            hists.append(keys)
            size.append(len(keys))
        offsets, words, alphas = [], [], []
        for k in range(1, order + 1):
            off = _array(arrays, f"offsets{k}", np.int64)
            w = _array(arrays, f"words{k}", np.int32)
            a = _array(arrays, f"alphas{k}", np.float32)
            if off.shape != (size[k - 1] + 1,) or w.ndim != 1 or a.shape != w.shape:
                raise CheckpointError(f"n-gram: order {k} arrays have inconsistent shapes")
            if off[0] != 0 or off[-1] != len(w) or (np.diff(off) < 0).any():
                raise CheckpointError(f"n-gram: offsets{k} are not row offsets into words{k}")
            if len(w) and (w.min() < 0 or w.max() >= v):
                raise CheckpointError(f"n-gram: words{k} holds ids outside 0..{v - 1}")
            starts = np.zeros(len(w), bool)
            starts[off[:-1][off[:-1] < len(w)]] = True
            if (np.diff(w.astype(np.int64)) <= 0)[~starts[1:]].any():
                raise CheckpointError(f"n-gram: words{k} rows are not strictly increasing")
            if not ((a >= 0) & (a <= 1)).all():  # also false for NaN
                raise CheckpointError(f"n-gram: alphas{k} must be probabilities")
            rows = np.repeat(np.arange(len(off) - 1), np.diff(off))
            if (
                np.bincount(rows, weights=a.astype(np.float64), minlength=len(off) - 1) > 1 + 1e-6
            ).any():
                raise CheckpointError(f"n-gram: alphas{k} of one history sum to more than 1")
            offsets.append(off)
            words.append(w)
            alphas.append(a)
        return cls(order, v, discounts, offsets, words, alphas, hists)


def _array(arrays: dict[str, np.ndarray], name: str, dtype: type) -> np.ndarray:
    a = arrays.get(name)
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        raise CheckpointError(f"n-gram: {name} must be a {np.dtype(dtype).name} array")
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
