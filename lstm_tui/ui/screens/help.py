"""Every key, read from the bindings themselves so the list cannot go stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from lstm_tui.ui.screens.dialog import DialogScreen

# Keys that belong to Textual's own widgets, worth knowing here.
EDITING_KEYS = [
    ("← → home end", "move in a text box (ctrl+a / ctrl+e: start / end)"),
    ("ctrl+w ctrl+u ctrl+k", "delete a word left / to the start / to the end"),
    ("ctrl+x ctrl+c ctrl+v", "cut / copy / paste"),
    ("tab shift+tab", "next / previous control (in the predictor, Tab accepts the ghost text)"),
    ("↑ ↓ pgup pgdn", "move in a table; click a column header to sort by it"),
    ("esc", "close a dialog without doing anything"),
]


def binding_rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for item in bindings:
        if not isinstance(item, Binding):
            continue
        keys = item.key_display or ", ".join(_key_name(k) for k in item.key.split(","))
        description = item.tooltip or item.description or item.action
        if item.description and item.tooltip:
            description = f"{item.description}: {item.tooltip}"
        rows.append((keys, description))
    return rows


def _key_name(key: str) -> str:
    names = {"slash": "/", "question_mark": "?", "up": "↑", "down": "↓", "enter": "enter"}
    parts = [names.get(part, part) for part in key.strip().split("+")]
    parts = [p.upper() if p[:1] == "f" and p[1:].isdigit() else p for p in parts]
    return "+".join(parts)


def help_sections(app_bindings: list[BindingType]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every key of the app, by where it works, read from the bindings themselves."""
    from lstm_tui.ui.screens.files import LoadScreen
    from lstm_tui.ui.screens.hyperparams import HyperparamsScreen
    from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput
    from lstm_tui.ui.widgets.training import METRIC_HINTS
    from lstm_tui.ui.widgets.vocab import VocabPane

    app_rows = binding_rows(app_bindings)
    app_rows.append(("ctrl+p", "Command palette: every action by name"))
    return [
        ("Everywhere", app_rows),
        ("Predictor", binding_rows(PromptInput.BINDINGS) + binding_rows(PredictorPane.BINDINGS)),
        ("Vocabulary", binding_rows(VocabPane.BINDINGS)),
        ("Dialogs", binding_rows(HyperparamsScreen.BINDINGS) + binding_rows(LoadScreen.BINDINGS)),
        ("Metrics", list(METRIC_HINTS)),
    ]


class HelpScreen(DialogScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q", "close", "Close"),
    ]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for title, rows in [*self.sections, ("Editing and moving", EDITING_KEYS)]:
                    table = Table.grid(padding=(0, 2))
                    table.add_column(style="bold cyan", no_wrap=True, min_width=18)
                    table.add_column()
                    for key, what in rows:
                        table.add_row(key, what)
                    yield Static(Text(title, style="bold underline"), classes="help-section")
                    yield Static(table)
            yield Static(
                "ctrl+p opens the command palette: every action, by name. esc closes this.",
                classes="dialog-note",
            )

    def action_close(self) -> None:
        self.dismiss(None)
