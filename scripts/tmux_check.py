"""Run the real app in a real terminal (tmux), type into the predictor, read the screen.

Checks, in a 120×40 tmux window with a private user data folder:

1. the app paints quickly, saying it is loading, and the shipped model then loads;
2. typing "the mice " shows the model's top next words (computed here with the core, the
   same checkpoint) as the numbered suggestion row, and the top one as ghost text;
3. Tab accepts the ghost text; Enter sends the line and the continuation appears;
4. every key of the README's table, as tmux delivers it: alt+1 … alt+5 (tmux sends ESC and
   the digit), ↓ then Tab, → , ctrl+r / ctrl+↑ / ctrl+↓ / ctrl+l, F1, F3 with / s r, F2, F4,
   F9, ctrl+s, ctrl+o, ctrl+n, ctrl+g, ctrl+p, F5, F6 (twice), F7, F8;
5. F5 starts training (the status line says so); ctrl+q asks (the weights are unsaved), q
   quits; the process is gone within a second and printed no traceback.

Exit status 0 when every check passes, 1 otherwise (the screen is printed to help).

    python scripts/tmux_check.py [--keep] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSION = f"lstm-tui-check-{os.getpid()}"
TYPED = "the mice "


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True)
    if done.returncode != 0 and args[0] not in ("has-session", "kill-session"):
        raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def right_half() -> str:
    """The predictor's column of the screen (the right half at 120 columns), as one text."""
    return " ".join(line[60:] for line in screen().splitlines())


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> float | None:
    """Seconds it took for ``predicate`` to hold, or None on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None


class Check:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, ok: object, what: str, detail: str = "") -> bool:
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} {what}" + (f" ({detail})" if detail else ""))
        if not ok:
            self.failures.append(what)
        return bool(ok)


def keys(*names: str) -> None:
    tmux("send-keys", "-t", SESSION, *names)


def typed(text: str) -> None:
    tmux("send-keys", "-t", SESSION, "-l", text)


def pause() -> None:
    """After a key that moves the focus, before typing on: a person's pace. (Keys sent in
    one burst are read before the focus has moved, on a loaded machine in particular.)"""
    time.sleep(1.0)


def shows(text: str, timeout: float = 10) -> bool:
    return wait_until(lambda: text in screen(), timeout) is not None


def gone(text: str, timeout: float = 10) -> bool:
    return wait_until(lambda: text not in screen(), timeout) is not None


def prompt_line() -> str:
    """The predictor's input line (the one after the ▔ of its tall border)."""
    lines = [line[60:] for line in screen().splitlines()]
    for above, line in itertools.pairwise(lines):
        if "▔" in above and "▊" in line:
            return line.strip(" ▊▎│")
    return ""


def row_words() -> list[str]:
    """The suggestion row as the screen shows it now: its five words, in order (the row may
    wrap onto its second line, inside an item too)."""
    gap = r"[\s│]+"
    row = re.compile(gap.join(rf"{n}{gap}(\S+){gap}[<>]?[\d.]+%" for n in range(1, 6)))
    found = row.search(right_half())
    return list(found.groups()) if found else []


