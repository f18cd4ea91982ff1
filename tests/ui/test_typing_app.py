"""Issue 17: a word the user sends once is offered the next time they start typing it."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.widgets.predictor import PredictorPane

from .conftest import static_text, type_text, wait_for, wait_ready


def test_a_word_sent_once_is_offered_next_time() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        pane = app.query_one(PredictorPane)
        await type_text(pilot, "a zor")
        assert pane.ghost is None  # the fable never says it: nothing to offer yet
        await pilot.press("ctrl+u")
        await type_text(pilot, "the mice met Zorblax")
        await pilot.press("enter")
        transcript = app.query_one("#transcript")
        await wait_for(pilot, lambda: not transcript.query(".pending"), "the model's answer")
        await type_text(pilot, "a Zor")
        await wait_for(pilot, lambda: pane.ghost == "a Zorblax", "the word sent, offered")
        assert "zorblax" in static_text(app, "#suggestions").split()

    async def main() -> None:
        async with LstmApp().run_test(size=(120, 40), notifications=True) as pilot:
            await scenario(pilot)

    asyncio.run(main())
