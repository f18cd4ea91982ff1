"""Training: contiguous token streams, truncated backprop through time, progress as events.

``Trainer.run()`` is a generator of events that any thread can drive; ``pause``,
``resume`` and ``stop`` may be called from any other thread and take effect between steps.

With validation text, a run is "the best model in the time given": the learning rate warms up
and then follows a cosine down to the deadline (``max_seconds``) or the planned epochs
(Loshchilov & Hutter 2017, SGDR, without restarts), and the model is evaluated several times a
run. The LSTM's weights with its own best validation loss are the ones the run ends with
(early stopping, Prechelt 1998: a run whose validation loss has not improved for ``PATIENCE``
evaluations ends there); the mixture weights with the n-gram and cache are then fitted again
for those weights, on the held-out text. The budget covers the whole job: what the caller
spent before the run (``budget_started``), the evaluations, the end-of-run work (the last
evaluations, counting the n-gram again) and what it keeps for itself (``reserve``: saving).
Tiny texts (no validation split, such as the fable) keep a constant rate and stop on the
tutorial's window accuracy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

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
from lstm_tui.core.model.session import MAX_NGRAM_TOKENS, NgramText, Progress, Session
from lstm_tui.core.text.corpus import MIN_TOKENS, WINDOW
from lstm_tui.core.text.vocab import SMALL_CORPUS_TOKENS
from lstm_tui.core.training.batches import StreamBatches
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.control import RunControl
from lstm_tui.core.training.crossfit import (
    cross_fitted_log_probs,
    fold_count,
    read_as_unseen,
    words_in,
)
from lstm_tui.core.training.distributed import Distributed, TrainStep
from lstm_tui.core.training.metrics import (
    MAX_WINDOWS,
    eval_streams,
    score_components,
    window_accuracy,
    with_mixture,
)
from lstm_tui.core.training.optim import SGD, AdamW, FusedOptimizer, clip_grad_norm_

if TYPE_CHECKING:
    from lstm_tui.core.model.ngram import KneserNey

MIN_STREAM = 8  # shortest stream worth carrying state along, in tokens
AUTO_EPOCH_TOKENS = 300_000  # epochs=None trains on about this many tokens ...
AUTO_MIN_EPOCHS = 10  # ... and never fewer epochs than this
# [issue 16.5] A tiny text (no held-out part, so no plateau to stop on) left open-ended is
# trained until it is known by heart: the 2018 tutorial's own target, 95.2% window accuracy
# on the fable (reached in ~48 steps by the seed preset, docs/FABLE.md), with at most this
# many epochs should a text never get there. Before, the ~300k-token rule planned 1,471
# fable epochs (minutes) after the model had learned it.
LEARNED_ACCURACY = 0.952
LEARN_MAX_EPOCHS = 300
# Evaluations during training read at most this much of the held-out text (always the same
# part, so that they compare): enough for a perplexity to two digits, cheap enough to run
# several times within a two-minute budget. ``lstm-tui eval`` reads all of a held-out file.
MAX_EVAL_TOKENS = 16_000
# Cross-fitting the n-gram on held-out text (crossfit.py) may take this share of a time budget,
# or this many seconds of a run without one (once, before its first figures); a session that
# has not counted its n-gram yet has no rate of its own: a rough bound then.
CROSSFIT_SHARE = 0.05
CROSSFIT_SECONDS = 10.0
NGRAM_SECONDS_PER_TOKEN = 2e-6
# Keystrokes saved are measured on this many validation tokens at each evaluation.
KSR_TOKENS = 500
# Under a time budget, evaluate about this many times: often enough that the weights kept
# are near the best a small text reaches before it overfits, and that early stopping ends a
# run a third of a budget after its best.
EVALS_PER_BUDGET = 12
EVALS_PER_RUN = 12  # without one, at most about this many times (or every epoch, if fewer)
EVAL_SHARE = 0.1  # however slow an evaluation is, evaluations take at most this share of a run
# The full evaluation that ends a run (top-1/top-3 of the n-gram and the mixture too, on more
# positions) costs up to about this many quick ones (measured: docs/SMALLTEXT.md). A budget
# keeps room for it, and skips it if it no longer fits: it changes no weight.
FULL_EVAL_COST = 3.0
WARMUP = 0.03  # share of the run spent warming the learning rate up from 0
PATIENCE = 4  # stop on a plateau after this many evaluations without a better LSTM loss
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
    # The run ends when it reaches a target accuracy: ``eta`` is then the most it can take
    # (to its epoch cap), not a forecast; the fable gets there in a fraction of it.
    eta_is_bound: bool = False


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
    ksr: float | None = None  # keystrokes saved by the mixture on validation text (_ksr)
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
    ksr: float | None = None  # keystrokes saved on validation text, at the last evaluation


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
        budget_started: float | None = None,  # time.perf_counter() when max_seconds began
        reserve: float = 0.0,  # seconds of max_seconds the caller keeps for after the run
    ) -> None:
        self.session = session
        self.budget_started = budget_started
        self.reserve = reserve
        self.config = (config or session.train_config).check()
        self.device = resolve_device(self.config.device)
        self.autocast = resolve_precision(precision, self.device)
        # Many processes: each reads its share of the streams, all vote to stop.
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
        self.target = self.config.target_accuracy  # window accuracy that ends the run
        open_ended = self.epochs is None and self.config.max_seconds is None
        if open_ended:  # the one place that decides, for the CLI and the app alike
            self.epochs = max(AUTO_MIN_EPOCHS, math.ceil(AUTO_EPOCH_TOKENS / len(self.train_ids)))
        tiny = self.val_ids is None and len(self.train_ids) < SMALL_CORPUS_TOKENS
        if open_ended and tiny:  # learned by heart (or at the target asked): stop there
            self.target = self.target or LEARNED_ACCURACY
            self.epochs = min(LEARN_MAX_EPOCHS, self.epochs or LEARN_MAX_EPOCHS)
        self.mix_mode, self.fixed_mix = parse_mix(self.config.mix)
        self.scheduled = self.config.schedule == "cosine" or (
            self.config.schedule == "auto" and self.val_ids is not None
        )
        self.report_interval = report_interval
        # Read the loss back after every step: free on a CPU, a wait for the queue on a GPU.
        self.sync_each_step = self.device.type != "cuda"
        self.control = control or RunControl()  # pause/resume/stop, from any thread
        self._held_out_ngram: np.ndarray | None = None  # cross-fitted, once a run (crossfit.py)
        self._trained_words: np.ndarray | None = None  # bool [vocab], once a run

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

    def _trained(self) -> np.ndarray:
        """bool [vocab]: the words the training text holds; the others are read as ``<unk>``
        in the held-out text, as in text no part of the model has read (``read_as_unseen``)."""
        if self._trained_words is None:
            self._trained_words = words_in(self.train_ids, len(self.session.vocab))
        return self._trained_words

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
        if self.dist is not None:  # rank 0 scores; all take its metrics, decide alike
            return self.dist.from_main(lambda: self._score(full))
        return self._score(full)

    def _score(self, full: bool = False) -> dict:
        """Score the model on validation text; refit the mixture weights on the same text.

        Fitting the weights on the text the model is selected by is what a held-out set is
        for; the test text stays unseen. The n-gram's figures there are cross-fitted
        (``_ngram_log_probs``), for the n-gram the run will save. ``full`` adds top-1/top-3
        of the n-gram and the mixture (a second pass, with the weights just fitted).
        """
        session, model = self.session, self.session.model
        has_val = self.val_ids is not None
        as_typed = self._evaluation_text()
        text = read_as_unseen(as_typed, self._trained()) if has_val else as_typed
        streams = eval_streams(len(text))
        ngram = session.ngram if self.mix_mode != MixMode.OFF else None
        cache = self.config.cache and self.mix_mode != MixMode.OFF and has_val
        held_out = self._ngram_log_probs(text, ngram) if ngram is not None and has_val else None
        scores = score_components(
            model, text, streams, ngram, cache=cache, topk_positions=2000, ngram_log_probs=held_out
        )
        metrics: dict[str, Any] = {
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
        # The weights kept are the LSTM's best alone: the mixture's loss would keep an
        # overfitted LSTM that the n-gram and the cache make up for (issue 17).
        metrics["selection_loss"] = scores.lstm.loss
        if has_val and (ngram is not None or cache):
            weights = fit_weights(scores.probs, self.fixed_mix)
            if full:
                scores = score_components(
                    model,
                    text,
                    streams,
                    ngram,
                    weights,
                    cache,
                    full=True,
                    topk_positions=5_000,
                    ngram_log_probs=held_out,
                )
            else:
                scores = with_mixture(scores, weights)
            metrics["mix"] = MixWeights(*map(float, weights)).to_dict()
            metrics["components"] = scores.to_dict()
            if cache:  # what the cache adds: the best mixture without it, for comparison
                plain = fit_weights(scores.probs[:2], self.fixed_mix)
                without = float(-mixture_log_likelihood(scores.probs[:2], plain).mean())
                metrics["components"]["mixture"]["perplexity_without_cache"] = math.exp(without)
        # Typed word by word, each word as itself: the typist offers the rare ones too.
        metrics["ksr"] = self._ksr(as_typed, metrics["mix"]) if has_val else None
        return metrics

    def _ngram_log_probs(self, text: np.ndarray, ngram: KneserNey) -> np.ndarray:
        """The n-gram's log-probabilities of the held-out ``text``, each token's from an
        n-gram counted on all the corpus but the fold that holds it (``crossfit``): the
        n-gram the run saves reads the held-out text too. Counted once a run, as they do not
        depend on the LSTM; the folds are fewer where the time allowed for them cannot pay
        for one count per ``FOLD_TOKENS`` tokens."""
        if self._held_out_ngram is None:
            held = self.val_ids
            assert held is not None  # scored on held-out text only
            # A fold's count is about one of all the text, as the recount at the end is.
            fit_seconds = self._recount_seconds() or NGRAM_SECONDS_PER_TOKEN * self._all_tokens()
            budget = self.config.max_seconds
            allowed = CROSSFIT_SECONDS if budget is None else CROSSFIT_SHARE * budget
            folds = fold_count(len(text), fit_seconds, allowed)
            self._held_out_ngram = cross_fitted_log_probs(
                self.train_ids, held, len(text), len(self.session.vocab), ngram.order, folds,
                MAX_NGRAM_TOKENS, self._trained(),
            )  # fmt: skip
        return self._held_out_ngram

    def _ksr(self, text: np.ndarray, mix: dict | None) -> float:
        """Keystrokes saved by the mixture (these weights) on the start of the validation text.

        The simulated typist of docs/TYPING.md, on the first ``KSR_TOKENS`` tokens read as one
        stream. Only ids are at hand here, so the words the vocabulary maps to ``<unk>`` (whose
        spelling is not kept) are left out; ``lstm-tui eval --ksr`` types every word.
        """
        from lstm_tui.core.serving.typist import session_ksr

        session = self.session
        ids = np.asarray(text[:KSR_TOKENS], dtype=np.int64)
        tokens = session.vocab.decode(ids)
        weights = MixWeights.from_dict(mix) if mix is not None else MixWeights.lstm_only()
        figures = session_ksr(
            session, tokens, ids, positions=len(ids), parts=False, mix=weights, skip_unknown=True
        )
        return figures["mixture"]["ksr"]

    def _stream_batches(self, rng: np.random.Generator) -> StreamBatches:
        """One epoch: the text cut into ``batch_size`` side-by-side streams, ``bptt`` at a time.

        The streams start at a random offset each epoch, so on a small text every position
        is sometimes read from an empty state (as the predictor will be). Batches
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
        """The forward pass as a module: (x, y, state, count_correct) -> (loss,
        hits, detached state); wrapped in DDP under torchrun, autocast to bf16 if asked."""
        step = TrainStep(self.session.model, self.autocast)
        return step if self.dist is None else self.dist.wrap(step)

    def _stop_vote(self, r: _Run) -> tuple[StopReason, str] | None:
        """Why to stop before the next step (agreed by every rank under torchrun)."""
        cfg = self.config
        code = 0
        if self.control.stop_requested:
            code = 2
        elif r.budget is not None and r.watch.seconds + self._end_reserve(r) >= r.budget:
            # A budget spent before the first step (a slow start on a busy machine) still
            # trains one: a run that asked for training never ends with none.
            code = 1 if r.progress.steps else 0
        if self.dist is not None:
            code = self.dist.vote_stop(code, r.progress.steps)
        if code == 2:
            return StopReason.STOPPED, "stopped by request"
        if code == 1:
            return StopReason.TIME, f"reached the {cfg.max_seconds:g} s time limit"
        return None

    def _end_reserve(self, r: _Run) -> float:
        """Seconds a budget keeps for what ends a run: the next step and, with validation text,
        a quick evaluation, a full one of the weights kept and counting the n-gram again."""
        reserve = r.step_seconds
        if self.val_ids is not None:
            reserve += (1 + FULL_EVAL_COST) * r.clock.last + self._recount_seconds()
        return reserve

    def _recount_seconds(self) -> float:
        """About what counting the n-gram again on all the text takes (as its first count)."""
        session = self.session
        if not session.ngram_tokens or self.mix_mode == MixMode.OFF or self.val_ids is None:
            return 0.0
        return session.ngram_seconds * self._all_tokens() / session.ngram_tokens

    def _all_tokens(self) -> int:
        """How many tokens an n-gram of all the text counts (its held-out part included)."""
        held = len(self.val_ids) if self.val_ids is not None else 0
        return min(MAX_NGRAM_TOKENS, len(self.train_ids) + held)

    def _wait_if_paused(self, watch: _Stopwatch) -> None:
        if self.control.paused:
            watch.stop()
            self.control.wait_while_paused()
            watch.start()

    def run(self) -> Iterator[Event]:
        """Train, yielding progress events; the last event is always a ``TrainResult``.

        One loop over epochs of stream batches. Before each step: pause, the stop vote, and
        an evaluation when one is due; then the step, and a ``StepEvent`` now and then. What
        the loop tracks lives in a ``_Run``; the end-of-run work is ``_end_of_run``.
        """
        session, cfg = self.session, self.config
        r = self._begin()
        try:
            epoch = 0
            while self.epochs is None or epoch < self.epochs:
                epoch += 1
                state = None  # each epoch's streams start from an empty state
                batches = self._stream_batches(r.rng)
                for i, (x, y) in enumerate(batches):
                    self._wait_if_paused(r.watch)
                    # Stop in time to do the end-of-run work inside the budget.
                    stop = self._stop_vote(r)
                    if stop is not None:
                        r.reason, r.message = stop
                        break
                    if self._evaluation_due(r):
                        yield self._evaluation(r)
                        if r.best.stale >= PATIENCE and cfg.epochs is None:  # as many as asked
                            r.reason = StopReason.PLATEAU
                            r.message = (
                                f"the LSTM's validation loss stopped improving ({PATIENCE} checks)"
                            )
                            break
                    began = r.watch.seconds
                    self._set_learning_rate(r)
                    report_due = (
                        i == len(batches) - 1
                        or r.watch.seconds - r.last_report >= self.report_interval
                    )
                    # An adaptive softmax makes accuracy costly: count it on reporting steps only.
                    loss, correct, state = r.forward(x, y, state, r.full_softmax or report_due)
                    r.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = clip_grad_norm_(r.params, cfg.clip or math.inf)
                    # On a GPU, reading a number back waits for the queued work: the loss and
                    # the finite check are read on reporting steps only. A bad step in between
                    # is caught there, and the last good weights are put back.
                    r.meters.watch_finite(loss, norm)
                    read_back = self.sync_each_step or report_due
                    if read_back and r.meters.saw_non_finite():
                        r.reason = StopReason.DIVERGED
                        loss_ok = self.sync_each_step and bool(torch.isfinite(loss))
                        r.message = self._recover(
                            r.params, r.snapshot, session.progress.steps + 1, loss_ok
                        )
                        break
                    with session.lock:
                        r.optimizer.step()
                        session.mark_changed()
                    r.step_seconds = r.watch.seconds - began
                    n = x.numel() * (self.dist.world if self.dist else 1)  # global
                    r.count_step(session.progress, n, (i + 1) / len(batches))
                    r.meters.add(loss.detach(), n, correct, read_back)
                    if report_due:
                        yield self._step_event(r, (i + 1) / len(batches), norm)
                if r.reason != StopReason.FINISHED:
                    break
                self._end_epoch(r)
                if self._tiny_evaluation_due(r):
                    yield self._evaluation(r)
                    if self._reached_target(r):
                        break
            yield from self._end_of_run(r)
        finally:
            self._close(r)
        yield self._result(r)

    def _begin(self) -> _Run:
        """Seed, move the model to the device, and set up what the run tracks."""
        session, cfg, model = self.session, self.config, self.session.model
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed + session.progress.steps)
        rng = np.random.default_rng(
            None if cfg.seed is None else cfg.seed + session.progress.epochs
        )
        session.to(self.device)
        read_held_out = session.ngram is not None and session.ngram_text is not NgramText.TRAINING
        if self.val_ids is not None and read_held_out and self.mix_mode != MixMode.OFF:
            # The n-gram has read the held-out text (the end of an earlier run
            # counts it in): the mixture's weights would be fitted, and perplexity measured,
            # on text it knows by heart. Count it from the training part again for this run;
            # it reads all the text again once the run is measured.
            assert session.ngram is not None
            session.count_ngram(self.train_ids, session.ngram.order, keep_mix=True)
        # An untied input embedding learns from sparse gradients, stepped lazily (optim.py):
        # the rows a batch reads, not all of a big vocabulary's. Not under torchrun (DDP
        # reduces dense gradients) nor on a GPU (whose dense step is fast), nor for SGD.
        model.embedding.sparse = (
            not model.config.tied
            and self.dist is None
            and self.device.type == "cpu"
            and cfg.optimizer == "adamw"
        )
        params = [p for p in model.parameters() if p.requires_grad]
        has_val = self.val_ids is not None
        budget = cfg.max_seconds  # what is left of it for this run's own steps and evaluations
        if budget is not None:
            spent = time.perf_counter() - self.budget_started if self.budget_started else 0.0
            budget = max(0.0, budget - spent - self.reserve)
        steps_planned = (self.epochs or 0) * self.steps_per_epoch()
        # How often to evaluate, with validation text: about EVALS_PER_BUDGET times under a
        # budget, else EVALS_PER_RUN times over the planned steps. Tiny texts count epochs.
        every_steps: float = math.inf
        if has_val and self.epochs is not None and budget is None:
            every_steps = max(1, steps_planned // EVALS_PER_RUN)
        every_seconds = budget / EVALS_PER_BUDGET if has_val and budget else math.inf
        r = _Run(
            budget=budget,
            rng=rng,
            optimizer=self._make_optimizer(),
            forward=self._train_step(),
            params=params,
            snapshot=[p.detach().clone() for p in params],
            full_softmax=model.config.softmax == "full",
            steps_planned=steps_planned,
            clock=_EvalClock(every_steps, every_seconds),
        )
        model.train()
        r.watch.start()
        return r

    def _done_share(self, r: _Run, seconds: float) -> float:
        """How far through the run: the budget's share of time, else of planned steps."""
        share = r.progress.steps / r.steps_planned if r.steps_planned else 0.0
        if r.budget is not None:
            spent = seconds / r.budget if r.budget > 0 else 1.0
            share = max(share, spent) if self.epochs else spent
        return min(1.0, share)

    def _set_learning_rate(self, r: _Run) -> None:
        if self.scheduled:
            lr = self._learning_rate(self._done_share(r, r.watch.seconds))
            for group in r.optimizer.param_groups:
                group["lr"] = lr

    def _evaluation_due(self, r: _Run) -> bool:
        """With validation text, by time or steps (every rank decides at the same step); not
        when the budget would end the run before the next step (its end measures it)."""
        seconds = r.watch.seconds
        due = self.val_ids is not None and r.clock.due(r.progress.steps, seconds)
        if due and r.budget is not None:
            due = seconds + r.clock.last + self._end_reserve(r) < r.budget
        if self.dist is not None:
            due = self.dist.vote_stop(int(due), 0) > 0
        return due

    def _tiny_evaluation_due(self, r: _Run) -> bool:
        """Without validation text: every few epochs, counted (so that a seeded run stops
        at the same step however busy the machine is), and after the last one."""
        if self.val_ids is not None:
            return False
        last_epoch = self.epochs is not None and r.progress.epochs >= self.epochs
        return last_epoch or r.progress.epochs % self.epochs_between_evaluations() == 0

    def _reached_target(self, r: _Run) -> bool:
        target, accuracy = self.target, r.metrics["window_accuracy"]
        if target is None or accuracy < target:
            return False
        r.reason = StopReason.TARGET
        r.message = f"window accuracy {accuracy:.1%} reached the target {target:.1%}"
        return True

    def _end_epoch(self, r: _Run) -> None:
        r.progress.epochs += 1
        self.session.progress.epochs += 1
        if not self.scheduled:
            for group in r.optimizer.param_groups:
                group["lr"] *= self.config.lr_decay

    def _step_event(self, r: _Run, epoch_progress: float, norm: torch.Tensor) -> StepEvent:
        """Training figures since the last event."""
        meter = r.meters.end_report()
        seconds = r.watch.seconds
        done = self._done_share(r, seconds)
        r.last_report = seconds
        return StepEvent(
            step=self.session.progress.steps,
            epoch=self.session.progress.epochs + 1,
            epoch_progress=epoch_progress,
            progress=done,
            loss=meter.mean_loss,
            accuracy=meter.accuracy,
            tokens_per_second=r.progress.tokens / max(seconds - r.clock.total, 1e-9),
            elapsed=seconds,
            eta=seconds / done - seconds if done > 0 else None,
            lr=r.optimizer.param_groups[0]["lr"],
            grad_norm=float(norm),  # read on reporting steps only: a sync
            eta_is_bound=self.target is not None,
        )

    def _evaluation(self, r: _Run, full: bool = False, record: bool = True) -> EpochEvent:
        """One evaluation; ``record=False`` only re-measures the weights already kept."""
        began = r.watch.seconds
        train = r.meters.end_evaluation()
        r.metrics = self._evaluate_into_session(train, r.snapshot, r.params, full, record)
        model = self.session.model
        kept = not record or r.best.offer(
            r.metrics["selection_loss"], self.session, model, r.epoch_at
        )
        r.clock.record(r.progress.steps, began, r.watch.seconds)
        return self._evaluation_event(r.metrics, r.watch, kept)

    def _end_of_run(self, r: _Run) -> Iterator[EpochEvent]:
        """Measure where the run stopped; with validation text, go back to the best weights,
        measure them fully, and count the n-gram again on all the text."""
        unmeasured = r.progress.steps > r.clock.at_step
        if self.val_ids is None:
            # A tiny text is measured in a blink: steps stopped before their first evaluation
            # (F7 early, on a busy machine) still leave a figure in the history.
            if r.reason in (StopReason.TIME, StopReason.STOPPED) and unmeasured:
                yield self._evaluation(r)
            return
        if r.reason == StopReason.DIVERGED or not r.progress.steps:
            return
        if unmeasured:
            yield self._evaluation(r)
        if r.best.weights is not None and r.best.stale:
            # With the mixture weights fitted for them at their evaluation, on held-out text.
            r.best.restore(self.session, self.session.model, r.params, r.snapshot)
            r.metrics = dict(self.session.metrics)
            kept = (
                f"kept the weights of evaluation {r.best.number} (the LSTM's best validation loss)"
            )
            r.message = f"{r.message}; {kept}" if r.message else kept
        # The figures of the weights kept, with top-1/top-3 of the n-gram and mixture, when
        # the budget has room for them (they change no weight, only what is reported).
        full_cost = FULL_EVAL_COST * r.clock.last
        fits = r.budget is None or r.watch.seconds + full_cost + self._recount_seconds() <= r.budget
        if self.dist is not None:  # rank 0's clock decides for all: the evaluation is collective,
            fits = self.dist.from_main(lambda: fits)  # and one rank's clock may be past it
        if fits:
            yield self._evaluation(r, full=True, record=False)
        self._recount_ngram()

    def _recount_ngram(self) -> None:
        """Its weights fitted and figures taken, the n-gram is counted again from all the text,
        the held-out part too: text near what the user writes next is worth the most, and
        counting it takes seconds (the LSTM's weights cannot be retrained as cheaply)."""
        session = self.session
        if session.ngram is None or self.mix_mode == MixMode.OFF or self.val_ids is None:
            return
        val = np.asarray(self.val_ids[-MAX_NGRAM_TOKENS:])
        head = MAX_NGRAM_TOKENS - len(val)  # what is left for the training text
        train_tail = self.train_ids[len(self.train_ids) - head :] if head else val[:0]
        everything = np.concatenate([np.asarray(train_tail), val])
        session.fit_ngram(everything, session.ngram.order, keep_mix=True, text=NgramText.ALL)

    def _close(self, r: _Run) -> None:
        """Whatever ended the run: count its time, keep the optimizer's state for a resume."""
        session, cfg = self.session, self.config
        r.watch.stop()
        r.progress.seconds = r.watch.seconds
        session.progress.seconds += r.progress.seconds
        session.optimizer_state = {
            "kind": cfg.optimizer,
            "state": r.optimizer.state_dict(),
            "lr_scale": r.optimizer.param_groups[0]["lr"] / cfg.lr,
        }
        session.train_config = replace(cfg, epochs=self.epochs)
        session.model.embedding.sparse = False
        session.model.eval()

    def _result(self, r: _Run) -> TrainResult:
        run, metrics, message = r.progress, r.metrics, r.message
        if r.reason == StopReason.FINISHED:
            message = f"trained {run.epochs} epochs" + (f"; {message}" if message else "")
        return TrainResult(
            reason=r.reason,
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
            best_epoch=r.best.epoch,
            mix=metrics.get("mix"),
            components=metrics.get("components"),
            ksr=metrics.get("ksr"),
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
            torch._foreach_copy_(snapshot, list(params))
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
        self,
        params: Sequence[torch.Tensor],
        snapshot: list[torch.Tensor],
        step: int,
        loss_ok: bool,
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
            torch._foreach_copy_(list(params), snapshot)
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
        params: Sequence[torch.Tensor],
        snapshot: list[torch.Tensor],
    ) -> None:
        assert self.weights is not None
        with session.lock, torch.no_grad():
            model.load_state_dict(self.weights)
            torch._foreach_copy_(snapshot, list(params))
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


@dataclass
class _EvalClock:
    """When the next evaluation is due, and what evaluations cost (seconds of the run)."""

    every_steps: float  # evaluate after this many steps (planned epochs, no budget) ...
    every_seconds: float  # ... or this many seconds (a budget)
    at_step: int = 0  # run steps at the last evaluation
    at_time: float = 0.0  # run seconds when it ended
    last: float = 0.0  # seconds the last one took
    total: float = 0.0  # seconds all of them took

    def due(self, steps: int, seconds: float) -> bool:
        slowest = self.last * (1 / EVAL_SHARE - 1)  # however slow evaluations are
        return (
            seconds - self.at_time >= max(self.every_seconds, slowest)
            or steps - self.at_step >= self.every_steps
        )

    def record(self, steps: int, began: float, ended: float) -> None:
        self.at_step, self.at_time = steps, ended
        self.last = ended - began
        self.total += self.last


class _Meters:
    """Loss and accuracy at three spans: not yet read back from the device, since the last
    ``StepEvent`` (a report), and since the last evaluation. A non-finite loss or gradient
    norm is remembered until the next read-back checks it."""

    def __init__(self) -> None:
        self.pending = _Pending()
        self.report = _Meter()
        self.evaluation = _Meter()
        self._bad: torch.Tensor | None = None

    def watch_finite(self, loss: torch.Tensor, norm: torch.Tensor) -> None:
        bad = ~(torch.isfinite(loss) & torch.isfinite(norm))
        self._bad = bad if self._bad is None else self._bad | bad

    def saw_non_finite(self) -> bool:
        """Reads the flag back (a wait on a GPU) and clears it."""
        bad = self._bad is not None and bool(self._bad)
        self._bad = None
        return bad

    def add(self, loss: torch.Tensor, tokens: int, hits: torch.Tensor | None, read: bool) -> None:
        self.pending.add(loss, tokens, hits)
        if read:
            self.pending.flush_into(self.report)

    def end_report(self) -> _Meter:
        """The figures since the last report; they count towards the evaluation's too."""
        self.pending.flush_into(self.report)
        report, self.report = self.report, _Meter()
        self.evaluation.merge(report)
        return report

    def end_evaluation(self) -> _Meter:
        """The figures since the last evaluation."""
        self.end_report()
        evaluation, self.evaluation = self.evaluation, _Meter()
        return evaluation


@dataclass
class _Run:
    """What one call of ``Trainer.run`` tracks between its steps."""

    rng: np.random.Generator  # each epoch's stream offsets
    optimizer: FusedOptimizer
    forward: torch.nn.Module  # TrainStep, or DDP around it
    params: list[torch.nn.Parameter]
    snapshot: list[torch.Tensor]  # the last weights known to be good
    full_softmax: bool
    steps_planned: int  # 0: no epoch limit (a time budget ends the run)
    clock: _EvalClock
    budget: float | None  # seconds of max_seconds left for this run's steps and evaluations
    watch: _Stopwatch = field(default_factory=lambda: _Stopwatch())  # pauses excluded
    progress: Progress = field(default_factory=Progress)  # this run's share of the session's
    meters: _Meters = field(default_factory=lambda: _Meters())
    best: _Best = field(default_factory=lambda: _Best())
    metrics: dict = field(default_factory=dict)  # the latest evaluation's
    epoch_at: float = 0.0  # epochs done (session total, fractional) at the latest step
    last_report: float = -math.inf  # run seconds at the last StepEvent
    step_seconds: float = 0.0  # what the latest step took
    reason: StopReason = StopReason.FINISHED
    message: str = ""

    def count_step(self, session: Progress, tokens: int, epoch_progress: float) -> None:
        for progress in (self.progress, session):
            progress.steps += 1
            progress.tokens += tokens
        self.epoch_at = session.epochs + epoch_progress
