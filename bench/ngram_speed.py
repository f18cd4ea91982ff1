"""Kneser-Ney n-gram (lstm_tui.core.ngram): fit time, memory, query latency, perplexity.

    nice -n 19 python bench/ngram_speed.py
    nice -n 19 python bench/ngram_speed.py --max-ngrams 100000000   # no pruning

WikiText-2: whitespace tokens, every line ends with ``<eos>``, vocabulary from train.txt (test
words it lacks become ``<unk>``), as in the published figures. Shakespeare: the project's
lowercasing tokenizer, first 90% of tokens train, last 10% test. Needs ../shared/data; the
parts whose files are absent are skipped with a note.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lstm_tui.core.ngram import KneserNey
from lstm_tui.core.tokenize import tokenize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def whitespace_tokens(path: Path) -> list[str]:
    tokens: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens.extend(line.split())
        tokens.append("<eos>")
    return tokens


def encode(tokens: list[str], vocab: dict[str, int]) -> np.ndarray:
    unk = vocab["<unk>"]
    return np.array([vocab.get(t, unk) for t in tokens], np.int64)


def make_vocab(tokens: list[str]) -> dict[str, int]:
    """``<unk>`` is id 0, as in the project's vocabularies; the rest by first appearance."""
    return {w: i for i, w in enumerate(dict.fromkeys(["<unk>", *tokens]))}


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def speed(model: KneserNey, train: np.ndarray, rng: np.random.Generator) -> None:
    n = model.order - 1
    starts = rng.integers(n, len(train), 1000)
    latencies = []
    for s in starts:
        ctx = train[s - n : s].copy()
        if rng.random() < 0.1:  # some contexts hold ids never seen in that order
            ctx[-1] = rng.integers(model.vocab_size)
        start = time.perf_counter()
        model.log_probs(ctx)
        latencies.append(time.perf_counter() - start)
    ms = np.array(latencies) * 1e3
    print(f"  log_probs: median {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms")
    starts = rng.integers(n, len(train), 512)
    batch = np.stack([train[s - n : s] for s in starts])
    model.log_probs_batch(batch)  # warm-up: first touch of the output pages
    times = [timed(model.log_probs_batch, batch)[1] for _ in range(5)]
    print(f"  log_probs_batch [512, V]: {np.median(times) * 1e3:.1f} ms (median of 5)")
    times = [timed(model.probs_batch, batch)[1] for _ in range(5)]
    print(f"  probs_batch [512, V]: {np.median(times) * 1e3:.1f} ms (median of 5)")
    piece = train[:250_000]
    _, t = timed(model.target_log_probs, piece)
    print(f"  target_log_probs over {len(piece):,} positions: {t:.2f} s")


def report(name: str, train: np.ndarray, test: np.ndarray, vocab_size: int, args) -> None:
    print(f"{name}: {len(train):,} train tokens, {len(test):,} test tokens, V={vocab_size:,}")
    for order in (3, 5):
        model, fit_s = timed(KneserNey.fit, train, vocab_size, order, args.max_ngrams)
        counts = ", ".join(f"{k}:{c:,}" for k, c in model.num_ngrams().items())
        print(
            f"  KN{order}: fit {fit_s:.2f} s, {model.nbytes() / 2**20:.1f} MiB, "
            f"n-grams {counts}; test perplexity {model.perplexity(test):.1f}"
        )
        if order == 5 and args.speed:
            speed(model, train, np.random.default_rng(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-ngrams", type=int, default=4_000_000)
    parser.add_argument("--no-speed", dest="speed", action="store_false")
    args = parser.parse_args()

    wikitext = DATA / "wikitext-2"
    if (wikitext / "train.txt").exists() and (wikitext / "test.txt").exists():
        train_tokens = whitespace_tokens(wikitext / "train.txt")
        vocab = make_vocab(train_tokens)
        test = encode(whitespace_tokens(wikitext / "test.txt"), vocab)
        report("WikiText-2", encode(train_tokens, vocab), test, len(vocab), args)
    else:
        print(f"WikiText-2: skipped ({wikitext} is absent)")

    shakespeare = DATA / "tinyshakespeare" / "input.txt"
    if shakespeare.exists():
        tokens = tokenize(shakespeare.read_text(encoding="utf-8"))
        cut = int(len(tokens) * 0.9)
        vocab = make_vocab(tokens[:cut])
        ids = encode(tokens, vocab)
        report("tinyshakespeare", ids[:cut], ids[cut:], len(vocab), args)
    else:
        print(f"tinyshakespeare: skipped ({shakespeare} is absent)")


if __name__ == "__main__":
    main()
