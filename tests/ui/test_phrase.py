"""Phrases in the app (Pilot): the ghost text offers several words when the model is sure;
Tab takes them all, ctrl+→ one at a time. The public API answers what the row shows."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

import lstm_tui
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput

from .conftest import type_text, wait_for, wait_ready


def drive(scenario) -> None:
    async def main() -> None:
        async with LstmApp().run_test(size=(120, 40)) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def phrase_shown(pilot: Pilot, starts: str) -> str:
    """Until the ghost text offers a phrase of 3 words or more after the typed text."""
    pane = pilot.app.query_one(PredictorPane)
    prompt = pilot.app.query_one(PromptInput)

    def shown() -> bool:
        ghost = pane.ghost or ""
        rest = ghost[len(prompt.value) :]
        return ghost.startswith(prompt.value + starts) and len(rest.split()) >= 3

    await wait_for(pilot, shown, f"a phrase after {prompt.value!r}", timeout=60)
    assert prompt._suggestion == pane.ghost  # the input shows it as ghost text
    return pane.ghost or ""


def test_tab_takes_the_whole_phrase_and_ctrl_right_one_word() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        prompt = app.query_one(PromptInput)
        await type_text(pilot, "but who is to ")
        ghost = await phrase_shown(pilot, "bell")
        assert ghost == "but who is to bell the cat?"
        await pilot.press("tab")
        assert prompt.value == "but who is to bell the cat?"

        await pilot.press("ctrl+u")
        await type_text(pilot, "long ago, the mi")
        ghost = await phrase_shown(pilot, "ce had")
        await pilot.press("ctrl+right")
        assert prompt.value == "long ago, the mice"
        # The rest of the phrase stays offered at once, without waiting for the model.
        assert pane_ghost(app) == ghost
        await pilot.press("ctrl+right")
        assert prompt.value == "long ago, the mice had"
        await pilot.press("ctrl+right")
        assert prompt.value == "long ago, the mice had a"
        await pilot.press("tab")  # the phrase, or a longer one found for the words taken
        assert prompt.value.startswith(ghost)
        # With no ghost text, ctrl+→ is the input's own: a word to the right.
        await pilot.press("ctrl+u")
        await type_text(pilot, "zzz qqq")
        await pilot.press("home")
        await pilot.press("ctrl+right")
        assert prompt.value == "zzz qqq" and prompt.cursor_position in (3, 4)

    drive(scenario)


def pane_ghost(app: LstmApp) -> str | None:
    return app.query_one(PredictorPane).ghost


def test_the_api_suggests_what_the_row_shows() -> None:
    model = lstm_tui.load()

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        pane = app.query_one(PredictorPane)
        for text in ("the cat. ", "long ago, the mi", "The zebra and the Ca", "the "):
            await pilot.press("ctrl+u")
            await type_text(pilot, text)
            assert pane.suggestions is not None
            shown = [w.word for w in pane.suggestions.next_words]
            assert model.suggest(text).words == shown, text
        row = app.query_one("#suggestions").render().plain
        assert all(word in row for word in model.suggest("the ").words)

    drive(scenario)
