"""Notifications that show file-borne text as text.

Every toast the app raises, from any screen or widget, goes through ``App.notify``. Its
messages carry names, words and paths from files that may come from anywhere (a corpus name
recorded in a checkpoint, a word of its vocabulary): control characters are made visible
(``core.safe_text.visible``) and no Textual markup is read from them.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from lstm_tui.core.text.safe_text import visible


class SafeNotifyApp(App[None]):
    """An ``App`` whose notifications are shown, never obeyed."""

    def notify(self, message: str, *, title: str = "", **options: Any) -> None:
        options["markup"] = False
        super().notify(visible(message, keep_newlines=True), title=visible(title), **options)
