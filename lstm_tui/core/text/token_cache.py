"""Big corpora: tokenised once, on every core, into a memory-mapped id file in the user cache.

Pass 1: workers tokenise byte ranges of the file (cut at line ends, so no range splits a line
or a UTF-8 character). Each returns its words in first-seen order with their counts and
writes its token ids (indexes into its own word list) to a scratch file. The main process
merges the counts in file order, so ties rank by first appearance exactly as
``Corpus.from_text`` ranks them, and applies ``min_count``/``max_vocab`` at the end.
Pass 2 maps each range's ids to vocabulary ids, straight into ``ids.npy`` at the range's
offset (known from pass 1's counts). The text is tokenised once; no process holds more
than one range of it.

An entry's key is the file's resolved path, size, mtime and a hash of its first and last
MiB, with the tokenizer and vocabulary settings: a file that changes gets a new key and is
tokenised again. Entries are written to a scratch folder renamed into place, so a crash
never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path

import numpy as np
import platformdirs

from lstm_tui.core.errors import CorpusError, UserError
from lstm_tui.core.store.files import regular_file_problem, too_big
from lstm_tui.core.store.paths import APP_NAME
from lstm_tui.core.text.corpus import (
    BLOCK_CHARS,
    Corpus,
    _check_length,
    split_point,
    text_blocks,
)
from lstm_tui.core.text.tokenize import Tokenizer as TokenKind
from lstm_tui.core.text.tokenize import tokenize
from lstm_tui.core.text.vocab import Vocabulary

CACHE_FORMAT = 2  # 2: the vocabulary keeps its rare words (issue 17)
RANGE_BYTES = 8 << 20  # one worker's share of the file at a time
HASH_BYTES = 1 << 20  # the key hashes this much of the file's head and of its tail
# Files from this size go through the cache by default: below it, tokenising in memory
# takes about as long as mapping a cache entry (bench/scale.py).
CACHE_FROM_BYTES = 4 << 20
# A file up to this size is tokenised in memory when the cache cannot be written.
IN_MEMORY_LIMIT = 256 << 20
_NEWLINE_SEARCH = 1 << 16


class CacheError(UserError):
    """The token cache folder cannot be written (read-only, full, or not a folder)."""


class CacheState(Enum):
    HIT = "hit"  # mapped from an existing entry
    BUILT = "built"  # tokenised now and cached
    IN_MEMORY = "in memory"  # tokenised now, not cached (small file, or cache unavailable)


class Phase(Enum):
    TOKENISING = "tokenising"
    WRITING = "writing ids"


ProgressFn = Callable[[Phase, int, int], None]  # phase, done, total (bytes or tokens)


@dataclass(frozen=True)
class Tokenizer:
    """How a block of whole lines becomes tokens, and the settings that name it.

    ``split`` must be picklable (a module-level function or a ``functools.partial`` of
    one): workers in other processes call it. ``settings`` goes into the cache key.
    """

    split: Callable[[str], list[str]]
    settings: dict = field(default_factory=dict)

    @classmethod
    def words(cls, lowercase: bool = True) -> Tokenizer:
        """The default: words and punctuation (``core.tokenize.tokenize``)."""
        return cls(
            partial(tokenize, lowercase=lowercase), {"tokenizer": "words", "lowercase": lowercase}
        )

    @classmethod
    def of(cls, kind: str | TokenKind, lowercase: bool = True) -> Tokenizer:
        """``words`` (lowercased unless told not to) or ``whitespace`` (case kept, <eos>)."""
        if TokenKind(kind) == TokenKind.WHITESPACE:
            return cls(
                partial(tokenize, lowercase=False, kind=TokenKind.WHITESPACE),
                {"tokenizer": "whitespace", "lowercase": False},
            )
        return cls.words(lowercase)

    @property
    def lowercase(self) -> bool:
        return bool(self.settings.get("lowercase", False))

    @property
    def kind(self) -> TokenKind:
        return TokenKind(self.settings.get("tokenizer", "words"))


@dataclass(frozen=True)
class Loaded:
    """A corpus and how it was read."""

    corpus: Corpus
    state: CacheState
    note: str | None = None  # why the cache was not used, when it could not be


@dataclass(frozen=True)
class CacheEntry:
    key: str
    folder: Path
    source: str
    tokens: int
    vocab_size: int
    size_bytes: int  # on disk
    created: str
    settings: dict
    stale: bool  # the source file changed or is gone since


def cache_dir() -> Path:
    """The token cache folder (``XDG_CACHE_HOME`` moves it on Linux)."""
    return platformdirs.user_cache_path(APP_NAME) / "tokens"


# -- loading ----------------------------------------------------------------------------------


def load_corpus(
    path: str | Path,
    *,
    tokenizer: Tokenizer | None = None,
    min_count: int | None = None,
    max_vocab: int | None = None,
    val_fraction: float = 0.1,
    vocab: Vocabulary | None = None,
    cache: bool | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    max_bytes: int | None = None,
) -> Loaded:
    """A corpus from a file, through the token cache when it is big (or ``cache=True``).

    Gives the same vocabulary and ids as ``Corpus.from_file`` with the same settings; a
    cached corpus's ids are a read-only memory map, so training reads only what it uses.
    ``vocab`` (a trained model's) encodes the text in that vocabulary instead.
    """
    path = Path(path)
    tokenizer = tokenizer or Tokenizer.words()
    size = _check_file(path, max_bytes)
    split_of = partial(split_point, val_fraction=val_fraction)
    split_of(0)  # a bad fraction is refused before any work
    if cache is None:
        cache = size >= CACHE_FROM_BYTES
    if not cache:
        return Loaded(
            _in_memory(path, tokenizer, min_count, max_vocab, val_fraction, vocab),
            CacheState.IN_MEMORY,
        )
    settings = _settings(tokenizer, min_count, max_vocab, vocab)
    folder = cache_dir() / entry_key(path, settings)
    found = _open_entry(folder)
    if found is not None:
        vocab_found, ids = found
        corpus = Corpus(
            path.name,
            vocab_found,
            ids,
            split_of(len(ids)),
            tokenizer.lowercase,
            path,
            tokenizer.kind,
        )
        return Loaded(corpus, CacheState.HIT)
    try:
        built_vocab, ids = build_entry(
            path, folder, tokenizer, settings, min_count, max_vocab, vocab, workers, progress
        )
    except CacheError as e:
        if size > IN_MEMORY_LIMIT:
            raise CorpusError(
                f"{path}: {e}; a file this big needs the cache (free some space, or point "
                "XDG_CACHE_HOME at a writable folder)"
            ) from None
        corpus = _in_memory(path, tokenizer, min_count, max_vocab, val_fraction, vocab)
        return Loaded(corpus, CacheState.IN_MEMORY, f"{e}; tokenised in memory instead")
    corpus = Corpus(
        path.name, built_vocab, ids, split_of(len(ids)), tokenizer.lowercase, path, tokenizer.kind
    )
    return Loaded(corpus, CacheState.BUILT)


def _in_memory(
    path: Path,
    tokenizer: Tokenizer,
    min_count: int | None,
    max_vocab: int | None,
    val_fraction: float,
    vocab: Vocabulary | None,
) -> Corpus:
    if tokenizer.settings == Tokenizer.of(tokenizer.kind, tokenizer.lowercase).settings:
        return Corpus.from_file(
            path,
            tokenizer=tokenizer.kind,
            lowercase=tokenizer.lowercase,
            min_count=min_count,
            max_vocab=max_vocab,
            val_fraction=val_fraction,
            vocab=vocab,
        )
    # Another tokenizer: the same two passes, in this process, with nothing written.
    vocab, ids = _tokenise(path, None, tokenizer, min_count, max_vocab, vocab, 1, None)
    split = split_point(len(ids), val_fraction)
    return Corpus(path.name, vocab, ids, split, tokenizer.lowercase, path, tokenizer.kind)


def _check_file(path: Path, max_bytes: int | None = None) -> int:
    """The size of a regular file within the limit, or one line saying why not (a FIFO or a
    device would never end, a folder is no text)."""
    problem = regular_file_problem(path)
    if problem:
        raise CorpusError(problem)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CorpusError(f"{path}: cannot read: {e.strerror or e}") from None
    if max_bytes is not None and size > max_bytes:
        raise CorpusError(too_big(path, size, max_bytes, "--max-corpus-bytes"))
    return size


def entry_key(path: Path, settings: dict) -> str:
    """The cache key of a file read with these settings (reads at most 2 MiB of it)."""
    resolved = path.resolve()
    try:
        stat = resolved.stat()
        digest = hashlib.blake2b(digest_size=16)
        with resolved.open("rb") as f:
            digest.update(f.read(HASH_BYTES))
            if stat.st_size > HASH_BYTES:
                f.seek(max(HASH_BYTES, stat.st_size - HASH_BYTES))
                digest.update(f.read(HASH_BYTES))
    except OSError as e:
        raise CorpusError(f"{path}: cannot read: {e.strerror or e}") from None
    described = {
        "format": CACHE_FORMAT,
        "path": str(resolved),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "content": digest.hexdigest(),
        **settings,
    }
    text = json.dumps(described, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _settings(
    tokenizer: Tokenizer, min_count: int | None, max_vocab: int | None, vocab: Vocabulary | None
) -> dict:
    fixed = None
    if vocab is not None:
        fixed = hashlib.blake2b("\n".join(vocab.words).encode(), digest_size=16).hexdigest()
    return {
        "tokenizer": tokenizer.settings,
        "min_count": min_count,
        "max_vocab": max_vocab,
        "fixed_vocab": fixed,
    }


def _open_entry(folder: Path) -> tuple[Vocabulary, np.ndarray] | None:
    """An entry's vocabulary and mapped ids, or None if it is missing or unreadable."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        vocab = Vocabulary.from_dict(json.loads((folder / "vocab.json").read_text("utf-8")))
        ids = np.load(folder / "ids.npy", mmap_mode="r")
        if meta.get("format") != CACHE_FORMAT or len(ids) != meta["tokens"] or ids.ndim != 1:
            raise ValueError("entry does not match its metadata")
        if len(vocab) - 1 > np.iinfo(ids.dtype).max:
            raise ValueError("id type too small for the vocabulary")
    except (OSError, ValueError, KeyError, TypeError):
        shutil.rmtree(folder, ignore_errors=True)  # missing or unreadable: tokenise again
        return None
    return vocab, ids


# -- building ---------------------------------------------------------------------------------


def build_entry(
    path: Path,
    folder: Path,
    tokenizer: Tokenizer,
    settings: dict,
    min_count: int | None = None,
    max_vocab: int | None = None,
    vocab: Vocabulary | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Vocabulary, np.ndarray]:
    """Tokenise ``path`` into the cache entry ``folder``; returns its vocabulary and ids."""
    scratch = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    try:
        try:
            scratch.mkdir(parents=True)
            stat = path.stat()
            vocab, ids = _tokenise(
                path, scratch, tokenizer, min_count, max_vocab, vocab, workers, progress
            )
            meta = {
                "format": CACHE_FORMAT,
                "source": str(path.resolve()),
                "source_size": stat.st_size,
                "source_mtime_ns": stat.st_mtime_ns,
                "tokens": len(ids),
                "vocab_size": len(vocab),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "settings": settings,
            }
            del ids  # unmapped before the folder moves
            (scratch / "vocab.json").write_text(json.dumps(vocab.to_dict()), encoding="utf-8")
            (scratch / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            try:
                os.replace(scratch, folder)
            except OSError:
                if _open_entry(folder) is None:  # debris in the way, now removed: again
                    os.replace(scratch, folder)
        except OSError as e:
            raise CacheError(_cannot_write(folder.parent, e)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _drop_stale_twins(folder)
    opened = _open_entry(folder)
    if opened is None:
        raise CacheError(f"cannot read back the token cache entry {folder}")
    return opened


def _cannot_write(folder: Path, error: OSError) -> str:
    return f"cannot write the token cache in {folder}: {error.strerror or error}"


@dataclass(frozen=True)
class _Range:
    """A worker's job: bytes [start, end) of the file, cut at line ends."""

    index: int
    path: Path
    start: int
    end: int
    tokenizer: Tokenizer
    scratch: Path | None  # where its ids go; None: returned in memory


@dataclass
class _RangeResult:
    words: list[str]  # this range's words, first seen first
    counts: np.ndarray  # their counts
    tokens: int
    chars: int
    ids: np.ndarray | None  # indexes into words, when not written to scratch
    error: str | None = None  # what is wrong with the text, worded for the user


def _tokenise_range(job: _Range) -> _RangeResult:
    """Runs in a worker: tokenise one range, in blocks, keeping only the ids."""
    with job.path.open("rb") as f:
        f.seek(job.start)
        data = f.read(job.end - job.start)
    nul = data.find(b"\x00")
    if nul >= 0:
        at = job.start + nul
        return _RangeResult(
            [],
            np.zeros(0, np.int64),
            0,
            0,
            None,
            f"looks binary (a NUL byte at offset {at}), not text",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _RangeResult(
            [], np.zeros(0, np.int64), 0, 0, None, _bad_utf8(job.path, job.start + e.start)
        )
    del data
    if job.start == 0:
        text = text.removeprefix("\ufeff")  # a BOM is not text
    first_seen: dict[str, int] = {}
    add = first_seen.setdefault
    pieces = [
        np.fromiter((add(t, len(first_seen)) for t in job.tokenizer.split(block)), np.int32)
        for block in text_blocks(text, BLOCK_CHARS)
    ]
    ids = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
    counts = np.bincount(ids, minlength=len(first_seen))
    result = _RangeResult(list(first_seen), counts, len(ids), len(text), ids)
    if job.scratch is not None:
        ids.tofile(job.scratch / f"range{job.index}.i32")
        result.ids = None
    return result


def _bad_utf8(path: Path, offset: int) -> str:
    """The line and column of a bad byte, as ``read_text`` words it."""
    line, line_start, done = 1, 0, 0
    with path.open("rb") as f:
        while done < offset:
            block = f.read(min(BLOCK_CHARS, offset - done))
            line += block.count(b"\n")
            last = block.rfind(b"\n")
            if last >= 0:
                line_start = done + last + 1
            done += len(block)
        f.seek(line_start)
        before = f.read(offset - line_start)
    column = len(before.decode("utf-8", errors="replace")) + 1
    return f"not valid UTF-8 at line {line}, column {column} (byte {offset})"


def _cut_ranges(path: Path, size: int, range_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``range_bytes``, each ending just after a newline (or at EOF)."""
    cuts = [0]
    with path.open("rb") as f:
        while cuts[-1] + range_bytes < size:
            at = cuts[-1] + range_bytes
            f.seek(at)
            while True:  # a line longer than a range makes a longer range
                piece = f.read(_NEWLINE_SEARCH)
                if not piece:
                    at = size
                    break
                newline = piece.find(b"\n")
                if newline >= 0:
                    at += newline + 1
                    break
                at += len(piece)
            if at >= size:
                break
            cuts.append(at)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def _range_results(jobs: list[_Range], workers: int) -> Iterator[Iterator[_RangeResult]]:
    """Each range's result, in file order; from a pool of processes when there is work for one.

    The pool ends with the ``with`` block, also when the caller stops early on bad text. A
    worker that dies breaks the pool with an error (``multiprocessing.Pool`` would hang).
    """
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        yield map(_tokenise_range, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
        try:
            yield pool.map(_tokenise_range, jobs)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork when this process runs one thread (the CLI: fast, and it needs no importable
    ``__main__``); spawn when it runs more (the app), as fork copies other threads' locks."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _tokenise(
    path: Path,
    scratch: Path | None,
    tokenizer: Tokenizer,
    min_count: int | None,
    max_vocab: int | None,
    vocab: Vocabulary | None,
    workers: int | None,
    progress: ProgressFn | None,
) -> tuple[Vocabulary, np.ndarray]:
    """Both passes. With ``scratch``, ids go to ``scratch/ids.npy`` (mapped); else to RAM."""
    size = path.stat().st_size
    ranges = _cut_ranges(path, size, RANGE_BYTES)
    jobs = [_Range(i, path, a, b, tokenizer, scratch) for i, (a, b) in enumerate(ranges)]
    # Pass 1: count, merging words in file order (ties then rank by first appearance).
    first_seen: dict[str, int] = {}
    counts = np.zeros(0, np.int64)
    to_global: list[np.ndarray] = []  # per range: its word index -> index in first_seen
    in_memory: list[np.ndarray] = []
    sizes: list[int] = []
    chars = 0
    with _range_results(jobs, workers or default_workers()) as results:
        for job, result in zip(jobs, results, strict=True):
            if result.error:
                raise CorpusError(f"{path}: {result.error}")
            add = first_seen.setdefault
            where = np.fromiter((add(w, len(first_seen)) for w in result.words), np.int64)
            if len(first_seen) > len(counts):
                grow = np.zeros(len(first_seen) - len(counts), np.int64)
                counts = np.concatenate([counts, grow])
            counts[where] += result.counts  # a range's words are distinct: no index repeats
            to_global.append(where)
            sizes.append(result.tokens)
            chars += result.chars
            if result.ids is not None:
                in_memory.append(result.ids)
            if progress:
                progress(Phase.TOKENISING, job.end, size)
    total = sum(sizes)
    if chars == 0:
        raise CorpusError(f"{path}: is empty")
    _check_length(total, path)  # characters but no words: no_words, as in memory
    if vocab is None:
        vocab, remap = Vocabulary.from_counts(list(first_seen), counts, min_count, max_vocab)
    else:
        remap = np.fromiter((vocab.id(w) for w in first_seen), np.int64, len(first_seen))
    dtype = np.uint16 if len(vocab) <= 1 << 16 else np.uint32
    remap = remap.astype(dtype)
    # Pass 2: each range's ids into place.
    if scratch is None:
        ids = np.empty(total, dtype)
    else:
        ids = np.lib.format.open_memmap(scratch / "ids.npy", mode="w+", dtype=dtype, shape=(total,))
    offset = 0
    for i, (where, n) in enumerate(zip(to_global, sizes, strict=True)):
        if scratch is None:
            local = in_memory[i]
        else:
            piece = scratch / f"range{i}.i32"
            local = np.fromfile(piece, np.int32)
            piece.unlink()
        ids[offset : offset + n] = remap[where][local]
        offset += n
        if progress:
            progress(Phase.WRITING, offset, total)
    if scratch is not None:
        ids.flush()
    return vocab, ids


# -- managing ---------------------------------------------------------------------------------


def list_entries() -> list[CacheEntry]:
    """Entries in the cache, newest first."""
    found = []
    folder = cache_dir()
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        meta_path = entry / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            source = Path(meta["source"])
            found.append(
                CacheEntry(
                    key=entry.name,
                    folder=entry,
                    source=str(source),
                    tokens=int(meta["tokens"]),
                    vocab_size=int(meta["vocab_size"]),
                    size_bytes=sum(p.stat().st_size for p in entry.iterdir()),
                    created=str(meta["created"]),
                    settings=dict(meta["settings"]),
                    stale=_is_stale(source, meta),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a scratch folder being written, or debris: `clear` removes it
    return sorted(found, key=lambda e: e.created, reverse=True)


def _is_stale(source: Path, meta: dict) -> bool:
    try:
        stat = source.stat()
    except OSError:
        return True
    return (stat.st_size, stat.st_mtime_ns) != (meta["source_size"], meta["source_mtime_ns"])


def clear() -> tuple[int, int]:
    """Remove every entry (and any scratch debris); returns (entries, bytes) removed."""
    folder = cache_dir()
    if not folder.is_dir():
        return 0, 0
    entries = size = 0
    for entry in folder.iterdir():
        size += sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        entries += (entry / "meta.json").exists()
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return entries, size


def _drop_stale_twins(folder: Path) -> None:
    """Remove older entries of the same file and settings: the file has changed since."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for entry in list_entries():
        twin = entry.source == meta["source"] and entry.settings == meta["settings"]
        if twin and entry.folder != folder:
            shutil.rmtree(entry.folder, ignore_errors=True)
