"""Training: contiguous token streams, truncated backprop through time, progress as events.

``Trainer.run()`` is a generator of events that any thread can drive; ``pause``,
``resume`` and ``stop`` may be called from any other thread and take effect between steps.

With validation text, a run is "the best model in the time given": the learning rate warms up
and then follows a cosine down to the deadline (``max_seconds``) or the planned epochs
(Loshchilov & Hutter 2017, SGDR, without restarts), the model is evaluated several times a
run, the mixture weights with the n-gram and cache are refitted at each evaluation, and the
weights with the best validation loss are the ones the run ends with. Evaluations count
against the time budget. Tiny texts (no validation split, such as the fable) keep a constant
rate and stop on the tutorial's window accuracy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
import torch

from lstm_tui.core.errors import ConfigError
from lstm_tui.core.model.device import resolve_device, resolve_precision
from lstm_tui.core.model.mixture import (
    MixMode,
    MixWeights,
    fit_weights,
    mixture_log_likelihood,
    parse_mix,
)
from lstm_tui.core.model.session import MAX_NGRAM_TOKENS, Progress, Session
from lstm_tui.core.text.corpus import MIN_TOKENS, WINDOW
from lstm_tui.core.training.batches import StreamBatches
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.control import RunControl
from lstm_tui.core.training.distributed import Distributed, TrainStep
from lstm_tui.core.training.metrics import (
    MAX_WINDOWS,
    eval_streams,
    score_components,
    window_accuracy,
    with_mixture,
)
from lstm_tui.core.training.optim import SGD, AdamW, FusedOptimizer, clip_grad_norm_

MIN_STREAM = 8  # shortest stream worth carrying state along, in tokens
AUTO_EPOCH_TOKENS = 300_000  # epochs=None trains on about this many tokens ...
AUTO_MIN_EPOCHS = 10  # ... and never fewer epochs than this
# Evaluations during training read at most this much of the held-out text (always the same
# part, so that they compare): enough for a perplexity to two digits, cheap enough to run
# several times within a two-minute budget. ``lstm-tui eval`` reads all of a held-out file.
MAX_EVAL_TOKENS = 16_000
EVALS_PER_BUDGET = 6  # under a time budget, evaluate about this many times
EVALS_PER_RUN = 12  # without one, at most about this many times (or every epoch, if fewer)
WARMUP = 0.03  # share of the run spent warming the learning rate up from 0
PATIENCE = 4  # stop on a plateau after this many evaluations without a better loss
FINAL_LR = 0.02  # the cosine ends at this share of the peak learning rate
# Evaluation may cost at most this fraction of the training work between two evaluations: a
# tiny corpus (an epoch is a step) is evaluated every few epochs, counted, not timed, so that
# a seeded run stops at the same step however busy the machine is.
EVAL_BUDGET = 0.25


class StopReason(str, Enum):
    FINISHED = "finished"  # the planned epochs are done
    TARGET = "target"  # window accuracy reached --target-accuracy
    TIME = "time"  # the time budget is spent
    PLATEAU = "plateau"  # validation loss stopped improving
    STOPPED = "stopped"  # stop() was called (Ctrl-C, F7)
    DIVERGED = "diverged"  # a NaN or infinite loss

    def __str__(self) -> str:  # "diverged", not "StopReason.DIVERGED", wherever it is shown
        return self.value


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
    grad_norm: float | None = None  # of this reporting step, before clipping


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
    # With validation text and an n-gram: the fitted weights, and perplexity (top-1/top-3
    # on the last evaluation of a run) of the LSTM, the n-gram, the cache and the mixture.
    mix: dict | None = None
    components: dict | None = None
    best: bool = False  # the best validation loss so far: these weights are kept
    sample: str | None = None  # a greedy continuation of SAMPLE_PROMPT_TOKENS of the text

    def metrics(self) -> dict:
        skip = ("step", "elapsed", "best", "sample")
        return {k: v for k, v in self.__dict__.items() if k not in skip}


@dataclass(frozen=True)
class TrainResult:
    """The last event of a run: why it ended, and where the model stands."""

    reason: StopReason
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
    best_epoch: float | None = None  # epochs done (fractional) when the kept weights were
    mix: dict | None = None
    components: dict | None = None


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
        control: RunControl | None = None,
        dist: Distributed | None = None,
        precision: str = "auto",  # bf16 autocast where the hardware has it (device.py)
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
        # None: no epoch limit, the time budget ends the run
        self.epochs: int | None = self.config.epochs
        if self.epochs is None and self.config.max_seconds is None:
            self.epochs = max(AUTO_MIN_EPOCHS, math.ceil(AUTO_EPOCH_TOKENS / len(self.train_ids)))
        self.mix_mode, self.fixed_mix = parse_mix(self.config.mix)
        self.scheduled = self.config.schedule == "cosine" or (
            self.config.schedule == "auto" and self.val_ids is not None
        )
        self.report_interval = report_interval
        # Read the loss back after every step: free on a CPU, a wait for the queue on a GPU.
        self.sync_each_step = self.device.type != "cuda"
        self.control = control or RunControl()  # pause/resume/stop, from any thread

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    @property
    def paused(self) -> bool:
        return self.control.paused

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

    def _learning_rate(self, done: float) -> float:
        """The rate at ``done`` (0..1) of the run: linear warm-up, then a cosine to the end."""
        peak = self.config.lr
        if not self.scheduled:
            return peak
        if done < WARMUP:
            return peak * max(done / WARMUP, 0.01)
        t = min(1.0, (done - WARMUP) / (1 - WARMUP))
        return peak * (FINAL_LR + (1 - FINAL_LR) * 0.5 * (1 + math.cos(math.pi * t)))

    def _make_optimizer(self) -> FusedOptimizer:
        cfg = self.config
        kind = SGD if cfg.optimizer == "sgd" else AdamW
        params = list(self.session.model.parameters())
        optimizer = kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        saved = self.session.optimizer_state
        if saved and saved.get("kind") == cfg.optimizer:
            optimizer.load_state_dict(saved["state"])
            for group in optimizer.param_groups:  # this run's lr, decayed as far as before
                group["lr"] = saved.get("lr_scale", 1.0) * cfg.lr
        return optimizer

    def _evaluate(self, full: bool = False) -> dict:
        self.session.wait_for_ngram()
        if self.dist is not None:  # [issue 9] rank 0 scores; all take its metrics, decide alike
            return self.dist.from_main(lambda: self._score(full))
        return self._score(full)

    def _score(self, full: bool = False) -> dict:
        """Score the model on validation text; refit the mixture weights on the same text.

        Fitting the weights on the text the model is selected by is what a held-out set is
        for; the test text stays unseen. ``full`` adds top-1/top-3 of the n-gram and the
        mixture (a second pass, with the weights just fitted).
        """
        session, model = self.session, self.session.model
        text = self._evaluation_text()
        streams = eval_streams(len(text))
        has_val = self.val_ids is not None
        ngram = session.ngram if self.mix_mode != MixMode.OFF else None
        cache = self.config.cache and self.mix_mode != MixMode.OFF and has_val
        scores = score_components(model, text, streams, ngram, cache=cache, topk_positions=2000)
        metrics = {
            "val_loss": scores.lstm.loss if has_val else None,
            "val_perplexity": scores.lstm.perplexity if has_val else None,
            "val_accuracy": scores.lstm.top1 if has_val else None,
            # On held-out text the tutorial's metric is a side figure: a smaller sample will do.
            "window_accuracy": window_accuracy(
                model, text, max_windows=1000 if has_val else MAX_WINDOWS
            ),
            "full_accuracy": scores.lstm.top1,
            "mix": None,
            "components": None,
        }
        selection_loss = scores.lstm.loss
        if has_val and (ngram is not None or cache):
            weights = fit_weights(scores.probs, self.fixed_mix)
            if full:
                scores = score_components(
                    model, text, streams, ngram, weights, cache, full=True, topk_positions=5_000
                )
            else:
                scores = with_mixture(scores, weights)
            assert scores.mixture is not None
            selection_loss = scores.mixture.loss
            metrics["mix"] = MixWeights(*map(float, weights)).to_dict()
            metrics["components"] = scores.to_dict()
            if cache:  # what the cache adds: the best mixture without it, for comparison
                plain = fit_weights(scores.probs[:2], self.fixed_mix)
                without = float(-mixture_log_likelihood(scores.probs[:2], plain).mean())
                metrics["components"]["mixture"]["perplexity_without_cache"] = math.exp(without)
        metrics["selection_loss"] = selection_loss
        return metrics

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

    def _stop_vote(
        self, watch: _Stopwatch, steps: int, reserve: float = 0.0
    ) -> tuple[StopReason, str] | None:
        """Why to stop before the next step (agreed by every rank under torchrun).

        ``reserve``: seconds of the budget kept for the evaluations that end a run.
        """
        cfg = self.config
        code = 0
        if self.control.stop_requested:
            code = 2
        elif cfg.max_seconds is not None and watch.seconds + reserve >= cfg.max_seconds:
            code = 1
        if self.dist is not None:
            code = self.dist.vote_stop(code, steps)
        if code == 2:
            return StopReason.STOPPED, "stopped by request"
        if code == 1:
            return StopReason.TIME, f"reached the {cfg.max_seconds:g} s time limit"
        return None

    def _wait_if_paused(self, watch: _Stopwatch) -> None:
        if self.control.paused:
            watch.stop()
            self.control.wait_while_paused()
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
        # An untied input embedding learns from sparse gradients, stepped lazily (optim.py):
        # the rows a batch reads, not all of a big vocabulary's. Not under torchrun (DDP
        # reduces dense gradients) nor on a GPU (whose dense step is fast), nor for SGD.
        model.embedding.sparse = (
            not model.config.tied
            and self.dist is None
            and self.device.type == "cpu"
            and cfg.optimizer == "adamw"
        )
        optimizer = self._make_optimizer()
        forward = self._train_step()
        params = [p for p in model.parameters() if p.requires_grad]
        snapshot = [p.detach().clone() for p in params]  # the last weights known to be good
        full_softmax = model.config.softmax == "full"
        budget = cfg.max_seconds
        steps_planned = (self.epochs or 0) * self.steps_per_epoch()
        has_val = self.val_ids is not None
        # How often to evaluate: by epochs counted on tiny texts (so that a seeded run stops
        # at the same step however busy the machine is), by time and epochs otherwise.
        eval_every_epochs = self.epochs_between_evaluations() if not has_val else 1
        eval_every_steps = math.inf
        if has_val and self.epochs is not None and budget is None:
            eval_every_steps = max(1, steps_planned // EVALS_PER_RUN)
        eval_every_seconds = budget / EVALS_PER_BUDGET if has_val and budget else math.inf

        watch = _Stopwatch()  # this run's time: pauses excluded, evaluations included
        step_meter, epoch_meter = _Meter(), _Meter()
        run = Progress()  # this run's share of session.progress
        last_report = -math.inf
        evaluated_at, evaluated_time = 0, 0.0  # run.steps and watch.seconds at the last one
        eval_seconds = 0.0  # what the last evaluation took: the final ones are reserved for
        eval_total = 0.0
        epoch_at = 0.0  # epochs done, fractional, at the latest step
        best = _Best()
        metrics: dict = {}
        reason, message = StopReason.FINISHED, ""

        def done_share(seconds: float) -> float:
            """How far through the run: the budget's share of time, else of planned steps."""
            share = run.steps / steps_planned if steps_planned else 0.0
            if budget:
                share = max(share, seconds / budget) if self.epochs else seconds / budget
            return min(1.0, share)

        def evaluate(full: bool = False, record: bool = True) -> Iterator[EpochEvent]:
            """One evaluation; ``record=False`` only re-measures the weights already kept."""
            nonlocal metrics, evaluated_at, evaluated_time, eval_seconds, eval_total, epoch_meter
            began = watch.seconds
            metrics = self._evaluate_into_session(epoch_meter, snapshot, params, full, record)
            kept = not record or best.offer(metrics["selection_loss"], session, model, epoch_at)
            evaluated_at, evaluated_time, epoch_meter = run.steps, watch.seconds, _Meter()
            eval_seconds = watch.seconds - began
            eval_total += eval_seconds
            yield self._evaluation_event(metrics, watch, kept)

        sync_each_step = self.sync_each_step
        pending = _Pending()  # the loss and hits since they were last read
        pending_bad: torch.Tensor | None = None
        model.train()
        watch.start()
        try:
            epoch = 0
            while self.epochs is None or epoch < self.epochs:
                epoch += 1
                state = None
                batches = self._stream_batches(rng)
                for i, (x, y) in enumerate(batches):
                    self._wait_if_paused(watch)
                    # Stop in time to run the last evaluations inside the budget: a quick one,
                    # and a full one of the weights kept (about as much work again).
                    reserve = 2 * eval_seconds if has_val else 0.0
                    stop = self._stop_vote(watch, run.steps, reserve)
                    if stop is not None:
                        reason, message = stop
                        break
                    seconds = watch.seconds
                    # Evaluations take at most about a fifth of the time, however slow they are.
                    due = has_val and (
                        seconds - evaluated_time >= max(eval_every_seconds, 4 * eval_seconds)
                        or run.steps - evaluated_at >= eval_every_steps
                    )
                    if self.dist is not None:  # every rank evaluates at the same step
                        due = self.dist.vote_stop(int(due), 0) > 0
                    if due:
                        pending.flush_into(step_meter)
                        epoch_meter.merge(step_meter)
                        step_meter = _Meter()
                        yield from evaluate()
                        if best.stale >= PATIENCE and cfg.epochs is None:  # as many as asked
                            reason = StopReason.PLATEAU
                            message = f"validation loss stopped improving ({PATIENCE} checks)"
                            break
                    lr = self._learning_rate(done_share(watch.seconds))
                    if self.scheduled:
                        for group in optimizer.param_groups:
                            group["lr"] = lr
                    last_in_epoch = i == len(batches) - 1
                    report_due = (
                        last_in_epoch or watch.seconds - last_report >= self.report_interval
                    )
                    # An adaptive softmax makes accuracy costly: count it on reporting steps only.
                    loss, correct, state = forward(x, y, state, full_softmax or report_due)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = clip_grad_norm_(params, cfg.clip or math.inf)
                    # On a GPU, reading a number back waits for the queued work: the loss and
                    # the finite check are read on reporting steps only. A bad step in between
                    # is caught there, and the last good weights are put back.
                    bad = ~(torch.isfinite(loss) & torch.isfinite(norm))
                    pending_bad = bad if pending_bad is None else pending_bad | bad
                    if (sync_each_step or report_due) and bool(pending_bad):
                        reason = StopReason.DIVERGED
                        loss_ok = sync_each_step and bool(torch.isfinite(loss))
                        message = self._recover(
                            params, snapshot, session.progress.steps + 1, loss_ok
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
                    epoch_at = session.progress.epochs + (i + 1) / len(batches)
                    pending.add(loss.detach(), n, correct)
                    if sync_each_step or report_due:
                        pending.flush_into(step_meter)
                        pending_bad = None
                    if report_due:
                        seconds = watch.seconds
                        done = done_share(seconds)
                        train_seconds = max(seconds - eval_total, 1e-9)
                        yield StepEvent(
                            step=session.progress.steps,
                            epoch=session.progress.epochs + 1,
                            epoch_progress=(i + 1) / len(batches),
                            progress=done,
                            loss=step_meter.mean_loss,
                            accuracy=step_meter.accuracy,
                            tokens_per_second=run.tokens / train_seconds,
                            elapsed=seconds,
                            eta=seconds / done - seconds if done > 0 else None,
                            lr=optimizer.param_groups[0]["lr"],
                            grad_norm=float(norm),  # read on reporting steps only: a sync
                        )
                        epoch_meter.merge(step_meter)
                        step_meter = _Meter()
                        last_report = seconds
                if reason != StopReason.FINISHED:
                    break

                run.epochs += 1
                session.progress.epochs += 1
                if not self.scheduled:
                    for group in optimizer.param_groups:
                        group["lr"] *= cfg.lr_decay
                last_epoch = self.epochs is not None and run.epochs >= self.epochs
                if has_val or (not last_epoch and run.epochs % eval_every_epochs):
                    continue
                pending.flush_into(step_meter)
                epoch_meter.merge(step_meter)
                step_meter = _Meter()
                yield from evaluate()
                target = cfg.target_accuracy
                if target is not None and metrics["window_accuracy"] >= target:
                    reason = StopReason.TARGET
                    message = (
                        f"window accuracy {metrics['window_accuracy']:.1%} "
                        f"reached the target {target:.1%}"
                    )
                    break
            if has_val and reason != StopReason.DIVERGED and run.steps:
                if run.steps > evaluated_at:  # where the run stopped is not yet measured
                    pending.flush_into(step_meter)
                    epoch_meter.merge(step_meter)
                    yield from evaluate()
                if best.weights is not None and best.stale:
                    best.restore(session, model, params, snapshot)
                    kept = f"kept the weights of evaluation {best.number} (best validation loss)"
                    message = f"{message}; {kept}" if message else kept
                # The figures of the weights kept, with top-1/top-3 of the n-gram and mixture.
                yield from evaluate(full=True, record=False)
                if session.ngram is not None and self.mix_mode != MixMode.OFF:
                    # Its weights fitted and figures taken, the n-gram is counted again from
                    # all the text, the held-out part too: text near what the user writes next
                    # is worth the most, and counting it takes seconds (the LSTM's weights
                    # cannot be retrained as cheaply).
                    val = np.asarray(self.val_ids[-MAX_NGRAM_TOKENS:])
                    head = MAX_NGRAM_TOKENS - len(val)  # what is left for the training text
                    train_tail = self.train_ids[len(self.train_ids) - head :] if head else val[:0]
                    everything = np.concatenate([np.asarray(train_tail), val])
                    session.fit_ngram(everything, session.ngram.order, keep_mix=True)
            elif reason == StopReason.TIME and run.steps > evaluated_at:
                pending.flush_into(step_meter)
                epoch_meter.merge(step_meter)
                yield from evaluate()
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
            model.embedding.sparse = False
            model.eval()
        if reason == StopReason.FINISHED:
            message = f"trained {run.epochs} epochs" + (f"; {message}" if message else "")
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
            best_epoch=best.epoch,
            mix=metrics.get("mix"),
            components=metrics.get("components"),
        )

    def _evaluate_into_session(
        self, meter: _Meter, snapshot: list[torch.Tensor], params: list, full: bool, record: bool
    ) -> dict:
        """Score the model, keep its weights as the last good ones, and refit the mixture."""
        metrics = {
            "train_loss": meter.mean_loss if meter.tokens else None,
            "train_accuracy": meter.accuracy,
            **self._evaluate(full),
        }
        if not record:  # a re-measure of the weights kept: their training figures stand
            for key in ("train_loss", "train_accuracy"):
                metrics[key] = self.session.metrics.get(key)
        with torch.no_grad():
            torch._foreach_copy_(snapshot, params)
        session = self.session
        with session.lock:
            stored = {k: v for k, v in metrics.items() if k != "selection_loss"}
            if metrics["mix"] is not None:
                session.mix = MixWeights.from_dict(metrics["mix"])
            else:  # no weights to fit: the LSTM alone, as on texts too small for validation
                session.mix = MixWeights.lstm_only()
            if record:  # one more row of history, its nested figures flattened
                session.record_evaluation({**stored, **_flat_components(stored)})
            session.metrics = stored
            session.mark_changed()
        model = session.model
        model.train()
        return metrics

    def _evaluation_event(self, metrics: dict, watch: _Stopwatch, best: bool) -> EpochEvent:
        progress = self.session.progress
        fields = {k: v for k, v in metrics.items() if k != "selection_loss"}
        return EpochEvent(
            epoch=progress.epochs,
            step=progress.steps,
            elapsed=watch.seconds,
            best=best,
            sample=self._sample(),
            **fields,
        )

    def _sample(self) -> str | None:
        """The LSTM's greedy continuation of the text's first words: the same prompt at every
        evaluation, so a user sees the model get better (see ``sample.py``)."""
        from lstm_tui.core.training.sample import continue_prompt

        return continue_prompt(self.session, self.train_ids)

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


