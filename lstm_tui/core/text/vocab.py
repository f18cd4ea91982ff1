"""The vocabulary: word <-> id, ranked by frequency, with counts and prefix search."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lstm_tui.core.errors import CorpusError
from lstm_tui.core.text.tokenize import UNK

# The most words a vocabulary keeps unless told how many (--max-vocab): 5 million distinct
# words at --min-count 1 made a model of several GB and ran the machine out of memory.
MAX_VOCAB_WORDS = 500_000

SORT_KEYS = ("id", "word", "count")
# At most this many rare words are kept (the most frequent, ties in order of first appearance):
# a huge text of names and typos would otherwise carry millions of them in every checkpoint.
MAX_RARE_WORDS = 200_000


# Below this many tokens a text is learnt by heart (the fable) and has no validation split
# (corpus.MIN_TOKENS_FOR_SPLIT): every word keeps its id, and the seed preset trains on it.
SMALL_CORPUS_TOKENS = 1_000


def auto_min_count(tokens: int) -> int:
    """Fewest times a word must occur to get its own id; rarer words become ``<unk>``.

    On a text big enough to train on, words seen once become ``<unk>``, as in the usual
    preparation of PTB and WikiText (Mikolov et al. 2010; Merity et al. 2016). Without it,
    ``<unk>`` never occurs in training: the LSTM learns to give it no probability and never
    trains its embedding, so every word of held-out text (or of what the user types) that the
    vocabulary lacks costs it dearly and leaves a meaningless state behind. A tiny text (the
    fable) is learnt by heart and keeps every word.
    """
    return 1 if tokens < SMALL_CORPUS_TOKENS else 2


class RareWords:
    """Words the vocabulary maps to ``<unk>``, with their counts: its open end.

    The LSTM keeps a small vocabulary (a word seen once is ``<unk>`` to it), but the predictor
    must still offer every word of the training text and every word the user typed. These are
    the words ``<unk>`` stands for; the predictor shares ``<unk>``'s probability among them
    in proportion to their counts (``log_share``). Mutable: ``add`` counts typed words, and
    ``version`` moves so that a predictor rebuilds what it derived from them.
    """

    def __init__(self, words: Sequence[str] = (), counts: Sequence[int] = ()) -> None:
        if len(words) != len(counts):
            raise ValueError("rare words need one count per word")
        self.words: list[str] = []
        self.counts: list[int] = []
        self.index: dict[str, int] = {}
        self.version = 0
        self._derived: tuple[int, list[str], np.ndarray, np.ndarray, np.ndarray] | None = None
        for word, count in zip(words, counts, strict=True):
            if word == UNK or word in self.index or int(count) <= 0:
                raise ValueError(f"bad rare word {word!r} (count {count})")
            self.index[word] = len(self.words)
            self.words.append(word)
            self.counts.append(int(count))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def add(self, words: Iterable[str]) -> list[str]:
        """Count these words (each one more time); returns those not seen before."""
        new: list[str] = []
        for word in words:
            if word == UNK or not word:
                continue
            i = self.index.get(word)
            if i is None:
                self.index[word] = len(self.words)
                self.words.append(word)
                self.counts.append(1)
                new.append(word)
            else:
                self.counts[i] += 1
        if len(self.words) > MAX_RARE_WORDS:  # drop the rarest, the latest among ties
            order = sorted(range(len(self.words)), key=lambda i: -self.counts[i])
            keep = sorted(order[:MAX_RARE_WORDS])
            self.words = [self.words[i] for i in keep]
            self.counts = [self.counts[i] for i in keep]
            self.index = {w: i for i, w in enumerate(self.words)}
        self.version += 1
        return new

    def _tables(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(words sorted, their indices, log share, indices by count), rebuilt when the words
        changed: a keystroke only looks them up."""
        if self._derived is None or self._derived[0] != self.version:
            order = sorted(range(len(self.words)), key=self.words.__getitem__)
            counts = np.asarray(self.counts, dtype=np.float64)
            share = np.log(counts / counts.sum()) if len(counts) else counts
            self._derived = (
                self.version,
                [self.words[i] for i in order],
                np.asarray(order, dtype=np.int64),
                share,
                np.argsort(-counts, kind="stable"),
            )
        return self._derived[1:]

    @property
    def log_share(self) -> np.ndarray:
        """[len(self)] log P(word | the word is one of these): its count over theirs."""
        return self._tables()[2]

    def prefix_ids(self, prefix: str) -> np.ndarray:
        """Indices of the rare words starting with ``prefix``, O(log n + hits)."""
        words, order, _, _ = self._tables()
        lo = bisect.bisect_left(words, prefix)
        n = len(prefix)
        hi = bisect.bisect_right(words, prefix, lo, key=lambda w: w[:n])
        return order[lo:hi]

    def most_common(self, k: int) -> np.ndarray:
        """Indices of the ``k`` most frequent rare words (ties: first seen first)."""
        return self._tables()[3][:k]

    def to_dict(self) -> dict[str, list]:
        return {"words": list(self.words), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: dict | None) -> RareWords:
        if not data:
            return cls()
        return cls(data["words"], data["counts"])


