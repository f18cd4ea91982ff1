"""Keystroke latency of ``Predictor.suggest`` with the open vocabulary, vs another tree.

A session counted on the first 300k words of WikiText-2's train.txt (``<unk>`` dropped, so
words seen once become rare words: 4,675 of them), a 1x256 LSTM, mixture 0.5/0.4/0.1; 400
words of test.txt typed character by character, twice, each keystroke timed. To compare
with a tree before the open vocabulary, run the same file with that tree first on the path:

    git archive main | tar -x -C /tmp/main-src
    PYTHONPATH=/tmp/main-src python bench/open_vocab_latency.py main
    python bench/open_vocab_latency.py ksr
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from lstm_tui.core.model.mixture import MixWeights
from lstm_tui.core.model.session import Session
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.text.corpus import Corpus

WIKITEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext-2"


def main() -> None:
    torch.set_num_threads(1)
    words = (WIKITEXT / "train.txt").read_text(encoding="utf-8").split()[:300_000]
    corpus = Corpus.from_text(" ".join(w for w in words if w != "<unk>"))
    torch.manual_seed(0)
    session = Session.new(corpus, preset="seed-1layer", hidden=256, embed=256)
    session.mix = MixWeights(0.5, 0.4, 0.1)
    rare = len(getattr(session.vocab, "rare", []))  # none before the open vocabulary
    test = " ".join((WIKITEXT / "test.txt").read_text(encoding="utf-8").split()[:400])
    test = test.replace("<unk>", "zorblax")
    times = []
    for _ in range(2):
        predictor = Predictor(session)
        predictor.suggest("the")
        for i in range(1, len(test) + 1):
            started = time.perf_counter()
            predictor.suggest(test[:i])
            times.append(time.perf_counter() - started)
    times.sort()
    label = sys.argv[1] if len(sys.argv) > 1 else "this tree"
    print(
        f"{label}: vocab {len(session.vocab)} rare {rare} keystrokes {len(times)} "
        f"p50 {1000 * times[len(times) // 2]:.2f} ms p90 {1000 * times[int(0.9 * len(times))]:.2f}"
        f" ms p99 {1000 * times[int(0.99 * len(times))]:.2f} ms"
    )


if __name__ == "__main__":
    main()
