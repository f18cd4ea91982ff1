"""The app's pure pieces, without an app: queue, form parser, insert_word, formatters, states,
the header, settings and the thread policy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lstm_tui.core import format as fmt
from lstm_tui.core import runtime
from lstm_tui.core.runtime import (
    CpuSample,
    busy_cores,
    free_cores,
    read_cpu_sample,
    running_elsewhere,
    training_threads,
)
from lstm_tui.core.store import settings
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.ui.inference import InferenceQueue, JobKind
from lstm_tui.ui.run_thread import TRANSITIONS
from lstm_tui.ui.screens.hyperparams import FieldError, parse_form
from lstm_tui.ui.state import TrainState, action_allowed
from lstm_tui.ui.widgets.predictor import ATTACH_LEFT, insert_word
from lstm_tui.ui.widgets.status_bar import Status, status_line

# -- the inference queue -----------------------------------------------------------------------


def test_queue_keeps_the_newest_suggestion_and_every_continuation_in_order() -> None:
    queue = InferenceQueue()
    done: list[str] = []
    for name in ("s1", "s2", "s3"):
        queue.submit(JobKind.SUGGEST, lambda name=name: done.append(name))
    for name in ("c1", "c2"):
        queue.submit(JobKind.CONTINUE, lambda name=name: done.append(name))
    queue.submit(JobKind.DETAILS, lambda: done.append("d"))
    queue.submit(JobKind.WARM_UP, lambda: done.append("w"))
    while (job := queue.take(timeout=0)) is not None:
        job()
    assert done == ["w", "s3", "c1", "c2", "d"]


def test_a_closed_queue_wakes_its_taker_and_refuses_work() -> None:
    queue = InferenceQueue()
    taken: list[object] = []
    taker = threading.Thread(target=lambda: taken.append(queue.take()))
    taker.start()
    queue.close()
    taker.join(5)
    assert taken == [None] and not taker.is_alive()
    queue.submit(JobKind.SUGGEST, lambda: None)
    assert queue.take(timeout=0) is None


# -- the hyperparameters form ------------------------------------------------------------------

FORM = {
    "layers": "1",
    "hidden": "64",
    "embed": "64",
    "dropout": "0",
    "lr": "0.01",
    "batch": "8",
    "bptt": "16",
    "epochs": "",
    "seed": "3",
}


def test_the_form_parses_good_values() -> None:
    hp = parse_form(FORM, "seed", "cpu", TrainConfig())
    assert (hp.layers, hp.hidden, hp.embed, hp.dropout) == (1, 64, 64, 0.0)
    assert hp.train.batch_size == 8 and hp.train.epochs is None and hp.train.seed == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("layers", "17"),
        ("hidden", "9000"),
        ("embed", "0"),
        ("dropout", "1"),
        ("lr", "-1"),
        ("batch", "0"),
        ("bptt", "x"),
        ("epochs", "0"),
        ("seed", "1.5"),
    ],
)
def test_a_bad_value_names_its_own_field(field: str, value: str) -> None:
    with pytest.raises(FieldError) as error:
        parse_form({**FORM, field: value}, "seed", "cpu", TrainConfig())
    assert error.value.field == field


# -- insert_word -----------------------------------------------------------------------------

words = st.text(alphabet="abcdefghij", min_size=1, max_size=8)


@given(st.lists(words, max_size=4), words, st.integers(0, 8))
def test_insert_word_replaces_the_partial_word_keeping_case(
    before: list[str], word: str, typed: int
) -> None:
    partial = word[: min(typed, len(word))].upper()
    text = " ".join([*before, partial]) if before else partial
    result = insert_word(text, partial, word)
    assert result.endswith(" ") and result.split() == [*before, partial + word[len(partial) :]]


@given(st.lists(words, min_size=1, max_size=4), st.sampled_from(sorted(ATTACH_LEFT)))
def test_punctuation_attaches_to_the_word_before(before: list[str], mark: str) -> None:
    assert insert_word(" ".join(before) + " ", "", mark) == " ".join(before) + mark + " "


# -- formatters --------------------------------------------------------------------------------


def test_durations_shares_and_ticks() -> None:
    assert [fmt.duration(s) for s in (None, -3.0, 75, 3700)] == [
        "--:--",
        "00:00",
        "01:15",
        "1:01:40",
    ]
    assert [fmt.share(x) for x in (0.29, 0.034, 0.0012, 0.0000591, 0)] == [
        "29%",
        "3.4%",
        "0.12%",
        "0.0059%",
        "0%",
    ]
    assert fmt.nice_ticks(100) == [0, 25, 50, 75, 100]
    assert fmt.nice_ticks(6.2) == [0, 2, 4, 6, 8]
    assert fmt.count(4_300_000) == "4.3M" and fmt.percent(None) == "—"


@given(st.floats(1e-6, 1e6))
def test_ticks_are_even_round_and_cover_the_top(top: float) -> None:
    ticks = fmt.nice_ticks(top)
    steps = {round((b - a) / ticks[1], 6) for a, b in itertools.pairwise(ticks)}
    assert ticks[0] == 0 and ticks[-1] >= top * (1 - 1e-6)
    assert len(steps) == 1 and 2 <= len(ticks) <= 6


# -- states and the header ---------------------------------------------------------------------


def test_every_state_the_machine_reaches_ends_idle() -> None:
    for state, targets in TRANSITIONS.items():
        assert state is TrainState.IDLE or TrainState.IDLE in targets
        assert all(t is TrainState.IDLE or t.running for t in targets)


def test_what_the_keys_may_do_in_each_state() -> None:
    T = TrainState
    assert action_allowed("train", T.IDLE, ready=True, narrow=False)
    assert action_allowed("train", T.PAUSED, ready=True, narrow=False)
    assert action_allowed("train", T.TRAINING, ready=True, narrow=False) is None
    assert action_allowed("train", T.TRAINING, ready=True, narrow=True) is False
    assert action_allowed("pause", T.TRAINING, True, False) and action_allowed(
        "resume", T.PAUSED, True, False
    )
    assert action_allowed("reset", T.TRAINING, True, False) is None
    assert action_allowed("save", T.IDLE, ready=False, narrow=False) is None


def test_the_header_joins_only_what_it_has() -> None:
    line = status_line(Status("fable.txt", 204, "2×512 LSTM", "cpu", False, "", "F5"), True)
    assert "│  │" not in line.plain and line.plain.count("│") == 4
    saved = status_line(Status(saved=True, saved_as="mine", activity=""), True).plain
    assert saved.strip().endswith("✓ saved (mine)")


def test_the_fitted_header_keeps_the_model_and_what_was_learnt_and_the_name() -> None:
    from lstm_tui.ui.widgets.status_bar import fitted_status_line

    model = "2×512 LSTM · 4.3M params"
    learnt = "learnt from 5 words you typed"
    unsaved = Status("belling_the_cat.txt", 204, model, "cpu", False, "fable-seed", "", learnt)
    saved = replace(unsaved, saved=True, learning="learns as you type")
    # 120 columns, nothing learnt yet: the labels, the model and the name; not the default note.
    line = fitted_status_line(saved, 120).plain
    assert f"model {model}" in line and "device cpu" in line and "✓ saved (fable-seed)" in line
    assert "learns" not in line and len(line) <= 120
    # 120, a line learnt: that news stays, the labels go.
    line = fitted_status_line(unsaved, 120).plain
    assert learnt in line and "● unsaved" in line and "model " not in line, line
    # 160: unsaved weights no longer say which checkpoint they changed from; 200: everything.
    line = fitted_status_line(unsaved, 160).plain
    assert learnt in line and f"model {model}" in line and "changed since" not in line
    line = fitted_status_line(unsaved, 200).plain
    assert learnt in line and "(changed since fable-seed)" in line and "(204 tokens)" in line
    for width in (40, 60, 80, 100, 120, 160, 200):
        assert len(fitted_status_line(saved, width).plain) <= width
        assert len(fitted_status_line(unsaved, width).plain) <= width or width < 60
        assert "fable-seed" in fitted_status_line(saved, width).plain


# -- settings and state --------------------------------------------------------------------------


def test_settings_round_trip_and_a_bad_file_says_why(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    written = settings.Settings("nord", "cpu", 2, {"train": "f5,ctrl+t", "pane.vocab": "f3"})
    settings.write_settings(written, path)
    assert settings.read_settings(path) == (written, None)
    path.write_text("threads = 0\n")
    got, problem = settings.read_settings(path)
    assert got == settings.Settings() and problem and "threads must be at least 1" in problem
    assert "\n" not in problem
    # Learning as you type: on unless the file says false, and only then written.
    assert settings.Settings().learn
    settings.write_settings(settings.Settings(learn=False), path)
    assert "learn = false" in path.read_text() and not settings.read_settings(path)[0].learn
    path.write_text('learn = "no"\n')
    assert "learn must be true or false" in (settings.read_settings(path)[1] or "")


def test_state_remembers_the_newest_first(tmp_path: Path) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.txt"
    a.write_text("x")
    b.write_text("y")
    state = settings.State()
    state.remember("checkpoint", a)
    state.remember("corpus", b)
    state.remember("checkpoint", a)
    path = tmp_path / "state.json"
    settings.write_state(state, path)
    again = settings.read_state(path)
    assert again.to_reopen() == ("checkpoint", a.resolve()) and again.corpora == [str(b)]
    path.write_text("{not json")
    assert settings.read_state(path) == settings.State()


# -- threads -----------------------------------------------------------------------------------


def test_threads_come_from_the_cores_other_processes_keep_busy() -> None:
    sample = read_cpu_sample("cpu  300 0 100 5000 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert sample is not None and sample.busy == pytest.approx(400 / os.sysconf("SC_CLK_TCK"))
    assert read_cpu_sample("garbage") is None
    assert busy_cores(CpuSample(0.0, 10.0, 1.0), CpuSample(2.0, 13.0, 2.0)) == 1.0  # 3 - own 1
    assert running_elsewhere("0.9 0.9 0.9 1/80 42") == 0  # the reader itself: this process
    assert running_elsewhere("garbage") == 0
    assert training_threads(3) == 3
    if read_cpu_sample() is None:
        pytest.skip("no /proc/stat: the cores are assumed free")
    # Our own work is not someone else's: a busy loop here leaves the others' share alone.
    before, spin_until = read_cpu_sample(), time.monotonic() + 0.4
    while time.monotonic() < spin_until:
        pass
    after = read_cpu_sample()
    assert before is not None and after is not None
    everyone = (after.busy - before.busy) / (after.wall - before.wall)
    assert busy_cores(before, after) <= everyone - 0.5  # we had most of a core
    # Another process's busy loop is seen, and leaves one thread of two.
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        before = read_cpu_sample()
        time.sleep(0.5)
        after = read_cpu_sample()
        assert before is not None and after is not None
        assert busy_cores(before, after) >= 0.7
        assert running_elsewhere() >= 1
        assert free_cores(2) == 1
    finally:
        spinner.kill()
        spinner.wait()


def test_a_load_average_with_idle_cores_leaves_them_free(tmp_path: Path, monkeypatch) -> None:
    """This project's VM showed a load average of 0.9 with both cores idle (kernel threads):
    read from it, every run trained on one thread of two. What counts is CPU time used."""
    stat, loadavg = tmp_path / "stat", tmp_path / "loadavg"
    stat.write_text("cpu  1000 0 500 90000 20 0 0 0 0 0\n")  # no time passes in it: idle
    loadavg.write_text("0.95 0.91 0.92 1/80 17455\n")  # ... and nothing else runnable
    monkeypatch.setattr(runtime, "STAT", stat)
    monkeypatch.setattr(runtime, "LOADAVG", loadavg)
    monkeypatch.setattr(runtime, "_since", runtime.read_cpu_sample())
    time.sleep(runtime.MIN_WINDOW)
    assert runtime.free_cores(2) == 2
    # The same machine with one core kept busy by someone else over the last half second.
    now = runtime.read_cpu_sample()
    assert now is not None
    earlier = CpuSample(now.wall - 0.5, now.busy - 0.5, now.own)
    monkeypatch.setattr(runtime, "_since", earlier)
    assert runtime.free_cores(2) == 1


def test_the_usefulness_estimate_follows_the_accuracy_trend() -> None:
    from lstm_tui.core.store.history import useful_at

    rising = [(100, 0.05), (200, 0.10), (400, 0.15)]  # +5 points per doubling
    at = useful_at(rising, target=0.25)
    assert at is not None and 1400 <= at <= 1800  # two more doublings: ~1,600
    assert useful_at([(100, 0.3)], target=0.25) == 100  # there already
    assert useful_at([(100, 0.2), (200, 0.19)]) is None  # not rising: no promise
    assert useful_at([]) is None