def check_every_key(check: Check, words: list[str]) -> None:
    """The README's keys, one by one, each with what it must show."""
    sys.path.insert(0, str(ROOT))
    from lstm_tui.ui.widgets.predictor import insert_word

    def clear_prompt() -> None:
        keys("C-u")
        wait_until(lambda: prompt_line().startswith("type here") or not prompt_line(), 5)

    for n in range(1, 6):  # tmux sends alt+N as ESC and N
        clear_prompt()
        typed(TYPED)
        # The row is for this text. It is read again each time: the model learns from each
        # line sent (learning as you type is on by default), so it is not the first row.
        wait_until(lambda: len(row_words()) == 5 and prompt_line().startswith(TYPED), 10)
        pause()
        words = row_words() or words
        keys(f"M-{n}")
        want = insert_word(TYPED, "", words[n - 1]).rstrip()
        ok = wait_until(lambda w=want: prompt_line().startswith(w), 5)
        check(ok is not None, f"alt+{n} inserts suggestion {n}", repr(want))
    clear_prompt()
    typed(TYPED)
    wait_until(lambda: len(row_words()) == 5 and prompt_line().startswith(TYPED), 10)
    pause()
    words = row_words() or words
    keys("Down", "Down", "Tab")
    want = insert_word(TYPED, "", words[1]).rstrip()
    ok = wait_until(lambda: prompt_line().startswith(want), 5)
    check(ok is not None, "↓ ↓ Tab inserts suggestion 2", repr(want))
    clear_prompt()
    typed("the mice had a gen")
    shows("the mice had a general")  # the ghost is up: → has something to accept (a person
    keys("Right")  # sees it first; keys sent at once race the suggestions on a loaded machine)
    check(shows("the mice had a general"), "→ accepts the completion")
    keys("C-r")
    check(shows("sampled, T=1"), "ctrl+r cycles the continuation mode (from T=0.8)")
    keys("C-Up")
    check(shows("⏎ 32 words"), "ctrl+↑: more words")
    keys("C-Down")
    check(shows("⏎ 24 words"), "ctrl+↓: fewer words")
    keys("C-l")
    check(gone("model · 24 words"), "ctrl+l clears the transcript")
    keys("F1")
    check(shows("Everywhere") and shows("Command palette"), "F1 shows every key")
    keys("Escape")
    check(shows("F5 Train"), "Escape closes the help")
    pause()  # a key sent at once after an Escape reads as alt+that key
    # → took the ghost, a whole phrase when the model is sure: start the line again.
    clear_prompt()
    typed("the mice had a general")
    wait_until(lambda: prompt_line().startswith("the mice had a general"), 5)
    keys("F3")
    pause()
    keys("s")
    check(shows("by word ↑"), "F3, then s sorts the vocabulary by word")
    keys("r")
    check(shows("by word ↓"), "r reverses the order")
    keys("/")
    pause()
    typed("mic")
    check(shows("1 words ·") or shows("2 words ·"), "/ filters the words")
    keys("F2")
    pause()
    typed("x")
    keys("F4")
    pause()
    typed("zz")
    check(
        wait_until(lambda: prompt_line().startswith("the mice had a generalzz"), 5) is not None,
        "F2 leaves the input; F4 comes back to it, keeping the line",
    )
    keys("C-u")
    for key, title, what in (
        ("F9", "Hyperparameters", "F9 opens the hyperparameters"),
        ("C-s", "Save checkpoint", "ctrl+s opens the save dialog"),
        ("C-o", "Load checkpoint", "ctrl+o opens the load dialog"),
        ("C-n", "Open corpus", "ctrl+n opens the open-corpus dialog"),
        ("C-p", "Search for commands", "ctrl+p opens the command palette"),
    ):
        keys(key)
        check(shows(title), what)
        pause()  # a person reads the dialog before closing it: it is laid out and focused
        keys("Escape")
        # Back on the main screen: its footer again. (Not "the title is gone": a title that has
        # scrolled out of view is gone too, and the next key sent at once after an Escape reads
        # as alt+that key.)
        check(shows("F5 Train"), f"Escape closes it ({title})")
        pause()
    keys("C-g")
    check(shows("No training history yet"), "ctrl+g exports the history (none yet: says so)")
    keys("F5")
    check(shows("▶ training", 60), "F5 starts training")
    keys("F6")
    check(shows("⏸ paused"), "F6 pauses")
    keys("F6")
    check(shows("▶ training"), "F6 again resumes")
    wait_until(lambda: "tok/s" in screen(), 60)  # a step taken: F8 has training to throw away
    keys("F7")
    check(shows("● idle", 30), "F7 stops")
    keys("F8")
    check(shows("Reset the weights?"), "F8 asks before throwing training away")
    keys("y")
    check(shows("Fresh random weights"), "y resets the weights")


