"""A yes/no (or save/quit/cancel) question, answered by a button or its key."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from lstm_tui.core.text.safe_text import visible
from lstm_tui.ui.screens.dialog import DialogScreen
from lstm_tui.ui.widgets.key_button import key_button


@dataclass(frozen=True)
class Choice:
    key: str  # what dismiss() returns, and the key that picks it
    label: str
    variant: str = "default"  # a Button variant: default, primary, success, warning, error


class ConfirmScreen(DialogScreen[str | None]):
    """Returns the chosen ``Choice.key``, or None for Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str, choices: list[Choice]) -> None:
        super().__init__()
        self.title_text = visible(title)  # file names in either: shown, never obeyed
        self.message = visible(message, keep_newlines=True)
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.message, classes="dialog-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                for choice in self.choices:
                    yield key_button(
                        choice.label,
                        choice.key,
                        variant=choice.variant,
                        id=f"choice-{choice.key}",
                    )
                yield key_button("Cancel", "esc", id="choice-cancel")

    def on_mount(self) -> None:
        # The safe choice has the focus: one Enter must never throw work away.
        safe = next((c for c in self.choices if c.variant != "error"), None)
        self.query_one(f"#choice-{safe.key}" if safe else "#choice-cancel", Button).focus()

    def on_key(self, event: events.Key) -> None:
        for choice in self.choices:
            if event.key == choice.key:
                event.stop()
                self.dismiss(choice.key)
                return

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        key = (event.button.id or "").removeprefix("choice-")
        self.dismiss(None if key == "cancel" else key)

    def action_cancel(self) -> None:
        self.dismiss(None)
