"""A one-line training progress bar on stderr, redrawn a few times a second at most."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from lstm_tui.core.train import EpochEvent, StepEvent


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


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
            f"{bar} {event.progress:4.0%} ep {event.epoch} step {event.step} "
            f"loss {event.loss:.3f} acc {format_percent(event.accuracy)} "
            f"{event.tokens_per_second:,.0f} tok/s ETA {format_duration(event.eta)}{self._metrics}"
        )
        self._write(line)

    def epoch(self, event: EpochEvent) -> None:
        parts = [f" | win {event.window_accuracy:.1%}"]
        if event.val_perplexity is not None:
            parts.append(f" val ppl {event.val_perplexity:.1f}")
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
