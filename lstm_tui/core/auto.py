"""The ``auto`` preset: model size, regularisation and training settings from the corpus's size.

Chosen by experiment on public text of several sizes (``bench/tune.py``; the table and the
figures are in ``bench/README.md`` and the project README), never on one corpus. Small texts
want a small, heavily regularised model (AWD-LSTM-style dropouts, tied embeddings); bigger
ones a wider model and less dropout. The fable and other tiny texts keep the tutorial's
2×512 (the ``seed`` preset), which learns them by heart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Below this many tokens a text has no validation split (corpus.MIN_TOKENS_FOR_SPLIT): the
# seed preset learns it by heart, as the tutorial did with the fable.
SMALL_CORPUS_TOKENS = 1_000


@dataclass(frozen=True)
class AutoChoice:
    up_to_tokens: float  # training tokens this row serves, up to (and excluding) this many
    preset: str
    model: dict = field(default_factory=dict)  # ModelConfig overrides
    train: dict = field(default_factory=dict)  # TrainConfig overrides


_AWD = {"locked_dropout": True, "tie_weights": True}
_SMALL = {"embed": 256, "hidden": 256, "layers": 1, "dropout": 0.4, "dropout_input": 0.5,
          "dropout_embed": 0.1, **_AWD}  # fmt: skip
_TRAIN = {"batch_size": 32, "bptt": 35, "weight_decay": 0.1}

# On two CPU cores and a budget of minutes, throughput decides: in bench/tune.py runs of 120 s,
# one layer of 256 beat 1×128 (too small), 1×400 and 2×256 (too slow to see the text often
# enough) and batch 64 (too few updates) on WikiText-2 slices of 20k, 50k and 200k tokens.
# The learning rate follows how much of the text a budget reads: texts read for tens of
# epochs did best at 3e-3 (WikiText-2 slices of 20k and 50k tokens, the fortunes), texts read
# a few times or less at 8e-3 (a 200k slice, Shakespeare, all of WikiText-2).
AUTO_TABLE: tuple[AutoChoice, ...] = (
    AutoChoice(SMALL_CORPUS_TOKENS, "seed"),
    AutoChoice(100_000, "default", _SMALL, {**_TRAIN, "lr": 3e-3}),
    AutoChoice(250_000, "default", _SMALL, {**_TRAIN, "lr": 8e-3}),
    AutoChoice(
        float("inf"),
        "default",
        {"embed": 256, "hidden": 256, "layers": 1, "dropout": 0.25, "dropout_input": 0.3,
         "dropout_embed": 0.05, **_AWD},
        {**_TRAIN, "lr": 8e-3},
    ),
)  # fmt: skip


def auto_min_count(tokens: int) -> int:
    """Fewest times a word must occur to get its own id; rarer words become ``<unk>``.

    On a text big enough to train on, words seen once become ``<unk>``, as in the usual
    preparation of PTB and WikiText (Mikolov et al. 2010; Merity et al. 2016). Without it,
    ``<unk>`` never occurs in training: the LSTM learns to give it no probability and never
    trains its embedding, so every word of held-out text (or of what the user types) that the
    vocabulary lacks costs it dearly and leaves a meaningless state behind. A tiny text (the
    fable) is learnt by heart and keeps every word.
    """
    return 1 if tokens < SMALL_CORPUS_TOKENS else 2


def auto_choice(train_tokens: int) -> AutoChoice:
    """The row of ``AUTO_TABLE`` for a corpus with this many training tokens."""
    return next(row for row in AUTO_TABLE if train_tokens < row.up_to_tokens)
