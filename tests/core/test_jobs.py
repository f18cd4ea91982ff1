"""The shared jobs (``core/jobs.py``): the one builder of sessions, the one driver of a run,
and the settings the command line hands them, on the bundled fable."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from lstm_tui.cli.parser import build_parser
from lstm_tui.core import jobs
from lstm_tui.core.errors import UserError
from lstm_tui.core.training.auto import auto_choice
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult

SMALL = {"layers": 1, "hidden": 32, "embed": 16, "dropout": None}


def test_every_training_setting_the_cli_takes_reaches_the_config() -> None:
    """A new TrainConfig field needs only a `train` option of the same name: no list to keep
    in step by hand. Every field but `cache` (--no-cache) and `schedule` has one."""
    args = build_parser().parse_args(["train"])
    named = {f.name for f in fields(TrainConfig)} & set(vars(args))
    assert named == {f.name for f in fields(TrainConfig)} - {"cache", "schedule"}
    args = build_parser().parse_args(["train", "--bptt", "7", "--lr-decay", "0.5", "--mix", "off"])
    assert jobs.train_overrides(args) == {
        "bptt": 7, "lr_decay": 0.5, "mix": "off", "seed": 1, "device": "auto"
    }  # fmt: skip
    assert jobs.train_overrides(argparse.Namespace(lr=None)) == {}  # None is "not given"


def test_new_session_puts_given_settings_over_the_auto_presets(fable_path: Path) -> None:
    corpus = jobs.open_text(fable_path).corpus
    tuned = auto_choice(len(corpus.train_ids)).train
    model = jobs.ModelChoice("seed-1layer", shape=SMALL)
    session = jobs.new_session(corpus, TrainConfig(), {"bptt": 5, "mix": "off"}, model)
    assert session.train_config.bptt == 5 and session.train_config.mix == "off"
    assert session.ngram is None  # --mix off: no n-gram counted
    assert session.config.hidden == 32 and session.config.layers == 1
    auto = jobs.new_session(corpus, TrainConfig(bptt=9), {}, jobs.ModelChoice(shape=SMALL))
    expected = tuned.get("bptt", 9)  # the auto preset's, where it has one, over the base
    assert auto.train_config.bptt == expected and auto.ngram is not None


def test_an_unknown_preset_is_one_line_before_any_text_is_read() -> None:
    with pytest.raises(UserError, match="unknown preset 'huge'"):
        jobs.ModelChoice("huge").check()


def test_train_session_says_its_setup_first_then_the_trainers_events(fable_path: Path) -> None:
    corpus = jobs.open_text(fable_path).corpus
    model = jobs.ModelChoice("seed-1layer", shape=SMALL)
    session = jobs.new_session(corpus, TrainConfig(), {"epochs": 2, "device": "cpu"}, model)
    events = list(jobs.train_session(session, corpus, session.train_config, threads=1))
    setup, *middle, result = events
    assert isinstance(setup, jobs.Started)
    assert setup.device.type == "cpu" and setup.threads == 1 and setup.first_step == 0
    assert setup.total_steps == 2 * setup.steps_per_epoch
    assert middle and all(isinstance(e, (StepEvent, EpochEvent)) for e in middle)
    assert isinstance(result, TrainResult) and result.steps == setup.total_steps


def test_resume_keeps_the_checkpoints_settings_but_not_its_limits(
    fable_path: Path, tmp_path: Path
) -> None:
    corpus = jobs.open_text(fable_path).corpus
    model = jobs.ModelChoice("seed-1layer", shape=SMALL)
    overrides = {"epochs": 1, "bptt": 6, "target_accuracy": 0.5, "device": "cpu"}
    session = jobs.new_session(corpus, TrainConfig(), overrides, model)
    out = jobs.save(session, tmp_path / "fable.safetensors")
    resumed = jobs.resume(out, {"lr": 1e-3})
    assert resumed.config.bptt == 6 and resumed.config.lr == 1e-3
    assert resumed.config.epochs is None and resumed.config.target_accuracy is None
    assert resumed.text == fable_path.resolve()
    again = jobs.open_text(resumed.text, session=resumed.session).corpus
    assert list(again.ids) == list(corpus.ids)  # read in the checkpoint's own vocabulary
