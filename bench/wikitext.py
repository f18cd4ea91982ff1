"""WikiText-2 throughput: train for a fixed time, print tokens/s and validation perplexity.

With a 28.8k-word (lowercased) vocabulary the output softmax is nearly all of a full-softmax
model's cost. ``--compare`` trains the same preset with a full and with an adaptive softmax
(Grave et al. 2017; torch's AdaptiveLogSoftmaxWithLoss) for the same time, side by side in
one run, and prints the ratio.

    python bench/wikitext.py --seconds 120
    python bench/wikitext.py --seconds 60 --compare
    python bench/wikitext.py --preset large --device cuda --seconds 120

Needs ../shared/data/wikitext-2 (train.txt, valid.txt); exits 0 with a note when it is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lstm_tui.core.model.session import Session
from lstm_tui.core.text.corpus import Corpus, read_text
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import EpochEvent, Trainer, TrainResult

WIKITEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext-2"


def train_for(
    corpus: Corpus, valid_ids: np.ndarray, args: argparse.Namespace, softmax: str
) -> dict:
    torch.manual_seed(args.seed)
    config = TrainConfig(
        batch_size=args.batch_size,
        bptt=args.bptt,
        lr=args.lr,
        epochs=1000,
        max_seconds=args.seconds,
        seed=args.seed,
        device=args.device,
    )
    session = Session.new(corpus, args.preset, config, softmax=softmax)
    trainer = Trainer(session, corpus.train_ids, valid_ids, config, report_interval=5.0)
    result = None
    for event in trainer.run():
        if isinstance(event, TrainResult):
            result = event
        elif not isinstance(event, EpochEvent) and args.verbose:
            print(
                f"  step {event.step} loss {event.loss:.3f} {event.tokens_per_second:,.0f} tok/s",
                file=sys.stderr,
            )
    assert result is not None  # its metrics: all of valid.txt (216k tokens < the 250k cap)
    return {
        "softmax": session.config.softmax,
        "params": session.model.num_parameters(),
        "steps": result.steps,
        "train_seconds": result.seconds,
        "tokens_per_second": result.tokens_per_second,
        "train_loss": result.train_loss,
        "val_perplexity": result.val_perplexity,
        "val_top1": result.val_accuracy,
        "device": str(trainer.device),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seconds", type=float, default=120.0, help="training time per model")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--softmax", default="auto", choices=["auto", "full", "adaptive"])
    parser.add_argument("--compare", action="store_true", help="full vs adaptive softmax")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--data", type=Path, default=WIKITEXT, help="folder with train/valid.txt")
    args = parser.parse_args()
    if not (args.data / "train.txt").is_file():
        print(f"skipped: WikiText-2 not found at {args.data}")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    corpus = Corpus.from_file(args.data / "train.txt", val_fraction=0)
    valid_ids = corpus.encode_text(read_text(args.data / "valid.txt"))
    print(
        f"WikiText-2: {len(corpus.ids):,} train tokens, {len(valid_ids):,} valid tokens, "
        f"{len(corpus.vocab):,} words; loaded in {time.perf_counter() - started:.1f} s; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    runs = ["full", "adaptive"] if args.compare else [args.softmax]
    results = [train_for(corpus, valid_ids, args, softmax) for softmax in runs]
    print(
        f"{'softmax':9} {'params':>7} {'steps':>6} {'tok/s':>9} {'train loss':>10} "
        f"{'val ppl':>8} {'val top1':>8}  device"
    )
    for r in results:
        print(
            f"{r['softmax']:9} {r['params'] / 1e6:6.1f}M {r['steps']:6d} "
            f"{r['tokens_per_second']:9,.0f} {r['train_loss'] or float('nan'):10.3f} "
            f"{r['val_perplexity']:8.1f} {r['val_top1']:8.1%}  {r['device']}"
        )
    if len(results) == 2:
        ratio = results[1]["tokens_per_second"] / results[0]["tokens_per_second"]
        print(f"adaptive / full throughput: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
