"""The language model: embedding -> N-layer LSTM -> decoder over the vocabulary.

Stateful: ``forward(tokens, state)`` returns the new state with the scores, so a caller
that has already read some text extends the state by the new tokens only.

Regularisation follows AWD-LSTM (Merity, Keskar & Socher 2017, "Regularizing and Optimizing
LSTM Language Models"), which is what lets an LSTM beat count-based models on small texts:
tied input and output embeddings (Press & Wolf 2017; Inan et al. 2017), dropout of whole
words from the embedding, and "locked" (variational, Gal & Ghahramani 2016) dropout that
drops the same units at every time step of a sequence, on the LSTM's input and output.
Between stacked layers nn.LSTM's own dropout is used, so that the fused kernel stays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lstm_tui.core.errors import ConfigError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [layers, batch, hidden]

# Above this vocabulary size a full softmax is most of the work on a CPU, and "auto" picks an
# adaptive one there (Grave et al. 2017, "Efficient softmax approximation for GPUs"). Below
# it, a tied full softmax learns rare words so much better (an adaptive one is untied and
# gives them a narrow tail) that it wins at a third of the throughput. In 120-s bench/tune.py
# runs the full one won at 6.4k, 7k and 9.8k words, the adaptive one at 17k and 33k. A GPU
# does the full one faster at any size.
ADAPTIVE_FROM_VOCAB = 12_000


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    embed: int = 512
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.0  # on the LSTM's output (and its input/between layers, if not given)
    tie_weights: bool = True  # only when embed == hidden and the softmax is full
    softmax: str = "full"  # "full" or "adaptive"
    cutoffs: tuple[int, ...] = ()  # adaptive softmax cluster boundaries
    dropout_input: float | None = None  # on the embeddings fed to the LSTM; None: dropout
    dropout_hidden: float | None = None  # between stacked layers; None: dropout
    dropout_embed: float = 0.0  # whole words dropped from the embedding table, per batch
    locked_dropout: bool = False  # one dropout mask per sequence, not per time step

    def to_dict(self) -> dict:
        data = asdict(self)
        data["cutoffs"] = list(self.cutoffs)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**{**data, "cutoffs": tuple(data.get("cutoffs", ()))})

    @property
    def tied(self) -> bool:
        return self.tie_weights and self.embed == self.hidden and self.softmax == "full"

    def describe(self) -> str:
        return f"{self.layers}×{self.hidden} LSTM, embed {self.embed}, {self.softmax} softmax"


# Architecture presets; vocab_size and the softmax are filled in from the corpus.
PRESETS: dict[str, dict] = {
    "seed": {"embed": 512, "hidden": 512, "layers": 2, "dropout": 0.0},
    "seed-1layer": {"embed": 512, "hidden": 512, "layers": 1, "dropout": 0.0},
    "default": {"embed": 256, "hidden": 256, "layers": 2, "dropout": 0.2},
    "large": {"embed": 650, "hidden": 650, "layers": 2, "dropout": 0.5},
}


def adaptive_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """Cluster boundaries for an adaptive softmax: frequent words in the head."""
    return tuple(c for c in (2_000, 10_000, 50_000) if c < vocab_size - 1) or (vocab_size // 2,)


def make_config(
    vocab_size: int,
    preset: str = "seed",
    softmax: str = "auto",
    device_type: str = "cpu",
    **overrides: object,
) -> ModelConfig:
    """A config from a preset, with any non-None override applied and checked."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    settings = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    if softmax == "auto":
        big = vocab_size > ADAPTIVE_FROM_VOCAB
        softmax = "adaptive" if big and device_type != "cuda" else "full"
    if softmax not in ("full", "adaptive"):
        raise ConfigError(f"softmax must be full, adaptive or auto, not {softmax!r}")
    cutoffs = adaptive_cutoffs(vocab_size) if softmax == "adaptive" else ()
    config = ModelConfig(vocab_size=vocab_size, softmax=softmax, cutoffs=cutoffs, **settings)
    check_config(config)
    return config


def check_config(config: ModelConfig) -> None:
    for name in ("vocab_size", "embed", "hidden", "layers"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{name} must be a whole number of at least 1, not {value!r}", field=name
            )
    if config.vocab_size < 2:
        raise ConfigError("the vocabulary needs at least one word besides <unk>", "vocab_size")
    for name in ("dropout", "dropout_input", "dropout_hidden", "dropout_embed"):
        value = getattr(config, name)
        if value is not None and not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise ConfigError(f"{name} must be in [0, 1), not {value!r}", field=name)
    for name, most in (("layers", 16), ("hidden", 8192), ("embed", 8192)):
        if getattr(config, name) > most:
            raise ConfigError(f"{name} must be at most {most}", field=name)


class SequenceDropout(nn.Module):
    """Dropout on [B, T, D]; ``locked`` draws one mask per sequence and reuses it at every step."""

    def __init__(self, p: float, locked: bool) -> None:
        super().__init__()
        self.p, self.locked = p, locked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if not self.locked:
            return F.dropout(x, self.p, training=True)
        mask = x.new_empty((x.shape[0], 1, x.shape[2])).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask  # [B, 1, D] broadcast over time


class LanguageModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        between = config.dropout if config.dropout_hidden is None else config.dropout_hidden
        dropout_in = config.dropout if config.dropout_input is None else config.dropout_input
        self.input_dropout = SequenceDropout(dropout_in, config.locked_dropout)
        self.output_dropout = SequenceDropout(config.dropout, config.locked_dropout)
        self.lstm = nn.LSTM(
            config.embed,
            config.hidden,
            config.layers,
            batch_first=True,
            dropout=between if config.layers > 1 else 0.0,
        )
        self.decoder: nn.Linear | nn.AdaptiveLogSoftmaxWithLoss
        if config.softmax == "adaptive":
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(
                config.hidden, config.vocab_size, list(config.cutoffs), div_value=4.0
            )
        else:
            self.decoder = nn.Linear(config.hidden, config.vocab_size)
            if config.tied:
                self.decoder.weight = self.embedding.weight
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if isinstance(self.decoder, nn.Linear):
            nn.init.zeros_(self.decoder.bias)

    @torch.no_grad()
    def start_from_frequencies(self, counts: np.ndarray) -> None:
        """Set the output bias to the words' log frequencies (add-one smoothed).

        An untrained model then predicts the unigram distribution rather than a uniform one,
        so the first steps are not spent learning how common each word is ("init well" in
        Karpathy's "A Recipe for Training Neural Networks", 2019). The adaptive softmax's
        head has no bias: it starts as before.
        """
        if isinstance(self.decoder, nn.Linear) and self.decoder.bias is not None:
            smoothed = torch.as_tensor(np.asarray(counts, dtype=np.float64) + 1.0)
            logp = torch.log(smoothed / smoothed.sum())
            self.decoder.bias.copy_((logp - logp.mean()).to(self.decoder.bias.dtype))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_state(self, batch: int = 1, device: torch.device | str | None = None) -> State:
        shape = (self.config.layers, batch, self.config.hidden)
        device = device or self.embedding.weight.device
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def features(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """tokens [B, T] -> LSTM outputs [B, T, hidden], and the state after the last token."""
        x = self.input_dropout(self._embed(tokens))  # [B, T, embed]
        out, state = self.lstm(x, state)  # [B, T, hidden]
        return self.output_dropout(out), state

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embeddings [B, T, embed]; in training, whole words are dropped (AWD-LSTM's dropoute).

        Dropping a row of the table drops every occurrence of that word in the batch, and the
        kept rows are scaled up so that the expected embedding stays the same. The mask is
        applied to the rows looked up, not to the table: the same result, without a copy of a
        big vocabulary's table (and its gradient) at every step.
        """
        embedded = self.embedding(tokens)  # [B, T, embed]
        p = self.config.dropout_embed
        if not (self.training and p > 0):
            return embedded
        weight = self.embedding.weight
        keep = weight.new_empty((weight.shape[0], 1)).bernoulli_(1 - p) / (1 - p)  # [V, 1]
        return embedded * keep[tokens]  # [B, T, 1] broadcast over the embedding

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Features [..., hidden] -> next-word scores [..., vocab] (argmax/top-k ready).

        A full softmax gives logits, an adaptive one log-probabilities; ``log_softmax``
        turns either into log-probabilities.
        """
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            flat = features.reshape(-1, features.shape[-1])
            return self.decoder.log_prob(flat).reshape(*features.shape[:-1], -1)
        return self.decoder(features)

    def target_log_probs(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log P(target) for features [..., hidden] and targets [...]: no full distribution
        where the softmax is adaptive (only the target's cluster is computed)."""
        flat = features.reshape(-1, features.shape[-1])
        flat_targets = targets.reshape(-1).long()
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            return self.decoder(flat, flat_targets).output.reshape(targets.shape)
        logp = torch.log_softmax(self.decoder(flat).float(), dim=-1)
        return logp.gather(-1, flat_targets.unsqueeze(-1)).reshape(targets.shape)

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """tokens [B, T] -> scores [B, T, vocab], state."""
        features, state = self.features(tokens, state)
        return self.scores(features), state

    def loss(
        self, features: torch.Tensor, targets: torch.Tensor, count_correct: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean cross-entropy of targets [B, T] and, cheaply where possible, top-1 hits."""
        flat = features.reshape(-1, features.shape[-1])
        flat_targets = targets.reshape(-1).long()
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            loss = self.decoder(flat, flat_targets).loss
            correct = None
            if count_correct:  # a full argmax costs as much as a full softmax: sample rows
                with torch.no_grad():
                    rows = slice(None, None, max(1, len(flat) // 128))
                    hits = self.decoder.predict(flat[rows]) == flat_targets[rows]
                    correct = hits.float().mean() * len(flat)
            return loss, correct
        logits = self.decoder(flat)
        loss = F.cross_entropy(logits, flat_targets)
        correct = (logits.argmax(-1) == flat_targets).sum() if count_correct else None
        return loss, correct
