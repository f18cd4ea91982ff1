"""The command palette (ctrl+p): every action of the app, by name, with its key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class Command:
    title: str
    action: str  # an ``action_*`` method of the app, or of a pane: ``#predictor.cycle_mode``
    help: str
    key: str = ""


COMMANDS: tuple[Command, ...] = (
    Command("Train", "train", "Start training on the corpus, or resume a paused run", "F5"),
    Command("Pause or resume training", "toggle_pause", "Pause the run; again to resume", "F6"),
    Command("Stop training", "stop", "Stop after the current step; the weights stay", "F7"),
    Command(
        "Cancel opening a text", "cancel_load", "While a text opens: stop, keep the model", "F7"
    ),
    Command("Reset weights", "reset", "Fresh random weights, same model and vocabulary", "F8"),
    Command("Hyperparameters…", "hyperparams", "Preset, layers, hidden, lr, batch, device…", "F9"),
    Command("Save checkpoint…", "save", "Save the model into the data folder", "ctrl+s"),
    Command("Load checkpoint…", "load", "Open a saved checkpoint", "ctrl+o"),
    Command("Open corpus…", "open_corpus", "A new vocabulary and model for a text file", "ctrl+n"),
    Command("Runs side by side", "runs", "Saved checkpoints, their curves overlaid", "F10"),
    Command("Export training history", "export_history", "Every evaluation, as CSV", "ctrl+g"),
    Command("Show training pane", "show_pane('training')", "Focus the training pane", "F2"),
    Command("Show vocabulary pane", "show_pane('vocab')", "Focus the vocabulary browser", "F3"),
    Command("Show predictor pane", "show_pane('predictor')", "Focus the predictor", "F4"),
    Command(
        "Continuation: greedy or sampled",
        "#predictor.cycle_mode",
        "Cycle the temperature",
        "ctrl+r",
    ),
    Command("Continuation: more words", "#predictor.more_words", "Longer answers", "ctrl+↑"),
    Command("Continuation: fewer words", "#predictor.fewer_words", "Shorter answers", "ctrl+↓"),
    Command(
        "Learning as you type: on or off",
        "toggle_learning",
        "Learn from each line you send (saved with the checkpoint)",
    ),
    Command(
        "Forget what it learnt from your typing",
        "forget_learning",
        "Back to the trained weights and counts",
    ),
    Command("Clear transcript", "#predictor.clear_transcript", "Empty the conversation", "ctrl+l"),
    Command("Vocabulary: cycle sort", "#vocab.cycle_sort", "Sort by count, word or id", "s"),
    Command("Vocabulary: reverse order", "#vocab.reverse", "Ascending or descending", "r"),
    Command("Keys", "help", "Every key of the app", "F1"),
    Command("Quit", "quit", "Leave (asks first if the weights are unsaved)", "ctrl+q"),
)


class LstmCommands(Provider):
    """Runs the app's action methods directly: a command that cannot run says why."""

    def _run(self, action: str) -> None:
        # LstmApp.run_command: this module cannot import app.py (app.py imports it).
        self.app.call_later(self.app.run_command, action)  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(
                f"{command.title}  ({command.key})" if command.key else command.title,
                partial(self._run, command.action),
                text=command.title,
                help=command.help,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    partial(self._run, command.action),
                    text=command.title,
                    help=f"{command.help}  [{command.key}]" if command.key else command.help,
                )