def expected_answers(device: str) -> tuple[list[str], str]:
    """What the shipped model says after "the mice ": its top 5 words, and a continuation."""
    sys.path.insert(0, str(ROOT))
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.store import checkpoint, paths

    predictor = Predictor(checkpoint.load(paths.default_checkpoint(), device=device))
    words = [w.word for w in predictor.suggest(TYPED, k=5).next_words]
    return words, predictor.continue_text("the mice had", 24).text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the tmux session running")
    parser.add_argument("--device", default="cpu", help="the app's --device (cpu)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for loading")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux_check: tmux is not installed (apt-get install tmux)", file=sys.stderr)
        return 1

    data = tempfile.mkdtemp(prefix="lstm-tui-tmux-")
    launch = "from lstm_tui.cli import main; raise SystemExit(main())"
    status_file = Path(data) / "exit-status"  # written the moment the app's process ends
    command = (
        f"cd {shlex.quote(str(ROOT))} && XDG_DATA_HOME={shlex.quote(data)} "
        f"XDG_CONFIG_HOME={shlex.quote(data)}/config XDG_STATE_HOME={shlex.quote(data)}/state "
        "TERM=xterm-256color "
        f"{shlex.quote(sys.executable)} -c {shlex.quote(launch)} "
        f"--device {shlex.quote(args.device)}; echo $? > {shlex.quote(str(status_file))}"
    )
    check = Check()
    tmux("kill-session", "-t", SESSION)
    started = time.monotonic()
    # remain-on-exit keeps the pane (its last screen, its exit status) once the app ends.
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", "sleep 0.3; " + command)
    tmux("set-option", "-w", "-t", SESSION, "remain-on-exit", "on")
    try:
        painted = wait_until(lambda: "lstm-tui" in screen(), 30)
        check(painted is not None, "the app paints", f"{painted:.2f} s" if painted else "")
        check(
            "loading model" in screen() or "Loaded" in screen(),
            "the first screen says the model is loading (or it already loaded)",
        )
        words, continuation = expected_answers(args.device)
        loaded = wait_until(lambda: "✓ saved" in screen(), args.timeout)
        total = time.monotonic() - started
        check(loaded is not None, "the shipped model loads", f"{total:.1f} s after launch")

        tmux("send-keys", "-t", SESSION, "-l", TYPED)
        # The row may wrap onto its second line, inside an item too: spaces and pane borders.
        gap = r"[\s│]+"
        row = re.compile(
            gap.join(rf"{n}{gap}{re.escape(w)}{gap}[<>]?[\d.]+%" for n, w in enumerate(words, 1))
        )
        found = wait_until(lambda: row.search(right_half()), 10)
        check(
            found is not None,
            "the suggestion row shows the model's top 5 words, numbered",
            " ".join(words) + (f", {found * 1000:.0f} ms after typing" if found else ""),
        )
        ghost = f"{TYPED}{words[0]}"
        shown = wait_until(lambda: ghost in screen(), 5)
        check(shown is not None, "the input shows the top word as ghost text", repr(ghost))

        tmux("send-keys", "-t", SESSION, "Tab")
        accepted = wait_until(lambda: f"the mice {words[0]}" in screen(), 5)
        check(accepted is not None, "Tab accepts the ghost text")
        tmux("send-keys", "-t", SESSION, "Enter")
        first = " ".join(continuation.split()[:4])
        answered = wait_until(lambda: first in screen(), 15)
        check(answered is not None, "Enter: the continuation appears in the transcript", first)
        # The model learns from the line sent, in a thread of its own (learning as you type is
        # on by default); the status bar says so once it has.
        learnt = wait_until(lambda: "learnt from" in screen(), 30)
        check(learnt is not None, "the sent line is learnt (the status bar says so)")

        check_every_key(check, words)
        tmux("send-keys", "-t", SESSION, "F5")
        training = wait_until(lambda: "▶ training" in screen(), 60)
        check(training is not None, "F5 starts training")
        wait_until(lambda: "tok/s" in screen(), 60)  # a step taken: unsaved training
        tmux("send-keys", "-t", SESSION, "C-q")
        asked = wait_until(lambda: "Quit?" in screen(), 10)
        check(asked is not None, "ctrl+q with unsaved weights asks first")
        tmux("send-keys", "-t", SESSION, "q")
        gone = wait_until(status_file.exists, 10, step=0.005)
        check(
            gone is not None and gone < 1.0,
            "quitting while training ends the process within a second",
            f"{gone:.2f} s" if gone is not None else "still running after 10 s",
        )
        final = screen()
        check("Traceback" not in final and "Error" not in final, "no traceback on exit")
        wait_until(lambda: status_file.read_text().strip() if status_file.exists() else "", 2)
        status = status_file.read_text().strip() if status_file.exists() else "none"
        check(status == "0", "exit status 0", status)
    except Exception as e:  # a broken check is a failure, not a crash
        check(False, f"the check itself failed: {type(e).__name__}: {e}")
    finally:
        if check.failures:
            with contextlib.suppress(RuntimeError):
                print("---- screen ----\n" + screen())
        if not args.keep:
            tmux("kill-session", "-t", SESSION)
        shutil.rmtree(data, ignore_errors=True)
    print(f"{'PASS' if not check.failures else 'FAIL'}: {len(check.failures)} check(s) failed")
    return 1 if check.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
