"""A live chart of training loss (left axis) and accuracy (right axis) against steps.

plotext draws in pure Python, slowly enough to be felt between two keystrokes. The figure
is built in a thread worker and only shown on the UI thread, so a redraw never holds up a
keystroke for that long (the GIL is handed back every few milliseconds).
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np
from rich.text import Text
from textual import work
from textual_plotext import PlotextPlot

from lstm_tui.core import format as fmt

LOSS_COLOR = (255, 110, 90)
ACCURACY_COLOR = (80, 200, 120)
ACCURACY_TICKS = [0, 25, 50, 75, 100]


def downsample(xs: np.ndarray, ys: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``buckets`` points: the mean of each run of neighbours (keeps the shape)."""
    if len(xs) <= buckets:
        return xs, ys
    edges = np.linspace(0, len(xs), buckets + 1).astype(int)
    sums = np.add.reduceat(ys, edges[:-1])
    sizes = np.diff(edges)
    return xs[edges[1:] - 1], sums / sizes


class LossChart(PlotextPlot):
    """Every point is kept; what is drawn is averaged down to about two per column."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.accuracies: list[float] = []  # NaN where unknown (adaptive softmax)
        self._dirty = True
        self._figure: Text | None = None  # the last figure built
        self._plot_lock = threading.Lock()  # one build at a time uses the plotext figure
        self.builds = 0  # figures shown so far (tests wait on it)

    def add(self, step: int, loss: float, accuracy: float | None) -> None:
        self.steps.append(step)
        self.losses.append(loss if math.isfinite(loss) else math.nan)
        self.accuracies.append(math.nan if accuracy is None else accuracy)
        self._dirty = True

    def clear_points(self) -> None:
        self.steps.clear()
        self.losses.clear()
        self.accuracies.clear()
        self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def redraw(self) -> None:
        """Rebuild the figure from the points, off the UI thread (a few hertz at most)."""
        self._dirty = False
        width, height = self.size
        if width <= 0 or height <= 0:
            return
        theme = self._get_plotext_theme_name(self.app.theme)
        self._build(
            list(self.steps), list(self.losses), list(self.accuracies), width, height, theme
        )

    def on_mount(self) -> None:
        # (PlotextPlot.on_mount runs too: it registers the app's theme with plotext.)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())

    def on_resize(self) -> None:
        self.redraw()

    def render(self) -> Text:
        return self._figure if self._figure is not None else Text("")

    @work(thread=True, exclusive=True, group="chart", exit_on_error=False)
    def _build(
        self,
        steps: list[int],
        losses: list[float],
        accuracies: list[float],
        width: int,
        height: int,
        theme: str,
    ) -> None:
        with self._plot_lock:
            figure = Text.from_ansi(self._draw(steps, losses, accuracies, width, height, theme))
        with contextlib.suppress(RuntimeError):  # RuntimeError: the app is closing
            self.app.call_from_thread(self._show, figure)

    def _show(self, figure: Text) -> None:
        self._figure = figure
        self.builds += 1
        self.refresh()

    def _draw(
        self,
        steps: list[int],
        losses: list[float],
        accuracies: list[float],
        width: int,
        height: int,
        theme: str,
    ) -> str:
        plt = self._plot
        plt.clear_data()
        plt.clear_figure()
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plt.theme(theme)
        plt.xlabel("")
        if not steps:
            plt.title("no training yet in this session")
            plt.xticks([0, 1], ["0", "step"])
            plt.yticks([0, 1], ["", ""])
            return plt.build()
        columns = max(10, width - 12)
        xs = np.asarray(steps, dtype=float)
        loss = np.asarray(losses, dtype=float)
        acc = np.asarray(accuracies, dtype=float)
        keep = np.isfinite(loss)
        if keep.any():
            lx, ly = downsample(xs[keep], loss[keep], 2 * columns)
            plt.plot(lx.tolist(), ly.tolist(), color=LOSS_COLOR, marker="braille")
            ticks = fmt.nice_ticks(float(ly.max()) if len(ly) else 1.0)
            plt.ylim(0, ticks[-1])
            plt.yticks(ticks, [f"{t:g}" for t in ticks])  # evenly spaced round values
        keep = np.isfinite(acc)
        if keep.any():
            ax, ay = downsample(xs[keep], acc[keep] * 100, 2 * columns)
            plt.plot(
                ax.tolist(), ay.tolist(), color=ACCURACY_COLOR, marker="braille", yside="right"
            )
            # plotext's hints type yside as a number; it takes "left" or "right" (its docs).
            plt.ylim(0, 100, yside="right")  # type: ignore[arg-type]
            labels = [f"{t}" for t in ACCURACY_TICKS]
            plt.yticks(ACCURACY_TICKS, labels, yside="right")  # type: ignore[arg-type]
        first, last = int(xs[0]), int(xs[-1])
        if last > first:
            ticks = np.unique(np.linspace(first, last, 5).round().astype(int)).tolist()
        else:
            ticks = [first]
        plt.xticks(ticks, [f"{t:,}" for t in ticks])
        return plt.build()
