"""The runs view: saved checkpoints with their figures, and the curves of those picked on
one chart. ``lstm-tui history A B --format csv`` gives the same rows as a table.

The list and every history are read from the checkpoints' headers (no tensors, no torch):
a folder of large models lists in milliseconds.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from lstm_tui.core import format as fmt
from lstm_tui.core.text.safe_text import visible
from lstm_tui.ui.screens.dialog import DialogScreen
from lstm_tui.ui.widgets.chart import PALETTE, LineChart, Series, legend_line
from lstm_tui.ui.widgets.line import Line

MAX_PICKED = len(PALETTE)  # one colour each


class RunMetric(Enum):
    """What the runs chart compares, per evaluation."""

    LOSS = "train loss"
    PERPLEXITY = "held-out perplexity"
    ACCURACY = "window accuracy"

    def next(self) -> RunMetric:
        metrics = list(RunMetric)
        return metrics[(metrics.index(self) + 1) % len(metrics)]

    def value_of(self, record: dict) -> float:
        """This figure from one history row; NaN where the row lacks it."""
        if self is RunMetric.LOSS:
            value = record.get("train_loss")
        elif self is RunMetric.ACCURACY:
            value = record.get("window_accuracy")
            value = value * 100 if isinstance(value, (int, float)) else None
        else:  # what the predictor uses: the mixture's, else the LSTM's, held-out
            value = record.get("mixture_perplexity", record.get("val_perplexity"))
        return float(value) if isinstance(value, (int, float)) else math.nan


@dataclass(frozen=True)
class Run:
    name: str
    path: Path
    steps: int
    epochs: int
    model: str
    metrics: dict
    history: list[dict]


def find_runs(folder: Path | None = None, also: Path | None = None) -> list[Run]:
    """The checkpoints in ``folder`` (default: the user's), newest first, and ``also`` (the
    model the app holds) if it lies elsewhere; files that cannot be read are left out."""
    from lstm_tui.core.errors import CheckpointError
    from lstm_tui.core.store.checkpoint import info, read_history, scan_checkpoints

    found = scan_checkpoints(folder)[0]
    known = {c.path.resolve() for c in found}
    if also is not None and also.is_file() and also.resolve() not in known:
        with contextlib.suppress(CheckpointError, OSError):
            found.append(info(also))
    runs = []
    for c in found:
        try:
            records = read_history(c.path)
        except (CheckpointError, OSError):
            records = []
        runs.append(Run(c.name, c.path, c.steps, c.epochs, c.model, c.metrics, records))
    return runs


class RunsChart(LineChart):
    empty_title = "pick runs with space"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.metric = RunMetric.LOSS
        self.picked: list[Run] = []

    def series(self) -> list[Series]:
        out = []
        for n, run in enumerate(self.picked):
            xs = [float(r["step"]) for r in run.history]
            ys = [self.metric.value_of(r) for r in run.history]
            out.append(Series(visible(run.name), xs, ys, PALETTE[n % len(PALETTE)]))
        return out


class RunsScreen(DialogScreen[Path | None]):
    """Pick runs (space) to overlay them; ``c`` changes the figure; enter loads one."""

    BINDINGS = [
        Binding("escape,q,f10", "close", "Close", tooltip="Back to the main screen"),
        Binding("space", "pick", "Pick", tooltip="Add the run under the cursor to the chart"),
        Binding("c", "next_metric", "Figure", tooltip="Compare loss, perplexity or accuracy"),
        # priority: the table's own enter (select) would hide it from the footer
        Binding("enter", "open", "Load", tooltip="Load the run under the cursor", priority=True),
    ]

    def __init__(self, runs: list[Run], picked: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.runs = runs
        self._initial = picked

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog runs"):
            yield Label("Runs: saved checkpoints", classes="dialog-title")
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield Line(id="runs-legend")
            yield RunsChart(id="runs-chart")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in (
            ("", "pick", 2),
            ("run", "run", 18),
            ("model", "model", 6),
            ("steps", "steps", 8),
            ("epochs", "epochs", 7),
            ("loss", "loss", 6),
            ("val ppl", "ppl", 8),
            ("window", "window", 7),
            ("evals", "evals", 5),
        ):
            table.add_column(label, key=key, width=width)
        for run in self.runs:
            m = run.metrics
            ppl = m.get("val_perplexity")
            table.add_row(
                "",
                Text(visible(run.name), no_wrap=True, overflow="ellipsis"),
                run.model,
                f"{run.steps:,}",
                f"{run.epochs:,}",
                fmt.number(m.get("train_loss")),
                fmt.perplexity(ppl) if isinstance(ppl, (int, float)) else "—",
                fmt.percent(m.get("window_accuracy")),
                f"{len(run.history):,}",
                key=str(run.path),
            )
        for run in self.runs:
            if run.name in self._initial:
                self._pick(run)
        table.focus()
        self.call_after_refresh(self._redraw)  # once laid out: the chart knows its size

    def _run_at_cursor(self) -> Run | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row < 0:
            return None
        return self.runs[table.cursor_row]

    def _pick(self, run: Run) -> None:
        chart = self.query_one(RunsChart)
        if run in chart.picked:
            chart.picked.remove(run)
        elif len(chart.picked) < MAX_PICKED:
            chart.picked.append(run)
        else:
            self.notify(f"At most {MAX_PICKED} runs on one chart.", timeout=3)
            return
        table = self.query_one(DataTable)
        for shown in self.runs:  # each picked run's mark in its line's colour
            mark = Text()
            if shown in chart.picked:
                color = PALETTE[chart.picked.index(shown)]
                mark.append("━", style="bold rgb({},{},{})".format(*color))
            table.update_cell(str(shown.path), "pick", mark)

    # (not action_toggle: Textual's DOMNode has one, toggling an attribute)
    def action_pick(self) -> None:
        run = self._run_at_cursor()
        if run is not None:
            self._pick(run)
            self._redraw()

    def action_next_metric(self) -> None:
        chart = self.query_one(RunsChart)
        chart.metric = chart.metric.next()
        self._redraw()

    def action_open(self) -> None:
        run = self._run_at_cursor()
        if run is not None:
            self.dismiss(run.path)

    def action_close(self) -> None:
        self.dismiss(None)

    def _redraw(self) -> None:
        chart = self.query_one(RunsChart)
        chart.redraw()
        title = chart.metric.value
        line = self.query_one("#runs-legend", Line)
        line.update(legend_line(title, chart.series(), line.size.width or 200))
