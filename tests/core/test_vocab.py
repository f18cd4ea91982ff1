"""Vocabulary: ranking, counts, <unk>, the rare tail, prefix lookup, query()."""

from __future__ import annotations

import random
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_tui.core.text.tokenize import UNK
from lstm_tui.core.text.vocab import Vocabulary

PROPERTY = settings(max_examples=100, deadline=None)

WORDS = st.sampled_from(
    ["the", "cat", "a", "mouse", "bell", "ca", "cab", "cat's", ",", ".", "é", "ü\U0010ffff"]
)
TOKENS = st.lists(st.one_of(WORDS, st.text(min_size=1, max_size=4)), max_size=80)


def expected_ranking(tokens: list[str]) -> list[tuple[str, int]]:
    return Counter(t for t in tokens if t != UNK).most_common()


@PROPERTY
@given(TOKENS)
def test_ids_by_frequency_ties_by_first_appearance(tokens: list[str]) -> None:
    vocab = Vocabulary.build(tokens)
    ranking = expected_ranking(tokens)
    assert vocab.words[0] == UNK
    assert vocab.words[1:] == [w for w, _ in ranking]
    assert vocab.counts[1:].tolist() == [c for _, c in ranking]
    assert vocab.counts[0] == tokens.count(UNK)
    assert vocab.total == len(tokens) == int(vocab.counts.sum())
    assert len(vocab) == len(ranking) + 1


@PROPERTY
@given(TOKENS, st.integers(1, 4), st.one_of(st.none(), st.integers(1, 6)))
def test_min_count_and_max_vocab_send_the_tail_to_unk(
    tokens: list[str], min_count: int, max_vocab: int | None
) -> None:
    vocab = Vocabulary.build(tokens, min_count=min_count, max_vocab=max_vocab)
    kept = [(w, c) for w, c in expected_ranking(tokens) if c >= min_count]
    if max_vocab is not None:
        kept = kept[: max_vocab - 1]
        assert len(vocab) <= max_vocab
    assert list(zip(vocab.words[1:], vocab.counts[1:].tolist(), strict=True)) == kept
    assert vocab.counts[0] == len(tokens) - sum(c for _, c in kept)  # every cut token is <unk>
    assert vocab.total == len(tokens)
    ids = vocab.encode(tokens)
    assert int((ids == 0).sum()) == vocab.counts[0]


@PROPERTY
@given(TOKENS, TOKENS)
def test_encode_decode_round_trip_and_unk_for_unseen(seen: list[str], other: list[str]) -> None:
    vocab = Vocabulary.build(seen)
    ids = vocab.encode(seen)
    assert ids.dtype == np.int64
    assert vocab.decode(ids) == seen
    for token, i in zip(other, vocab.encode(other), strict=True):
        if token in set(seen) and token != UNK:
            assert vocab.words[i] == token
            assert token in vocab
        else:
            assert i == 0
            assert token not in vocab
    assert vocab.id("never-seen-anywhere") == 0
    assert UNK not in vocab  # <unk> is a slot, not a word


@PROPERTY
@given(TOKENS, st.one_of(WORDS, st.text(max_size=3)))
def test_prefix_lookup_equals_brute_force(tokens: list[str], prefix: str) -> None:
    vocab = Vocabulary.build(tokens)
    found = vocab.prefix_ids(prefix).tolist()
    expected = {i for i, w in enumerate(vocab.words) if i > 0 and w.startswith(prefix)}
    assert len(found) == len(set(found))
    assert set(found) == expected


def test_prefix_lookup_examples() -> None:
    vocab = Vocabulary.build(
        ["the", "cat", "sat", "on", "the", "cab", "case", "of", "a", "car", ",", "cat"]
    )
    assert sorted(vocab.decode(vocab.prefix_ids("ca"))) == ["cab", "car", "case", "cat"]
    assert vocab.decode(vocab.prefix_ids("cat")) == ["cat"]
    assert len(vocab.prefix_ids("zz")) == 0
    assert sorted(vocab.prefix_ids("").tolist()) == list(range(1, len(vocab)))  # no <unk>
    # The highest code point is a character like any other.
    edge = Vocabulary.build(["u\U0010ffff", "u\U0010ffffz", "u", "v"])
    assert sorted(edge.decode(edge.prefix_ids("u"))) == ["u", "u\U0010ffff", "u\U0010ffffz"]
    assert edge.decode(edge.prefix_ids("u\U0010ffff")) == ["u\U0010ffff", "u\U0010ffffz"]


