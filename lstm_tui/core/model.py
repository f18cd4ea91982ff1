"""The language model: embedding -> N-layer LSTM -> decoder over the vocabulary.

Stateful: ``forward(tokens, state)`` returns the new state with the scores, so a caller
that has already read some text extends the state by the new tokens only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from lstm_tui.core.errors import ConfigError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [layers, batch, hidden]

# Above this vocabulary size a full softmax is most of the work on a CPU, and "auto" picks an
# adaptive one there (4x the throughput on WikiText-2). A GPU does the full softmax faster.
ADAPTIVE_FROM_VOCAB = 10_000


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    embed: int = 512
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = True  # only when embed == hidden and the softmax is full
    softmax: str = "full"  # "full" or "adaptive"
    cutoffs: tuple[int, ...] = ()  # adaptive softmax cluster boundaries

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
SMALL_CORPUS_TOKENS = 20_000  # "auto" picks the seed preset below this, "default" above


def auto_preset(n_tokens: int) -> str:
    return "seed" if n_tokens < SMALL_CORPUS_TOKENS else "default"


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
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), not {config.dropout!r}", field="dropout")
    for name, most in (("layers", 16), ("hidden", 8192), ("embed", 8192)):
        if getattr(config, name) > most:
            raise ConfigError(f"{name} must be at most {most}", field=name)


class LanguageModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.embed,
            config.hidden,
            config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
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
        x = self.dropout(self.embedding(tokens))  # [B, T, embed]
        out, state = self.lstm(x, state)  # [B, T, hidden]
        return self.dropout(out), state

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Features [..., hidden] -> next-word scores [..., vocab] (argmax/top-k ready).

        A full softmax gives logits, an adaptive one log-probabilities; ``log_softmax``
        turns either into log-probabilities.
        """
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            flat = features.reshape(-1, features.shape[-1])
            return self.decoder.log_prob(flat).reshape(*features.shape[:-1], -1)
        return self.decoder(features)

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
