"""What the cache adds: held-out perplexity of a checkpoint's mixture with and without it.

    python bench/cache_gain.py CKPT TEST.txt [CKPT TEST.txt ...]

"Without" sets the cache's weight to 0 and renormalises the others (what a user who turns it
off at prediction time gets; a model trained with ``--no-cache`` refits its weights instead).
Reads at most the first 60,000 tokens of each test text.
"""

from __future__ import annotations

import sys

import numpy as np

from lstm_tui.core.store import checkpoint
from lstm_tui.core.text.corpus import encode_text, read_text
from lstm_tui.core.training.metrics import eval_streams, score_components

MAX_TOKENS = 60_000


def main(argv: list[str]) -> None:
    if not argv or len(argv) % 2:
        raise SystemExit(__doc__)
    for ckpt, test in zip(argv[::2], argv[1::2], strict=True):
        session = checkpoint.load(ckpt)
        if session.ngram is None:
            print(f"{ckpt}: no mixture (an LSTM-only checkpoint)")
            continue
        text = read_text(test)
        ids = encode_text(text, session.vocab, session.lowercase, session.tokenizer)
        ids = ids.astype(np.int64)[:MAX_TOKENS]
        scores = score_components(session.model, ids, eval_streams(len(ids)), session.ngram)
        weights = session.mix.as_array()
        off = weights.copy()
        off[2] = 0
        off /= off.sum()
        on_ppl = float(np.exp(-np.log(weights @ scores.probs).mean()))
        off_ppl = float(np.exp(-np.log(off @ scores.probs).mean()))
        print(
            f"{ckpt} on {test} ({len(ids):,} tokens): weights {np.round(weights, 3).tolist()}, "
            f"perplexity {on_ppl:.1f} with the cache, {off_ppl:.1f} without "
            f"({100 * (1 - on_ppl / off_ppl):.1f}% lower with it)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
