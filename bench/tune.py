"""Choose the ``auto`` preset by experiment: train candidate settings under a time budget on
public text of several sizes, and print held-out perplexity of the LSTM, the n-gram and the
mixture for each. The table in ``lstm_tui/core/training/auto.py`` comes from runs of this script.

    python bench/tune.py --seconds 120 --corpora wt20k wt50k wt200k shakespeare --grid small

Corpora are read from ../shared/data (WikiText-2 slices, whitespace tokens, tested on the
first 30k tokens of valid.txt; Shakespeare, words tokens, last 10% held out) and skipped when
missing. One JSON line per run on stdout. ``--threads`` sets torch's threads (1 by default,
as the CLI trains on a busy 2-core machine; 2 as it does on an idle one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lstm_tui.core.model.session import Session
from lstm_tui.core.text.corpus import Corpus, encode_text
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.metrics import evaluate_session
from lstm_tui.core.training.train import Trainer, TrainResult

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST_TOKENS = 30_000

# name -> model overrides, train overrides
_AWD = {"locked_dropout": True, "tie_weights": True}


def _awd(size: int, layers: int, dropout: float, **more: float) -> dict:
    """An AWD-LSTM-style model: locked dropout on the LSTM's input and output, word dropout."""
    return {
        "embed": size,
        "hidden": size,
        "layers": layers,
        "dropout": dropout,
        "dropout_input": more.get("dropout_input", dropout + 0.1),
        "dropout_embed": more.get("dropout_embed", 0.1),
        **({"dropout_hidden": more.get("dropout_hidden", 0.2)} if layers > 1 else {}),
        **_AWD,
    }


_TRAIN = {"lr": 3e-3, "weight_decay": 0.1}

# name -> (model overrides, train overrides); an empty model means the auto preset
GRIDS: dict[str, dict[str, tuple[dict, dict]]] = {
    "small": {
        "auto": ({}, {}),
        "h128-1l": (_awd(128, 1, 0.3), {"batch_size": 32, **_TRAIN}),
        "h256-1l": (_awd(256, 1, 0.4), {"batch_size": 32, **_TRAIN}),
        "h256-1l-b64": (_awd(256, 1, 0.4), {"batch_size": 64, **_TRAIN}),
        "h400-1l-b64": (_awd(400, 1, 0.4), {"batch_size": 64, **_TRAIN}),
        "h256-2l-b64": (_awd(256, 2, 0.3), {"batch_size": 64, **_TRAIN}),
        "old-default": ({"embed": 256, "hidden": 256, "layers": 2, "dropout": 0.2}, {}),
    },
    # The auto preset's learning rate, once words seen once became <unk> (auto_min_count).
    "lr": {
        "auto": ({}, {}),
        "auto-lr5e-3": ({}, {"lr": 5e-3}),
        "auto-lr8e-3": ({}, {"lr": 8e-3}),
        "auto-lr1.2e-2": ({}, {"lr": 1.2e-2}),
    },
    # Issue 17: the LSTM alone against KN5 on texts of 30k words and more, once the weights
    # kept are the LSTM's best. Throughput (a smaller LSTM, a higher rate) for texts read
    # less than a few times in the budget; more dropout for those read tens of times.
    "smalltext": {
        "auto": ({}, {}),
        "h128-lr8e-3": (_awd(128, 1, 0.3), {"batch_size": 32, **_TRAIN, "lr": 8e-3}),
        "h128-lr1.5e-2": (_awd(128, 1, 0.3), {"batch_size": 32, **_TRAIN, "lr": 1.5e-2}),
        "h256-drop.5": (_awd(256, 1, 0.5, dropout_input=0.6), {"batch_size": 32, **_TRAIN}),
    },
    # Texts under 100k tokens stop on a plateau about halfway through 120 s, at their best
    # after 5 to 9 epochs (issue 17 item 5, docs/SMALLTEXT.md): is more dropout worth it?
    "regsmall": {
        "auto": ({}, {}),
        "h128-drop.4": (_awd(128, 1, 0.4), {"batch_size": 32, **_TRAIN, "lr": 8e-3}),
        "h128-drop.5": (_awd(128, 1, 0.5), {"batch_size": 32, **_TRAIN, "lr": 8e-3}),
        "h192-drop.5": (_awd(192, 1, 0.5), {"batch_size": 32, **_TRAIN, "lr": 8e-3}),
        "h128-drop.6": (_awd(128, 1, 0.6), {"batch_size": 32, **_TRAIN, "lr": 8e-3}),
    },
    # Above 4,000 words the auto preset took an adaptive softmax (untied, rare words in a
    # 64-wide tail) for its throughput; once training ran on both cores, is a tied full
    # softmax worth its cost?
    "softmax": {
        "auto": ({}, {}),
        "auto-full": ({"preset": "auto", "softmax": "full"}, {}),
    },
}


