"""Phrases in a real terminal (tmux): ctrl+→ arrives as an escape sequence (ESC [ 1 ; 5 C),
and must take one word of the ghost text; Tab takes the whole phrase. Skipped without tmux.

The ghost text and the typed text look alike in a plain capture, so after each key a marker
letter is typed: it lands at the cursor, after what was taken, and the ghost text goes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_ctrl_right_takes_a_word_and_tab_the_phrase_in_tmux(tmp_path: Path) -> None:
    name = f"lstm-tui-phrase-{os.getpid()}"
    launch = "from lstm_tui.cli import main; raise SystemExit(main())"
    command = (
        f"cd {shlex.quote(str(ROOT))} && XDG_DATA_HOME={shlex.quote(str(tmp_path / 'data'))} "
        f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'config'))} "
        # Not what another run opened last (the app reopens it): the shipped model.
        f"XDG_STATE_HOME={shlex.quote(str(tmp_path / 'state'))} TERM=xterm-256color "
        f"{shlex.quote(sys.executable)} -c {shlex.quote(launch)} --device cpu"
    )
    tmux("kill-session", "-t", name)
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", f"sleep 0.3; {command}")

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", name)

    def wait(text: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in screen():
                return True
            time.sleep(0.1)
        return False

    def send(*keys: str) -> None:
        tmux("send-keys", "-t", name, *keys)

    def typed(text: str) -> None:
        tmux("send-keys", "-t", name, "-l", text)

    try:
        assert wait("✓ saved", 120), screen()  # the shipped model is loaded
        typed("long ago, the mi")
        # The phrase shows as ghost text (the threshold is fitted first, in a thread).
        assert wait("long ago, the mice had a general"), screen()
        send("C-Right")  # tmux sends ESC [ 1 ; 5 C
        typed("X")
        assert wait("long ago, the miceX", 10), screen()
        send("BSpace")
        assert wait("long ago, the mice had a general"), screen()  # the rest, offered again
        send("C-Right")
        typed("X")
        assert wait("long ago, the mice hadX", 10), screen()
        send("C-u")
        typed("but who is to ")
        assert wait("but who is to bell the cat?"), screen()
        send("Tab")
        typed("X")
        assert wait("but who is to bell the cat?X", 10), screen()
    finally:
        tmux("kill-session", "-t", name)
