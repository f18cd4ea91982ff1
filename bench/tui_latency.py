"""Keystroke-to-screen latency of the predictor, idle and while training runs at full speed.

The real app runs in a child process on a pseudo-terminal (the same Linux driver a user's
terminal gets). This process types into it like a fast typist, one key every ``--interval``
seconds, and reads everything the app writes to the terminal. The child, an instrumented
``LstmApp``, logs each frame it sends: when, the input's value, and the input value its
suggestion row was computed for.

For keystroke *i* (typed at ``t_i``, making the input ``prefix_i``):

* echo: the first frame whose input shows ``prefix_i``;
* suggestions: the first frame whose suggestion row is for ``prefix_i`` or a later prefix
  (a newer keystroke may supersede an unstarted request: the screen then catches up at once);

and the latency is when that frame's bytes arrived on our side of the terminal, minus
``t_i``. Both processes read CLOCK_MONOTONIC.

    python bench/tui_latency.py                 # idle, then while training; prints p50/p99
    python bench/tui_latency.py --modes train --keys 200 --json
    taskset -c 0,1 python bench/tui_latency.py  # as on a 2-core machine

"model call" is the keystroke's own ``Predictor.suggest`` (not the background refreshes).
``BENCH_CHILD_SCRIPT=wrapper.py`` runs a wrapper as the child (for diagnostics: it gets
the log path as its first argument and should call ``child()``).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = (
    "the mice held a general council to consider what measures they could take to outwit "
    "their common enemy the cat some said this and some said that but at last a young mouse "
)
TARGET_P99_MS = 50.0


# -- the child: the app, instrumented -----------------------------------------------------------


def child(log_path: Path, train: bool, corpus: str | None, device: str) -> None:
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.ui.app import LstmApp
    from lstm_tui.ui.widgets.chart import LossChart
    from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput

    log = log_path.open("w", buffering=1)
    lock = threading.Lock()

    def emit(**record: object) -> None:
        with lock:
            log.write(json.dumps(record) + "\n")

    suggest = Predictor.suggest

    def timed_suggest(self: Predictor, text: str, k: int = 5):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        try:
            return suggest(self, text, k)
        finally:
            thread = threading.current_thread().name
            emit(
                kind="model",
                text=text,
                t=started,
                ms=(time.monotonic() - started) * 1000,
                background=thread.startswith("lstm-tui-refresh"),
            )

    Predictor.suggest = timed_suggest  # type: ignore[method-assign]

    from lstm_tui.ui.inference import PredictorPair

    refresh = PredictorPair.refresh

    def timed_refresh(self: PredictorPair, text: str) -> None:
        started = time.monotonic()
        try:
            refresh(self, text)
        finally:
            emit(kind="refresh", t=started, ms=(time.monotonic() - started) * 1000)

    PredictorPair.refresh = timed_refresh  # type: ignore[method-assign]

    show = PredictorPane.show_suggestions

    def timed_show(self: PredictorPane, text: str, suggestions) -> bool:  # type: ignore[no-untyped-def]
        before = self.query_one("#suggestions").render()
        shown = show(self, text, suggestions)
        if shown and self.query_one("#suggestions").render() == before:
            # The row already reads right: no frame is needed, the screen is up to date.
            emit(kind="unchanged", t=time.monotonic(), suggested=text)
        return shown

    PredictorPane.show_suggestions = timed_show  # type: ignore[method-assign]

    class Instrumented(LstmApp):
        _last: tuple[object, object] | None = None
        _started = False

        def _display(self, screen, renderable) -> None:  # type: ignore[no-untyped-def]
            super()._display(screen, renderable)
            if renderable is None or not self._started:
                return
            try:
                pane = self.query_one(PredictorPane)
                value = self.query_one(PromptInput).value
            except Exception:
                return
            state = (value, pane.suggestions_for)
            if state != self._last:
                self._last = state
                emit(kind="frame", t=time.monotonic(), value=value, suggested=pane.suggestions_for)

        def on_session_ready(self, message) -> None:  # type: ignore[no-untyped-def]
            # Textual also runs LstmApp.on_session_ready (handlers run along the MRO): start
            # once that has swapped the model in.
            if not self._started:
                self._started = True
                self.call_later(self._start)

        def _start(self) -> None:
            if train:
                # Asked epochs run in full: an open-ended run on the fable stops once it is
                # learned (issue 16.5, tens of steps), and typing is timed while training runs.
                from dataclasses import replace

                self.state.train_config = replace(self.state.train_config, epochs=1_000_000)
                self.action_train()
                self.set_interval(0.2, self._check_training)
            else:
                emit(kind="ready", t=time.monotonic())

        def _check_training(self) -> None:
            steps = len(self.query_one(LossChart).steps)
            if steps >= 2 and not getattr(self, "_announced", False):
                self._announced = True
                emit(kind="ready", t=time.monotonic(), steps=steps)

        def on_session_ready_steps(self) -> int:
            return len(self.query_one(LossChart).steps)

        async def action_quit(self) -> None:
            emit(kind="end", steps=self.on_session_ready_steps(), state=self.training_state)
            await super().action_quit()

    Instrumented(corpus=corpus, device=device).run()
    log.close()


# -- the parent: a typist on a terminal -----------------------------------------------------------


class Terminal:
    """A pseudo-terminal running the child, with every chunk of output timestamped."""

    def __init__(self, args: list[str], size: tuple[int, int], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.chunks: list[float] = []
        self.bytes = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.chunks.append(time.monotonic())
            self.bytes += len(data)

    def send(self, data: bytes) -> float:
        sent = time.monotonic()
        os.write(self.master, data)
        return sent

    def arrival(self, t: float) -> float | None:
        """When the first output chunk at or after ``t`` was read."""
        import bisect

        i = bisect.bisect_left(self.chunks, t)
        return self.chunks[i] if i < len(self.chunks) else None

    def close(self, timeout: float = 10.0) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None
        finally:
            os.close(self.master)


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_mode(mode: str, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="lstm-tui-latency-"))
    log_path = workdir / "frames.jsonl"
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_DATA_HOME": str(workdir / "xdg"),
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"),  # no settings, nothing reopened
        "XDG_STATE_HOME": str(workdir / "xdg-state"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    child_script = os.environ.get("BENCH_CHILD_SCRIPT")  # a wrapper, for diagnostics
    command = [sys.executable, child_script or __file__, *([] if child_script else ["--child"])]
    command.append(str(log_path))
    if mode == "train":
        command.append("--train")
    if args.corpus:
        command += ["--corpus", args.corpus]
    command += ["--device", args.device]
    term = Terminal(command, (args.cols, args.rows), env)
    deadline = time.monotonic() + args.startup_timeout
    while not any(r["kind"] == "ready" for r in read_log(log_path)):
        if time.monotonic() > deadline or term.process.poll() is not None:
            term.process.kill()
            raise SystemExit(f"{mode}: the app did not get ready (see {log_path})")
        time.sleep(0.05)
    time.sleep(args.settle)
    text = (TEXT * (args.keys // len(TEXT) + 1))[: args.keys]
    sent: list[tuple[float, str]] = []
    typed = ""
    for char in text:
        typed += char
        sent.append((term.send(char.encode()), typed))
        time.sleep(args.interval)
    time.sleep(1.0)
    term.send(b"\x11")  # ctrl+q
    time.sleep(1.0)
    if term.process.poll() is None:
        term.send(b"q")  # "quit without saving" when training left the weights unsaved
    quit_sent = time.monotonic()
    code = term.close()
    quit_seconds = time.monotonic() - quit_sent

    records = read_log(log_path)
    frames = [r for r in records if r["kind"] == "frame"]
    unchanged = [r for r in records if r["kind"] == "unchanged"]
    typed_texts = {prefix for _, prefix in sent}
    model_ms = [  # the keystrokes' own calls (not the background refreshes')
        r["ms"]
        for r in records
        if r["kind"] == "model"
        and r["text"] in typed_texts
        and not r.get("background")
        and r["t"] >= sent[0][0]
    ]
    end = next((r for r in records if r["kind"] == "end"), {})
    order = {prefix: i for i, (_, prefix) in enumerate(sent)}
    echo_ms: list[float] = []
    suggest_ms: list[float] = []
    missing = 0
    for i, (t_sent, _prefix) in enumerate(sent):
        later = [f for f in frames if f["t"] >= t_sent]
        echo = next((f for f in later if order.get(f["value"], -1) >= i), None)
        shown = next((f for f in later if order.get(f["suggested"], -1) >= i), None)
        same = next(
            (u for u in unchanged if u["t"] >= t_sent and order.get(u["suggested"], -1) >= i),
            None,
        )
        if echo is None or (shown is None and same is None):
            missing += 1
            continue
        echo_ms.append(((term.arrival(echo["t"]) or echo["t"]) - t_sent) * 1000)
        times = [(term.arrival(shown["t"]) or shown["t"])] if shown else []
        if same is not None:
            times.append(max(same["t"], term.arrival(echo["t"]) or echo["t"]))
        suggest_ms.append((min(times) - t_sent) * 1000)
    return {
        "mode": mode,
        "keys": len(sent),
        "measured": len(suggest_ms),
        "missing": missing,
        "interval_ms": args.interval * 1000,
        "echo": summary(echo_ms),
        "suggestions": summary(suggest_ms),
        "model_call": summary(model_ms),
        "training_steps_seen": end.get("steps"),
        "quit_seconds": round(quit_seconds, 2),
        "exit_code": code,
    }


def summary(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(pct(90), 1),
        "p99_ms": round(pct(99), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="idle,train", help="idle, train or both (idle,train)")
    parser.add_argument("--keys", type=int, default=150, help="keystrokes per mode (150)")
    parser.add_argument("--interval", type=float, default=0.08, help="seconds between keys")
    parser.add_argument("--corpus", help="train on this text (default: the bundled fable)")
    parser.add_argument("--device", default="cpu", help="the app's --device (cpu)")
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before typing")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true", help="one JSON object per mode")
    parser.add_argument("--child", metavar="LOG", help=argparse.SUPPRESS)
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.train, args.corpus, args.device)
        return 0
    results = [run_mode(mode.strip(), args) for mode in args.modes.split(",") if mode.strip()]
    worst = 0.0
    for result in results:
        if args.json:
            print(json.dumps(result))
            continue
        echo, shown = result["echo"], result["suggestions"]
        print(
            f"{result['mode']:>5}: {result['measured']}/{result['keys']} keys, one per "
            f"{result['interval_ms']:.0f} ms"
            + (
                f", {result['training_steps_seen']} training steps meanwhile"
                if result["mode"] == "train"
                else ""
            )
        )
        for name, s in (
            ("echo", echo),
            ("suggestions", shown),
            ("model call", result["model_call"]),
        ):
            if s:
                print(
                    f"       {name:<12} p50 {s['p50_ms']:6.1f} ms   p90 {s['p90_ms']:6.1f} ms   "
                    f"p99 {s['p99_ms']:6.1f} ms   max {s['max_ms']:6.1f} ms"
                )
        print(f"       quit took {result['quit_seconds']:.2f} s (exit code {result['exit_code']})")
        if shown:
            worst = max(worst, shown["p99_ms"])
    if not args.json:
        verdict = "meets" if worst < TARGET_P99_MS else "MISSES"
        print(f"suggestions p99 {worst:.1f} ms: {verdict} the {TARGET_P99_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
