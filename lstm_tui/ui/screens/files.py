"""Save, load and open-corpus dialogs, and a filesystem path completer for their inputs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    DirectoryTree,
    Input,
    Label,
    Select,
    Static,
)
from textual.worker import Worker, WorkerState

from lstm_tui.core import format as fmt
from lstm_tui.core.errors import CheckpointError
from lstm_tui.core.store import checkpoint
from lstm_tui.core.store.files import regular_file_problem
from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX, checkpoint_path, checkpoints_dir, save_path
from lstm_tui.core.text.safe_text import visible
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.ui.screens.dialog import DialogScreen
from lstm_tui.ui.widgets.inputs import InOrderInput
from lstm_tui.ui.widgets.key_button import key_button

TEXT_SUFFIXES = frozenset({".txt", ".md", ".text", ".rst", ".csv", ".tsv", ".json", ".tokens", ""})


def path_matches(value: str, suffixes: frozenset[str] | None) -> list[str]:
    """The entries that complete the last part of ``value``: whole values, sorted, a folder
    ending in the separator (hidden entries, and files of other kinds, left out)."""
    if not value or value.endswith(os.sep + os.sep):
        return []
    head, _, tail = value.rpartition(os.sep)
    folder = Path(os.path.expanduser(head + os.sep if head or value.startswith(os.sep) else "."))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    out = []
    for name in names:
        if not name.startswith(tail) or name == tail or name.startswith("."):
            continue
        full = folder / name
        if full.is_dir():
            out.append(value + name[len(tail) :] + os.sep)
        elif suffixes is None or full.suffix.lower() in suffixes:
            out.append(value + name[len(tail) :])
    return out


def complete_path(value: str, suffixes: frozenset[str] | None) -> tuple[str, list[str]]:
    """What Tab makes of ``value``: the one match, else the longest prefix all the matches
    share (as a shell does), and the matches when there are several to choose from."""
    matches = path_matches(value, suffixes)
    if not matches:
        return value, []
    if len(matches) == 1:
        return matches[0], []
    return os.path.commonprefix(matches), matches  # noqa: RUF071 (characters, as a shell does)


class PathSuggester(Suggester):
    """Completes the last part of a file path from what is on disk (``~`` understood): the
    one match, or the prefix that all the matches share."""

    def __init__(self, suffixes: frozenset[str] | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffixes = suffixes

    async def get_suggestion(self, value: str) -> str | None:
        completed, _ = complete_path(value, self.suffixes)
        return completed if len(completed) > len(value) else None


class PathInput(InOrderInput):
    """A path box where Tab completes the path shown in grey (else moves on, as usual)."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, tooltip="Complete the path")]

    def action_complete(self) -> None:
        suggester = self.suggester
        suffixes = suggester.suffixes if isinstance(suggester, PathSuggester) else None
        completed, choices = complete_path(self.value, suffixes) if self.cursor_at_end else ("", [])
        if len(completed) <= len(self.value) and not choices:
            raise SkipAction()  # nothing to complete: Tab moves the focus
        self.value = completed
        self.cursor_position = len(completed)
        if choices:  # ambiguous: the common part is filled in, the choices are listed
            names = [visible(c.rstrip(os.sep).rpartition(os.sep)[2] or c) for c in choices]
            shown = ", ".join(names[:12]) + (f" … (+{len(names) - 12})" if len(names) > 12 else "")
            self.notify(shown, title=f"{len(choices)} choices", timeout=6)


