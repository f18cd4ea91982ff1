"""The token cache: the same corpus as tokenising in memory, hit and miss by the file's key,
a clear message for bad text, a fall-back when the cache folder cannot be written, and a
cached corpus that trains and predicts exactly like one read in memory."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lstm_tui.core.errors import CorpusError
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.text import token_cache
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.text.token_cache import CacheState, Phase, Tokenizer, load_corpus
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import Trainer


def same_corpus(a: Corpus, b: Corpus) -> None:
    assert a.vocab.words == b.vocab.words
    assert np.array_equal(a.vocab.counts, b.vocab.counts)
    assert np.array_equal(a.ids, b.ids)
    assert a.split == b.split and a.lowercase == b.lowercase and a.name == b.name


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of a few hundred bytes, so a test file is cut into many of them."""
    monkeypatch.setattr(token_cache, "RANGE_BYTES", 300)


@pytest.mark.usefixtures("small_ranges")
@pytest.mark.parametrize("workers", [1, 2])
def test_cached_corpus_equals_the_in_memory_one(write_text, make_text, workers: int) -> None:
    text = "\ufeff" + make_text(3_000, extra_words=40) + "Don't STOP 3.14 — naïve İstanbul\n"
    path = write_text(text)
    assert len(token_cache._cut_ranges(path, path.stat().st_size, 300)) > 20
    # The split is not in the key: another validation fraction maps the same entry.
    runs = [
        ({}, "built"),
        ({"min_count": 2, "max_vocab": 30}, "built"),
        ({"val_fraction": 0.2}, "hit"),
    ]
    for options, state in runs:
        expected = Corpus.from_file(path, **options)
        loaded = load_corpus(path, cache=True, workers=workers, **options)
        assert loaded.state is CacheState(state)
        same_corpus(loaded.corpus, expected)
        assert isinstance(loaded.corpus.ids, np.memmap)
        assert loaded.corpus.ids.dtype == np.uint16
    # In a trained model's vocabulary: unseen words become <unk>, as encode_text does.
    fixed = Corpus.from_text(make_text(500, seed=7)).vocab
    expected = Corpus.from_file(path, vocab=fixed, lowercase=False)
    loaded = load_corpus(path, cache=True, vocab=fixed, tokenizer=Tokenizer.words(False))
    same_corpus(loaded.corpus, expected)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r"), max_size=40),
        min_size=1,
        max_size=30,
    )
)
@example(lines=["\x1b"])  # characters but no words: both said so, in different words
def test_any_text_caches_to_the_same_tokens(tmp_path_factory, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    path = tmp_path_factory.mktemp("prop") / "text.txt"
    path.write_text(text, encoding="utf-8")

    def tokenise():
        with mock.patch.object(token_cache, "RANGE_BYTES", 16):
            return token_cache._tokenise(path, None, Tokenizer.words(), None, None, None, 1, None)

    try:
        expected = Corpus.from_file(path)
    except CorpusError as e:  # too short, empty, no words: the same message either way
        with pytest.raises(CorpusError) as caught:
            tokenise()
        assert str(caught.value) == str(e)
        return
    vocab, ids = tokenise()
    assert vocab.words == expected.vocab.words
    assert np.array_equal(ids, expected.ids)


def test_hit_on_the_second_run_miss_after_a_change(write_text, make_text) -> None:
    path = write_text(make_text(2_000))
    first = load_corpus(path, cache=True)
    assert first.state is CacheState.BUILT
    second = load_corpus(path, cache=True)
    assert second.state is CacheState.HIT
    same_corpus(first.corpus, second.corpus)
    [entry] = token_cache.list_entries()
    assert entry.source == str(path.resolve()) and not entry.stale
    assert entry.tokens == len(first.corpus.ids)

    # Touched: the mtime is in the key, so the file is read again (its tokens are the same).
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_corpus(path, cache=True).state is CacheState.BUILT
    # Changed in place, same size and mtime: the content hash of its head tells.
    text = path.read_text(encoding="utf-8")
    stat = path.stat()
    path.write_text(text.replace("cat", "dog", 1), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = load_corpus(path, cache=True)
    assert changed.state is CacheState.BUILT
    same_corpus(changed.corpus, Corpus.from_file(path))
    # Older entries of the same file were dropped; other settings keep their own entry.
    assert len(token_cache.list_entries()) == 1
    assert load_corpus(path, cache=True, max_vocab=10).state is CacheState.BUILT
    assert len(token_cache.list_entries()) == 2
    assert load_corpus(path, cache=True, tokenizer=Tokenizer.words(False)).state is CacheState.BUILT
    entries, size = token_cache.clear()
    assert entries == 3 and size > 0 and token_cache.list_entries() == []


def test_small_files_stay_in_memory_unless_asked(write_text, make_text) -> None:
    path = write_text(make_text(500))
    assert path.stat().st_size < token_cache.CACHE_FROM_BYTES
    loaded = load_corpus(path)
    assert loaded.state is CacheState.IN_MEMORY and loaded.note is None
    same_corpus(loaded.corpus, Corpus.from_file(path))
    assert not token_cache.cache_dir().exists()


@pytest.mark.usefixtures("small_ranges")
def test_progress_is_reported_per_range(write_text, make_text) -> None:
    path = write_text(make_text(2_000))
    seen: list[tuple[Phase, int, int]] = []
    load_corpus(path, cache=True, progress=lambda *a: seen.append(a))
    reading = [s for s in seen if s[0] is Phase.TOKENISING]
    writing = [s for s in seen if s[0] is Phase.WRITING]
    assert len(reading) > 5 and reading[-1][1] == reading[-1][2] == path.stat().st_size
    assert [s[1] for s in reading] == sorted(s[1] for s in reading)
    assert writing[-1][1] == writing[-1][2]


@pytest.mark.usefixtures("small_ranges")
def test_bad_text_is_one_clear_line_as_in_memory(write_text, make_text) -> None:
    good = make_text(600).encode()
    cases = {
        "nul": good + b"tail \x00 here\n",
        "utf8": good + "caf\u00e9 ".encode()[:-2] + b"\xff\n",
        "empty": b"",
        "bom": b"\xef\xbb\xbf",
        "blank": b" \n\n\t \n",
        "short": b"one two\n",
    }
    for name, data in cases.items():
        path = write_text(data, name=f"{name}.txt")
        with pytest.raises(CorpusError) as expected:
            Corpus.from_file(path)
        with pytest.raises(CorpusError) as cached:
            load_corpus(path, cache=True)
        assert str(cached.value) == str(expected.value), name
    assert not any(token_cache.cache_dir().iterdir())  # no entry, no scratch left behind


def test_an_unwritable_cache_falls_back_to_memory(
    write_text, make_text, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_text(make_text(2_000))
    cache_home.parent.mkdir(parents=True, exist_ok=True)
    cache_home.write_text("a file where the cache folder should be")
    loaded = load_corpus(path, cache=True)
    assert loaded.state is CacheState.IN_MEMORY
    assert "cannot write the token cache" in loaded.note and "tokenised in memory" in loaded.note
    same_corpus(loaded.corpus, Corpus.from_file(path))
    # Too big to read in memory: a clear error that says what to do.
    monkeypatch.setattr(token_cache, "IN_MEMORY_LIMIT", 100)
    with pytest.raises(CorpusError, match=r"needs the cache .*XDG_CACHE_HOME"):
        load_corpus(path, cache=True)


def test_a_full_disk_leaves_no_scratch(write_text, make_text, monkeypatch) -> None:
    path = write_text(make_text(2_000))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np.lib.format, "open_memmap", full)
    loaded = load_corpus(path, cache=True)
    assert loaded.state is CacheState.IN_MEMORY
    assert "No space left on device" in loaded.note
    assert list(token_cache.cache_dir().iterdir()) == []


def test_a_damaged_entry_is_rebuilt(write_text, make_text) -> None:
    path = write_text(make_text(2_000))
    assert load_corpus(path, cache=True).state is CacheState.BUILT  # and unmapped again
    [entry] = token_cache.list_entries()
    (entry.folder / "ids.npy").write_bytes(b"not numpy")
    again = load_corpus(path, cache=True)
    assert again.state is CacheState.BUILT
    same_corpus(again.corpus, Corpus.from_file(path))
    del again
    [entry] = token_cache.list_entries()
    (entry.folder / "meta.json").unlink()  # half an entry, left by hand: in the way of a new one
    assert load_corpus(path, cache=True).state is CacheState.BUILT
    assert len(token_cache.list_entries()) == 1


def test_a_cached_run_trains_and_predicts_exactly_like_an_uncached_one(
    write_text, make_text, make_session
) -> None:
    path = write_text(make_text(3_000))
    in_memory = Corpus.from_file(path)
    cached = load_corpus(path, cache=True).corpus
    predictions = []
    for corpus in (in_memory, cached):
        session = make_session(corpus, seed=5)
        config = TrainConfig(seed=5, epochs=2, batch_size=4, bptt=12, device="cpu")
        trainer = Trainer(session, corpus.train_ids, corpus.val_ids, config)
        if corpus is cached:  # the map itself: training never copies the corpus
            assert np.shares_memory(trainer.train_ids, cached.ids)
        list(trainer.run())
        predictor = Predictor(session)
        words = [(w.word, w.prob) for w in predictor.next_words("the old mouse", k=10)]
        weights = [p.detach().clone() for p in session.model.parameters()]
        predictions.append((words, weights, session.metrics))
    (words_a, weights_a, metrics_a), (words_b, weights_b, metrics_b) = predictions
    assert words_a == words_b
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))
    assert metrics_a == metrics_b


