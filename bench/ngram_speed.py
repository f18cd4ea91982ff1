"""Kneser-Ney n-gram (lstm_tui.core.model.ngram): fit time, memory, query latency, perplexity.

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

from lstm_tui.core.model.ngram import KneserNey
from lstm_tui.core.text.tokenize import tokenize

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
    """The result, wall seconds and this thread's CPU seconds: on a shared machine the wall
    clock also counts other processes' time slices, the CPU time only this call's work."""
    start, start_cpu = time.perf_counter(), time.thread_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start, time.thread_time() - start_cpu


def speed(model: KneserNey, train: np.ndarray, rng: np.random.Generator) -> None:
    n = model.order - 1
    calls = []
    for s in rng.integers(n, len(train), 1000):
        ctx = train[s - n : s].copy()
        if rng.random() < 0.1:  # some contexts hold ids never seen in that order
            ctx[-1] = rng.integers(model.vocab_size)
        calls.append(timed(model.log_probs, ctx)[1:])
    ms = np.array(calls) * 1e3
    for i, clock in enumerate(("wall", "CPU")):
        median, p99 = np.median(ms[:, i]), np.percentile(ms[:, i], 99)
        print(f"  log_probs ({clock}): median {median:.3f} ms, p99 {p99:.3f} ms")
    batch = np.stack([train[s - n : s] for s in rng.integers(n, len(train), 512)])
    model.log_probs_batch(batch)  # warm-up
    for fn in (model.log_probs_batch, model.probs_batch):
        wall, cpu = np.median([timed(fn, batch)[1:] for _ in range(5)], axis=0) * 1e3
        print(f"  {fn.__name__} [512, V]: {wall:.1f} ms wall, {cpu:.1f} ms CPU (median of 5)")
    piece = train[:250_000]
    _, wall, cpu = timed(model.target_log_probs, piece)
    print(f"  target_log_probs over {len(piece):,} positions: {wall:.2f} s wall, {cpu:.2f} s CPU")


def report(name: str, train: np.ndarray, test: np.ndarray, vocab_size: int, args) -> None:
    print(f"{name}: {len(train):,} train tokens, {len(test):,} test tokens, V={vocab_size:,}")
    for order in (3, 5):
        model, fit_s, fit_cpu = timed(KneserNey.fit, train, vocab_size, order, args.max_ngrams)
        counts = ", ".join(f"{k}:{c:,}" for k, c in model.num_ngrams().items())
        print(
            f"  KN{order}: fit {fit_s:.2f} s ({fit_cpu:.2f} s CPU), "
            f"{model.nbytes() / 2**20:.1f} MiB, n-grams {counts}; "
            f"test perplexity {model.perplexity(test):.1f}"
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
