"""Issue 16, items 6-8: no command loses a checkpoint, a run or the disk space it needs.

Each test drives the real command and fails on the code before its fix (named per test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import SMALL, assert_one_line_error, cli

from lstm_tui.core.store import checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, make_text) -> tuple[Path, Path]:
    """A corpus with held-out text and a tiny model trained on it (n-gram included)."""
    folder = tmp_path_factory.mktemp("trust")
    corpus = folder / "stories.txt"
    corpus.write_text(make_text(3_000, extra_words=300), encoding="utf-8")
    out = folder / "model.safetensors"
    from lstm_tui.cli import main

    assert main(["train", str(corpus), *SMALL, "--epochs", "1", "--out", str(out)]) == 0
    return corpus, out


# 6. `history X --out X` turned the checkpoint into CSV and exited 0.


def test_history_never_writes_over_a_checkpoint(capsys, trained, tmp_path: Path) -> None:
    _, model = trained
    copy = tmp_path / "copy.safetensors"
    shutil.copyfile(model, copy)
    before = copy.read_bytes()
    line = assert_one_line_error(*cli(capsys, "history", copy, "--out", copy))
    assert "checkpoint being read" in line
    other = tmp_path / "other.safetensors"  # another model: an export does not replace it
    shutil.copyfile(model, other)
    line = assert_one_line_error(*cli(capsys, "history", copy, "--out", other))
    assert "is a checkpoint" in line
    assert copy.read_bytes() == before and other.read_bytes() == before
    checkpoint.load(copy)  # still a model
    code, _, err = cli(capsys, "history", copy, "--out", tmp_path / "h.csv")
    assert code == 0, err
    assert (tmp_path / "h.csv").read_text().startswith("step,")


# 7. The free-space check before training left out the n-gram: a full disk was found after.


def test_free_space_check_counts_the_ngram(capsys, trained, tmp_path, monkeypatch) -> None:
    corpus, model = trained
    size = model.stat().st_size  # what a save of this run really takes
    real = shutil.disk_usage

    def just_short(folder):  # the disk has a byte less than the save will write
        usage = real(folder)
        return usage._replace(free=size - 1)

    monkeypatch.setattr(checkpoint.shutil, "disk_usage", just_short)
    out = tmp_path / "again.safetensors"
    started = time.perf_counter()
    args = ("train", corpus, *SMALL, "--epochs", "1", "--out", out)
    line = assert_one_line_error(*cli(capsys, *args))
    assert "not enough free space" in line
    assert not out.exists()
    assert time.perf_counter() - started < 30  # said before training, not after it
    session = checkpoint.load(model)
    assert session.ngram is not None
    estimate = checkpoint.saved_size(session, with_optimizer=True, ngram_tokens=3_000)
    assert size <= estimate < 3 * size  # errs high, but not wildly


# 8. Two `train --out S` at once both exited 0; the first run was silently lost.


def test_a_second_run_into_the_same_target_is_refused(capsys, trained, tmp_path: Path) -> None:
    corpus, _ = trained
    out = tmp_path / "shared.safetensors"
    run = ["train", str(corpus), *SMALL[:-1], "--max-seconds", "60", "--threads", "1"]
    first = subprocess.Popen(
        [sys.executable, "-m", "lstm_tui", *run, "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert first.stderr is not None
        line = first.stderr.readline()  # "training …": the first run holds the target now
        assert line.startswith("training"), line
        args = ("train", corpus, *SMALL, "--epochs", "1", "--out", out)
        line = assert_one_line_error(*cli(capsys, *args))
        assert "another lstm-tui run is writing it" in line and f"pid {first.pid}" in line
        assert not out.exists()  # the second run saved nothing over the first
    finally:
        first.terminate()  # SIGTERM: the first run stops and saves
        first.communicate(timeout=60)
    assert first.returncode == 128 + 15
    checkpoint.load(out)
    # Once the first has ended the target is free again: the lock dies with its process.
    code, _, err = cli(capsys, *args)
    assert code == 0, err
