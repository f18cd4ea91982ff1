"""The real app in a real terminal: scripts/tmux_check.py, skipped where tmux is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tmux_check.py"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.timeout(540)  # the script's own limit (480 s) ends it first, with what failed
def test_real_terminal_shows_suggestions_and_quits_promptly() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
