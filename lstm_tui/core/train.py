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

from lstm_tui.core.config import TrainConfig
from lstm_tui.core.corpus import MIN_TOKENS
from lstm_tui.core.device import resolve_device
from lstm_tui.core.errors import ConfigError
from lstm_tui.core.metrics import score_text, window_accuracy
from lstm_tui.core.session import Session

MIN_STREAM = 8  # shortest stream worth carrying state along, in tokens
AUTO_EPOCH_TOKENS = 300_000  # epochs=None trains on about this many tokens ...
AUTO_MIN_EPOCHS = 10  # ... and never fewer epochs than this
SMALL_EVAL_TOKENS = 5_000  # texts up to this long are scored in one stream, exactly
EVAL_STREAMS = 16
MIN_EVAL_INTERVAL = 0.5  # seconds of training between two evaluations of a tiny corpus


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
    """An epoch ended and the model was evaluated."""

    epoch: int
    step: int
    train_loss: float
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
    ) -> None:
        self.session = session
        self.config = (config or session.train_config).check()
        self.device = resolve_device(self.config.device)
        self.train_ids = np.asarray(train_ids)
        self.val_ids = np.asarray(val_ids) if val_ids is not None and len(val_ids) > 1 else None
        self.batch_size, self.bptt = fit_to_corpus(
            len(self.train_ids), self.config.batch_size, self.config.bptt
        )
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

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = self.session.model.parameters()
        cfg = self.config
        if cfg.optimizer == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=cfg.lr, weight_decay=cfg.weight_decay
            )
        else:
            optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        saved = self.session.optimizer_state
        if saved and saved.get("kind") == cfg.optimizer:
            optimizer.load_state_dict(saved["state"])
            for group in optimizer.param_groups:  # the lr of this run wins over the saved one
                group["lr"] = saved.get("lr_scale", 1.0) * cfg.lr
        return optimizer

    def _evaluate(self) -> dict:
        model = self.session.model
        text = self.val_ids if self.val_ids is not None else self.train_ids
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

    def _stream_batches(
        self, rng: np.random.Generator, ids: torch.Tensor
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch: the text cut into ``batch_size`` side-by-side streams, ``bptt`` at a time.

        The streams start at a random offset each epoch, so on a small text every position
        is sometimes read from an empty state (as the predictor will be).
        """
        stream = (len(ids) - 1) // self.batch_size
        offset = int(rng.integers(0, stream)) if stream > 1 else 0
        length = (len(ids) - 1 - offset) // self.batch_size
        x = ids[offset : offset + self.batch_size * length].view(self.batch_size, length)
        y = ids[offset + 1 : offset + 1 + self.batch_size * length].view(self.batch_size, length)
        for t in range(0, length, self.bptt):
            yield x[:, t : t + self.bptt], y[:, t : t + self.bptt]

    def run(self) -> Iterator[Event]:
        """Train, yielding progress events; the last event is always a ``TrainResult``."""
        session, cfg = self.session, self.config
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed + session.progress.steps)
        rng = np.random.default_rng(
            None if cfg.seed is None else cfg.seed + session.progress.epochs
        )
        session.to(self.device)
        model = session.model
        optimizer = self._make_optimizer()
        ids = torch.as_tensor(self.train_ids, dtype=torch.long, device=self.device)
        params = [p for p in model.parameters() if p.requires_grad]
        steps_planned = self.epochs * self.steps_per_epoch()

        run_steps = run_epochs = 0
        run_tokens = 0
        train_seconds = 0.0  # pauses and evaluations excluded
        clock = time.perf_counter()  # start of the current stretch of training
        last_report = clock
        window_loss = torch.zeros((), device=self.device)
        window_correct = torch.zeros((), device=self.device)
        window_steps = window_tokens = 0
        epoch_loss_sum = epoch_correct_sum = 0.0
        epoch_tokens = 0
        last_eval_at = -math.inf
        last_metrics: dict = {}
        snapshot = [p.detach().clone() for p in params]  # last weights known to be good
        reason = "finished"
        message = ""
        counts_accuracy = model.config.softmax == "full"

        def elapsed() -> float:
            return train_seconds + (time.perf_counter() - clock)

        def result() -> TrainResult:
            seconds = elapsed()
            return TrainResult(
                reason=reason,
                message=message,
                epochs=run_epochs,
                steps=run_steps,
                seconds=seconds,
                tokens_per_second=run_tokens / seconds if seconds > 0 else 0.0,
                train_loss=last_metrics.get("train_loss"),
                window_accuracy=last_metrics.get("window_accuracy"),
                full_accuracy=last_metrics.get("full_accuracy"),
                val_perplexity=last_metrics.get("val_perplexity"),
                val_accuracy=last_metrics.get("val_accuracy"),
            )

        model.train()
        try:
            for _ in range(self.epochs):
                state = None
                batches = list(self._stream_batches(rng, ids))
                for i, (x, y) in enumerate(batches):
                    if self._stop.is_set():
                        reason, message = "stopped", "stopped by request"
                        break
                    if not self._unpaused.is_set():
                        train_seconds = elapsed()
                        self._unpaused.wait()
                        clock = time.perf_counter()
                        if self._stop.is_set():
                            reason, message = "stopped", "stopped by request"
                            break
                    if cfg.max_seconds is not None and elapsed() >= cfg.max_seconds:
                        reason, message = "time", f"reached the {cfg.max_seconds:g} s time limit"
                        break

                    features, state = model.features(x, state)
                    state = (state[0].detach(), state[1].detach())
                    loss, correct = model.loss(features, y, count_correct=counts_accuracy)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.clip > 0:
                        norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip)
                    else:
                        norm = torch.stack(
                            [p.grad.norm() for p in params if p.grad is not None]
                        ).sum()
                    if not bool(torch.isfinite(loss) & torch.isfinite(norm)):
                        reason = "diverged"
                        message = self._recover(params, snapshot, step=session.progress.steps + 1)
                        break
                    with session.lock:
                        optimizer.step()
                        session.mark_changed()

                    n = x.numel()
                    run_steps += 1
                    run_tokens += n
                    session.progress.steps += 1
                    session.progress.tokens += n
                    window_loss += loss.detach() * n
                    window_tokens += n
                    window_steps += 1
                    if correct is not None:
                        window_correct += correct.detach()

                    now = time.perf_counter()
                    last_of_epoch = i == len(batches) - 1
                    if now - last_report >= self.report_interval or last_of_epoch:
                        mean_loss = window_loss.item() / window_tokens
                        accuracy = (
                            window_correct.item() / window_tokens if counts_accuracy else None
                        )
                        epoch_loss_sum += mean_loss * window_tokens
                        epoch_correct_sum += (accuracy or 0.0) * window_tokens
                        epoch_tokens += window_tokens
                        seconds = elapsed()
                        done = (run_steps / steps_planned) if steps_planned else 0.0
                        if cfg.max_seconds:
                            done = max(done, seconds / cfg.max_seconds)
                        eta = seconds / done - seconds if done > 0 else None
                        yield StepEvent(
                            step=session.progress.steps,
                            epoch=session.progress.epochs + 1,
                            epoch_progress=(i + 1) / len(batches),
                            progress=min(1.0, done),
                            loss=mean_loss,
                            accuracy=accuracy,
                            tokens_per_second=run_tokens / seconds if seconds > 0 else 0.0,
                            elapsed=seconds,
                            eta=eta,
                            lr=optimizer.param_groups[0]["lr"],
                        )
                        last_report = now
                        window_loss.zero_()
                        window_correct.zero_()
                        window_tokens = window_steps = 0
                else:
                    # The epoch ran to its end.
                    run_epochs += 1
                    session.progress.epochs += 1
                    for group in optimizer.param_groups:
                        group["lr"] *= cfg.lr_decay
                    final = run_epochs == self.epochs
                    if final or elapsed() - last_eval_at >= MIN_EVAL_INTERVAL:
                        train_seconds = elapsed()
                        last_metrics = {
                            "train_loss": epoch_loss_sum / max(1, epoch_tokens),
                            "train_accuracy": (epoch_correct_sum / epoch_tokens)
                            if counts_accuracy and epoch_tokens
                            else None,
                            **self._evaluate(),
                        }
                        clock = time.perf_counter()
                        last_eval_at = train_seconds
                        epoch_loss_sum = epoch_correct_sum = 0.0
                        epoch_tokens = 0
                        with torch.no_grad():
                            for kept, p in zip(snapshot, params, strict=True):
                                kept.copy_(p)
                        session.metrics = dict(last_metrics)
                        yield EpochEvent(
                            epoch=session.progress.epochs,
                            step=session.progress.steps,
                            elapsed=train_seconds,
                            **last_metrics,
                        )
                        target = cfg.target_accuracy
                        if target is not None and last_metrics["window_accuracy"] >= target:
                            reason = "target"
                            message = (
                                f"window accuracy {last_metrics['window_accuracy']:.1%} "
                                f"reached the target {target:.1%}"
                            )
                            break
                    continue
                break  # an inner break (stop, time, divergence) ends the run
        finally:
            train_seconds = elapsed()
            clock = time.perf_counter()
            session.progress.seconds += train_seconds
            session.optimizer_state = {
                "kind": cfg.optimizer,
                "state": optimizer.state_dict(),
                "lr_scale": optimizer.param_groups[0]["lr"] / cfg.lr,
            }
            session.train_config = replace(cfg, epochs=self.epochs)
            model.eval()
        if reason == "finished":
            message = f"trained {run_epochs} epochs"
        yield result()

    def _recover(self, params: list[torch.Tensor], snapshot: list[torch.Tensor], step: int) -> str:
        """After a non-finite loss: keep the current weights if finite, else the last good ones."""
        if all(bool(torch.isfinite(p).all()) for p in params):
            return (
                f"loss became NaN or infinite at step {step}; stopped with the weights "
                "from before it (try a lower learning rate)"
            )
        with self.session.lock, torch.no_grad():
            for p, kept in zip(params, snapshot, strict=True):
                p.copy_(kept)
            self.session.mark_changed()
        return (
            f"loss became NaN or infinite at step {step}; stopped and restored the last "
            "good weights (try a lower learning rate)"
        )
