"""Phrases in the app (Pilot): the ghost text offers several words when the model is sure;
Tab takes them all, ctrl+→ one at a time. The public API answers what the row shows."""

from __future__ import annotations

import asyncio
import time

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


class Inbox:
    """Stands in for the widget that asked: keeps each message with when it came."""

    def __init__(self) -> None:
        self.got: list[tuple[float, object]] = []

    def post_message(self, message: object) -> bool:
        self.got.append((time.monotonic(), message))
        return True

    def first(self, kind: type, text: str) -> float | None:
        return next((t for t, m in self.got if isinstance(m, kind) and m.text == text), None)


def test_a_keystroke_never_waits_for_the_phrase_search(default_session, monkeypatch) -> None:
    from lstm_tui.core.serving import predict
    from lstm_tui.ui.inference import InferenceService, LiveView
    from lstm_tui.ui.messages import PhraseReady, SuggestionsReady

    real = predict.beam_search

    def slow(first, ids, state, step, *rest):  # every step of the search takes 0.3 s
        def slow_step(token, before):
            time.sleep(0.3)
            return step(token, before)

        return real(first, ids, state, slow_step, *rest)

    view = LiveView(default_session)
    predictor = predict.Predictor(view)
    predictor.phrase_fit()  # fitted first: the search is what is timed here
    monkeypatch.setattr(predict, "beam_search", slow)
    inbox, service = Inbox(), InferenceService()
    service.use(default_session, predictor, view, inbox)  # type: ignore[arg-type]
    try:
        sure, next_key = "long ago, the mi", "long ago, the mic"
        service.suggest(sure, inbox)  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        while inbox.first(SuggestionsReady, sure) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # the phrase search for "mi" is under way (4+ steps: 1.2 s or more)
        asked = time.monotonic()
        service.suggest(next_key, inbox)  # type: ignore[arg-type]
        while inbox.first(PhraseReady, next_key) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        row = inbox.first(SuggestionsReady, next_key)
        assert row is not None and row - asked < 0.8  # at most one step of the old search
        assert inbox.first(PhraseReady, sure) is None  # cut short: stale, never shown
        found = next(m for _, m in inbox.got if isinstance(m, PhraseReady))
        assert found.phrase is not None and found.phrase.words[:3] == ["mice", "had", "a"]
    finally:
        service.close()
