"""Learning as you type in the app: a sent line teaches the model, through the real app."""

from __future__ import annotations

import asyncio

from textual.command import CommandPalette
from textual.pilot import Pilot

from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.store import settings as store
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput
from lstm_tui.ui.widgets.status_bar import StatusBar

from .conftest import toasts, type_text, wait_for, wait_ready


def _status(app: LstmApp) -> str:
    return app.query_one(StatusBar).render().plain


def _word_not_offered(app: LstmApp) -> str:
    """A word of the model's vocabulary it does not offer after "the" and its first letter
    (asked of a predictor of our own: the app's answers keystrokes in its own thread)."""
    assert app.session is not None
    predictor = Predictor(app.session)
    for word in app.session.vocab.words[1:]:
        offered = [w.word for w in predictor.suggest(f"the {word[0]}").next_words]
        if word.isalpha() and word not in offered:
            return word
    raise AssertionError("the model offers every word after its first letter")


def _offered(app: LstmApp) -> list[str]:
    pane = app.query_one(PredictorPane)
    return [w.word for w in pane.suggestions.next_words] if pane.suggestions else []


async def _palette(pilot: Pilot, query: str) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the palette")
    for char in query:
        await pilot.press("space" if char == " " else char)
    await pilot.pause(0.5)
    await pilot.press("enter")


def test_a_word_sent_once_is_offered_after_its_first_letter_and_the_switch_works() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        assert "learns as you type" in _status(app)  # on by default, and said so
        word = _word_not_offered(app)
        await type_text(pilot, f"we saw the {word} .")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "learnt from 5 words you typed" in _status(app), "learning")
        prompt = app.query_one(PromptInput)
        await pilot.press("ctrl+u")
        await type_text(pilot, f"the {word[0]}")
        await wait_for(pilot, lambda: word in _offered(app), f"{word!r} offered after 'the'")
        # Off, from the palette: the trained model's answers again, the switch remembered.
        await _palette(pilot, "learning as you type")
        await wait_for(pilot, lambda: "learning off" in _status(app), "learning off")
        assert not store.read_settings()[0].learn
        prompt.value = ""
        await type_text(pilot, f"the {word[0]}")
        await wait_for(pilot, lambda: word not in _offered(app), f"{word!r} no longer offered")
        await _palette(pilot, "learning as you type")
        await wait_for(pilot, lambda: "learnt from 5 words" in _status(app), "learning on")
        assert store.read_settings()[0].learn
        # Forget, from the palette: nothing learnt is left.
        await _palette(pilot, "forget what it learnt")
        await wait_for(pilot, lambda: any("Forgot" in t for t in toasts(app)), "forgotten")
        assert "learns as you type" in _status(app)
        prompt.value = ""
        await type_text(pilot, f"the {word[0]}")
        await wait_for(pilot, lambda: word not in _offered(app), f"{word!r} forgotten")

    async def main() -> None:
        async with LstmApp().run_test(size=(160, 40), notifications=True) as pilot:
            await scenario(pilot)

    asyncio.run(main())
