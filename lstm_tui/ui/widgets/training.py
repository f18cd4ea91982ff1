"""The training pane: state, a progress bar with ETA, the latest metrics, a chart, an epoch log."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar

from lstm_tui.core import format as fmt
from lstm_tui.core.text.safe_text import visible
from lstm_tui.ui.messages import TrainingEnded, TrainingProgress, TrainingStarted
from lstm_tui.ui.state import TrainState
from lstm_tui.ui.widgets.chart import LossChart, perplexities
from lstm_tui.ui.widgets.line import Line, LogLines

if TYPE_CHECKING:
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult

# One plain-language line per metric: the metrics lines' tooltips, and F1's "Metrics" section.
RUN_HINTS = (
    ("loss", "how wrong the next-word guesses are on the training text (lower is better)"),
    ("acc", "how often the top guess is the next word, on the training text"),
    ("val ppl", "perplexity on held-out text: the model is as unsure as picking from this many "
     "words (lower is better; none for texts under 1,000 tokens)"),
    ("window", "the tutorial's score: the next word from exactly the three words before it"),
    ("tok/s", "training speed: tokens read per second"),
    ("lr", "the learning rate of the latest step (it warms up, then follows a cosine down)"),
    ("gn", "the gradient norm of the latest step, before clipping: spikes warn of divergence"),
)  # fmt: skip
MIX_HINTS = (
    ("λ · n-gram · cache", "each part's share of every suggestion: λ the LSTM's, then word "
     "counts of your text (the n-gram) and the words you just used (the cache); refitted on "
     "held-out text at each evaluation"),
    ("ppl mix · LSTM · n-gram", "held-out perplexity of what the predictor uses (the mix) "
     "and of each part alone (lower is better); 'without': the mix with no cache"),
    ("top-3", "how often the next word is among the first three suggestions, on held-out text"),
)  # fmt: skip
METRIC_HINTS = RUN_HINTS + MIX_HINTS
PARTS = (("mixture", "mix"), ("lstm", "LSTM"), ("ngram", "n-gram"))
REDRAW_INTERVAL = 0.25  # labels and progress bar, seconds
# Seconds between chart redraws: plotext's cost grows with the chart's area, and the chart
# is about twice as tall as before issue 19, so it is redrawn half as often (the same work).
CHART_INTERVAL = 1.0
# A forecast of when suggestions turn useful needs a trend: this many evaluations at least
# (how far out it may lie is history.MAX_EXTRAPOLATION's).
FORECAST_MIN_POINTS = 3

STATE_LABELS = {
    TrainState.LOADING: ("◌", "loading model…", "muted"),
    TrainState.NONE: ("○", "no model · ctrl+o loads one, ctrl+n opens a text", "warn"),
    TrainState.IDLE: ("●", "idle · F5 to train", "muted"),
    TrainState.STARTING: ("◌", "starting…", "muted"),
    TrainState.TRAINING: ("▶", "training", "ok"),
    TrainState.PAUSED: ("⏸", "paused · F6 to resume", "warn"),
    TrainState.STOPPING: ("■", "stopping…", "warn"),
}


class ChartLegend(Line):
    """The chart's legend and stats, fitted to the width it has when it is drawn (a width
    read earlier may be a layout behind: the legend would then be cut)."""

    def render(self) -> Text:
        chart = self.parent.query_one(LossChart) if self.parent is not None else None
        return chart.legend(self.size.width or 200) if chart is not None else Text("")


class TrainingPane(Vertical, can_focus=True):
    """Shows what the app's training worker reports; holds no training logic itself."""

    BORDER_TITLE = "Training"
    BINDINGS = [
        Binding(
            "c",
            "next_chart",
            "Chart",
            tooltip="Plot the next figure: loss · accuracy, perplexity, learning rate, gradient",
            id="training.chart",
        ),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.state = TrainState.LOADING
        self.run_description = ""
        self.last_step: StepEvent | None = None
        self.last_epoch: EpochEvent | None = None
        self.total_steps = 0
        self.run_started_step = 0
        self._loaded_metrics: dict = {}
        self._accuracy: list[tuple[int, float]] = []  # (step, top-1 accuracy) per evaluation
        self._last_note = ""  # the latest usefulness note logged: never said twice in a row
        self._said_useful = False  # "useful now" said in this run
        self._labels_dirty = True
        self._last_chart = 0.0

    def compose(self) -> ComposeResult:
        yield Line(id="train-state")
        with Horizontal(id="train-progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="train-progress")
            yield Line("", id="train-eta")
        yield Line(id="train-position")
        yield Line(id="train-metrics")
        yield Line(id="train-mix")
        yield ChartLegend(id="chart-legend")  # what is plotted, its colours, one-line stats
        yield LossChart(id="train-chart")
        yield Line(id="train-sample")
        yield LogLines(id="epoch-log")

    def on_mount(self) -> None:
        self.border_subtitle = "F5 train · F6 pause · F7 stop · F9 settings · c chart"
        for selector, hints in (("#train-metrics", RUN_HINTS), ("#train-mix", MIX_HINTS)):
            self.query_one(selector).tooltip = "\n".join(f"{k}: {v}" for k, v in hints)
        self.query_one("#train-position").tooltip = "\n".join(f"{k}: {v}" for k, v in RUN_HINTS)
        self._show_sample(None)
        self._show_legend()
        self._redraw_labels()
        self.set_interval(REDRAW_INTERVAL, self._tick)

    def action_next_chart(self) -> None:
        chart = self.query_one(LossChart)
        chart.show(chart.view.next())
        self._show_legend()

    def _show_legend(self) -> None:
        self.query_one(ChartLegend).refresh()

    def _show_sample(self, sample: str | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if sample:
            text.append("sample ", style="dim")
            text.append(visible(sample), style="italic")
        else:
            text.append("sample: after each evaluation", style="dim")
        self.query_one("#train-sample", Line).update(text)

    # -- called by the app ----------------------------------------------------------------

    def set_state(self, state: TrainState) -> None:
        if state is self.state:
            return
        self.state = state
        self._labels_dirty = True
        self._redraw_labels()

    def show_session(self, session: Session, fresh: bool) -> None:
        """A model was loaded or built: its history so far, and its metrics."""
        progress = session.progress
        self.reset_history(
            "new model: no training yet"
            if fresh
            else f"loaded: {progress.steps:,} steps, {progress.epochs:,} epochs trained before"
        )
        self.show_metrics(session.metrics)
        chart = self.query_one(LossChart)
        for record in session.history:  # the runs before this one, one point per evaluation
            loss = record.get("train_loss")
            if isinstance(loss, (int, float)):
                chart.add(int(record["step"]), float(loss), record.get("train_accuracy"))
            chart.add_evaluation(int(record["step"]), perplexities(record))
        self._redraw_chart()

    # -- from the training run (started and ended go on to the app) ------------------------

    def on_training_started(self, message: TrainingStarted) -> None:
        self.run_started(message.description, message.total_steps, message.first_step)
        if message.log_note:
            self.log_line(message.log_note, style="dim", wrap=True)

    def on_training_progress(self, message: TrainingProgress) -> None:
        message.stop()
        from lstm_tui.core.training.train import StepEvent

        if isinstance(message.event, StepEvent):
            self.step(message.event)
        else:
            self.epoch(message.event)

    def on_training_ended(self, message: TrainingEnded) -> None:
        self.run_ended(message.result, message.error)

    def run_started(self, description: str, total_steps: int, first_step: int) -> None:
        self.run_description = description
        self.total_steps = total_steps
        self.run_started_step = first_step
        self._said_useful = False
        self.last_step = None
        self.query_one(ProgressBar).update(total=max(1, total_steps), progress=0)
        self.log_line(f"run: {description}", style="dim", wrap=True)

    def step(self, event: StepEvent) -> None:
        self.last_step = event
        self.query_one(LossChart).add(
            event.step, event.loss, event.accuracy, event.lr, event.grad_norm
        )
        self._labels_dirty = True

    def epoch(self, event: EpochEvent) -> None:
        self.last_epoch = event
        parts = [f"ep {event.epoch:>4,}"]
        if event.train_loss is not None:
            parts.append(f"loss {fmt.number(event.train_loss)}")
        if event.train_accuracy is not None:
            parts.append(f"acc {fmt.percent(event.train_accuracy)}")
        parts.append(f"win {fmt.percent(event.window_accuracy)}")
        if event.val_perplexity is not None:
            parts.append(f"val ppl {fmt.perplexity(event.val_perplexity)}")
        parts.append(fmt.duration(event.elapsed))
        self.log_line("  ".join(parts))
        if event.ksr is not None:
            self.log_line(ksr_sentence(event.ksr))
        if event.sample:
            self.log_line(f"  ↳ {event.sample}", style="italic dim")
        self._show_sample(event.sample)
        flat = {f"{k}_{f}": v for k, d in (event.components or {}).items() for f, v in d.items()}
        figures = {"val_perplexity": event.val_perplexity, "train_loss": event.train_loss}
        self.query_one(LossChart).add_evaluation(event.step, perplexities({**flat, **figures}))
        self._labels_dirty = True
        self._show_mixture()
        accuracy = event.val_accuracy if event.val_accuracy is not None else event.full_accuracy
        self._accuracy.append((event.step, accuracy))
        note = self._usefulness(event)
        if note and note != self._last_note:
            self.log_line(note, style="italic", wrap=True)
            self._last_note = note

    def _usefulness(self, event: EpochEvent) -> str:
        """A rough "suggestions should be useful around …", from the accuracy trend: "now"
        said once a run, and a forecast only from a rising trend of a few evaluations that
        points within reach (a line through two noisy points can point anywhere)."""
        from lstm_tui.core.store.history import USEFUL_ACCURACY, useful_estimate

        steps_run = event.step - self.run_started_step
        kind, at = useful_estimate(self._accuracy, event.step, steps_run, self._said_useful)
        if kind == "now":
            self._said_useful = True  # once a run: it does not repeat at every evaluation
            top1 = fmt.percent(self._accuracy[-1][1])
            return f"top-1 accuracy {top1}: suggestions should be useful now"
        if at is None or len(self._accuracy) < FORECAST_MIN_POINTS:
            return ""
        rate = steps_run / event.elapsed if event.elapsed > 0 and steps_run > 0 else None
        when = f" (~{fmt.duration((at - event.step) / rate)} more)" if rate else ""
        return (
            f"suggestions should be useful (top-1 {USEFUL_ACCURACY:.0%}) around step "
            f"{at:,}{when}, roughly"
        )

    def run_ended(self, result: TrainResult | None, error: str | None) -> None:
        if error:
            self.log_line(f"failed: {error}", style="bold red", wrap=True)
        elif result is not None:
            style = "bold red" if result.reason == "diverged" else "bold"
            self.log_line(
                f"{result.reason.value}: {result.message} · {result.steps:,} steps in "
                f"{fmt.duration(result.seconds)} · {fmt.rate(result.tokens_per_second)} tok/s",
                style=style,
                wrap=True,
            )
            if result.reason in ("finished", "target"):
                self.query_one(ProgressBar).update(progress=self.total_steps)
        self._redraw_chart()

    def show_metrics(self, metrics: dict) -> None:
        """Metrics a loaded checkpoint came with, until training reports new ones."""
        self._loaded_metrics = metrics
        self._labels_dirty = True
        self._show_mixture()

    def reset_history(self, note: str | None = None) -> None:
        self._accuracy = []
        self._last_note = ""
        self._said_useful = False
        self._show_sample(None)
        self.last_step = None
        self.last_epoch = None
        self._loaded_metrics = {}
        self.total_steps = 0
        self.query_one(ProgressBar).update(total=100, progress=0)
        self.query_one(LossChart).clear_points()
        self._redraw_chart()
        self.query_one(LogLines).clear()
        self._show_mixture()
        if note:
            self.log_line(note, style="dim")
        self._labels_dirty = True
        self._redraw_labels()

    def log_line(self, line: str, style: str = "", wrap: bool = False) -> None:
        # Errors may quote a file's name or words: shown, never obeyed.
        self.query_one(LogLines).write(Text(visible(line), style=style), wrap=wrap)

    # -- drawing --------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._labels_dirty:
            self._redraw_labels()
        chart = self.query_one(LossChart)
        now = time.monotonic()
        if chart.dirty and now - self._last_chart >= CHART_INTERVAL:
            self._redraw_chart()

    def _redraw_chart(self) -> None:
        self._last_chart = time.monotonic()
        self.query_one(LossChart).redraw()
        self._show_legend()

    def _redraw_labels(self) -> None:
        self._labels_dirty = False
        symbol, label, tone = STATE_LABELS.get(self.state, ("?", self.state, "muted"))
        state = Text()
        state.append(
            f"{symbol} {label}", style={"ok": "bold green", "warn": "bold yellow"}.get(tone, "dim")
        )
        if self.run_description and self.state.running:
            state.append(f"  {self.run_description}", style="dim")
        self.query_one("#train-state", Line).update(state)

        event = self.last_step
        eta = self.query_one("#train-eta", Line)
        position = self.query_one("#train-position", Line)
        if event is not None:
            done = event.step - self.run_started_step
            self.query_one(ProgressBar).update(progress=done)
            eta.update(fmt.eta(event.eta, event.eta_is_bound) if self.state.running else "")
            planned = (done, self.total_steps) if self.total_steps else None
            # At half of 120 columns the full line lost its learning rate: the steps planned
            # go first (the progress bar shows them), then the gradient norm.
            position.update(
                position_text(event, planned),
                position_text(event, None),
                position_text(event, None, grad_norm=False),
            )
        elif self.state is TrainState.IDLE:
            eta.update("")
            position.update(Text("no run yet in this session", style="dim"))
        self.query_one("#train-metrics", Line).update(
            self._metrics_text(),
            self._metrics_text(short=True),
            self._metrics_text(short=True, window=False),
        )

    def _show_mixture(self) -> None:
        """The mixture's weights and each part's figures, from the last evaluation (or the
        checkpoint's); hidden where there are none (no n-gram, or no held-out text)."""
        epoch, loaded = self.last_epoch, self._loaded_metrics
        mix = epoch.mix if epoch else loaded.get("mix")
        components = epoch.components if epoch else loaded.get("components")
        text = mixture_text(mix, components)
        line = self.query_one("#train-mix", Line)
        line.display = text is not None
        if text is not None:
            line.styles.height = len(text.split())
            line.update(text)

    def _metrics_text(self, short: bool = False, window: bool = True) -> Text:
        """The figures line; ``short`` says the keystrokes saved in three words (the log has
        the sentence), and without ``window`` the window accuracy is left out, for narrow panes."""
        step, epoch = self.last_step, self.last_epoch
        loaded = self._loaded_metrics
        loss = step.loss if step else (epoch.train_loss if epoch else loaded.get("train_loss"))
        accuracy: float | None
        if step and step.accuracy is not None:
            accuracy = step.accuracy
        elif epoch:
            accuracy = epoch.train_accuracy
        else:
            accuracy = loaded.get("train_accuracy")
        ppl = epoch.val_perplexity if epoch else loaded.get("val_perplexity")
        in_window = epoch.window_accuracy if epoch else loaded.get("window_accuracy")
        ksr = _number(epoch.ksr if epoch else loaded.get("ksr"))
        text = Text(no_wrap=True, overflow="ellipsis")
        figures = [
            ("loss", fmt.number(loss)),
            ("acc", fmt.percent(accuracy)),
            ("val ppl", fmt.perplexity(ppl)),
        ]
        if window:
            figures.append(("window", fmt.percent(in_window)))
        for name, value in figures:
            text.append(f"{name} ", style="dim")
            text.append(value, style="bold")
            text.append("  ")
        if ksr is not None:
            text.append(f"saves {ksr:.0%} keys" if short else ksr_sentence(ksr), style="bold")
        return text


def position_text(
    event: StepEvent, planned: tuple[int, int] | None, grad_norm: bool = True
) -> Text:
    """Where the run is: epoch, step (of the steps planned), speed, learning rate, gradient norm."""
    where = Text(no_wrap=True, overflow="ellipsis")
    where.append("epoch ", style="dim")
    where.append(f"{event.epoch:,}", style="bold")
    where.append("  step ", style="dim")
    where.append(f"{event.step:,}", style="bold")
    if planned:
        where.append(f" ({planned[0]:,} of {planned[1]:,})", style="dim")
    where.append("  ")
    where.append(fmt.rate(event.tokens_per_second), style="bold")
    where.append(" tok/s", style="dim")
    where.append("  lr ", style="dim")
    where.append(f"{event.lr:.1e}", style="bold")
    if grad_norm and event.grad_norm is not None and math.isfinite(event.grad_norm):
        where.append("  gn ", style="dim")
        where.append(f"{event.grad_norm:.3g}", style="bold")
    return where


def ksr_sentence(ksr: float) -> str:
    """Keystrokes saved, in words (the simulated typist of docs/TYPING.md)."""
    return f"saves {ksr:.0%} of keystrokes on held-out text"


def mixture_text(mix: dict | None, components: dict | None) -> Text | None:
    """Two lines: the mixture's weights (``λ 0.62 · n-gram 0.38``), then the held-out
    perplexity of the mixture and of each part, and their top-3 accuracy where it was counted.
    None without mixture figures (an LSTM-only model, or a text too small to hold any out)."""
    if not isinstance(mix, dict) or not isinstance(components, dict):
        return None
    parts = [
        (label, components[key]) for key, label in PARTS if isinstance(components.get(key), dict)
    ]
    mixture = components.get("mixture")
    without = (
        _number(mixture.get("perplexity_without_cache")) if isinstance(mixture, dict) else None
    )
    weights = [("λ", f"{_number(mix.get('lstm')) or 0.0:.2f}")]
    weights.append(("n-gram", f"{_number(mix.get('ngram')) or 0.0:.2f}"))
    cache = _number(mix.get("cache"))
    if cache or without is not None:
        weights.append(("cache", f"{cache or 0.0:.2f}"))
    text = Text(no_wrap=True, overflow="ellipsis")
    _append_parts(text, weights)
    if without is not None:
        text.append(f" (ppl {_short_ppl(without)} without)", style="dim")
    text.append("\nppl ", style="dim")
    _append_parts(
        text, [(label, _short_ppl(_number(part.get("perplexity")))) for label, part in parts]
    )
    top3 = [(label, _number(part.get("top3"))) for label, part in parts]
    shown = [(label, fmt.percent(value)) for label, value in top3 if value is not None]
    if shown:  # on the perplexity line: the pane keeps its rows for the chart
        text.append("  top-3 ", style="dim")
        _append_parts(text, shown)
    return text


def _short_ppl(value: float | None) -> str:
    """A perplexity in few columns: ``123``, ``45.6``."""
    if value is not None and math.isfinite(value) and value >= 100:
        return f"{value:,.0f}"
    return fmt.perplexity(value)


def _number(value: object) -> float | None:
    """A figure as a float; None for a missing one (or anything else a file may hold)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _append_parts(text: Text, parts: list[tuple[str, str]]) -> None:
    for n, (label, value) in enumerate(parts):
        if n:
            text.append(" · ", style="dim")
        text.append(f"{label} ", style="dim")
        text.append(value, style="bold")