def test_prefix_lookup_is_fast_on_50k_words() -> None:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(2, 12))) for _ in range(60_000)}
    vocab = Vocabulary.build(sorted(words)[:50_000], min_count=1)
    assert len(vocab) == 50_001
    prefixes = ["".join(rng.choices(letters, k=rng.randint(1, 3))) for _ in range(300)]
    started = time.perf_counter()
    hits = sum(len(vocab.prefix_ids(p)) for p in prefixes)
    per_lookup = (time.perf_counter() - started) / len(prefixes)
    assert hits > 0
    assert per_lookup < 0.005, f"{per_lookup * 1000:.2f} ms per prefix lookup"
    for p in prefixes[:5]:  # and still right
        assert set(vocab.decode(vocab.prefix_ids(p))) == {w for w in words if w.startswith(p)} & {
            *vocab.words[1:]
        }


@pytest.fixture(scope="module")
def small_vocab() -> Vocabulary:
    # counts: the 4, cat 3, mouse 2, bell 2, a 1, mice 1; plus one <unk>
    return Vocabulary.build(
        [
            "the",
            "cat",
            "the",
            "mouse",
            "<unk>",
            "the",
            "cat",
            "bell",
            "a",
            "mouse",
            "the",
            "mice",
            "bell",
            "cat",
        ]
    )


def test_query_sorts_filters_and_limits(small_vocab: Vocabulary) -> None:
    rows, total = small_vocab.query()
    assert total == len(small_vocab) == 7
    assert [r.word for r in rows] == ["the", "cat", "mouse", "bell", UNK, "a", "mice"]
    assert [r.count for r in rows] == sorted((r.count for r in rows), reverse=True)
    assert rows[0].share == pytest.approx(4 / 14)
    assert sum(r.share for r in rows) == pytest.approx(1.0)

    rows, total = small_vocab.query("m")
    assert total == 2 and {r.word for r in rows} == {"mouse", "mice"}
    rows, total = small_vocab.query("e", sort="word")
    assert [r.word for r in rows] == ["bell", "mice", "mouse", "the"] and total == 4
    rows, _ = small_vocab.query("e", sort="word", descending=True)
    assert [r.word for r in rows] == ["the", "mouse", "mice", "bell"]
    rows, _ = small_vocab.query(sort="id")
    assert [r.id for r in rows] == list(range(7))
    rows, total = small_vocab.query(sort="count", descending=False, limit=2)
    assert total == 7 and [r.count for r in rows] == [1, 1]
    rows, total = small_vocab.query("zebra")
    assert rows == [] and total == 0
    with pytest.raises(ValueError):
        small_vocab.query(sort="length")


def test_query_stays_quick_on_50k_words() -> None:
    vocab = Vocabulary([UNK, *(f"w{i}" for i in range(50_000))], [0, *range(50_000, 0, -1)])
    started = time.perf_counter()
    rows, total = vocab.query("12", sort="word", limit=200)
    assert time.perf_counter() - started < 0.5
    assert total == sum("12" in f"w{i}" for i in range(50_000)) and len(rows) == 200


def test_row_and_dict_round_trip(small_vocab: Vocabulary) -> None:
    row = small_vocab.row(1)
    assert (row.id, row.word, row.count) == (1, "the", 4)
    again = Vocabulary.from_dict(small_vocab.to_dict())
    assert again.words == small_vocab.words
    assert again.counts.tolist() == small_vocab.counts.tolist()


def test_a_vocabulary_rejects_bad_tables() -> None:
    with pytest.raises(ValueError):
        Vocabulary(["cat"], [1])  # no <unk> first
    with pytest.raises(ValueError):
        Vocabulary([UNK, "cat"], [1])
    with pytest.raises(ValueError):
        Vocabulary([UNK, "cat", "cat"], [0, 1, 1])
