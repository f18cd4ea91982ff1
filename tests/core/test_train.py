"""The trainer: it learns the fable, reports well-formed events, obeys pause/resume/stop from
another thread, keeps time limits and seeds, survives divergence, and resumes."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch

from lstm_tui.core.errors import ConfigError
from lstm_tui.core.model.lstm import ADAPTIVE_FROM_VOCAB
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.training import train
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.metrics import score_text, window_accuracy
from lstm_tui.core.training.train import EpochEvent, StepEvent, Trainer, TrainResult, fit_to_corpus

FOREVER = 100_000  # epochs: more than any test lets run


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def params_of(session) -> list[torch.Tensor]:
    return [p.detach().cpu().clone() for p in session.model.parameters()]  # wherever it trained


@pytest.fixture(scope="module")
def learned(fable: Corpus, make_session):
    """seed-1layer (1×512) trained on the fable to 90% window accuracy."""
    session = make_session(fable, preset="seed-1layer", hidden=None, embed=None)
    config = TrainConfig(target_accuracy=0.9, seed=1)
    started = time.perf_counter()
    events = list(Trainer(session, fable.train_ids, fable.val_ids, config).run())
    return session, events, time.perf_counter() - started


def test_trainer_learns_the_fable(learned, fable: Corpus) -> None:
    session, events, wall = learned
    result = events[-1]
    assert isinstance(result, TrainResult)
    assert result.reason == "target", result.message
    assert result.window_accuracy >= 0.9
    assert "reached the target" in result.message
    # ~25 steps on 2 CPU cores, not the tutorial's 50,000. (A tiny corpus is evaluated at most
    # twice a second, so a fast GPU takes more steps between checks: bound time, loosely steps.)
    assert result.steps <= 1_000
    assert result.seconds < 60 and wall < 150
    # The reported accuracy is the tutorial's metric, over all 201 windows of the fable.
    assert window_accuracy(session.model, fable.ids) == result.window_accuracy
    assert len(fable.ids) - 3 == 201
    assert session.metrics["window_accuracy"] == result.window_accuracy
    assert result.full_accuracy == pytest.approx(score_text(session.model, fable.ids).top1)
    assert result.val_perplexity is None and result.val_accuracy is None  # no split
    assert not session.model.training  # left in eval mode


def test_events_are_well_formed(learned) -> None:
    session, events, _ = learned
    result = events[-1]
    assert [type(e) for e in events].count(TrainResult) == 1
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert steps and epochs
    assert [e.step for e in steps] == sorted({e.step for e in steps})  # strictly increasing
    assert steps[-1].step == session.progress.steps == result.steps
    for e in steps:
        assert e.epoch >= 1 and 0 < e.epoch_progress <= 1 and 0 <= e.progress <= 1
        assert math.isfinite(e.loss) and e.loss > 0
        assert e.accuracy is not None and 0 <= e.accuracy <= 1
        assert e.tokens_per_second > 0 and e.elapsed > 0
        assert e.eta is None or e.eta >= 0
        assert e.lr == pytest.approx(6e-3)
    assert [e.elapsed for e in steps] == sorted(e.elapsed for e in steps)
    assert steps[0].loss > steps[-1].loss  # it learns
    for e in epochs:
        assert e.val_loss is None and e.val_perplexity is None and e.val_accuracy is None
        assert 0 <= e.window_accuracy <= 1 and 0 <= e.full_accuracy <= 1
        assert e.train_loss is None or math.isfinite(e.train_loss)
        assert set(e.metrics()) >= {"window_accuracy", "full_accuracy", "val_perplexity"}
    assert epochs[-1].epoch == session.progress.epochs == result.epochs
    assert epochs[-1].window_accuracy == result.window_accuracy
    assert result.seconds > 0 and result.tokens_per_second > 0
    assert result.tokens_per_second == pytest.approx(session.progress.tokens / result.seconds)


def test_pause_resume_and_stop_from_another_thread(fable: Corpus, make_session) -> None:
    session = make_session(fable)
    trainer = Trainer(session, fable.train_ids, config=TrainConfig(epochs=FOREVER))
    events: list = []
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            for event in trainer.run():
                events.append(event)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    started = time.perf_counter()
    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    wait_until(lambda: session.progress.steps >= 3)
    trainer.pause()
    assert trainer.paused
    time.sleep(0.3)  # a step already under way may finish
    steps, version = session.progress.steps, session.version
    time.sleep(0.7)
    assert session.progress.steps == steps and session.version == version  # no step while paused
    assert thread.is_alive()
    trainer.resume()
    assert not trainer.paused
    wait_until(lambda: session.progress.steps >= steps + 3)
    trainer.stop()
    thread.join(timeout=30)
    wall = time.perf_counter() - started
    assert not thread.is_alive() and not errors
    result = events[-1]
    assert isinstance(result, TrainResult)
    assert result.reason == "stopped" and "stopped" in result.message
    assert result.steps == session.progress.steps
    assert result.seconds < wall - 0.5  # the pause (1 s) is not training time


def test_stop_while_paused_and_before_starting(fable: Corpus, make_session) -> None:
    session = make_session(fable)
    trainer = Trainer(session, fable.train_ids, config=TrainConfig(epochs=FOREVER))
    run = trainer.run()
    trainer.pause()
    box: list = []
    thread = threading.Thread(target=lambda: box.extend(run), daemon=True)
    thread.start()
    time.sleep(0.3)
    assert session.progress.steps == 0 and thread.is_alive()  # waiting before its first step
    trainer.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert box[-1].reason == "stopped" and box[-1].steps == 0
    assert box[-1].window_accuracy is None  # never evaluated

    stopped = Trainer(session, fable.train_ids, config=TrainConfig(epochs=5))
    stopped.stop()
    result = list(stopped.run())[-1]
    assert result.reason == "stopped" and result.steps == 0


def test_max_seconds(fable: Corpus, make_session) -> None:
    session = make_session(fable)
    config = TrainConfig(epochs=FOREVER, max_seconds=0.4)
    started = time.perf_counter()
    events = list(Trainer(session, fable.train_ids, config=config).run())
    wall = time.perf_counter() - started
    result = events[-1]
    assert result.reason == "time" and "0.4 s" in result.message
    # The budget covers the whole run: it stops before a step that would overrun it, so it
    # ends a step short of 0.4 s (or later on a loaded machine), having used most of it.
    assert 0.2 <= result.seconds < 2.5
    assert wall < 20
    assert result.steps > 0
    assert result.window_accuracy is not None  # a cut-short run still says where it stands
    assert max(e.progress for e in events if isinstance(e, StepEvent)) <= 1


def _losses(fable: Corpus, make_session, seed: int) -> tuple[list[float], list[torch.Tensor]]:
    session = make_session(fable, seed=seed)
    config = TrainConfig(epochs=6, seed=seed)
    events = list(Trainer(session, fable.train_ids, config=config, report_interval=0).run())
    return [e.loss for e in events if isinstance(e, StepEvent)], params_of(session)


def test_same_seed_same_run(fable: Corpus, make_session) -> None:
    losses_a, weights_a = _losses(fable, make_session, seed=5)
    losses_b, weights_b = _losses(fable, make_session, seed=5)
    losses_c, _ = _losses(fable, make_session, seed=6)
    assert len(losses_a) == 6
    assert losses_a == losses_b
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))
    assert losses_c != losses_a


def _assert_still_predicts(session, corpus: Corpus) -> None:
    assert all(bool(torch.isfinite(p).all()) for p in session.model.parameters())
    assert math.isfinite(score_text(session.model, corpus.ids).loss)
    probs = [w.prob for w in Predictor(session).suggest("the cat ", k=5).next_words]
    assert len(probs) == 5 and all(math.isfinite(p) and 0 <= p <= 1 for p in probs)
    assert sum(probs) <= 1 + 1e-5


def _train_keeping_evaluated_weights(trainer: Trainer) -> tuple[TrainResult, list]:
    """Run to the end; also return the weights as of the last evaluation (or the start)."""
    good = params_of(trainer.session)
    for event in trainer.run():
        if isinstance(event, EpochEvent):
            good = params_of(trainer.session)
    assert isinstance(event, TrainResult)
    return event, good


def test_a_nan_loss_stops_with_a_clear_message_and_the_last_good_weights(
    fable: Corpus, make_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train, "EVAL_BUDGET", 1e-9)  # evaluate (and keep) the last epoch only
    session = make_session(fable)
    config = TrainConfig(lr=1e6, clip=0, optimizer="sgd", epochs=200)
    result, good = _train_keeping_evaluated_weights(
        Trainer(session, fable.train_ids, config=config)
    )
    assert result.reason == "diverged"
    assert "NaN or infinite" in result.message and "\n" not in result.message
    assert "lower learning rate" in result.message
    assert session.progress.steps == result.steps > 1
    # Weights that gave a NaN loss are no good, finite or not: the evaluated ones come back.
    assert all(torch.equal(a, b) for a, b in zip(good, params_of(session), strict=True))
    _assert_still_predicts(session, fable)


def test_the_loss_read_back_only_when_reporting_is_the_same(fable: Corpus, make_session) -> None:
    """On a GPU the loss is read back on reporting steps only (no wait on every step): the
    reported figures are the same as reading it after every step, as on a CPU."""
    reported = []
    for sync_each_step in (True, False):
        session = make_session(fable)
        trainer = Trainer(session, fable.train_ids, config=TrainConfig(epochs=6))
        trainer.report_interval = 1e9  # report at each epoch's end only
        trainer.sync_each_step = sync_each_step
        reported.append([e.loss for e in trainer.run() if isinstance(e, StepEvent)])
    assert len(reported[0]) == 6 and reported[0] == pytest.approx(reported[1], rel=1e-6)


def test_a_nan_between_reports_is_caught_at_the_next_one(
    fable: Corpus, make_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train, "EVAL_BUDGET", 1e-9)
    session = make_session(fable)
    config = TrainConfig(lr=1e6, clip=0, optimizer="sgd", epochs=200)
    trainer = Trainer(session, fable.train_ids, config=config, report_interval=1e9)
    trainer.sync_each_step = False  # as on a GPU
    result, good = _train_keeping_evaluated_weights(trainer)
    assert result.reason == "diverged" and "NaN or infinite" in result.message
    assert all(torch.equal(a, b) for a, b in zip(good, params_of(session), strict=True))
    _assert_still_predicts(session, fable)


def test_divergence_puts_back_the_last_good_weights(
    fable: Corpus, make_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(fable)
    model = session.model
    real_loss = model.loss
    calls = []
    before_bad_step: list[torch.Tensor] = []

    def loss_that_explodes(features, targets, count_correct=True):
        calls.append(1)
        loss, correct = real_loss(features, targets, count_correct)
        if len(calls) == 6:
            before_bad_step.extend(params_of(session))
            loss = loss * math.nan
        return loss, correct

    monkeypatch.setattr(model, "loss", loss_that_explodes)
    monkeypatch.setattr(train, "EVAL_BUDGET", 1e-9)  # evaluate (and keep) the last epoch only
    trainer = Trainer(session, fable.train_ids, config=TrainConfig(epochs=20), report_interval=0)
    version = session.version
    result, good = _train_keeping_evaluated_weights(trainer)
    assert result.reason == "diverged" and "at step 6" in result.message
    assert "restored the last good weights" in result.message
    assert session.progress.steps == 5 and result.steps == 5
    assert all(torch.equal(a, b) for a, b in zip(good, params_of(session), strict=True))
    # ... which are not simply the weights before the bad step (steps 1-5 were thrown away).
    assert not all(torch.equal(a, b) for a, b in zip(good, before_bad_step, strict=True))
    assert session.version == version + 6  # five steps, and the restore is a change too
    _assert_still_predicts(session, fable)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_on_a_machine_without_it_is_a_config_error(fable: Corpus, make_session) -> None:
    session = make_session(fable)
    with pytest.raises(ConfigError, match="not available"):
        Trainer(session, fable.train_ids, config=TrainConfig(device="cuda"))
    Trainer(session, fable.train_ids, config=TrainConfig(device="cpu"))  # and cpu is fine


def test_bad_settings_are_refused_before_training(fable: Corpus, make_session) -> None:
    session = make_session(fable)
    with pytest.raises(ConfigError):
        Trainer(session, fable.train_ids, config=TrainConfig(lr=-1))
    with pytest.raises(ConfigError, match="at least 4 tokens"):
        Trainer(session, fable.train_ids[:3], config=TrainConfig())


def test_fit_to_corpus_shrinks_batches_for_small_texts() -> None:
    assert fit_to_corpus(204, 32, 35) == (25, 8)  # the fable: 25 streams of 8 tokens
    assert fit_to_corpus(1_000_000, 32, 35) == (32, 35)
    batch, bptt = fit_to_corpus(4, 32, 35)
    assert batch == 1 and bptt == 3
    with pytest.raises(ConfigError):
        fit_to_corpus(3, 32, 35)


def test_training_resumes_with_its_optimizer_state(fable: Corpus, make_session) -> None:
    session = make_session(fable, seed=2)
    config = TrainConfig(epochs=15, seed=2, lr=0.02)
    first = list(Trainer(session, fable.train_ids, config=config).run())
    steps, epochs = session.progress.steps, session.progress.epochs
    assert (steps, epochs) == (15, 15)
    saved = session.optimizer_state
    assert saved["kind"] == "adamw"
    assert float(saved["state"]["state"][0]["step"]) == steps

    second = list(Trainer(session, fable.train_ids, config=config).run())
    step_events = [e for e in second if isinstance(e, StepEvent)]
    assert step_events[0].step == steps + 1  # the step count continues
    assert step_events[0].epoch == epochs + 1
    assert session.progress.steps == 30 and session.progress.epochs == 30
    # The optimizer went on from its saved state (a fresh one would count from zero).
    assert float(session.optimizer_state["state"]["state"][0]["step"]) == 30
    first_losses = [e.loss for e in first if isinstance(e, StepEvent)]
    second_losses = [e.loss for e in step_events]
    assert second_losses[0] < first_losses[0] - 0.5  # starts where it left off ...
    assert second_losses[0] < first_losses[-1] + 0.1
    assert np.mean(second_losses[-3:]) < np.mean(first_losses[-3:])  # ... and keeps improving


def test_adaptive_softmax_training_with_validation(make_text, make_session) -> None:
    rare = " ".join(f"rare{i}" for i in range(ADAPTIVE_FROM_VOCAB + 200))
    large = Corpus.from_text(make_text(500) + rare, min_count=1)
    assert len(large.vocab) > ADAPTIVE_FROM_VOCAB
    picked = make_session(large, hidden=16, embed=16, device="cpu").config.softmax
    assert picked == "adaptive"  # picked by size (on a CPU)

    corpus = Corpus.from_text(make_text(1_500))
    assert corpus.has_validation
    session = make_session(corpus, softmax="adaptive")
    assert session.config.softmax == "adaptive"
    events = list(
        Trainer(session, corpus.train_ids, corpus.val_ids, TrainConfig(epochs=10, lr=0.03)).run()
    )
    result = events[-1]
    assert result.reason == "finished" and result.epochs == 10
    assert result.val_perplexity is not None and math.isfinite(result.val_perplexity)
    assert 1 < result.val_perplexity < len(corpus.vocab)  # better than a uniform guess
    epoch = next(e for e in events if isinstance(e, EpochEvent))
    assert epoch.val_loss == pytest.approx(math.log(epoch.val_perplexity))
    assert 0 <= epoch.val_accuracy <= 1 and 0 <= epoch.window_accuracy <= 1
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert steps and all(math.isfinite(e.loss) for e in steps)


def test_an_open_ended_fable_run_stops_once_learned(fable: Corpus) -> None:
    """[issue 16.5] The shared job, as both ``lstm-tui train`` and the app's F5 call it with
    no limits: the fable stops at the tutorial's 95.2% in tens of steps, with a plan of at
    most ``LEARN_MAX_EPOCHS`` (it planned 1,471 epochs, minutes, and trained through them)."""
    from lstm_tui.core import jobs

    session = jobs.new_session(fable, TrainConfig(device="cpu"))
    run = jobs.train_session(session, fable, session.train_config, threads=1)
    setup = next(run)
    assert isinstance(setup, jobs.Started)
    assert setup.target == train.LEARNED_ACCURACY
    assert setup.total_steps is not None and setup.total_steps <= train.LEARN_MAX_EPOCHS
    result = [e for e in run if isinstance(e, TrainResult)][-1]
    assert result.reason == "target", result.message
    assert result.window_accuracy >= train.LEARNED_ACCURACY
    assert result.steps <= 120  # 54 seen (every 6th epoch is evaluated)


def test_only_an_open_ended_tiny_text_gets_the_learned_target(fable: Corpus, make_session) -> None:
    """Asked limits stay the user's; a text with held-out lines keeps its token rule."""
    session = make_session(fable)
    asked = Trainer(session, fable.train_ids, None, TrainConfig(epochs=7))
    assert (asked.target, asked.epochs) == (None, 7)
    timed = Trainer(session, fable.train_ids, None, TrainConfig(max_seconds=5))
    assert (timed.target, timed.epochs) == (None, None)
    own = Trainer(session, fable.train_ids, None, TrainConfig(target_accuracy=0.5))
    assert own.target == 0.5 and own.epochs == train.LEARN_MAX_EPOCHS
    # Without held-out text but not tiny (--val-fraction 0 on a bigger text): no target.
    bigger = np.tile(fable.train_ids, 10)
    plain = Trainer(session, bigger, None, TrainConfig())
    assert plain.target is None
    assert plain.epochs == math.ceil(train.AUTO_EPOCH_TOKENS / len(bigger))


def test_a_tiny_text_stopped_before_its_first_evaluation_is_measured(
    fable: Corpus, make_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F7 before the first evaluation (soon on a busy machine) left no figure in the history:
    the Pilot test of ctrl+g timed out under load."""
    session = make_session(fable)
    trainer = Trainer(session, fable.train_ids, config=TrainConfig(epochs=FOREVER))
    monkeypatch.setattr(trainer, "_evaluation_due", lambda r: False)  # none comes in time
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, StepEvent) and not trainer.control.stop_requested:
            trainer.stop()
    evaluations = [e for e in events if isinstance(e, EpochEvent)]
    assert isinstance(events[-1], TrainResult) and events[-1].reason == "stopped"
    assert len(evaluations) == 1 and evaluations[0].step == session.progress.steps
    assert len(session.history) == 1
