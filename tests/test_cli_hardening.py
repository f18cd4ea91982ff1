"""The CLI against hostile files, signals and numbers: one line and exit 2 where the issue
found tracebacks, hangs or lost work; nothing a file holds reaches the terminal raw."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hostile import hostile_checkpoints, utf16
from test_cli import SMALL, assert_one_line_error, cli

from lstm_tui import cli as cli_module
from lstm_tui.core.store import checkpoint
from lstm_tui.core.training.train import Trainer, TrainResult

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, make_text) -> tuple[Path, Path]:
    """A corpus and a small model trained on it (with optimizer state)."""
    folder = tmp_path_factory.mktemp("good")
    corpus = folder / "stories.txt"
    corpus.write_text(make_text(600), encoding="utf-8")
    out = folder / "good.safetensors"
    assert cli_module.main(["train", str(corpus), *SMALL, "--epochs", "2", "--out", str(out)]) == 0
    return corpus, out


@pytest.fixture(scope="module")
def hostile(good, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile_checkpoints(good[1], tmp_path_factory.mktemp("hostile"))


# 1 and 9. --out onto a device, a FIFO, a folder, the corpus, or where nothing can be saved


def test_out_that_is_not_a_regular_file_or_is_the_corpus(capsys, good, tmp_path: Path) -> None:
    corpus, _ = good
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    targets = [
        (fifo, "FIFO"),
        (folder, "folder"),
        (corpus, "is the corpus"),
        (blocked / "m.safetensors", "cannot save there"),  # 9: said before the run, not after
    ]
    node = tmp_path / "node"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # as /dev/null, needs root
        targets.append((node, "device"))
    except PermissionError:
        pass
    before = corpus.read_bytes()
    for target, words in targets:
        started = time.monotonic()
        line = assert_one_line_error(
            *cli(capsys, "train", corpus, *SMALL, "--epochs", "50", "--out", target)
        )
        assert words in line and time.monotonic() - started < 10, line  # before any training
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and folder.is_dir()
    assert corpus.read_bytes() == before
    if node.exists():
        assert stat.S_ISCHR(os.stat(node).st_mode)


# 2. a malformed checkpoint: one line in list, predict and train --resume ----------------------


def test_malformed_checkpoints_in_every_command(capsys, hostile, data_home: Path) -> None:
    folder = checkpoint.checkpoints_dir()
    folder.mkdir(parents=True)
    broken = [n for n in hostile if n not in ("escape-vocab", "corpus-path-dev-zero")]
    for name in broken:
        (folder / hostile[name].name).write_bytes(hostile[name].read_bytes())
    code, out, err = cli(capsys, "list")
    assert code == 0 and "Traceback" not in err
    lines = out.splitlines()
    assert len(lines) == len(broken)
    sound_headers = 2  # nan-weight, nan-optimizer: listed; only loading finds the NaN
    assert sum("\tunreadable: " in line for line in lines) == len(broken) - sound_headers
    for name in ("version-1e400", "header-nested-200k", "offsets-string", "steps-inf"):
        path = hostile[name]
        assert_one_line_error(*cli(capsys, "predict", "the", "--checkpoint", path))
        assert_one_line_error(*cli(capsys, "train", "--resume", path, *SMALL))


# 3. escape sequences from a checkpoint or a corpus never reach the terminal raw -------------


def test_escape_words_are_printed_visibly(capsys, hostile) -> None:
    path = hostile["escape-vocab"]
    for args in (["predict", "the", "--top-k", "50", "--words", "40"], ["list"]):
        code, out, err = (
            cli(capsys, *args, "--checkpoint", path) if args[0] != "list" else cli(capsys, *args)
        )
        assert code == 0, err
        assert not any(c in out + err for c in "\x1b\x07\x08"), out
    code, out, _ = cli(
        capsys, "predict", "the", "--top-k", "50", "--words", "40", "--checkpoint", path
    )
    assert "␛" in out  # the escape words are there, shown


def test_control_characters_in_a_corpus_separate_words(capsys, tmp_path: Path, make_text) -> None:
    text = make_text(300).replace(" the ", " the\x1b[2J ").replace(" a ", " a\x07\x08 ")
    corpus = tmp_path / "controls.txt"
    corpus.write_text(text, encoding="utf-8")
    out = tmp_path / "controls.safetensors"
    code, _, err = cli(capsys, "train", corpus, *SMALL, "--epochs", "1", "--out", out)
    assert code == 0, err
    words = checkpoint.load(out).vocab.words
    assert not any(any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in w) for w in words)
    assert "[" in words and "2j" in words  # what followed ESC is kept, as text


# 4. special files: refused at once ------------------------------------------------------------


def test_special_files_are_refused_at_once(capsys, tmp_path: Path, hostile, good) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    cases = [
        (["train", "/dev/zero"], "is a device"),
        (["eval", "/dev/zero"], "is a device"),
        (["train", fifo], "FIFO"),
        (["eval", fifo], "FIFO"),
        (["train", "--resume", hostile["corpus-path-dev-zero"], *SMALL], "/dev/zero: is a device"),
        ([fifo], "FIFO"),  # the app is not even started
    ]
    for args, words in cases:
        started = time.monotonic()
        line = assert_one_line_error(*cli(capsys, *args))
        assert words in line and time.monotonic() - started < 5, (args, line)
    corpus, _ = good
    line = assert_one_line_error(*cli(capsys, "train", corpus, "--max-corpus-bytes", "100"))
    assert "more than the limit of 100" in line and "--max-corpus-bytes" in line


def test_train_dev_zero_as_a_process_in_well_under_a_second() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from lstm_tui.cli import main; sys.exit(main())",
            "train",
            "/dev/zero",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert (
        done.returncode == 2
        and done.stderr == "lstm-tui: error: /dev/zero: is a device, not a file\n"
    )
    assert time.monotonic() - started < 2  # refused before torch is imported: 2 s for a busy CI


def test_a_utf16_corpus_trains(capsys, tmp_path: Path, make_text) -> None:
    corpus = utf16(tmp_path, make_text(300))
    out = tmp_path / "utf16.safetensors"
    code, _, err = cli(capsys, "train", corpus, *SMALL, "--epochs", "1", "--out", out)
    assert code == 0, err
    assert "mouse" in checkpoint.load(out).vocab.words


# 5. prompts are capped --------------------------------------------------------------------


def test_a_huge_prompt_line_is_capped_with_a_warning(capsys, monkeypatch, good) -> None:
    huge = "the cat saw a mouse " * 60_000  # 1.2 MB on one line
    model = ["--checkpoint", str(good[1])]
    started = time.monotonic()
    code, out, err = cli(
        capsys,
        "chat",
        "--json",
        "--words",
        "2",
        *model,
        stdin=huge + "\nthe\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    assert time.monotonic() - started < 30
    assert len(out.splitlines()) == 2
    assert "warning: the prompt is longer than 10,000 characters" in err
    code, out, err = cli(capsys, "predict", huge[:50_000], *model)
    assert code == 0 and "warning" in err


# 6. non-finite weights are never saved -----------------------------------------------------------


def test_a_run_ending_with_non_finite_weights_keeps_the_good_checkpoint(
    capsys, good, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, src = good
    target = tmp_path / "resumed.safetensors"
    target.write_bytes(src.read_bytes())
    real_run = Trainer.run

    def poisoned(self):  # the case: a run that reports "finished" with NaN weights
        for event in real_run(self):
            if isinstance(event, TrainResult):
                with torch.no_grad():
                    next(self.session.model.parameters()).fill_(float("nan"))
            yield event

    monkeypatch.setattr(Trainer, "run", poisoned)
    line = assert_one_line_error(
        *cli(
            capsys, "train", corpus, "--resume", target, "--epochs", "1", "--quiet", "--out", target
        )
    )
    assert "NaN or infinite" in line and "kept" in line
    assert target.read_bytes() == src.read_bytes()


# 7. numbers at the door -------------------------------------------------------------------


def test_numbers_out_of_range_are_usage_errors(capsys) -> None:
    cases = [
        ["predict", "the", "--temperature", "1e-300"],
        ["predict", "the", "--temperature", "1e39"],
        ["predict", "the", "--seed", "-1"],
        ["predict", "the", "--seed", "99999999999999999999999"],
        ["predict", "the", "--top-k", "100000000"],
        ["predict", "the", "--words", "100000000"],
        ["chat", "--temperature", "1e-300"],
        ["train", "--seed", "-1"],
        ["train", "--seed", "99999999999999999999999"],
        ["train", "--max-corpus-bytes", "0"],
    ]
    for args in cases:
        line = assert_one_line_error(*cli(capsys, *args))
        assert "(see lstm-tui" in line and "argument --" in line, line


def test_bad_settings_inside_a_checkpoint_are_one_line(capsys, hostile) -> None:
    for name in (
        "cutoffs-unsorted",
        "cutoffs-too-big",
        "cutoffs-string",
        "slots-list",
        "train-config-list",
        "seed-negative",
    ):
        line = assert_one_line_error(*cli(capsys, "predict", "the", "--checkpoint", hostile[name]))
        assert "corrupt checkpoint" in line, line


# 8. SIGTERM and SIGHUP stop and save ------------------------------------------------------


def test_sigterm_and_sighup_stop_training_and_save(good, tmp_path: Path) -> None:
    corpus, _ = good
    runs = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        out = tmp_path / f"{sig.name}.safetensors"
        runs[sig] = (
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lstm_tui",
                    "train",
                    str(corpus),
                    *SMALL[:-1],
                    "--epochs",
                    "100000",
                    "--out",
                    str(out),
                ],
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            ),
            out,
        )
    for sig, (process, _) in runs.items():
        assert process.stderr is not None
        first = process.stderr.readline()  # "training … on …"
        assert first.startswith("training"), first
        progress = process.stderr.readline()  # where the TensorBoard log goes, then …
        if progress.startswith("TensorBoard log:"):
            progress = process.stderr.readline()  # … the first step's progress line: training
        assert " step " in progress, progress
        process.send_signal(sig)
    for sig, (process, out) in runs.items():
        _, err = process.communicate(timeout=60)
        assert process.returncode == 128 + sig, err
        assert f"stopped by {sig.name}; the model so far is saved to {out}" in err
        assert checkpoint.info(out).steps > 0
