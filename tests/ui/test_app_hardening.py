"""The app against hostile files: every one loaded through ctrl+o leaves it running with its
unsaved training; special files are refused in the file tree; escape sequences are shown,
never sent; a failed start does not stay on "loading model…"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile import hostile_checkpoints, rewrite
from textual.pilot import Pilot
from textual.widgets import DataTable, DirectoryTree, Input

from lstm_tui.core.store import checkpoint, paths
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import Trainer
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.confirm import ConfirmScreen
from lstm_tui.ui.screens.files import LoadScreen, OpenCorpusScreen, TextTree
from lstm_tui.ui.widgets.line import LogLines
from lstm_tui.ui.widgets.predictor import PromptInput
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import VocabPane

from .conftest import static_text, toasts, wait_for, wait_ready
from .test_app import drive, small_model, status, train_steps


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lstm_tui.core.model.session import Session

    fable = Corpus.from_file(paths.default_corpus())
    session = Session.new(fable, "seed-1layer", TrainConfig(seed=2), hidden=16, embed=16)
    list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=1, seed=2)).run())
    src = tmp_path_factory.mktemp("src") / "src.safetensors"
    checkpoint.save(session, src)
    return hostile_checkpoints(src, tmp_path_factory.mktemp("hostile"))


def test_every_hostile_checkpoint_through_ctrl_o_keeps_the_app_and_its_training(
    hostile_files, user_data: Path
) -> None:
    folder = paths.checkpoints_dir()
    folder.mkdir(parents=True)
    for path in hostile_files.values():  # the folder the load dialog lists
        (folder / path.name).write_bytes(path.read_bytes())
    # All of them sit in the listed folder; these, one of each kind, are loaded by path too
    # (tests/core/test_hostile_checkpoints.py loads every one).
    picked = ("version-1e400", "header-nested-200k", "offsets-string", "steps-inf", "nan-weight")
    broken = [hostile_files[name] for name in picked]

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await small_model(pilot)
        await train_steps(pilot, 2)
        session = app.session
        assert session is not None and not session.is_saved
        steps, version = session.progress.steps, session.version
        for path in [*broken, folder / "escape-vocab.safetensors"]:
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, LoadScreen), "the load dialog")
            await wait_for(
                pilot,
                lambda: "unreadable" in static_text(app, "#load-status"),
                "the listing, with unreadable files left out",
            )
            await pilot.press("ctrl+l")
            app.screen.query_one("#load-path", Input).value = str(path)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "discard?")
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.busy and not app.screen.is_modal, "the load")
            assert app.is_running
            if path.name.startswith("escape-vocab"):
                break
            assert app.session is session, path.name
            assert (session.progress.steps, session.version) == (steps, version)
            assert not session.is_saved
            name = path.name
            await wait_for(pilot, lambda n=name: any(n in t for t in toasts(app)), name)
        # The last one is a sound checkpoint whose words are escape sequences: shown, not sent.
        await wait_for(pilot, lambda: app.session is not session, "the escape-word model")
        vocab = app.query_one(VocabPane)
        words = [str(c) for c in vocab.query_one(DataTable).get_column("word")]
        assert "␛[2J" in words and not any("\x1b" in w for w in words)
        assert not any("\x1b" in t or "\x07" in t for t in toasts(app))
        await wait_for(  # its corpus name, in the note that says the corpus is not found
            pilot, lambda: any("␛]0;pwned␇corpus" in t for t in toasts(app)), "the note"
        )
        assert not any("\x1b" in t or "\x07" in t for t in toasts(app))

    drive(LstmApp(), scenario)


def test_names_like_markup_are_listed_as_they_are(hostile_files, user_data: Path) -> None:
    folder = paths.checkpoints_dir()
    folder.mkdir(parents=True)

    def corpus_name(meta: dict) -> None:
        meta["corpus"]["name"] = "odd[/b]"  # read as markup: a closing tag with no opening

    rewrite(hostile_files["escape-vocab"], folder / "[red]odd.safetensors", edit_meta=corpus_name)

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadScreen), "the load dialog")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "the listing")
        await pilot.pause(0.2)  # drawn: markup read from a name would have failed here
        assert app.is_running
        shown = app.export_screenshot()
        assert "[red]odd" in shown and "odd[/b]" in shown

    drive(LstmApp(), scenario)


def test_typed_names_like_markup_are_shown_as_they_are(user_data: Path) -> None:
    from lstm_tui.ui.screens.files import SaveScreen
    from lstm_tui.ui.screens.hyperparams import HyperparamsScreen

    odd = "nope[/b]"  # read as markup: a closing tag with no opening

    async def shows(pilot: Pilot, selector: str) -> None:
        await wait_for(pilot, lambda: odd in static_text(pilot.app, selector), selector)

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveScreen), "the save dialog")
        app.screen.query_one("#save-name", Input).value = odd
        await shows(pilot, "#save-target")
        # Each dialog that takes a typed name or value: submitted, its message shows it.
        dialogs = (
            ("ctrl+o", LoadScreen, "#load-path", "enter", "#load-status"),
            ("ctrl+n", OpenCorpusScreen, "#corpus-path", "enter", "#corpus-status"),
            ("f9", HyperparamsScreen, "#field-hidden", "ctrl+s", "#form-error"),
        )
        for key, screen, field, submit, message in dialogs:
            await pilot.press("escape")  # the dialog before
            await pilot.press(key)
            await wait_for(pilot, lambda screen=screen: isinstance(app.screen, screen), key)
            app.screen.query_one(field, Input).value = odd
            app.screen.query_one(field, Input).focus()
            await pilot.press(submit)
            await shows(pilot, message)
        assert app.is_running

    drive(LstmApp(), scenario)


def test_the_file_tree_refuses_devices_and_fifos(tmp_path: Path) -> None:
    folder = tmp_path / "texts"  # a folder of its own: the app keeps its state in tmp_path
    folder.mkdir()
    (folder / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe.txt")
    real = folder / "real.txt"
    real.write_text("the cat sat on the mat . " * 10)

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)  # a model for real.txt: ctrl+n starts in its folder
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenCorpusScreen), "the dialog")
        tree = app.screen.query_one(TextTree)
        await wait_for(pilot, lambda: len(tree.root.children) == 3, "the folder listing")
        nodes = {n.data.path.name: n for n in tree.root.children if n.data is not None}
        for name, words in (("zero.txt", "is a device"), ("pipe.txt", "is a FIFO")):
            tree.post_message(DirectoryTree.FileSelected(nodes[name], nodes[name].data.path))
            await wait_for(pilot, lambda w=words: any(w in t for t in toasts(app)), words)
            assert isinstance(app.screen, OpenCorpusScreen)
        app.screen.query_one("#corpus-path", Input).value = str(folder / "pipe.txt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "FIFO" in static_text(app, "#corpus-status"), "status")
        assert isinstance(app.screen, OpenCorpusScreen)
        tree.post_message(DirectoryTree.FileSelected(nodes["real.txt"], real))
        await wait_for(pilot, lambda: not isinstance(app.screen, OpenCorpusScreen), "a real file")

    drive(LstmApp(corpus=str(real)), scenario)


def test_an_unexpected_failure_at_launch_does_not_stay_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_load(*args, **kwargs):
        raise RuntimeError("an unexpected failure")

    monkeypatch.setattr(checkpoint, "load", broken_load)

    async def scenario(pilot: Pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: any("RuntimeError" in t for t in toasts(app)), "error")
        await wait_for(pilot, lambda: not app.busy, "loading to end")
        assert app.session is None and app.is_running
        assert app.query_one(TrainingPane).state == "none"
        assert "loading model" not in status(app)
        assert "no model" in app.query_one(PromptInput).placeholder

    drive(LstmApp(), scenario)


def test_escape_words_in_suggestions_are_visible(hostile_files) -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        prompt = app.query_one(PromptInput)
        prompt.focus()
        await pilot.press("b")  # "bell\x07" and "back\x08space" start with it
        await wait_for(pilot, lambda: "bell␇" in static_text(app, "#suggestions"), "the words")
        assert not any(c in static_text(app, "#suggestions") for c in "\x1b\x07\x08")
        await pilot.press("tab")  # a completion with a control character is never offered
        assert not any(c in prompt.value for c in "\x1b\x07\x08")
        pane = app.query_one(TrainingPane)  # a run's error may quote a file's name
        pane.run_ended(None, "cannot read \x1b]0;pwned\x07.txt")
        log = app.query_one(LogLines).plain
        assert "␛]0;pwned␇.txt" in log and "\x1b" not in log

    drive(LstmApp(checkpoint=str(hostile_files["escape-vocab"])), scenario)
