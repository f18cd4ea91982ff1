"""Held-out quality at defaults, against the project's own Kneser-Ney 3- and 5-gram.

For each corpus: split into train and test text; count KN3 and KN5 from the train text; run
``lstm-tui train TRAIN --max-seconds S --json`` at defaults (the ``auto`` preset, the mixture
on), then ``lstm-tui eval TEST --json``; print perplexity and top-1/top-3 of each, and whether
the issue's bars are met: the LSTM alone beats KN3's perplexity; the mixture beats KN5's
perplexity by at least 15% and its top-3 accuracy by at least 2 points.

Keystrokes saved (issue 17, docs/TYPING.md): ``eval --ksr`` types the test text with the
mixture, the LSTM alone and the n-gram alone (top-5 row and completion, rare words offered);
the same typist types it with KN5-open, a Kneser-Ney 5-gram counted on the whole train text
with every word of it in its vocabulary (min count 1), at the same sampled positions. Target:
the mixture saves at least 5 points more than KN5-open on every corpus.

    python bench/quality.py                       # every corpus found, 120 s each
    python bench/quality.py --corpora shakespeare jargon --seconds 60
    python bench/quality.py --plain 300           # WikiText-2: ours vs the plain loop, 300 s

Corpora (each skipped when missing): WikiText-2 (../shared/data, train.txt -> test.txt,
``--tokenizer whitespace``), and its slice (the first 40k words of train.txt -> the first 10k
of test.txt); Shakespeare's slice (its first 40k words, the last 10% of lines held out);
Shakespeare (../shared/data/tinyshakespeare, last 10% of lines held out); the Jargon File
(Debian ``jargon-text``, first 120k words) and fortune cookies (Debian ``fortunes``, first
50k words), last 10% of lines held out. ``--plain`` trains the
plain loop of pytorch/examples word_language_model (embedding 200, 2×200 LSTM, dropout 0.2,
SGD lr 20, clip 0.25, batch 20, bptt 35) for the same time in the same run on the same
tokens, and compares test perplexities.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstm_tui.core.model.ngram import KneserNey
from lstm_tui.core.serving.typist import RowOfferer, sample_positions, simulate
from lstm_tui.core.store.checkpoint import load
from lstm_tui.core.text.corpus import Corpus, encode_text, text_blocks
from lstm_tui.core.text.tokenize import tokenize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TOPK_POSITIONS = 20_000  # as lstm-tui eval: top-k on an even sample of a long text


def _lines(text: str, words: int | None) -> list[str]:
    lines = text.splitlines(keepends=True)
    if words is None:
        return lines
    kept, n = [], 0
    for line in lines:
        kept.append(line)
        n += len(line.split())
        if n >= words:
            break
    return kept


def _split(lines: list[str]) -> tuple[str, str]:
    cut = int(len(lines) * 0.9)
    return "".join(lines[:cut]), "".join(lines[cut:])


def corpora(folder: Path) -> dict[str, tuple[Path, Path, str]]:
    """name -> (train file, test file, tokenizer), written to ``folder``; missing ones left out."""
    found: dict[str, tuple[Path, Path, str]] = {}
    wt = SHARED / "wikitext-2"
    if (wt / "train.txt").is_file():
        found["wikitext-2"] = (wt / "train.txt", wt / "test.txt", "whitespace")
        slices = {"train": 40_000, "test": 10_000}
        for part, words in slices.items():
            kept = _lines((wt / f"{part}.txt").read_text(encoding="utf-8"), words)
            (folder / f"wikitext-2-40k.{part}.txt").write_text("".join(kept), encoding="utf-8")
        found["wikitext-2-40k"] = (
            folder / "wikitext-2-40k.train.txt",
            folder / "wikitext-2-40k.test.txt",
            "whitespace",
        )
    sources = {
        "shakespeare": (SHARED / "tinyshakespeare" / "input.txt", None),
        "shakespeare-40k": (SHARED / "tinyshakespeare" / "input.txt", 40_000),
        "jargon": (Path("/usr/share/doc/jargon-text/jargon.txt.gz"), 120_000),
        "fortunes": (Path("/usr/share/games/fortunes/fortunes"), 50_000),
    }
    for name, (source, words) in sources.items():
        if not source.is_file():
            continue
        if source.suffix == ".gz":
            text = gzip.decompress(source.read_bytes()).decode("utf-8", "replace")
        elif name == "fortunes":  # every fortune file of the package, in name order
            parts = sorted(p for p in source.parent.iterdir() if "." not in p.name)
            text = "".join(p.read_text("utf-8", "replace") for p in parts)
        else:
            text = source.read_text(encoding="utf-8")
        train, test = _split(_lines(text, words))
        found[name] = (folder / f"{name}.train.txt", folder / f"{name}.test.txt", "words")
        found[name][0].write_text(train, encoding="utf-8")
        found[name][1].write_text(test, encoding="utf-8")
    return found


def ngram_figures(ngram: KneserNey, ids: np.ndarray) -> dict:
    """Perplexity over every test token; top-1/top-3 on an even sample of positions."""
    logp = ngram.target_log_probs(ids)
    positions = np.unique(np.linspace(1, len(ids) - 1, TOPK_POSITIONS).astype(np.int64))
    hits = np.zeros(2)
    k = ngram.order - 1
    for lo in range(0, len(positions), 512):
        at = positions[lo : lo + 512]
        contexts = ids[np.maximum(at[:, None] + np.arange(-k, 0)[None, :], 0)]
        rows = ngram.log_probs_batch(contexts, np.minimum(at, k))
        rows[:, 0] = -np.inf  # as lstm-tui eval: <unk> is never a suggestion, nor a hit
        best = np.argsort(-rows, axis=1)[:, :3]
        hits += [(best[:, 0] == ids[at]).sum(), (best == ids[at][:, None]).any(1).sum()]
    return {
        "perplexity": math.exp(-logp.mean()),
        "top1": hits[0] / len(positions),
        "top3": hits[1] / len(positions),
    }


def kn_open_ksr(train: Path, test: Path, tokenizer: str, top_k: int = 5) -> dict:
    """Keystrokes saved with a KN5 that offers every word of the train text (min count 1),
    by the typist ``eval --ksr`` uses, at the same sampled positions of the test text."""
    corpus = Corpus.from_file(train, tokenizer=tokenizer, min_count=1, val_fraction=0)
    text = test.read_text(encoding="utf-8")
    kind, lowercase = corpus.tokenizer, corpus.lowercase
    tokens = [t for block in text_blocks(text) for t in tokenize(block, lowercase, kind)]
    ids = corpus.vocab.encode(tokens)
    ngram = KneserNey.fit(corpus.ids.astype(np.int64), len(corpus.vocab), order=5)
    k = ngram.order - 1

    def rows(at: np.ndarray) -> torch.Tensor:
        contexts = ids[np.maximum(at[:, None] + np.arange(-k, 0)[None, :], 0)]
        return torch.log(torch.from_numpy(ngram.probs_batch(contexts, np.minimum(at, k))))

    positions = sample_positions(len(tokens))
    typed = simulate(RowOfferer(corpus.vocab, rows, positions, top_k), tokens, positions)
    return {**typed.to_dict(), "vocab": len(corpus.vocab), "positions": len(positions)}


def lstm_tui(*args: str) -> dict:
    """Run the CLI as a user would; its last stdout line is JSON."""
    command = [sys.executable, "-m", "lstm_tui", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    name: str, train: Path, test: Path, tokenizer: str, seconds: float, out: Path,
    extra: Sequence[str] = (),
):  # fmt: skip
    checkpoint = out / f"{name}.safetensors"
    flags = ["--tokenizer", tokenizer] if tokenizer != "words" else []
    trained = lstm_tui(
        "train", str(train), "--max-seconds", str(seconds), "--json", "--quiet",
        "--out", str(checkpoint), *flags, *extra,
    )  # fmt: skip
    evaluated = lstm_tui("eval", str(test), "--checkpoint", str(checkpoint), "--json", "--ksr")
    # The n-grams count the same text in the vocabulary the model chose (its min count).
    vocab = load(checkpoint).vocab
    corpus = Corpus.from_file(train, tokenizer=tokenizer, vocab=vocab)
    test_ids = corpus.encode_text(test.read_text(encoding="utf-8")).astype(np.int64)
    row: dict = {"corpus": name, "train_tokens": len(corpus.ids), "test_tokens": len(test_ids)}
    row["vocab"] = len(vocab)
    row["test_unknown"] = round(float((test_ids == 0).mean()), 4)
    for order in (3, 5):
        started = time.perf_counter()
        ngram = KneserNey.fit(corpus.ids.astype(np.int64), len(vocab), order=order)
        row[f"kn{order}_seconds"] = round(time.perf_counter() - started, 2)
        row[f"kn{order}"] = ngram_figures(ngram, test_ids)
    parts = evaluated["components"]
    row.update(
        model=trained["model"],
        steps=trained["steps"],
        epochs=trained["epochs"],
        best_epoch=trained["best_epoch"],
        stop=trained["stop_reason"],
        train_wall=trained["wall_seconds"],
        tokens_per_second=trained["tokens_per_second"],
        mix=evaluated["mix"],
        lstm=parts["lstm"],
        mixture=parts.get("mixture", parts["lstm"]),
    )
    typed = evaluated["ksr"]
    row["ksr"] = {name: round(100 * typed[name]["ksr"], 2) for name in ("mixture", "lstm", "ngram")}
    kn_open = kn_open_ksr(train, test, tokenizer)
    row["ksr"]["kn5_open"] = round(100 * kn_open["ksr"], 2)
    row["ksr"]["ceiling"] = round(100 * typed["mixture"]["ceiling"], 2)
    row["ksr"]["positions"] = typed["positions"]
    row["first_key"] = {
        "mixture": round(100 * typed["mixture"]["offered_before_first_letter"], 2),
        "kn5_open": round(100 * kn_open["offered_before_first_letter"], 2),
    }
    row["kn5_open_vocab"] = kn_open["vocab"]
    kn3, kn5, lstm, mixture = row["kn3"], row["kn5"], row["lstm"], row["mixture"]
    row["checks"] = {
        "lstm_beats_kn3": lstm["perplexity"] < kn3["perplexity"],
        "mixture_ppl_vs_kn5": round(mixture["perplexity"] / kn5["perplexity"], 3),
        "mixture_top3_minus_kn5": round(float(100 * (mixture["top3"] - kn5["top3"])), 2),
        "mixture_ksr_minus_kn5_open": round(row["ksr"]["mixture"] - row["ksr"]["kn5_open"], 2),
    }
    row["checks"]["ksr_met"] = row["checks"]["mixture_ksr_minus_kn5_open"] >= 5.0
    row["checks"]["met"] = bool(
        row["checks"]["lstm_beats_kn3"]
        and row["checks"]["mixture_ppl_vs_kn5"] <= 0.85
        and row["checks"]["mixture_top3_minus_kn5"] >= 2.0
    )
    return row


class PlainLSTM(nn.Module):
    """pytorch/examples word_language_model's RNNModel, LSTM, untied, as its defaults."""

    def __init__(self, ntoken: int, ninp: int = 200, nhid: int = 200, nlayers: int = 2):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, x, hidden):  # x [T, B]
        output, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(output)), hidden


