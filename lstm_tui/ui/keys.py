"""Every app-wide key, with its id: ``config.toml``'s ``[keys]`` table rebinds by these ids.

The predictor's and the vocabulary's own keys live with their widgets (ids ``predictor.*``,
``vocab.*``); the README lists them all, and F1 shows them, read from the bindings.
"""

from __future__ import annotations

from textual.binding import Binding

# The predictor's input takes a phrase word by word with this (Tab takes it whole). Where
# there is no ghost text it moves the cursor a word right, as in any Input.
ACCEPT_WORD = Binding(
    "ctrl+right",
    "accept_word",
    "Take a word",
    show=False,
    tooltip="Take the next word of the ghost text (Tab takes it all)",
    id="predictor.accept_word",
)

APP_BINDINGS: list[Binding] = [
    # ? as in lazygit and most TUIs (typed as text where a text box has the focus)
    Binding("f1,question_mark", "help", "Help", tooltip="Every key", id="help"),
    Binding("f2", "show_pane('training')", "Training pane", show=False, id="pane.training"),
    Binding("f3", "show_pane('vocab')", "Vocabulary pane", show=False, id="pane.vocab"),
    Binding("f4", "show_pane('predictor')", "Predictor pane", show=False, id="pane.predictor"),
    Binding("f5", "train", "Train", tooltip="Start training, or resume a paused run", id="train"),
    Binding("f6", "pause", "Pause", tooltip="Pause training between two steps", id="pause"),
    Binding("f6", "resume", "Resume", tooltip="Resume a paused run", id="resume"),
    Binding("f7", "stop", "Stop", tooltip="Stop training after the current step", id="stop"),
    Binding(
        "f7",
        "cancel_load",
        "Cancel",
        tooltip="Stop opening a text (tokenising, counting its n-gram)",
        id="cancel-load",
    ),
    Binding("f8", "reset", "Reset", tooltip="Fresh random weights (asks first)", id="reset"),
    Binding("f9", "hyperparams", "Settings", tooltip="Edit the hyperparameters", id="settings"),
    Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint", id="save"),
    Binding("ctrl+o", "load", "Load", tooltip="Load a checkpoint", id="load"),
    Binding(
        "ctrl+n", "open_corpus", "Corpus", show=False, tooltip="Open another text", id="corpus"
    ),
    Binding(
        "ctrl+g",
        "export_history",
        "History",
        show=False,
        id="history",
        tooltip="Export the training history (CSV, next to the checkpoints)",
    ),
    Binding(
        "f10",
        "runs",
        "Runs",
        tooltip="Saved checkpoints side by side: their figures, and curves overlaid",
        id="runs",
    ),
    Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit (asks if unsaved)", id="quit"),
]