@dataclass(frozen=True)
class VocabRow:
    """One word as the vocabulary browser shows it."""

    id: int
    word: str
    count: int
    share: float  # fraction of all corpus tokens


class Vocabulary:
    """Ids by frequency, most common first, ties in order of first appearance.

    Id 0 is always ``<unk>``; its count is the number of corpus tokens that became ``<unk>``
    (rare words cut by ``min_count``/``max_vocab``, or a literal ``<unk>`` in the text).
    """

    def __init__(
        self,
        words: Sequence[str],
        counts: Sequence[int] | np.ndarray,
        rare: RareWords | None = None,
    ) -> None:
        if not words or words[0] != UNK:
            raise ValueError(f"a vocabulary starts with {UNK}")
        if len(words) != len(counts):
            raise ValueError("a vocabulary needs one count per word")
        self.words: list[str] = list(words)
        self.counts: np.ndarray = np.asarray(counts, dtype=np.int64)
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("a vocabulary cannot hold the same word twice")
        # Words in sorted order, for prefix ranges by bisection.
        order = sorted(range(len(self.words)), key=self.words.__getitem__)
        self._sorted_words = [self.words[i] for i in order]
        self._sorted_ids = np.asarray(order, dtype=np.int64)
        self.total = int(self.counts.sum())
        # The words ``<unk>`` stands for (cut by min_count/max_vocab, or typed by the user).
        self.rare = rare if rare is not None else RareWords()

    @classmethod
    def from_counts(
        cls,
        words_in_order: Sequence[str],
        counts: Sequence[int] | np.ndarray,
        min_count: int | None = None,
        max_vocab: int | None = None,
    ) -> tuple[Vocabulary, np.ndarray]:
        """Rank words seen in first-appearance order by count.

        Returns the vocabulary and ``remap``: ``remap[i]`` is the new id of the i-th word
        in ``words_in_order`` (0 for words cut to ``<unk>``). ``min_count`` None: as
        ``auto_min_count`` picks for a text of this many tokens.
        """
        counts = np.asarray(counts, dtype=np.int64)
        if min_count is None:
            min_count = auto_min_count(int(counts.sum()))
        # A stable sort on -count keeps first appearance among ties (as Counter.most_common).
        ranked = np.argsort(-counts, kind="stable")
        is_unk = np.fromiter((w == UNK for w in words_in_order), bool, len(words_in_order))
        keep = ranked[(counts[ranked] >= min_count) & ~is_unk[ranked]]
        if max_vocab is not None:
            keep = keep[: max(0, max_vocab - 1)]  # one slot is <unk>
        elif len(keep) + 1 > MAX_VOCAB_WORDS:
            raise CorpusError(
                f"{len(keep) + 1:,} words seen at least {min_count} time(s): more than the "
                f"{MAX_VOCAB_WORDS:,} a model here holds (its input and output layers grow with "
                "each word); raise --min-count or set --max-vocab"
            )
        remap = np.zeros(len(words_in_order), dtype=np.int64)
        remap[keep] = np.arange(1, len(keep) + 1)
        unk_count = int(counts.sum() - counts[keep].sum())
        words = [UNK] + [words_in_order[i] for i in keep]
        cut = ranked[(remap[ranked] == 0) & ~is_unk[ranked]][:MAX_RARE_WORDS]
        cut.sort()  # first appearance, as the words were seen
        rare = RareWords([words_in_order[i] for i in cut], counts[cut].tolist())
        return cls(words, np.concatenate([[unk_count], counts[keep]]), rare), remap

    @classmethod
    def build(
        cls, tokens: Iterable[str], min_count: int | None = None, max_vocab: int | None = None
    ) -> Vocabulary:
        """A vocabulary of these tokens (a convenience for small texts)."""
        first_seen: dict[str, int] = {}
        tally: list[int] = []
        for token in tokens:
            i = first_seen.setdefault(token, len(first_seen))
            if i == len(tally):
                tally.append(0)
            tally[i] += 1
        vocab, _ = cls.from_counts(list(first_seen), tally, min_count, max_vocab)
        return vocab

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index and word != UNK

    def id(self, word: str) -> int:
        return self.index.get(word, 0)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        get = self.index.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def prefix_ids(self, prefix: str) -> np.ndarray:
        """Ids of every word starting with ``prefix`` (``<unk>`` excluded), O(log n + hits)."""
        lo = bisect.bisect_left(self._sorted_words, prefix)
        # Cutting words to the prefix's length keeps them sorted: the range ends at the first
        # word whose start sorts after the prefix (a "prefix + max character" bound would miss
        # words that go on with that character).
        n = len(prefix)
        hi = bisect.bisect_right(self._sorted_words, prefix, lo, key=lambda w: w[:n])
        ids: np.ndarray = self._sorted_ids[lo:hi]
        return np.asarray(ids[ids != 0])

    def learn(self, words: Iterable[str]) -> list[str]:
        """Count words typed by the user that the vocabulary lacks, so they can be offered
        (``core.serving.open_vocab``); returns those never seen before."""
        return self.rare.add(w for w in words if w not in self.index)

    def row(self, i: int) -> VocabRow:
        share = float(self.counts[i]) / self.total if self.total else 0.0
        return VocabRow(i, self.words[i], int(self.counts[i]), share)

    def query(
        self,
        text: str = "",
        sort: str = "count",
        descending: bool | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[list[VocabRow], int]:
        """Rows whose word contains ``text``, sorted, at most ``limit`` of them from the
        ``offset``-th on (a browser pages through all of them this way).

        Returns the rows and how many words matched in all, so a browser can show
        "200 of 3,141" without ever holding every row.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"sort by one of {', '.join(SORT_KEYS)}, not {sort!r}")
        if descending is None:
            descending = sort == "count"
        if text:
            ids = np.fromiter((i for i, w in enumerate(self.words) if text in w), dtype=np.int64)
        else:
            ids = np.arange(len(self.words), dtype=np.int64)
        total = len(ids)
        if sort == "word":
            ids = np.asarray(sorted(ids.tolist(), key=self.words.__getitem__), dtype=np.int64)
        elif sort == "count":
            # Ascending count, ties by descending id, so that reversed it reads like the ids.
            ids = ids[np.lexsort((-ids, self.counts[ids]))]
        if descending:
            ids = ids[::-1]
        offset = max(0, offset)
        return [self.row(int(i)) for i in ids[offset : offset + limit]], total

    def to_dict(self) -> dict[str, list | dict]:
        return {"words": self.words, "counts": self.counts.tolist(), "rare": self.rare.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(data["words"], data["counts"], RareWords.from_dict(data.get("rare")))
