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


_REGULARISED = {"locked_dropout": True, "tie_weights": True}

AUTO_TABLE: tuple[AutoChoice, ...] = (
    AutoChoice(SMALL_CORPUS_TOKENS, "seed"),
    AutoChoice(
        100_000,
        "default",
        {
            "embed": 256,
            "hidden": 256,
            "layers": 1,
            "dropout": 0.4,
            "dropout_input": 0.5,
            "dropout_embed": 0.1,
            **_REGULARISED,
        },
        {"batch_size": 16, "bptt": 35, "lr": 3e-3, "weight_decay": 0.1},
    ),
    AutoChoice(
        500_000,
        "default",
        {
            "embed": 400,
            "hidden": 400,
            "layers": 1,
            "dropout": 0.4,
            "dropout_input": 0.4,
            "dropout_embed": 0.1,
            **_REGULARISED,
        },
        {"batch_size": 32, "bptt": 35, "lr": 3e-3, "weight_decay": 0.1},
    ),
    AutoChoice(
        float("inf"),
        "default",
        {
            "embed": 400,
            "hidden": 400,
            "layers": 2,
            "dropout": 0.3,
            "dropout_input": 0.3,
            "dropout_hidden": 0.2,
            "dropout_embed": 0.05,
            **_REGULARISED,
        },
        {"batch_size": 32, "bptt": 35, "lr": 3e-3, "weight_decay": 0.1},
    ),
)


def auto_choice(train_tokens: int) -> AutoChoice:
    """The row of ``AUTO_TABLE`` for a corpus with this many training tokens."""
    return next(row for row in AUTO_TABLE if train_tokens < row.up_to_tokens)
