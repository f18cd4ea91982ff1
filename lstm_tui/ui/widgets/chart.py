"""Live training charts: what to plot is a ``ChartView`` (``c`` cycles through them).

* LOSS: training loss (left axis) and accuracy % (right axis) at every reported step;
* PERPLEXITY: held-out perplexity of the mixture and of each part, at every evaluation;
* LR: the learning rate; GRAD: the gradient norm before clipping, at every reported step.

plotext draws in pure Python, slowly enough to be felt between two keystrokes. The figure
is built in a thread worker and only shown on the UI thread, so a redraw never holds up a
keystroke for that long (the GIL is handed back every few milliseconds). ``RunsChart`` draws
several saved runs' curves on one chart with the same drawing code.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from enum import Enum

import numpy as np
from rich.text import Text
from textual import work
from textual_plotext import PlotextPlot

from lstm_tui.core import format as fmt

LOSS_COLOR = (255, 110, 90)
ACCURACY_COLOR = (80, 200, 120)
ACCURACY_TICKS = [0, 25, 50, 75, 100]
# One colour per part of the mixture, and per run in the runs view (cycled).
PALETTE = ((255, 110, 90), (90, 170, 255), (240, 200, 80), (80, 200, 120), (200, 120, 230))
PART_KEYS = (
    ("mixture", "mix"),
    ("lstm", "LSTM"),
    ("ngram", "n-gram"),
    ("cache", "cache"),
    ("train", "train"),  # no held-out text (the fable): the LSTM's training perplexity
)


class ChartView(Enum):
    LOSS = "loss · accuracy"
    PERPLEXITY = "perplexity"
    LR = "learning rate"
    GRAD = "gradient norm"

    def next(self) -> ChartView:
        views = list(ChartView)
        return views[(views.index(self) + 1) % len(views)]


@dataclass(frozen=True)
class Series:
    """One line on a chart."""

    label: str
    xs: list[float]
    ys: list[float]
    color: tuple[int, int, int]
    right: bool = False  # on the right axis (accuracy %, 0..100)


def downsample(xs: np.ndarray, ys: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``buckets`` points: the mean of each run of neighbours (keeps the shape)."""
    if len(xs) <= buckets:
        return xs, ys
    edges = np.linspace(0, len(xs), buckets + 1).astype(int)
    sums = np.add.reduceat(ys, edges[:-1])
    sizes = np.diff(edges)
    return xs[edges[1:] - 1], sums / sizes


def _value(v: float) -> str:
    """An axis or stats figure in few columns: 0.0012 as 1.2e-03, 45.6, 1,234."""
    if not math.isfinite(v):
        return "–"
    if v != 0 and abs(v) < 0.01:
        return f"{v:.1e}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def series_stats(series: Series, best: bool = True) -> str:
    """``label 1.23 (min 1.10)`` for one line: the latest value and the best one."""
    ys = np.asarray(series.ys, dtype=float)
    keep = np.isfinite(ys)
    if not keep.any():
        return f"{series.label} –"
    last = float(ys[keep][-1])
    scale = 100 if series.right else 1
    unit = "%" if series.right else ""
    if not best:
        return f"{series.label} {_value(last * scale)}{unit}"
    best_at = int(np.nanargmax(ys) if series.right else np.nanargmin(ys))
    word = "max" if series.right else "min"
    # The step of the best value is for wide lines only: the rest must fit half a terminal.
    latest, extreme = _value(last * scale), _value(ys[best_at] * scale)
    return f"{series.label} {latest}{unit} ({word} {extreme}{unit})"


class LineChart(PlotextPlot):
    """Draws ``Series`` off the UI thread; subclasses say which (``series()``)."""

    empty_title = "nothing to plot yet"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._dirty = True
        self._figure: Text | None = None  # the last figure built
        self._plot_lock = threading.Lock()  # one build at a time uses the plotext figure
        self.builds = 0  # figures shown so far (tests wait on it)

    def series(self) -> list[Series]:
        raise NotImplementedError

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
        self._build(self.series(), width, height, theme)

    def on_mount(self) -> None:
        # (PlotextPlot.on_mount runs too: it registers the app's theme with plotext.)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())

    def on_resize(self) -> None:
        self.redraw()

    def render(self) -> Text:
        return self._figure if self._figure is not None else Text("")

    @work(thread=True, exclusive=True, group="chart", exit_on_error=False)
    def _build(self, series: list[Series], width: int, height: int, theme: str) -> None:
        with self._plot_lock:
            figure = Text.from_ansi(self._draw(series, width, height, theme))
        with contextlib.suppress(RuntimeError):  # RuntimeError: the app is closing
            self.app.call_from_thread(self._show, figure)

    def _show(self, figure: Text) -> None:
        self._figure = figure
        self.builds += 1
        self.refresh()

    def _draw(self, series: list[Series], width: int, height: int, theme: str) -> str:
        # Five ticks fall on evenly spaced rows only when the plot's rows (the height less
        # the frame and the x labels) divide by four: the spare rows go above the figure.
        rows = height - height % 4 if height >= 8 else height
        return "\n" * (height - rows) + self._draw_rows(series, width, rows, theme)

    def _draw_rows(self, series: list[Series], width: int, height: int, theme: str) -> str:
        plt = self._plot
        plt.clear_data()
        plt.clear_figure()
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plt.theme(theme)
        plt.xlabel("")
        drawn = [s for s in series if np.isfinite(np.asarray(s.ys, dtype=float)).any()]
        if not drawn:
            plt.title(self.empty_title)
            plt.xticks([0, 1], ["0", "step"])
            plt.yticks([0, 1], ["", ""])
            return plt.build()
        columns = max(10, width - 12)
        top, first, last = 0.0, math.inf, -math.inf
        for s in drawn:
            xs, ys = np.asarray(s.xs, dtype=float), np.asarray(s.ys, dtype=float)
            keep = np.isfinite(ys)
            px, py = downsample(xs[keep], ys[keep] * (100 if s.right else 1), 2 * columns)
            plt.plot(
                px.tolist(),
                py.tolist(),
                color=s.color,
                marker="braille",
                yside="right" if s.right else "left",
            )
            first, last = min(first, float(px[0])), max(last, float(px[-1]))
            if not s.right:
                top = max(top, float(py.max()))
        # Five ticks need 8 rows or more; fewer rows get three (two would share a row, and
        # which label won was not always the same).
        few = height - 4 < 8
        if any(not s.right for s in drawn):
            ticks = fmt.nice_ticks(top if top > 0 else 1.0, 3 if few else 5)
            plt.ylim(0, ticks[-1])
            plt.yticks(ticks, [_value(t) for t in ticks])  # evenly spaced round values
        if any(s.right for s in drawn):
            # plotext's hints type yside as a number; it takes "left" or "right" (its docs).
            plt.ylim(0, 100, yside="right")  # type: ignore[arg-type]
            right = ACCURACY_TICKS[::2] if few else ACCURACY_TICKS
            plt.yticks(right, [f"{t}" for t in right], yside="right")  # type: ignore[arg-type]
        if last > first:
            xticks = np.unique(np.linspace(first, last, 5).round().astype(int)).tolist()
        else:
            xticks = [int(first)]
        plt.xticks(xticks, [f"{t:,}" for t in xticks])
        return plt.build()


