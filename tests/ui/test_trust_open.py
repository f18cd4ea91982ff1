"""Issue 16 in the app (Pilot): a text too big for one process opens, with the tokenizer
chosen in the dialog, and opening can be cancelled (item 1 and "What to build")."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from lstm_tui.core.text import token_cache
from lstm_tui.core.text.tokenize import Tokenizer
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.files import OpenCorpusScreen

from .conftest import toasts, wait_for, wait_ready
from .test_app import drive, status


def _pretokenised(path: Path, lines: int) -> Path:
    """WikiText-like text: spaced tokens, capitals, ``@-@``."""
    rows = [
        f"The Owl @-@ {i % 97} sang to the Moon , and the Moon sang back to the Owl .\n"
        for i in range(lines)
    ]
    path.write_text("".join(rows), encoding="utf-8")
    return path


async def _open(pilot: Pilot, path: Path, tokenizer: Tokenizer | None = None) -> None:
    app = pilot.app
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, OpenCorpusScreen), "the dialog")
    if tokenizer is not None:
        app.screen.query_one("#corpus-tokenizer", Select).value = tokenizer
    app.screen.query_one("#corpus-path", Input).value = str(path)
    await pilot.press("enter")


def test_a_text_for_the_worker_pool_opens_in_the_app_with_the_chosen_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the fix: "could not load: ValueError: bad value(s) in fds_to_keep", as the pool
    was spawned from under Textual's stand-in stderr. Ranges are made small here so that a
    small text needs the pool; WikiText-2 itself is opened in tmux (test_tmux_trust.py)."""
    monkeypatch.setattr(token_cache, "CACHE_FROM_BYTES", 0)
    monkeypatch.setattr(token_cache, "RANGE_BYTES", 64 << 10)
    monkeypatch.setattr(token_cache, "default_workers", lambda: 2)
    text = _pretokenised(tmp_path / "wiki.txt", 4_000)  # about 300 KB: several ranges
    shown: list[str] = []
    original = LstmApp.on_corpus_progress

    def record(app: LstmApp, message) -> None:
        original(app, message)
        shown.append(status(app))

    monkeypatch.setattr(LstmApp, "on_corpus_progress", record)

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        before = app.session
        await _open(pilot, text, Tokenizer.WHITESPACE)
        await wait_for(pilot, lambda: app.session is not before and not app.busy, "the new model")
        assert not [t for t in toasts(app) if "could not" in t.lower()], toasts(app)
        session = app.session
        assert session is not None and session.tokenizer is Tokenizer.WHITESPACE
        assert "Owl" in session.vocab and "@-@" in session.vocab and "<eos>" in session.vocab
        assert any("tokenising wiki.txt" in line for line in shown), shown
        assert app.corpus is not None and app.corpus.path == text

    drive(LstmApp(), scenario)


def test_opening_a_text_can_be_cancelled_and_the_model_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F7 while a text opens stops it (here while its n-gram is counted, held until the
    test has pressed F7); the app keeps the model it had and says so."""
    from lstm_tui.core.model import ngram, session

    monkeypatch.setattr(session, "BACKGROUND_NGRAM_TOKENS", 0)  # counted in a thread
    held = threading.Event()
    counting = threading.Event()
    original_fit = ngram.KneserNey.fit.__func__

    def slow_fit(cls, *args, **kwargs):
        counting.set()
        held.wait(30)
        return original_fit(cls, *args, **kwargs)

    monkeypatch.setattr(ngram.KneserNey, "fit", classmethod(slow_fit))
    text = _pretokenised(tmp_path / "book.txt", 200)

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        before = app.session
        await _open(pilot, text)
        await wait_for(pilot, counting.is_set, "the n-gram being counted")
        await pilot.pause(0.3)  # a few live refreshes: the progress stays up while busy
        assert "counting the n-gram of book.txt" in status(app) and "F7 cancels" in status(app)
        await pilot.press("f7")
        try:
            await wait_for(pilot, lambda: not app.busy, "the load to stop")
        finally:
            held.set()
        assert app.session is before
        assert any("Stopped opening book.txt" in t for t in toasts(app)), toasts(app)

    drive(LstmApp(), scenario)


def test_the_fable_says_suggestions_are_useful_once_a_run() -> None:
    """Item 5 (part): "suggestions should be useful now" was logged after every evaluation
    of the fable (whose accuracy is there from the first); it is said once a run."""
    from lstm_tui.ui.widgets.line import LogLines
    from lstm_tui.ui.widgets.training import TrainingPane

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        pane = app.query_one(TrainingPane)
        evaluations: list[object] = []
        original = pane.epoch

        def counted(event) -> None:
            evaluations.append(event)
            original(event)

        pane.epoch = counted  # type: ignore[method-assign]
        await pilot.press("f5")
        await wait_for(pilot, lambda: len(evaluations) >= 3, "three evaluations")
        await pilot.press("f7")
        await wait_for(pilot, lambda: app.training_state == "idle", "training to stop")
        log = app.query_one(LogLines).plain
        assert log.count("suggestions should be useful now") == 1, log

    drive(LstmApp(), scenario)