def corpus_pair(name: str) -> tuple[Corpus, np.ndarray] | None:
    """(training corpus, held-out ids in its vocabulary) for a named public corpus."""
    wt = SHARED / "wikitext-2"
    if name.startswith("wt"):
        if not wt.is_dir():
            return None
        lines = (wt / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
        sizes = {"wt20k": 20_000, "wt50k": 50_000, "wt100k": 100_000, "wt200k": 200_000,
                 "wt500k": 500_000}  # fmt: skip
        size = sizes.get(name, 10**9)
        kept, n = [], 0
        for line in lines:
            kept.append(line)
            n += len(line.split()) + 1
            if n >= size:
                break
        corpus = Corpus.from_text("".join(kept), name=name, tokenizer="whitespace")
        test = encode_text(
            (wt / "valid.txt").read_text(encoding="utf-8"), corpus.vocab, False, corpus.tokenizer
        )
        return corpus, test[:TEST_TOKENS]
    if name == "shakespeare":
        path = SHARED / "tinyshakespeare" / "input.txt"
        if not path.is_file():
            return None
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        cut = int(len(lines) * 0.9)
        corpus = Corpus.from_text("".join(lines[:cut]), name=name)
        return corpus, corpus.encode_text("".join(lines[cut:]))[:TEST_TOKENS]
    path = Path(name)  # any other text file: its last 10% of lines held out
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = int(len(lines) * 0.9)
    corpus = Corpus.from_text("".join(lines[:cut]), name=path.name)
    return corpus, corpus.encode_text("".join(lines[cut:]))[:TEST_TOKENS]


def run(corpus: Corpus, test: np.ndarray, model: dict, train: dict, seconds: float) -> dict:
    from lstm_tui.core.training.auto import auto_choice

    auto = not model or model.get("preset") == "auto"  # the auto preset, these changed
    model = {k: v for k, v in model.items() if k != "preset"}
    preset = "auto" if auto else "default"
    if auto:
        train = {**auto_choice(len(corpus.train_ids)).train, **train}
    config = TrainConfig(**{**train, "max_seconds": seconds, "seed": 1})
    started = time.perf_counter()
    session = Session.new(corpus, preset, config, **model)
    ngram_seconds = time.perf_counter() - started
    result = None
    for event in Trainer(session, corpus.train_ids, corpus.val_ids, config).run():
        if isinstance(event, TrainResult):
            result = event
    assert result is not None
    wall = time.perf_counter() - started
    figures = evaluate_session(session, test)
    return {
        "train_tokens": len(corpus.train_ids),
        "vocab": len(corpus.vocab),
        "model": session.config.describe(),
        "steps": result.steps,
        "epochs": result.epochs,
        "tok_s": round(result.tokens_per_second),
        "best_epoch": result.best_epoch,
        "stop": result.reason.value,
        "wall": round(wall, 1),
        "ngram_s": round(ngram_seconds, 2),
        "mix": {k: round(v, 3) for k, v in (figures["mix"] or {}).items()},
        **{
            f"{part}_{key}": round(value, 4 if key != "perplexity" else 2)
            for part, scores in figures["components"].items()
            for key, value in scores.items()
            if value is not None
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--corpora", nargs="+", default=["wt20k", "wt50k", "shakespeare"])
    parser.add_argument("--grid", default="small", choices=sorted(GRIDS))
    parser.add_argument("--only", nargs="*", help="names from the grid")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CLI's choice)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.corpora:
        pair = corpus_pair(name)
        if pair is None:
            print(f"skipped {name}: ../shared/data is missing", file=sys.stderr)
            continue
        corpus, test = pair
        for setting, (model, train) in GRIDS[args.grid].items():
            if args.only and setting not in args.only:
                continue
            figures = run(corpus, test, model, train, args.seconds)
            print(json.dumps({"corpus": name, "setting": setting, **figures}), flush=True)


if __name__ == "__main__":
    main()
