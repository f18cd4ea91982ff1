"""Training settings, checked in one place for the CLI, the TUI form and checkpoints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from lstm_tui.core.errors import ConfigError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("auto", "cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    bptt: int = 35  # tokens per truncated-backprop chunk
    lr: float = 6e-3
    weight_decay: float = 0.01
    clip: float = 1.0  # max gradient norm; 0 turns clipping off
    # None: unbounded under a time budget, else enough to see ~300k tokens (at least 10)
    epochs: int | None = None
    lr_decay: float = 1.0  # learning rate multiplier after each epoch (constant schedule)
    optimizer: str = "adamw"
    # auto: warm-up then cosine decay to the deadline (or the planned epochs) when there is
    # validation text to keep the best weights by; constant (with lr_decay) on tiny texts
    schedule: str = "auto"
    mix: str = "auto"  # auto, off, or the LSTM's weight in the mixture with the n-gram
    cache: bool = True  # a unigram cache over the text being read, weight fitted with the mix
    max_seconds: float | None = None
    target_accuracy: float | None = None  # stop once window accuracy reaches this
    seed: int | None = 1
    device: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def check(self) -> TrainConfig:
        def whole(name: str, low: int) -> None:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < low):
                raise ConfigError(
                    f"{name} must be a whole number of at least {low}, not {value!r}", name
                )

        def positive(name: str, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            if value is None:
                return
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            if not ok or value < 0 or (value == 0 and not allow_zero):
                sign = "zero or more" if allow_zero else "more than zero"
                raise ConfigError(f"{name} must be a number {sign}, not {value!r}", name)

        whole("batch_size", 1)
        whole("bptt", 1)
        whole("epochs", 1)
        positive("lr")
        positive("weight_decay", allow_zero=True)
        positive("clip", allow_zero=True)
        positive("lr_decay")
        positive("max_seconds")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ConfigError(
                f"target accuracy must be in (0, 1], not {self.target_accuracy!r}",
                "target_accuracy",
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}",
                "optimizer",
            )
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}"
            )
        from lstm_tui.core.model.mixture import parse_mix

        parse_mix(self.mix)
        if self.lr_decay > 1:
            raise ConfigError(f"lr_decay must be at most 1, not {self.lr_decay!r}", "lr_decay")
        return self
