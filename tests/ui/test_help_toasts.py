"""Toasts never draw over the help box (issue 19): they show again once it closes."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets._toast import Toast

from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.help import HelpScreen

from .conftest import wait_for, wait_ready
from .test_app import drive


def _toast_drawn_over(screen) -> bool:
    """Whether any cell of the screen shows a toast (the compositor's answer, not styles)."""
    width, height = screen.size
    for y in range(height):
        for x in range(width):
            try:
                widget, _ = screen.get_widget_at(x, y)
            except Exception:
                continue
            if isinstance(widget, Toast) or any(isinstance(a, Toast) for a in widget.ancestors):
                return True
    return False


def test_a_toast_waits_while_help_is_open() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        app.notify("a toast that came while help was open", timeout=30)
        await pilot.pause(0.3)
        assert app.screen.query(Toast), "the toast is there"
        assert not _toast_drawn_over(app.screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")
        await pilot.pause(0.3)
        assert _toast_drawn_over(app.screen)  # not lost: shown once help is closed

    drive(LstmApp(), scenario)
