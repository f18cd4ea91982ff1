"""The ``auto`` preset: model size, regularisation and training settings from the corpus's size.

Chosen by experiment on public text of several sizes (``bench/tune.py``; the table and the
figures are in ``bench/README.md`` and the project README), never on one corpus. Small texts
want a small, heavily regularised model (AWD-LSTM-style dropouts, tied embeddings); bigger
ones a wider model and less dropout. The fable and other tiny texts keep the tutorial's
2×512 (the ``seed`` preset), which learns them by heart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lstm_tui.core.text.vocab import SMALL_CORPUS_TOKENS


@dataclass(frozen=True)
class AutoChoice:
    up_to_tokens: float  # training tokens this row serves, up to (and excluding) this many
    preset: str
    model: dict = field(default_factory=dict)  # ModelConfig overrides
    train: dict = field(default_factory=dict)  # TrainConfig overrides


_AWD = {"locked_dropout": True, "tie_weights": True}
_NARROW = {"embed": 128, "hidden": 128, "layers": 1, "dropout": 0.3, "dropout_input": 0.4,
           "dropout_embed": 0.1, **_AWD}  # fmt: skip
_NARROW_TIGHT = {**_NARROW, "dropout": 0.5, "dropout_input": 0.6}
_SMALL = {"embed": 256, "hidden": 256, "layers": 1, "dropout": 0.4, "dropout_input": 0.5,
          "dropout_embed": 0.1, **_AWD}  # fmt: skip
_TRAIN = {"batch_size": 32, "bptt": 35, "weight_decay": 0.1}

# On two CPU cores and a budget of minutes, throughput decides: in bench/tune.py runs of 120 s,
# one layer of 256 beat 1×128 (too small), 1×400 and 2×256 (too slow to see the text often
# enough) and batch 64 (too few updates) on WikiText-2 slices of 20k, 50k and 200k tokens,
# when the machine was quiet. On a busy one (issue 17, docs/SMALLTEXT.md), where a 1×256
# read a 50k or 100k slice only a few times, 1×128 at 8e-3 won on both (the LSTM alone then
# beat the 5-gram), and tied 1×256 at 8e-3 on the 200k slice; from 100k tokens 1×256 stays.
# On a quiet machine such a 1×128 reads a text under 60k tokens many times before a plateau
# ends its run; there more dropout (0.5/0.6) won on all three texts tried (LSTM perplexity
# 2 to 11% lower; 3 to 9% on their test texts), and lost on a 90k one (docs/SMALLTEXT.md).
AUTO_TABLE: tuple[AutoChoice, ...] = (
    AutoChoice(SMALL_CORPUS_TOKENS, "seed"),
    AutoChoice(60_000, "default", _NARROW_TIGHT, {**_TRAIN, "lr": 8e-3}),
    AutoChoice(100_000, "default", _NARROW, {**_TRAIN, "lr": 8e-3}),
    AutoChoice(250_000, "default", _SMALL, {**_TRAIN, "lr": 8e-3}),
    AutoChoice(
        float("inf"),
        "default",
        {"embed": 256, "hidden": 256, "layers": 1, "dropout": 0.25, "dropout_input": 0.3,
         "dropout_embed": 0.05, **_AWD},
        {**_TRAIN, "lr": 8e-3},
    ),
)  # fmt: skip


def auto_choice(train_tokens: int) -> AutoChoice:
    """The row of ``AUTO_TABLE`` for a corpus with this many training tokens."""
    return next(row for row in AUTO_TABLE if train_tokens < row.up_to_tokens)