class SaveScreen(DialogScreen[tuple[Path, bool] | None]):
    """A name (saved into the checkpoints folder) or a path; returns (path, with optimizer)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, suggested_name: str) -> None:
        super().__init__()
        self.suggested_name = visible(suggested_name)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog save"):
            yield Label("Save checkpoint", classes="dialog-title")
            yield Static(
                f"A name saves into {checkpoints_dir()}; a path saves there.",
                classes="dialog-note",
                markup=False,
            )
            yield InOrderInput(self.suggested_name, placeholder="name or path", id="save-name")
            yield Static("", id="save-target", markup=False)  # paths: shown as they are
            yield Checkbox(
                "include optimizer state (resumes exactly; about 3× larger)",
                value=True,
                id="save-optimizer",
            )
            with Horizontal(classes="dialog-buttons"):
                yield key_button("Save", "enter", variant="primary", id="save")
                yield key_button("Cancel", "esc", id="cancel")

    def on_mount(self) -> None:
        self._show_target(self.suggested_name)
        self.query_one("#save-name", Input).focus()

    def _target(self, text: str) -> Path | None:
        text = text.strip()
        if not text:
            return None
        return save_path(text)

    @on(Input.Changed, "#save-name")
    def _changed(self, event: Input.Changed) -> None:
        self._show_target(event.value)

    def _show_target(self, text: str) -> None:
        target = self._target(text)
        label = self.query_one("#save-target", Static)
        if target is None:
            label.update("enter a name")
        elif target.is_dir():
            label.update(f"✗ {target} is a folder")
        elif target.exists():
            label.update(f"→ {target}  (exists: it will be replaced)")
        else:
            label.update(f"→ {target}")

    @on(Input.Submitted, "#save-name")
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        target = self._target(self.query_one("#save-name", Input).value)
        if target is None or target.is_dir():
            self.app.bell()
            return
        self.dismiss((target, self.query_one("#save-optimizer", Checkbox).value))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class LoadScreen(DialogScreen[Path | None]):
    """Saved checkpoints (newest first, the bundled model last), or any path."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+l", "focus_path", "Path", tooltip="Type a checkpoint path"),
    ]

    def __init__(self, extra: Iterable[Path] = (), current: Path | None = None) -> None:
        super().__init__()
        self.extra = list(extra)
        self.current = current.resolve() if current is not None else None  # marked "● open"
        self.paths: dict[str, Path] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog load"):
            yield Label("Load checkpoint", classes="dialog-title")
            yield Static(f"Saved in {checkpoints_dir()}", classes="dialog-note", markup=False)
            table: DataTable[str] = DataTable(
                id="load-table", cursor_type="row", zebra_stripes=True
            )
            for label, key in (
                ("name", "name"),
                ("saved", "created"),
                ("corpus", "corpus"),
                ("model", "model"),
                ("steps", "steps"),
                ("window acc", "window"),
                ("val ppl", "ppl"),
                ("size", "size"),
            ):
                table.add_column(label, key=key)
            yield table
            yield Static("reading checkpoints…", id="load-status", markup=False)
            yield PathInput(
                placeholder="…or a path to a .safetensors file (ctrl+l; tab completes)",
                id="load-path",
                suggester=PathSuggester(frozenset({CHECKPOINT_SUFFIX})),
            )
            with Horizontal(classes="dialog-buttons"):
                yield key_button("Load", "enter", variant="primary", id="load")
                yield key_button("Cancel", "esc", id="cancel")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._read()

    @work(thread=True, exclusive=True, group="list-checkpoints", exit_on_error=False)
    def _read(self) -> None:
        try:
            found, unreadable = checkpoint.scan_checkpoints()
        except OSError as e:  # the folder itself cannot be read: say so, list the others
            self.app.call_from_thread(
                self.notify, f"cannot list {checkpoints_dir()}: {e}", severity="error"
            )
            found, unreadable = [], []
        for path in self.extra:
            try:
                found.append(checkpoint.info(path))
            except CheckpointError:
                continue
        self.app.call_from_thread(self._fill, found, len(unreadable))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "list-checkpoints" and event.state is WorkerState.ERROR:
            error = event.worker.error  # a bug: the dialog stays, a path can still be typed
            self.notify(f"could not list the checkpoints: {error}", severity="error")

    def _fill(self, found: list[checkpoint.CheckpointInfo], unreadable: int = 0) -> None:
        table = self.query_one(DataTable)
        for info in found:
            key = str(info.path)
            if key in self.paths:
                continue
            self.paths[key] = info.path
            metrics = info.metrics or {}
            window = metrics.get("window_accuracy")
            ppl = metrics.get("val_perplexity")
            bundled = info.path.parent != checkpoints_dir()
            name = info.name + (" (bundled)" if bundled else "")
            if self.current is not None and info.path.resolve() == self.current:
                name = f"● {name} (open)"
            table.add_row(
                Text(visible(name)),  # file-borne: shown as text, never as markup
                Text(visible(fmt.when(info.created))),
                Text(visible(info.corpus)),
                info.model,
                f"{info.steps:,}",
                fmt.percent(window) if isinstance(window, float) else "—",
                fmt.perplexity(ppl) if isinstance(ppl, float) else "—",
                fmt.size_bytes(info.size_bytes),
                key=key,
            )
        status = self.query_one("#load-status", Static)
        skipped = f" · {unreadable} unreadable file(s) left out" if unreadable else ""
        if table.row_count:
            status.update(
                f"{table.row_count} checkpoint(s) · enter loads the highlighted one{skipped}"
            )
        else:
            status.update(f"no saved checkpoints yet: type a path below{skipped}")
            self.query_one("#load-path", Input).focus()

    @on(DataTable.RowSelected, "#load-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dismiss(self.paths[event.row_key.value])

    @on(Input.Submitted, "#load-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        self._load_path(event.value)

    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        text = self.query_one("#load-path", Input).value
        if text.strip():
            self._load_path(text)
            return
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key is not None:
                self.dismiss(self.paths[key])

    def _load_path(self, text: str) -> None:
        text = text.strip()
        if not text:
            self.app.bell()
            return
        path = checkpoint_path(text)
        if _is_file(path, self.query_one("#load-status", Static)):
            self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_focus_path(self) -> None:
        self.query_one("#load-path", Input).focus()


def _is_file(path: Path, status: Static) -> bool:
    """True if ``path`` is a regular file; otherwise say what it is in ``status``."""
    problem = regular_file_problem(path)
    if problem is None:
        return True
    status.update(f"✗ {visible(problem)}")
    return False


class TextTree(DirectoryTree):
    """Folders and text-like files only; hidden entries left out."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in TEXT_SUFFIXES)
        ]


TOKENIZER_CHOICES = [
    ("words and punctuation, lowercased (most texts)", Tokenizer.WORDS),
    ("whitespace: pre-tokenised text, case kept (WikiText, PTB)", Tokenizer.WHITESPACE),
]


@dataclass(frozen=True)
class CorpusChoice:
    """A text to open, and how to cut it into words (for a new vocabulary)."""

    path: Path
    tokenizer: Tokenizer = Tokenizer.WORDS


class OpenCorpusScreen(DialogScreen[CorpusChoice | None]):
    """Pick a UTF-8 text file: from a folder tree or by typing its path; with
    ``choose_tokenizer``, also how it is cut into words (a new vocabulary is made)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+l", "focus_path", "Path", tooltip="Type a path"),
    ]

    def __init__(
        self, title: str, note: str, start: Path | None = None, choose_tokenizer: bool = False
    ) -> None:
        super().__init__()
        self.title_text = visible(title)  # a corpus name from a checkpoint may be in either
        self.note = visible(note)
        self.start = start if start and start.is_dir() else Path.cwd()
        self.choose_tokenizer = choose_tokenizer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog open-corpus"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.note, classes="dialog-note", markup=False)
            yield PathInput(
                placeholder="path to a UTF-8 text file (tab completes)",
                id="corpus-path",
                suggester=PathSuggester(TEXT_SUFFIXES),
            )
            yield TextTree(self.start, id="corpus-tree")
            if self.choose_tokenizer:
                yield Select(
                    TOKENIZER_CHOICES,
                    value=Tokenizer.WORDS,
                    allow_blank=False,
                    prompt="Tokenizer",
                    id="corpus-tokenizer",
                )
            yield Static("", id="corpus-status", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield key_button("Open", "enter", variant="primary", id="open")
                yield key_button("Cancel", "esc", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#corpus-path", Input).focus()

    @on(DirectoryTree.FileSelected)
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        problem = regular_file_problem(event.path)  # a .txt link to /dev/zero, a FIFO
        if problem:
            self.notify(visible(problem), severity="error", markup=False)
            return
        self.dismiss(self._choice(event.path))

    def _choice(self, path: Path) -> CorpusChoice:
        if not self.choose_tokenizer:
            return CorpusChoice(path)
        value = self.query_one("#corpus-tokenizer", Select).value
        return CorpusChoice(path, Tokenizer(value))

    @on(Input.Submitted, "#corpus-path")
    @on(Button.Pressed, "#open")
    def _open(self) -> None:
        text = self.query_one("#corpus-path", Input).value.strip()
        if not text:
            self.query_one("#corpus-status", Static).update("type a path or pick a file below")
            return
        path = Path(text).expanduser()
        if _is_file(path, self.query_one("#corpus-status", Static)):
            self.dismiss(self._choice(path))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_focus_path(self) -> None:
        self.query_one("#corpus-path", Input).focus()
