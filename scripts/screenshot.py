"""Save an SVG screenshot of the app's main screen (docs/screenshot.svg, used in the README).

The scene: the fable model reset to random weights and trained for a few dozen steps, so
the chart shows it learning; one line sent and answered, and a word being typed (ghost
completion and suggestions showing).

    python scripts/screenshot.py [--out docs/screenshot.svg] [--size 120x40] [--steps 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def wait_for(pilot, predicate: Callable[[], object], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshot: timed out waiting for {what}")
        await pilot.pause(0.05)


async def shoot(out: Path, size: tuple[int, int], steps: int) -> None:
    from textual.widgets import Input

    from lstm_tui.ui.app import LstmApp
    from lstm_tui.ui.widgets.chart import LossChart
    from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput

    app = LstmApp()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.session is not None and not app.busy, "the model")
        prompt = app.query_one(PromptInput)
        pane = app.query_one(PredictorPane)
        if steps:
            chart = app.query_one(LossChart)
            await pilot.press("f8")  # the loaded model is saved: no question asked
            await wait_for(pilot, lambda: app.session.progress.steps == 0 and not app.busy, "reset")
            await pilot.press("f5")
            # The fable's run stops by itself once it is learnt (often before 60 steps).
            await wait_for(
                pilot,
                lambda: len(chart.steps) >= steps or app.training_state == "idle",
                f"{steps} steps",
            )
            if app.training_state != "idle":
                await pilot.press("f7")
            await wait_for(pilot, lambda: app.training_state == "idle", "training to stop")

        async def type_text(text: str) -> None:
            prompt.focus()
            for char in text:
                await pilot.press("space" if char == " " else char)
            await wait_for(pilot, lambda: pane.suggestions_for == prompt.value, "suggestions")

        await type_text("the mice")
        await pilot.press("enter")
        transcript = app.query_one("#transcript")
        await wait_for(pilot, lambda: not transcript.query(".pending"), "the answer")
        await type_text("The cat had a bell round its ne")
        chart = app.query_one(LossChart)
        builds = chart.builds
        chart.redraw()
        await wait_for(pilot, lambda: chart.builds > builds, "the chart")
        app.clear_notifications()
        for widget in app.query(Input):
            widget.cursor_blink = False
        await pilot.pause(0.6)
        svg = app.export_screenshot(title="lstm-tui")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(svg, encoding="utf-8")
    print(f"saved {out} ({len(svg):,} bytes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.svg")
    parser.add_argument("--size", default="120x40", help="columns x rows (120x40)")
    parser.add_argument("--steps", type=int, default=60, help="training steps from scratch (60)")
    args = parser.parse_args()
    width, _, height = args.size.partition("x")
    # Never touch the user's real data folder.
    scratch = tempfile.mkdtemp(prefix="lstm-tui-shot-")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        os.environ[name] = f"{scratch}/{name.lower()}"
    sys.path.insert(0, str(ROOT))
    asyncio.run(shoot(args.out, (int(width), int(height)), args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
