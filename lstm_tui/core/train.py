"""Training: contiguous token streams, truncated backprop through time, progress as events.

``Trainer.run()`` is a generator of events that any thread can drive; ``pause``,
``resume`` and ``stop`` may be called from any other thread and take effect between steps.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from lstm_tui.core.batches import StreamBatches
from lstm_tui.core.config import TrainConfig
from lstm_tui.core.corpus import MIN_TOKENS, WINDOW
from lstm_tui.core.device import resolve_device, resolve_precision
from lstm_tui.core.distributed import Distributed, TrainStep
from lstm_tui.core.errors import ConfigError
from lstm_tui.core.metrics import MAX_WINDOWS, score_text, window_accuracy
from lstm_tui.core.session import Progress, Session

MIN_STREAM = 8  # shortest stream worth carrying state along, in tokens
AUTO_EPOCH_TOKENS = 300_000  # epochs=None trains on about this many tokens ...
AUTO_MIN_EPOCHS = 10  # ... and never fewer epochs than this
SMALL_EVAL_TOKENS = 5_000  # texts up to this long are scored in one stream, exactly
MAX_EVAL_TOKENS = 250_000  # evaluation reads at most this much of the held-out (or train) text
EVAL_STREAMS = 16
# Evaluation may cost at most this fraction of the training work between two evaluations: a
# tiny corpus (an epoch is a step) is evaluated every few epochs, counted, not timed, so that
# a seeded run stops at the same step however busy the machine is.
EVAL_BUDGET = 0.5


@dataclass(frozen=True)
class StepEvent:
    """Training moved on; loss and accuracy are averages over the steps since the last event."""

    step: int  # steps in the session so far
    epoch: int  # the epoch in progress (1-based, session total)
    epoch_progress: float  # 0..1 through that epoch
    progress: float  # 0..1 through this run
    loss: float
    accuracy: float | None
    tokens_per_second: float
    elapsed: float  # seconds of training in this run (pauses excluded)
    eta: float | None  # seconds left, if known
    lr: float


@dataclass(frozen=True)
class EpochEvent:
    """The model was evaluated: at the end of an epoch, or of a run cut short by its time limit.

    Tiny corpora (a step or two per epoch) are evaluated every few epochs: see EVAL_BUDGET.
    """

    epoch: int
    step: int
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_perplexity: float | None
    val_accuracy: float | None
    window_accuracy: float  # the tutorial's metric, on validation text if there is any
    full_accuracy: float  # next-word top-1 given all text before
    elapsed: float

    def metrics(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("step", "elapsed")}


@dataclass(frozen=True)
class TrainResult:
    """The last event of a run: why it ended, and where the model stands."""

    reason: str  # "finished", "target", "time", "stopped" or "diverged"
    message: str
    epochs: int  # epochs completed in this run
    steps: int
    seconds: float
    tokens_per_second: float
    train_loss: float | None
    window_accuracy: float | None
    full_accuracy: float | None
    val_perplexity: float | None
    val_accuracy: float | None


Event = StepEvent | EpochEvent | TrainResult


def fit_to_corpus(n_tokens: int, batch_size: int, bptt: int) -> tuple[int, int]:
    """Shrink batch and bptt so that a small text still fills streams worth training on.

    On a text shorter than one batch of chunks, each epoch is a single chunk per stream,
    read from an empty state: exactly how the predictor will meet typed text.
    """
    if n_tokens < MIN_TOKENS:
        raise ConfigError(f"a training text needs at least {MIN_TOKENS} tokens, not {n_tokens}")
    batch_size = max(1, min(batch_size, (n_tokens - 1) // MIN_STREAM))
    stream = (n_tokens - 1) // batch_size
    return batch_size, max(1, min(bptt, stream))


class Trainer:
    def __init__(
        self,
        session: Session,
        train_ids: np.ndarray,
        val_ids: np.ndarray | None = None,
        config: TrainConfig | None = None,
        report_interval: float = 0.1,
        dist: Distributed | None = None,
        precision: str = "fp32",  # [issue 9] the CLI passes --precision (auto: bf16 on CUDA)
    ) -> None:
        self.session = session
        self.config = (config or session.train_config).check()
        self.device = resolve_device(self.config.device)
        self.autocast = resolve_precision(precision, self.device)
        # [issue 9] Many processes: each reads its share of the streams, all vote to stop.
        self.dist = dist
        if dist is not None and self.config.seed is None:
            self.config = replace(self.config, seed=dist.shared_seed(None))
        self.train_ids = np.asarray(train_ids)  # a memory map stays one: batches read slices
        self.val_ids = np.asarray(val_ids) if val_ids is not None and len(val_ids) > 1 else None
        self.batch_size, self.bptt = fit_to_corpus(
            len(self.train_ids), self.config.batch_size, self.config.bptt
        )
        if dist is not None:
            dist.check_batch(self.batch_size)
        self.epochs = self.config.epochs or max(
            AUTO_MIN_EPOCHS, math.ceil(AUTO_EPOCH_TOKENS / len(self.train_ids))
        )
        self.report_interval = report_interval
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()

    # Control, from any thread.
    def pause(self) -> None:
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    def stop(self) -> None:
        self._stop.set()
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def steps_per_epoch(self) -> int:
        return math.ceil(((len(self.train_ids) - 1) // self.batch_size) / self.bptt)

    def epochs_between_evaluations(self) -> int:
        """Counted in tokens read by the LSTM: an evaluation reads every window and the text
        once; a training epoch reads the text about three times (forward and backward)."""
        text = len(self._evaluation_text())
        eval_work = min(text - WINDOW, MAX_WINDOWS) * WINDOW + text
        epoch_work = 3 * len(self.train_ids)
        return max(1, math.ceil(eval_work / (EVAL_BUDGET * epoch_work)))

    def _evaluation_text(self) -> np.ndarray:
        text = self.val_ids if self.val_ids is not None else self.train_ids
        return text[:MAX_EVAL_TOKENS]  # bounds the cost of an evaluation on a huge corpus

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        kind = torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.AdamW
        params = list(self.session.model.parameters())
        try:  # the fused kernels are several times faster, on CPU too
            optimizer = kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError):
            optimizer = kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        saved = self.session.optimizer_state
        if saved and saved.get("kind") == cfg.optimizer:
            optimizer.load_state_dict(saved["state"])
            for group in optimizer.param_groups:  # this run's lr, decayed as far as before
                group["lr"] = saved.get("lr_scale", 1.0) * cfg.lr
        return optimizer

    def _evaluate(self) -> dict:
        if self.dist is not None:  # [issue 9] rank 0 scores; all take its metrics, decide alike
            return self.dist.from_main(self._score)
        return self._score()

    def _score(self) -> dict:
        model = self.session.model
        text = self._evaluation_text()
        streams = 1 if len(text) <= SMALL_EVAL_TOKENS else EVAL_STREAMS
        score = score_text(model, text, streams)
        has_val = self.val_ids is not None
        return {
            "val_loss": score.loss if has_val else None,
            "val_perplexity": score.perplexity if has_val else None,
            "val_accuracy": score.top1 if has_val else None,
            "window_accuracy": window_accuracy(model, text),
            "full_accuracy": score.top1,
        }

    def _stream_batches(self, rng: np.random.Generator) -> StreamBatches:
        """One epoch: the text cut into ``batch_size`` side-by-side streams, ``bptt`` at a time.

        The streams start at a random offset each epoch, so on a small text every position
        is sometimes read from an empty state (as the predictor will be). [issue 9] Batches
        are read from ``train_ids`` step by step (it may be a memory map of a huge corpus);
        under torchrun each rank reads its own streams of the global batch.
        """
        ids = self.train_ids
        stream = (len(ids) - 1) // self.batch_size
        offset = int(rng.integers(0, stream)) if stream > 1 else 0
        length = (len(ids) - 1 - offset) // self.batch_size
        rows = np.arange(self.batch_size) if self.dist is None else self.dist.rows(self.batch_size)
        return StreamBatches(ids, offset, length, self.bptt, rows, self.device)

    def _train_step(self) -> torch.nn.Module:
        """[issue 9] The forward pass as a module: (x, y, state, count_correct) -> (loss,
        hits, detached state); wrapped in DDP under torchrun, autocast to bf16 if asked."""
        step = TrainStep(self.session.model, self.autocast)
        return step if self.dist is None else self.dist.wrap(step)

    def _stop_vote(self, watch: _Stopwatch, steps: int) -> tuple[str, str] | None:
        """[issue 9] Why to stop before the next step, agreed by every rank under torchrun."""
        cfg = self.config
        code = 0
        if self._stop.is_set():
            code = 2
        elif cfg.max_seconds is not None and watch.seconds >= cfg.max_seconds:
            code = 1
        if self.dist is not None:
            code = self.dist.vote_stop(code, steps)
        if code == 2:
            return "stopped", "stopped by request"
        if code == 1:
            return "time", f"reached the {cfg.max_seconds:g} s time limit"
        return None

    def _wait_if_paused(self, watch: _Stopwatch) -> None:
        if not self._unpaused.is_set():
            watch.stop()
            self._unpaused.wait()
            watch.start()

    def run(self) -> Iterator[Event]:
        """Train, yielding progress events; the last event is always a ``TrainResult``."""
        session, cfg, model = self.session, self.config, self.session.model
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed + session.progress.steps)
        rng = np.random.default_rng(
            None if cfg.seed is None else cfg.seed + session.progress.epochs
        )
        session.to(self.device)
        optimizer = self._make_optimizer()
        forward = self._train_step()
        params = [p for p in model.parameters() if p.requires_grad]
        snapshot = [p.detach().clone() for p in params]  # the last weights known to be good
        full_softmax = model.config.softmax == "full"
        steps_planned = self.epochs * self.steps_per_epoch()

        watch = _Stopwatch()  # training time: pauses and evaluations excluded
        step_meter, epoch_meter = _Meter(), _Meter()
        run = Progress()  # this run's share of session.progress
        last_report = -math.inf
        eval_every = self.epochs_between_evaluations()
        evaluated_at = 0  # run.steps at the last evaluation
        metrics: dict = {}
        reason, message = "finished", ""
        model.train()
        watch.start()
        try:
            for _ in range(self.epochs):
                state = None
                batches = self._stream_batches(rng)
                for i, (x, y) in enumerate(batches):
                    self._wait_if_paused(watch)
                    stop = self._stop_vote(watch, run.steps)
                    if stop is not None:
                        reason, message = stop
                        break
                    last_in_epoch = i == len(batches) - 1
                    report_due = (
                        last_in_epoch or watch.seconds - last_report >= self.report_interval
                    )
                    # An adaptive softmax makes accuracy costly: count it on reporting steps only.
                    loss, correct, state = forward(x, y, state, full_softmax or report_due)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip or math.inf)
                    if not bool(torch.isfinite(loss) & torch.isfinite(norm)):
                        reason = "diverged"
                        message = self._recover(
                            params, snapshot, session.progress.steps + 1, bool(torch.isfinite(loss))
                        )
                        break
                    with session.lock:
                        optimizer.step()
                        session.mark_changed()

                    n = x.numel() * (self.dist.world if self.dist else 1)  # [issue 9] global
                    run.steps += 1
                    run.tokens += n
                    session.progress.steps += 1
                    session.progress.tokens += n
                    step_meter.add(loss.item(), n, None if correct is None else correct.item())
                    if report_due:
                        seconds = watch.seconds
                        done = run.steps / steps_planned
                        if cfg.max_seconds:
                            done = max(done, seconds / cfg.max_seconds)
                        yield StepEvent(
                            step=session.progress.steps,
                            epoch=session.progress.epochs + 1,
                            epoch_progress=(i + 1) / len(batches),
                            progress=min(1.0, done),
                            loss=step_meter.mean_loss,
                            accuracy=step_meter.accuracy,
                            tokens_per_second=run.tokens / seconds if seconds > 0 else 0.0,
                            elapsed=seconds,
                            eta=seconds / done - seconds if done > 0 else None,
                            lr=optimizer.param_groups[0]["lr"],
                        )
                        epoch_meter.merge(step_meter)
                        step_meter = _Meter()
                        last_report = seconds
                if reason != "finished":
                    break

                run.epochs += 1
                session.progress.epochs += 1
                for group in optimizer.param_groups:
                    group["lr"] *= cfg.lr_decay
                if run.epochs < self.epochs and run.epochs % eval_every:
                    continue
                metrics = self._evaluate_into_session(watch, epoch_meter, snapshot, params)
                evaluated_at, epoch_meter = run.steps, _Meter()
                yield self._evaluation_event(metrics, watch)
                target = cfg.target_accuracy
                if target is not None and metrics["window_accuracy"] >= target:
                    reason = "target"
                    message = (
                        f"window accuracy {metrics['window_accuracy']:.1%} "
                        f"reached the target {target:.1%}"
                    )
                    break
            if reason == "time" and run.steps > evaluated_at:
                # A run cut short by its time limit still reports where the model stands.
                epoch_meter.merge(step_meter)
                metrics = self._evaluate_into_session(watch, epoch_meter, snapshot, params)
                yield self._evaluation_event(metrics, watch)
        finally:
            watch.stop()
            run.seconds = watch.seconds
            session.progress.seconds += run.seconds
            session.optimizer_state = {
                "kind": cfg.optimizer,
                "state": optimizer.state_dict(),
                "lr_scale": optimizer.param_groups[0]["lr"] / cfg.lr,
            }
            session.train_config = replace(cfg, epochs=self.epochs)
            model.eval()
        if reason == "finished":
            message = f"trained {run.epochs} epochs"
        yield TrainResult(
            reason=reason,
            message=message,
            epochs=run.epochs,
            steps=run.steps,
            seconds=run.seconds,
            tokens_per_second=run.tokens / run.seconds if run.seconds > 0 else 0.0,
            train_loss=metrics.get("train_loss"),
            window_accuracy=metrics.get("window_accuracy"),
            full_accuracy=metrics.get("full_accuracy"),
            val_perplexity=metrics.get("val_perplexity"),
            val_accuracy=metrics.get("val_accuracy"),
        )

    def _evaluate_into_session(
        self, watch: _Stopwatch, meter: _Meter, snapshot: list[torch.Tensor], params: list
    ) -> dict:
        """Score the model (off the training clock), keep its weights as the last good ones."""
        watch.stop()
        metrics = {
            "train_loss": meter.mean_loss if meter.tokens else None,
            "train_accuracy": meter.accuracy,
            **self._evaluate(),
        }
        watch.start()
        with torch.no_grad():
            torch._foreach_copy_(snapshot, params)
        self.session.metrics = dict(metrics)
        return metrics

    def _evaluation_event(self, metrics: dict, watch: _Stopwatch) -> EpochEvent:
        progress = self.session.progress
        return EpochEvent(
            epoch=progress.epochs, step=progress.steps, elapsed=watch.seconds, **metrics
        )

    def _recover(
        self, params: list[torch.Tensor], snapshot: list[torch.Tensor], step: int, loss_ok: bool
    ) -> str:
        """After a non-finite loss or gradient: put back the last good weights.

        Only when the loss was finite (the gradient overflowed) are the current weights still
        good; weights that give a NaN or infinite loss are finite-but-huge at best.
        """
        if loss_ok and all(bool(torch.isfinite(p).all()) for p in params):
            return (
                f"loss became NaN or infinite at step {step}; stopped with the weights "
                "from before it (try a lower learning rate)"
            )
        with self.session.lock, torch.no_grad():
            torch._foreach_copy_(params, snapshot)
            self.session.mark_changed()
        return (
            f"loss became NaN or infinite at step {step}; stopped and restored the last "
            "good weights (try a lower learning rate)"
        )


class _Stopwatch:
    """Seconds of running time, across any number of stop/start pairs."""

    def __init__(self) -> None:
        self._total = 0.0
        self._since: float | None = None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self._total += time.perf_counter() - self._since
            self._since = None

    @property
    def seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._total + running


@dataclass
class _Meter:
    """Token-weighted mean loss and top-1 accuracy over the steps added since it was made."""

    loss_sum: float = 0.0
    tokens: int = 0
    hits: float = 0.0
    hit_tokens: int = 0

    def add(self, loss: float, tokens: int, hits: float | None) -> None:
        self.loss_sum += loss * tokens
        self.tokens += tokens
        if hits is not None:
            self.hits += hits
            self.hit_tokens += tokens

    def merge(self, other: _Meter) -> None:
        self.loss_sum += other.loss_sum
        self.tokens += other.tokens
        self.hits += other.hits
        self.hit_tokens += other.hit_tokens

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.tokens if self.tokens else math.nan

    @property
    def accuracy(self) -> float | None:
        return self.hits / self.hit_tokens if self.hit_tokens else None
