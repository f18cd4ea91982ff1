"""A text file as numpy token ids, with its vocabulary and a train/validation split."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_tui.core.errors import ConfigError, CorpusError
from lstm_tui.core.store.files import read_bounded
from lstm_tui.core.text.tokenize import Tokenizer, tokenize
from lstm_tui.core.text.vocab import Vocabulary

WINDOW = 3  # the tutorial's context: predict the 4th word from the 3 before it
MIN_TOKENS = WINDOW + 1
MIN_TOKENS_FOR_SPLIT = 1000
BLOCK_CHARS = 1 << 20
MAX_CORPUS_BYTES = 2 << 30  # 2 GiB: the default --max-corpus-bytes
_WHITESPACE = re.compile(r"\s")


def read_text(path: str | Path, max_bytes: int = MAX_CORPUS_BYTES) -> str:
    """Read a UTF-8 (or BOM-marked UTF-16) text file, or raise ``CorpusError`` saying what is
    wrong. Only regular files are read, and at most ``max_bytes`` of them."""
    path = Path(path)
    data = read_bounded(path, max_bytes, CorpusError, "--max-corpus-bytes")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _utf16_text(path, data)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorpusError(f"{path}: looks binary (a NUL byte at offset {nul}), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        line_start = data.rfind(b"\n", 0, e.start) + 1
        column = len(data[line_start : e.start].decode("utf-8")) + 1  # in characters, as editors
        raise CorpusError(
            f"{path}: not valid UTF-8 at line {line}, column {column} (byte {e.start})"
        ) from None
    del data
    return _checked(path, text.removeprefix("\ufeff"))  # a BOM is not text


def _utf16_text(path: Path, data: bytes) -> str:
    """Windows editors save "Unicode" as UTF-16 with a byte order mark: read it as such."""
    try:
        text = data.decode("utf-16")  # the BOM picks the byte order and is dropped
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not valid UTF-16 at byte {e.start}") from None
    if "\x00" in text:
        raise CorpusError(f"{path}: looks binary (a NUL character), not text")
    return _checked(path, text)


def _checked(path: Path, text: str) -> str:
    if not text.strip():
        raise CorpusError(f"{path}: is empty") if not text else no_words(path)
    return text


def no_words(path: Path | None) -> CorpusError:
    """The error for a text that has characters but no words (the token cache says it too)."""
    where = f"{path}: " if path else ""
    return CorpusError(f"{where}holds no words (only whitespace or control characters)")


def text_blocks(text: str, size: int = BLOCK_CHARS) -> Iterator[str]:
    """Cut text into pieces of about ``size`` characters, at line ends where there are any.

    A text of one huge line is cut at whitespace near ``size`` characters (tokens never hold
    whitespace, so no token is cut); only a run of ``size`` characters without any is cut where
    it stands. Tokenizing a piece holds all its tokens at once: pieces keep that bounded.
    """
    start = 0
    while start < len(text):
        if len(text) - start <= size:
            yield text[start:]
            return
        end = text.find("\n", start + size, start + 2 * size)
        if end < 0:
            after = _WHITESPACE.search(text, start + size, start + 2 * size)
            before = max(
                text.rfind(" ", start, start + size), text.rfind("\t", start, start + size)
            )
            end = after.start() if after else before if before >= 0 else start + size - 1
        yield text[start : end + 1]
        start = end + 1


@dataclass
class Corpus:
    """Token ids of a whole text; ``ids[:split]`` trains, ``ids[split:]`` validates."""

    name: str
    vocab: Vocabulary
    ids: np.ndarray  # int32, one per token
    split: int
    lowercase: bool = True
    path: Path | None = None
    tokenizer: Tokenizer = Tokenizer.WORDS

    @property
    def train_ids(self) -> np.ndarray:
        return self.ids[: self.split]

    @property
    def val_ids(self) -> np.ndarray:
        return self.ids[self.split :]

    @property
    def has_validation(self) -> bool:
        return self.split < len(self.ids)

    @classmethod
    def from_text(
        cls,
        text: str,
        name: str = "text",
        lowercase: bool = True,
        min_count: int | None = None,
        max_vocab: int | None = None,
        val_fraction: float = 0.1,
        path: Path | None = None,
        vocab: Vocabulary | None = None,
        tokenizer: Tokenizer | str = Tokenizer.WORDS,
    ) -> Corpus:
        """Tokenize, rank the vocabulary and split, in one pass over the text.

        With ``vocab`` (a trained model's), the text is encoded in it instead: words it
        lacks become ``<unk>``. The whitespace tokenizer always keeps case.
        """
        kind = Tokenizer(tokenizer)
        lowercase = lowercase and kind == Tokenizer.WORDS
        if vocab is not None:
            ids = encode_text(text, vocab, lowercase, kind)
            _check_length(len(ids), path)
            split = split_point(len(ids), val_fraction)
            return cls(name, vocab, ids, split, lowercase, path, kind)
        first_seen: dict[str, int] = {}
        chunks: list[np.ndarray] = []
        for block in text_blocks(text):
            add = first_seen.setdefault
            tokens = tokenize(block, lowercase, kind)
            chunks.append(np.fromiter((add(t, len(first_seen)) for t in tokens), np.int32))
        seen_ids = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
        _check_length(len(seen_ids), path)
        counts = np.bincount(seen_ids, minlength=len(first_seen))
        vocab, remap = Vocabulary.from_counts(list(first_seen), counts, min_count, max_vocab)
        ids = remap.astype(np.int32)[seen_ids]
        split = split_point(len(ids), val_fraction)
        return cls(name, vocab, ids, split, lowercase, path, kind)

    @classmethod
    def from_file(
        cls, path: str | Path, max_bytes: int = MAX_CORPUS_BYTES, **options: object
    ) -> Corpus:
        path = Path(path)
        text = read_text(path, max_bytes)
        # from_text's keywords (vocab, lowercase, ...), passed through as the caller gave them.
        return cls.from_text(text, name=path.name, path=path, **options)  # type: ignore[arg-type]

    def encode_text(self, text: str) -> np.ndarray:
        """Ids of another text in this corpus's vocabulary (unseen words become ``<unk>``)."""
        return encode_text(text, self.vocab, self.lowercase, self.tokenizer)


def encode_text(
    text: str,
    vocab: Vocabulary,
    lowercase: bool = True,
    tokenizer: Tokenizer = Tokenizer.WORDS,
) -> np.ndarray:
    """Token ids of a text in a fixed vocabulary, unseen words as ``<unk>`` (id 0)."""
    chunks = [
        vocab.encode(tokenize(b, lowercase, tokenizer)).astype(np.int32) for b in text_blocks(text)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int32)


def _check_length(n_tokens: int, path: Path | None) -> None:
    if n_tokens == 0:
        raise no_words(path)
    if n_tokens < MIN_TOKENS:
        where = f"{path}: " if path else ""
        raise CorpusError(
            f"{where}only {n_tokens} tokens; training needs at least {MIN_TOKENS} "
            f"(a {WINDOW}-word window and the word after it)"
        )


def split_point(n_tokens: int, val_fraction: float) -> int:
    """Where validation starts: the last ``val_fraction`` of tokens, none for small texts."""
    if not 0 <= val_fraction < 1:  # also NaN; 1 or more would leave nothing to train on
        raise ConfigError(f"the validation fraction must be in [0, 1), not {val_fraction!r}")
    if n_tokens < MIN_TOKENS_FOR_SPLIT or val_fraction == 0:
        return n_tokens
    return n_tokens - max(1, int(n_tokens * val_fraction))