class LossChart(LineChart):
    """The training pane's chart. Every point is kept; what is drawn is averaged down to about
    two per column."""

    empty_title = "no training yet in this session"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view = ChartView.LOSS
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.accuracies: list[float] = []  # NaN where unknown (adaptive softmax)
        self.lrs: list[float] = []
        self.grad_norms: list[float] = []
        # Per evaluation: (step, {"mixture": ppl, "lstm": ppl, "ngram": ppl, "cache": ppl})
        self.evaluations: list[tuple[int, dict[str, float]]] = []

    def add(
        self,
        step: int,
        loss: float,
        accuracy: float | None,
        lr: float | None = None,
        grad_norm: float | None = None,
    ) -> None:
        self.steps.append(step)
        self.losses.append(loss if math.isfinite(loss) else math.nan)
        self.accuracies.append(math.nan if accuracy is None else accuracy)
        self.lrs.append(math.nan if lr is None else lr)
        self.grad_norms.append(math.nan if grad_norm is None else grad_norm)
        self._dirty = True

    def add_evaluation(self, step: int, perplexities: dict[str, float]) -> None:
        self.evaluations.append((step, perplexities))
        self._dirty = self._dirty or self.view is ChartView.PERPLEXITY

    def clear_points(self) -> None:
        for points in (self.steps, self.losses, self.accuracies, self.lrs, self.grad_norms):
            points.clear()
        self.evaluations.clear()
        self._dirty = True

    def show(self, view: ChartView) -> None:
        self.view = view
        self.redraw()

    def series(self) -> list[Series]:
        steps = [float(s) for s in self.steps]
        if self.view is ChartView.LOSS:
            return [
                Series("loss", steps, list(self.losses), LOSS_COLOR),
                Series("acc", steps, list(self.accuracies), ACCURACY_COLOR, right=True),
            ]
        if self.view is ChartView.LR:
            return [Series("lr", steps, list(self.lrs), PALETTE[1])]
        if self.view is ChartView.GRAD:
            return [Series("grad norm", steps, list(self.grad_norms), PALETTE[2])]
        xs = [float(step) for step, _ in self.evaluations]
        out = []
        for n, (key, label) in enumerate(PART_KEYS):
            ys = [figures.get(key, math.nan) for _, figures in self.evaluations]
            if any(math.isfinite(y) for y in ys):
                out.append(Series(f"ppl {label}", xs, ys, PALETTE[n]))
        return out

    def legend(self, width: int = 200) -> Text:
        """One line: what is plotted, then each line's colour, latest and best value
        (``loss·acc  ━ loss 0.53 (min 0.52)  ━ acc 92.4% (max 92.4%)``)."""
        return legend_line(SHORT_NAMES[self.view], self.series(), width)


SHORT_NAMES = {
    ChartView.LOSS: "loss·acc",
    ChartView.PERPLEXITY: "ppl",
    ChartView.LR: "lr",
    ChartView.GRAD: "grad norm",
}


def legend_line(title: str, series: list[Series], width: int = 200) -> Text:
    """What is plotted, then each line's colour and figures: the latest and the best value,
    or the latest alone where both do not fit ``width`` (a figure is never cut)."""
    for best in (True, False):
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(title, style="bold reverse")
        for s in series:
            text.append("  ━ ", style="bold rgb({},{},{})".format(*s.color))
            text.append(series_stats(s, best))
        if not series:
            text.append("  nothing to plot yet", style="dim")
        if text.cell_len <= width:
            break
    return text


def perplexities(record: dict) -> dict[str, float]:
    """Held-out perplexity of the mixture and each part, from an evaluation's flat figures
    (a history row, or an EpochEvent's ``components``); the LSTM alone where no mixture."""
    out: dict[str, float] = {}
    for key, _ in PART_KEYS:
        value = record.get(f"{key}_perplexity")
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[key] = float(value)
    value = record.get("val_perplexity")
    if "lstm" not in out and isinstance(value, (int, float)) and math.isfinite(value):
        out["lstm"] = float(value)
    loss = record.get("train_loss")
    if not out and isinstance(loss, (int, float)) and loss < 30:
        out["train"] = math.exp(loss)
    return out
