"""Learning as it reads: held-out perplexity with and without adaptation, and a tuning grid.

    python bench/adapt.py CKPT TEXT [TEXT ...] [--lr 0.03 --decay 0.001 --prior 3]
    python bench/adapt.py CKPT VALID --grid   # step size × decay, and the n-gram's prior

Every text is read in one stream by the same model, once as trained and once learning as it
goes (``lstm_tui.core.serving.adapt``), so the two figures of a row differ only by adaptation.
Run with one thread (it sets it) and say how loaded the machine was.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstm_tui.core.serving.adapt import AdaptConfig, adaptive_probs, adaptive_scores
from lstm_tui.core.store import checkpoint
from lstm_tui.core.text.corpus import encode_text
from lstm_tui.core.training.metrics import score_components


def ppl(probs: np.ndarray) -> float:
    return float(np.exp(-np.log(np.maximum(probs, 1e-30)).mean()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--lr", type=float, default=AdaptConfig.lr)
    parser.add_argument("--decay", type=float, default=AdaptConfig.decay)
    parser.add_argument("--prior", type=float, default=AdaptConfig.prior)
    parser.add_argument("--segment", type=int, default=AdaptConfig.segment)
    parser.add_argument("--max-tokens", type=int, default=0, help="score only the first N")
    parser.add_argument("--grid", action="store_true")
    parser.add_argument(
        "--app",
        action="store_true",
        help="the app's costs: learning one sent line, and a keystroke with what was learnt",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    session = checkpoint.load(args.checkpoint)
    config = AdaptConfig(lr=args.lr, decay=args.decay, prior=args.prior, segment=args.segment)
    print(f"{args.checkpoint}: {session.summary()}, mix {session.mix}")
    if args.app:
        app_costs(args.checkpoint, Path(args.texts[0]))
        return
    for path in args.texts:
        text = Path(path).read_text(encoding="utf-8")
        ids = encode_text(text, session.vocab, session.lowercase, session.tokenizer)
        if args.max_tokens:
            ids = ids[: args.max_tokens]
        if args.grid:
            grid(session, ids, config)
            continue
        started = time.perf_counter()
        scores = adaptive_scores(session.model, session.ngram, session.mix, ids, config)
        figures = scores.perplexities()
        without, with_ = figures["static"], figures["adapted"]
        change = with_["mixture"] / without["mixture"] - 1
        parts = " ".join(f"{k} {without[k]:.1f}->{with_[k]:.1f}" for k in with_)
        seconds = time.perf_counter() - started
        print(
            f"{Path(path).name}: {len(ids)} tokens  {parts}  mixture {change:+.1%}  {seconds:.0f}s"
        )


def app_costs(path: str, text_path: Path, lines: int = 40) -> None:
    """Learn from ``lines`` lines of a text one by one (as sent in the app), then type the
    next lines with a predictor of the learnt session and one of the same model as trained,
    keystroke by keystroke, alternating: medians and p99 side by side."""
    from lstm_tui.core.serving.adapt import learn
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.text.tokenize import tokenize

    text = [ln for ln in text_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    learnt, plain = checkpoint.load(path), checkpoint.load(path)
    costs = []
    for line in text[:lines]:
        ids = [learnt.vocab.id(t) for t in tokenize(line, learnt.lowercase, learnt.tokenizer)]
        started = time.perf_counter()
        learn(learnt, ids)
        costs.append(time.perf_counter() - started)
    ms = np.array(costs) * 1000
    words = learnt.adaptation.words if learnt.adaptation else 0
    print(
        f"learning one sent line ({words / lines:.1f} tokens on average): median "
        f"{np.median(ms):.1f} ms, max {ms.max():.1f} ms over {lines} lines"
    )
    predictors = {"as trained": Predictor(plain), "learnt": Predictor(learnt)}
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for line in text[lines : lines + 20]:
        for end in range(1, len(line) + 1):
            for name, predictor in predictors.items():
                started = time.perf_counter()
                predictor.suggest(line[:end])
                times[name].append(time.perf_counter() - started)
    for name, values in times.items():
        ms = np.array(values) * 1000
        print(
            f"keystroke, {name}: median {np.median(ms):.2f} ms, p99 "
            f"{np.percentile(ms, 99):.2f} ms ({len(ms)} keystrokes)"
        )


def grid(session, ids: np.ndarray, config: AdaptConfig) -> None:
    """Each (lr, decay) once for the LSTM, each prior once for the n-gram, then every mix."""
    weights = session.mix.as_array()
    static = score_components(session.model, ids, 1, session.ngram, weights).probs
    print(f"  as trained: lstm {ppl(static[0]):.2f}, mixture {ppl(weights @ static):.2f}")
    lstm_rows = {}
    for lr, decay in itertools.product((0.3, 1.0, 3.0), (0.0, 0.001, 0.01)):
        cfg = replace(config, lr=lr, decay=decay)
        probs = adaptive_probs(session.model, None, ids, cfg)
        lstm_rows[(lr, decay)] = probs[0]
        print(f"  lr {lr:g} decay {decay:g}: lstm {ppl(static[0]):.2f} -> {ppl(probs[0]):.2f}")
    for prior in (100.0, 300.0, 1000.0):
        cfg = replace(config, lr=0.0, prior=prior)
        ngram = adaptive_probs(session.model, session.ngram, ids, cfg)

        def mixed(key: tuple[float, float], ngram: np.ndarray = ngram) -> np.ndarray:
            return weights @ np.stack([lstm_rows[key], ngram[1], ngram[2]])

        best = min(lstm_rows, key=lambda key: ppl(mixed(key)))
        print(
            f"  prior {prior:g}: ngram {ppl(static[1]):.2f} -> {ppl(ngram[1]):.2f}; "
            f"best mixture {ppl(mixed(best)):.2f} at lr, decay {best}"
        )


if __name__ == "__main__":
    main()
