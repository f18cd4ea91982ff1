"""TensorBoard event logs of training runs, written from the Trainer's events.

The writer stands outside the training loop: whoever drives ``Trainer.run()`` (the CLI, the
app's run thread) hands each event to ``Logbook.record``. One run is one folder,
``<base>/<checkpoint name>/<UTC time>``, where ``base`` is ``--logdir`` (or the ``logdir``
setting) and otherwise a ``runs`` folder next to the checkpoint, so that
``tensorboard --logdir <base>`` finds every run of every model there, and new runs as they
start. Steps are the session's, so a resumed model's curves carry on where they stopped.

The writer is tensorboardX's ``SummaryWriter``: it needs protobuf and numpy, not TensorFlow
nor the ``tensorboard`` package (grpcio, werkzeug…), whereas ``torch.utils.tensorboard``
imports ``tensorboard`` itself. It is imported lazily: ``lstm-tui --help`` does not wait for
it, and without it a run trains as before and says once that it keeps no log.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX, bundled_dir, checkpoints_dir
from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult

FLUSH_SECONDS = 2  # tensorboardX's default is 120: a new run would take minutes to appear
RUNS_FOLDER = "runs"


def run_folder(checkpoint: Path | None, logdir: Path | None, name: str | None = None) -> Path:
    """Where one new run's event files go (the folder is not made here). A checkpoint shipped
    with the package (or none yet) logs under the user's checkpoints folder: the package's
    own folder may not be writable, and is replaced on upgrade."""
    if logdir is None:
        near = checkpoint.parent if checkpoint else None
        if near is None or near.resolve() == bundled_dir("models").resolve():
            near = checkpoints_dir()
        base = near / RUNS_FOLDER
    else:
        base = Path(logdir).expanduser()
    stem = name or (checkpoint.name.removesuffix(CHECKPOINT_SUFFIX) if checkpoint else "model")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder = base / stem / stamp
    n = 1
    while folder.exists():  # two runs in one second (tests, scripts)
        n += 1
        folder = base / stem / f"{stamp}-{n}"
    return folder


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def evaluation_scalars(event: EpochEvent) -> dict[str, float]:
    """Every figure of an evaluation, by TensorBoard tag."""
    out: dict[str, float] = {}
    for key, value in event.metrics().items():
        if key in ("epoch", "mix", "components"):
            continue
        number = _finite(value)
        if number is not None:  # train_loss, val_perplexity, window_accuracy, ksr…
            out[f"eval/{key}"] = number
    for part, figures in (event.components or {}).items():
        if not isinstance(figures, dict):
            continue
        for key, value in figures.items():
            number = _finite(value)
            if number is None:
                continue
            group = "perplexity" if key.startswith("perplexity") else "parts"
            out[f"{group}/{part}" if key == "perplexity" else f"{group}/{part}_{key}"] = number
    for part, weight in (event.mix or {}).items():
        number = _finite(weight)
        if number is not None:
            out[f"mix/{part}"] = number
    return out


def step_scalars(event: StepEvent) -> dict[str, float]:
    figures = {
        "train/loss": event.loss,
        "train/accuracy": event.accuracy,
        "train/lr": event.lr,
        "train/grad_norm": event.grad_norm,
        "train/tokens_per_second": event.tokens_per_second,
    }
    return {tag: v for tag, v in ((t, _finite(x)) for t, x in figures.items()) if v is not None}


class Logbook:
    """One run's event files. ``record`` every event; ``close`` at the end (or on error)."""

    def __init__(self, folder: Path, writer: Any) -> None:
        self.folder = folder
        self._writer = writer
        self._step = 0  # the session's step at the latest event

    @classmethod
    def open(cls, folder: Path, description: str = "") -> tuple[Logbook | None, str | None]:
        """The logbook, or None and one line saying why there is none (no tensorboardX, a
        folder that cannot be made): a run without a log still trains."""
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            return None, "no training log: tensorboardX is not installed (pip install tensorboardX)"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writer = SummaryWriter(logdir=str(folder), flush_secs=FLUSH_SECONDS)
        except OSError as e:
            return None, f"no training log: {folder}: {e.strerror or e}"
        book = cls(folder, writer)
        if description:
            writer.add_text("run", description, 0)
        return book, None

    def record(self, event: object) -> None:
        """Log a step, an evaluation or the result; any other event (the run's ``Started``
        from ``jobs.train_session``) carries no figure and is passed over."""
        writer = self._writer
        if isinstance(event, StepEvent):
            self._step = event.step
            for tag, value in step_scalars(event).items():
                writer.add_scalar(tag, value, event.step)
        elif isinstance(event, EpochEvent):
            self._step = event.step
            for tag, value in evaluation_scalars(event).items():
                writer.add_scalar(tag, value, event.step)
            if event.sample:
                writer.add_text("sample", event.sample, event.step)
            writer.flush()  # an evaluation shows in TensorBoard at once
        elif isinstance(event, TrainResult):
            writer.add_text("result", f"{event.reason.value}: {event.message}", self._step)
            writer.flush()

    def close(self) -> None:
        self._writer.close()