def test_cli_trains_and_evaluates_through_the_cache_and_manages_it(
    write_text, make_text, capsys
) -> None:
    from lstm_tui.cli import main

    path = write_text(make_text(2_000))
    out = path.with_suffix(".safetensors")
    model = ["--preset", "seed-1layer", "--hidden", "16", "--embed", "16", "--epochs", "1"]
    train = ["train", str(path), *model, "--token-cache", "on", "--quiet", "--out", str(out)]
    assert main(train) == 0
    [entry] = token_cache.list_entries()
    assert main([*train, "--json"]) == 0  # a hit: same key, no second entry
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["world_size"] == 1
    assert len(token_cache.list_entries()) == 1
    # eval in the model's vocabulary: an entry of its own, the same figures as in memory
    evaluate = ["eval", str(path), "--checkpoint", str(out), "--json"]
    assert main([*evaluate, "--token-cache", "on"]) == 0
    cached = json.loads(capsys.readouterr().out)
    assert main([*evaluate, "--token-cache", "off"]) == 0
    in_memory = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in cached.items() if k != "seconds"} == {
        k: v for k, v in in_memory.items() if k != "seconds"
    }
    assert main(["cache", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["source"] for r in rows] == [str(path.resolve())] * 2
    assert entry.key in {r["key"] for r in rows} and not any(r["stale"] for r in rows)
    assert main(["cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 2
    assert main(["cache", "list"]) == 0
    assert "no cached corpora" in capsys.readouterr().err
