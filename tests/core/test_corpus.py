"""Corpus files: the fable, the validation split, and a clear error for every bad file."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lstm_tui.core.errors import ConfigError, CorpusError, UserError
from lstm_tui.core.text.corpus import Corpus, encode_text, read_text, split_point, text_blocks
from lstm_tui.core.text.tokenize import UNK, tokenize


def test_the_fable(fable: Corpus, fable_text: str) -> None:
    assert len(fable.ids) == 204
    assert len(fable.vocab) == 113  # 112 words and <unk>
    assert fable.vocab.counts[0] == 0
    assert fable.ids.dtype == np.int32
    assert not fable.has_validation
    assert len(fable.train_ids) == 204 and len(fable.val_ids) == 0
    assert fable.vocab.decode(fable.ids) == fable_text.split()
    ranking = Counter(fable_text.split()).most_common()
    assert fable.vocab.words[1:] == [w for w, _ in ranking]
    assert fable.name == "belling_the_cat.txt" and fable.lowercase


def test_a_split_holds_out_the_last_tenth_from_1000_tokens(write_text, make_text) -> None:
    text = make_text(1_200)
    corpus = Corpus.from_file(write_text(text))
    n = len(corpus.ids)
    assert n == len(tokenize(text)) >= 1_000
    assert corpus.has_validation
    assert corpus.split == n - n // 10
    assert np.array_equal(corpus.val_ids, corpus.ids[corpus.split :])
    assert np.array_equal(np.concatenate([corpus.train_ids, corpus.val_ids]), corpus.ids)
    assert corpus.ids.dtype == np.int32


def test_split_point_rules() -> None:
    assert split_point(999, 0.1) == 999  # too small to hold anything out
    assert split_point(1_000, 0.1) == 900
    assert split_point(10_000, 0.25) == 7_500
    assert split_point(10_000, 0.0) == 10_000
    assert split_point(1_005, 0.0001) == 1_004  # at least one token when asked for a split
    for bad in (1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="validation fraction"):
            split_point(2_000, bad)
    with pytest.raises(ConfigError, match="validation fraction"):
        Corpus.from_text("a b c d e", val_fraction=2.0)


def _error(path) -> str:
    with pytest.raises(CorpusError) as caught:
        Corpus.from_file(path)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert "\n" not in message and message.strip() == message
    assert str(path) in message
    return message


def test_missing_file(tmp_path) -> None:
    assert "no such file" in _error(tmp_path / "nope.txt")


def test_folder(tmp_path) -> None:
    assert "folder" in _error(tmp_path)


def test_empty_file(write_text) -> None:
    assert "empty" in _error(write_text(""))


def test_whitespace_only(write_text) -> None:
    assert "only whitespace" in _error(write_text(" \n\t\r\n  \u00a0\n"))


def test_binary_file(write_text) -> None:
    message = _error(write_text(b"some text\x00\x01\x02\xff more", name="data.bin"))
    assert "binary" in message and "NUL" in message


def test_invalid_utf8_names_line_and_column(write_text) -> None:
    # The bad byte is the 8th character of line 3 (after a two-byte "é").
    path = write_text(b"first line\nsecond\ncaf\xc3\xa9 ok\xff rest\n")
    message = _error(path)
    assert "not valid UTF-8" in message
    assert "line 3, column 8" in message


def test_latin1_file_is_refused_with_its_place(write_text) -> None:
    message = _error(write_text("naïve café\n".encode("latin-1")))
    assert "line 1, column 3" in message


def test_shorter_than_one_training_window(write_text) -> None:
    message = _error(write_text("the cat ."))  # 3 tokens; a window and its next word need 4
    assert "3 tokens" in message and "at least 4" in message
    assert len(Corpus.from_file(write_text("the cat sat .")).ids) == 4


def test_a_utf8_bom_is_ignored(write_text) -> None:
    corpus = Corpus.from_file(write_text("\ufeffThe cat sat on the mat .\n"))
    assert corpus.vocab.decode(corpus.ids) == ["the", "cat", "sat", "on", "the", "mat", "."]
    assert read_text(write_text("\ufeffhello")) == "hello"


def test_a_bom_alone_is_an_empty_file(write_text) -> None:
    assert "empty" in _error(write_text("\ufeff"))
    assert "only whitespace" in _error(write_text("\ufeff \n"))


def test_crlf_and_unicode_text(write_text) -> None:
    corpus = Corpus.from_file(write_text("Zoë said: «ça va ?»\r\nyes, it's fine.\r\n"))
    assert corpus.vocab.decode(corpus.ids) == tokenize("Zoë said: «ça va ?» yes, it's fine.")


def test_options_lowercase_min_count_max_vocab(write_text) -> None:
    path = write_text("The cat and the Cat and THE dog saw a bird and a cat")
    kept = Corpus.from_file(path, lowercase=False)
    assert {"The", "Cat", "THE"} <= set(kept.vocab.words)
    assert not kept.lowercase

    rare_cut = Corpus.from_file(path, min_count=2)
    assert set(rare_cut.vocab.words) == {UNK, "the", "cat", "and", "a"}
    assert rare_cut.vocab.counts[0] == 3 == int((rare_cut.ids == 0).sum())  # dog saw bird

    top = Corpus.from_file(path, max_vocab=3)
    assert top.vocab.words == [UNK, "the", "cat"]  # the, cat, and: 3 each, first seen wins
    assert top.vocab.counts[0] == int((top.ids == 0).sum()) == 14 - 6


def test_encoding_other_text_in_a_fixed_vocabulary(fable: Corpus, write_text) -> None:
    ids = encode_text("The cat saw a zebra .", fable.vocab)
    assert ids.dtype == np.int32
    assert fable.vocab.decode(ids) == ["the", "cat", UNK, "a", UNK, "."]
    again = Corpus.from_file(write_text("the cat saw the zebra"), vocab=fable.vocab)
    assert again.vocab is fable.vocab
    assert again.vocab.decode(again.ids) == ["the", "cat", UNK, "the", UNK]


def test_blocks_cut_at_line_ends_and_tokens_never_straddle_them() -> None:
    text = "".join(f"line {i} has words , and more\n" for i in range(500))
    blocks = list(text_blocks(text, size=100))
    assert len(blocks) > 10
    assert "".join(blocks) == text
    assert all(b.endswith("\n") for b in blocks)
    corpus = Corpus.from_text(text, min_count=1)  # every word kept: decoding gives it back
    assert corpus.vocab.decode(corpus.ids) == tokenize(text)
    one_line = "no newline at all"  # cut at spaces: no word is longer than a block
    assert list(text_blocks(one_line, size=8)) == ["no newline ", "at all"]


def test_a_large_text_is_read_in_blocks_with_the_same_ids(make_text) -> None:
    text = make_text(520_000, extra_words=2_000)  # several 1 MiB blocks
    assert len(text) > 2 * (1 << 20)
    corpus = Corpus.from_text(text, min_count=1)
    tokens = tokenize(text)
    assert len(corpus.ids) == len(tokens)
    assert corpus.ids.dtype == np.int32 and corpus.ids.nbytes == 4 * len(tokens)
    assert corpus.vocab.words[1:] == [w for w, _ in Counter(tokens).most_common()]
    sample = slice(len(tokens) // 2, len(tokens) // 2 + 1_000)
    assert corpus.vocab.decode(corpus.ids[sample]) == tokens[sample]
