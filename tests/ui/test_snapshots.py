"""Snapshot tests of the main screen and the dialogs (pytest-textual-snapshot).

Made deterministic: the shipped model (CPU inference is repeatable), greedy continuations,
no cursor blink, notifications cleared before the shot. Update the snapshots after a
deliberate change with ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.widgets.chart import LossChart
from lstm_tui.ui.widgets.predictor import PredictorPane

from .conftest import type_text, wait_for, wait_ready


async def settle(pilot: Pilot) -> None:
    """Ready, still: model loaded, word details shown, no blinking cursor, no toasts."""
    app = await wait_ready(pilot)
    for widget in app.query(Input):
        widget.cursor_blink = False
    await wait_for(pilot, lambda: app.query_one("#vocab-details").render().plain, "word details")
    chart = app.query_one(LossChart)
    if chart.display and chart.size.width:  # (hidden on a small terminal)
        await wait_for(pilot, lambda: chart.builds > 0 and not chart.dirty, "the chart")
    app.clear_notifications()  # before any dialog opens over them
    await pilot.pause(0.2)


async def finish(pilot: Pilot) -> None:
    app = pilot.app
    app.clear_notifications()
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause(0.3)


async def conversation(pilot: Pilot) -> None:
    """One line sent and answered, then a word being typed: ghost text and suggestions."""
    await settle(pilot)
    app = pilot.app
    pane = app.query_one(PredictorPane)
    await type_text(pilot, "the mice")
    await pilot.press("ctrl+r", "ctrl+r", "ctrl+r")  # T=0.8 (the default), 1, 1.3, greedy:
    assert pane.temperature == 0.0  # the same answer every run
    await pilot.press("enter")
    transcript = app.query_one("#transcript")
    await wait_for(pilot, lambda: not transcript.query(".pending"), "the answer")
    await type_text(pilot, "The cat had a bell round its ne")
    typed = app.query_one("#prompt", Input).value
    await wait_for(pilot, lambda: pane.phrase_for == typed, "the phrase (or none)", timeout=60)
    assert pane.ghost is not None
    await finish(pilot)


def test_main_screen(snap_compare) -> None:
    assert snap_compare(LstmApp(), terminal_size=(120, 40), run_before=conversation)


def test_main_screen_small_terminal(snap_compare) -> None:
    assert snap_compare(LstmApp(), terminal_size=(80, 24), run_before=conversation)


def test_hyperparameters_form_with_an_error(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.screen.query("#field-lr"), "the form")
        app.screen.query_one("#field-lr", Input).value = "fast"
        await pilot.press("ctrl+s")
        await finish(pilot)

    assert snap_compare(LstmApp(), terminal_size=(120, 40), run_before=run_before)


def test_help_screen(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: pilot.app.screen.query("#help-body"), "the help")
        await finish(pilot)

    assert snap_compare(LstmApp(), terminal_size=(120, 40), run_before=run_before)
