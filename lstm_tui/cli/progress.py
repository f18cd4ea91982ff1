"""A one-line training progress bar on stderr, redrawn a few times a second at most."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from lstm_tui.core import format as fmt
from lstm_tui.core.training.train import EpochEvent, StepEvent


def epochs_done(event: StepEvent) -> float:
    """Epochs of the session trained so far, to a tenth: the run's JSON counts whole ones, so
    a run stopped early in its first epoch reads "ep 0.4" here and ``"epochs": 0`` there."""
    return math.floor((event.epoch - 1 + event.epoch_progress) * 10) / 10


class ProgressBar:
    """Redraws one line in place on a terminal; prints a plain line now and then otherwise."""

    def __init__(
        self, stream: TextIO | None = None, width: int = 24, interval: float = 0.1
    ) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else 2.0
        self._last_draw = 0.0
        self._metrics = ""
        self._drawn = False

    def step(self, event: StepEvent) -> None:
        now = time.monotonic()
        if now - self._last_draw < self.interval and event.progress < 1:
            return
        self._last_draw = now
        filled = int(event.progress * self.width)
        bar = "█" * filled + "░" * (self.width - filled)
        line = (
            f"{bar} {event.progress:4.0%} ep {epochs_done(event):g} step {event.step} "
            f"loss {event.loss:.3f} acc {fmt.percent(event.accuracy)} "
            f"{event.tokens_per_second:,.0f} tok/s {fmt.eta(event.eta, event.eta_is_bound)}"
            f"{self._metrics}"
        )
        self._write(line)

    def epoch(self, event: EpochEvent) -> None:
        parts = [f" | win {event.window_accuracy:.1%}"]
        if event.val_perplexity is not None:
            parts.append(f" val ppl {event.val_perplexity:.1f}")
        mixture = (event.components or {}).get("mixture")
        if mixture and event.mix:
            parts.append(f" mix ppl {mixture['perplexity']:.1f} λ {event.mix['lstm']:.2f}")
        if event.ksr is not None:
            parts.append(f" saves {event.ksr:.0%} keys")
        self._metrics = "".join(parts)

    def task(self, label: str, fraction: float) -> None:
        """Progress of work before training (tokenising a big corpus)."""
        now = time.monotonic()
        if now - self._last_draw < self.interval and fraction < 1:
            return
        self._last_draw = now
        filled = int(fraction * self.width)
        self._write(f"{'█' * filled}{'░' * (self.width - filled)} {fraction:4.0%} {label}")

    def _write(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
