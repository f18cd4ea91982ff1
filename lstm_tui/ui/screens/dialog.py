"""The base of every dialog: its own footer, so that the keys shown are the dialog's.

A modal screen stops the binding chain (the main screen's F5…F9 do nothing behind it), but
the main screen's footer still showed them under the dialog. Each dialog now mounts a
``Footer`` of its own over it, listing the keys that work while it is open.
"""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen
from textual.widgets import Footer

ResultType = TypeVar("ResultType")


class DialogScreen(ModalScreen[ResultType]):
    def on_mount(self) -> None:
        # (Textual calls each class's on_mount in turn: the dialog's own runs as well.)
        if not self.query(Footer):
            self.mount(Footer())
