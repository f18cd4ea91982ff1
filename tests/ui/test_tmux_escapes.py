"""A real terminal (tmux) shown a vocabulary of escape sequences: they appear as visible
symbols, the screen is not cleared and the window title is not changed. Skipped without tmux."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import escape_vocab

from lstm_tui.core.model.session import Session
from lstm_tui.core.store import checkpoint, paths
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import Trainer

ROOT = Path(__file__).resolve().parents[2]
TITLE = "lstm-tui-title-check"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_escape_words_render_visibly_and_do_not_take_over_the_terminal(tmp_path: Path) -> None:
    fable = Corpus.from_file(paths.default_corpus())
    session = Session.new(fable, "seed-1layer", TrainConfig(seed=4), hidden=16, embed=16)
    list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=1, seed=4)).run())
    src = checkpoint.save(session, tmp_path / "src.safetensors")
    hostile = escape_vocab(src, tmp_path / "escapes.safetensors")

    name = f"lstm-tui-escapes-{os.getpid()}"
    launch = "from lstm_tui.cli import main; raise SystemExit(main())"
    command = (
        f"cd {shlex.quote(str(ROOT))} && XDG_DATA_HOME={shlex.quote(str(tmp_path / 'xdg'))} "
        # The user's own settings and what they last opened stay out of it, and theirs
        # are never overwritten by this test's checkpoint.
        f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'config'))} "
        f"XDG_STATE_HOME={shlex.quote(str(tmp_path / 'state'))} "
        f"TERM=xterm-256color {shlex.quote(sys.executable)} -c {shlex.quote(launch)} "
        f"--checkpoint {shlex.quote(str(hostile))} --device cpu"
    )
    tmux("kill-session", "-t", name)
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", f"sleep 0.3; {command}")
    try:
        tmux("select-pane", "-t", name, "-T", TITLE)  # what an OSC 0 sequence would replace
        tmux("set-option", "-w", "-t", name, "remain-on-exit", "on")

        def screen() -> str:
            return tmux("capture-pane", "-p", "-t", name)

        deadline = time.monotonic() + 120
        while "escapes" not in screen() and time.monotonic() < deadline:
            time.sleep(0.1)  # the status line names the loaded checkpoint
        tmux("send-keys", "-t", name, "F3")  # the vocabulary pane
        while "␛[2J" not in screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the rest of the frame: had ESC [2J been sent, it would be gone
        shown = screen()
        assert "␛[2J" in shown and "␛]0;pwned␇" in shown, shown
        assert "Vocabulary" in shown and "Predictor" in shown, shown  # the frame is whole
        assert tmux("display-message", "-p", "-t", name, "#{pane_title}").strip() == TITLE
    finally:
        tmux("kill-session", "-t", name)
