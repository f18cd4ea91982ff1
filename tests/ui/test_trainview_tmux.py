"""The runs view in a real terminal (tmux, 120×40): F10 opens it, space picks a second run,
and both runs' curves are drawn on one chart. Skipped without tmux."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstm_tui.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--preset", "seed-1layer", "--embed", "32", "--quiet", "--threads", "1", "--no-log"]


def braille(screen: str) -> int:
    """How many chart dots (braille cells) the screen shows."""
    return sum(1 for ch in screen if 0x2800 < ord(ch) <= 0x28FF)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_two_runs_overlaid_in_a_real_terminal(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    folder = xdg / "lstm-tui" / "checkpoints"
    for name, hidden in (("run-small", "24"), ("run-wide", "64")):
        out = folder / f"{name}.safetensors"
        code = cli_main(["train", *SMALL, "--hidden", hidden, "--epochs", "60", "--out", str(out)])
        assert code == 0

    name = f"lstm-tui-runs-{os.getpid()}"
    launch = "from lstm_tui.cli import main; raise SystemExit(main())"
    command = (
        f"cd {shlex.quote(str(ROOT))} && XDG_DATA_HOME={shlex.quote(str(xdg))} "
        f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'cfg'))} "
        f"XDG_STATE_HOME={shlex.quote(str(tmp_path / 'state'))} "
        f"TERM=xterm-256color {shlex.quote(sys.executable)} -c {shlex.quote(launch)} "
        f"--checkpoint run-small --device cpu"
    )
    tmux("kill-session", "-t", name)
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", name)

    def wait(what: str, ok) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shown = screen()
            if ok(shown):
                return shown
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{screen()}")

    try:
        wait("the model", lambda s: "saved (run-small)" in s)  # the header names it
        tmux("send-keys", "-t", name, "F10")
        shown = wait(
            "the runs view and its chart",
            lambda s: "Runs: saved checkpoints" in s and braille(s) > 50 and "esc Close" in s,
        )
        rows = [line for line in shown.splitlines() if "  1×" in line and "lstm-tui" not in line]
        assert len(rows) == 2, shown  # the two checkpoints, with their figures
        assert all("60" in row and "%" in row for row in rows), rows
        # The model loaded is picked already: its line is drawn, and named in the legend.
        assert "━ run-small" in shown and "━ run-wide" not in shown
        wide_row = next(i for i, row in enumerate(rows) if "run-wide" in row)
        tmux("send-keys", "-t", name, *(["Down"] * wide_row), "Space")
        before = braille(shown)
        shown = wait(
            "both runs",
            lambda s: "━ run-small" in s and "━ run-wide" in s and braille(s) > before + 50,
        )
        legend = next(line for line in shown.splitlines() if "train loss" in line)
        assert legend.index("run-small") < legend.index("run-wide"), legend
        assert "esc Close" in shown and "space Pick" in shown  # the view's own keys
        tmux("send-keys", "-t", name, "Escape")
        wait("the main screen", lambda s: "Runs: saved checkpoints" not in s)
    finally:
        tmux("kill-session", "-t", name)