def _flat_components(metrics: dict) -> dict:
    """``{"mixture": {"perplexity": 90}}`` as ``{"mixture_perplexity": 90}``, for history rows."""
    out = {}
    for name, figures in (metrics.get("components") or {}).items():
        for key, value in figures.items():
            if value is not None:
                out[f"{name}_{key}"] = value
    for name, weight in (metrics.get("mix") or {}).items():
        out[f"mix_{name}"] = weight
    return out


class _Best:
    """The weights with the lowest validation loss so far (a CPU copy of the state_dict)."""

    def __init__(self) -> None:
        self.loss = math.inf
        self.weights: dict[str, torch.Tensor] | None = None
        self.metrics: dict | None = None
        self.mix: MixWeights | None = None
        self.epoch: float | None = None  # epochs done (fractional) at the best evaluation
        self.number = 0  # which evaluation of the run
        self.stale = 0  # evaluations since the best one
        self._seen = 0

    def offer(
        self, loss: float | None, session: Session, model: torch.nn.Module, epoch: float
    ) -> bool:
        self._seen += 1
        if loss is None or not math.isfinite(loss) or loss >= self.loss:
            self.stale += 1
            return False
        self.loss, self.stale, self.number = loss, 0, self._seen
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.metrics = dict(session.metrics)
        self.mix = session.mix
        self.epoch = round(epoch, 2)
        return True

    def restore(
        self,
        session: Session,
        model: torch.nn.Module,
        params: list[torch.Tensor],
        snapshot: list[torch.Tensor],
    ) -> None:
        assert self.weights is not None
        with session.lock, torch.no_grad():
            model.load_state_dict(self.weights)
            torch._foreach_copy_(snapshot, params)
            session.metrics = dict(self.metrics or {})
            if self.mix is not None:
                session.mix = self.mix
            session.mark_changed()


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


class _Pending:
    """Loss and hits of steps not yet read back from the device (sums, as tensors)."""

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None
        self.hits: torch.Tensor | None = None
        self.tokens = 0
        self.hit_tokens = 0

    def add(self, loss: torch.Tensor, tokens: int, hits: torch.Tensor | None) -> None:
        weighted = loss.float() * tokens
        self.loss = weighted if self.loss is None else self.loss + weighted
        self.tokens += tokens
        if hits is not None:
            hits = hits.float()
            self.hits = hits if self.hits is None else self.hits + hits
            self.hit_tokens += tokens

    def flush_into(self, meter: _Meter) -> None:
        if self.loss is not None:
            meter.loss_sum += float(self.loss)
            meter.tokens += self.tokens
        if self.hits is not None:
            meter.hits += float(self.hits)
            meter.hit_tokens += self.hit_tokens
        self.loss, self.hits, self.tokens, self.hit_tokens = None, None, 0, 0


@dataclass
class _Meter:
    """Token-weighted mean loss and top-1 accuracy over the steps added since it was made."""

    loss_sum: float = 0.0
    tokens: int = 0
    hits: float = 0.0
    hit_tokens: int = 0

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