def plain_loop(train_ids: np.ndarray, test_ids: np.ndarray, vocab: int, seconds: float) -> dict:
    """The examples' training loop (SGD lr 20, clip 0.25, batch 20, bptt 35) for ``seconds``."""
    torch.manual_seed(1111)

    def batchify(ids: np.ndarray, bsz: int) -> torch.Tensor:
        n = len(ids) // bsz
        return torch.as_tensor(ids[: n * bsz], dtype=torch.long).view(bsz, n).t().contiguous()

    data, model, lr, bptt = batchify(train_ids, 20), PlainLSTM(vocab), 20.0, 35
    criterion = nn.CrossEntropyLoss()
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        model.train()
        hidden = None
        for i in range(0, data.size(0) - 1, bptt):
            if time.perf_counter() - started >= seconds:
                break
            seq = min(bptt, len(data) - 1 - i)
            x, y = data[i : i + seq], data[i + 1 : i + 1 + seq].reshape(-1)
            hidden = None if hidden is None else tuple(h.detach() for h in hidden)
            model.zero_grad()
            output, hidden = model(x, hidden)
            criterion(output.view(-1, vocab), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            steps += 1
    trained = time.perf_counter() - started
    model.eval()
    test = batchify(test_ids, 10)
    total, count, hidden = 0.0, 0, None
    with torch.inference_mode():
        for i in range(0, test.size(0) - 1, bptt):
            seq = min(bptt, len(test) - 1 - i)
            output, hidden = model(test[i : i + seq], hidden)
            y = test[i + 1 : i + 1 + seq].reshape(-1)
            total += criterion(output.view(-1, vocab), y).item() * len(y)
            count += len(y)
    return {
        "steps": steps,
        "train_seconds": round(trained, 1),
        "perplexity": math.exp(total / count),
    }


def compare_plain(seconds: float, out: Path) -> dict | None:
    wt = SHARED / "wikitext-2"
    if not (wt / "train.txt").is_file():
        print("skipped the plain loop: WikiText-2 not found", file=sys.stderr)
        return None
    corpus = Corpus.from_file(wt / "train.txt", tokenizer="whitespace", val_fraction=0)
    test_ids = encode_text(
        (wt / "test.txt").read_text(encoding="utf-8"), corpus.vocab, False, corpus.tokenizer
    ).astype(np.int64)
    checkpoint = out / "wikitext-300.safetensors"
    ours = lstm_tui(
        "train", str(wt / "train.txt"), "--tokenizer", "whitespace", "--max-seconds",
        str(seconds), "--json", "--quiet", "--out", str(checkpoint),
    )  # fmt: skip
    evaluated = lstm_tui("eval", str(wt / "test.txt"), "--checkpoint", str(checkpoint), "--json")
    plain = plain_loop(corpus.ids.astype(np.int64), test_ids, len(corpus.vocab), seconds)
    return {
        "ours": {
            "perplexity": evaluated["perplexity"],
            "lstm_perplexity": evaluated["components"]["lstm"]["perplexity"],
            "steps": ours["steps"],
            "wall_seconds": ours["wall_seconds"],
            "model": ours["model"],
        },
        "plain": plain,
        "ratio": round(evaluated["perplexity"] / plain["perplexity"], 3),
        "lstm_ratio": round(evaluated["components"]["lstm"]["perplexity"] / plain["perplexity"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--corpora", nargs="*", help="names (default: every one found)")
    parser.add_argument("--plain", type=float, metavar="SECONDS", help="WikiText-2 vs plain loop")
    parser.add_argument(
        "--threads", type=int, help="torch threads for every model (default: as the CLI picks)"
    )
    parser.add_argument(
        "--train-args", default="", help="more flags for lstm-tui train, e.g. '--min-count 1'"
    )
    args = parser.parse_args()
    if args.threads:  # the CLI runs in child processes: they read it from the environment
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if args.plain:
            print(json.dumps({"plain_loop_comparison": compare_plain(args.plain, out)}))
            return
        for name, (train, test, tokenizer) in corpora(out).items():
            if args.corpora and name not in args.corpora:
                continue
            row = measure(name, train, test, tokenizer, args.seconds, out, args.train_args.split())
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
