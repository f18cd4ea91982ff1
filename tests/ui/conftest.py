"""Shared set-up for the app's Pilot and snapshot tests.

Every test gets its own user data folder (``XDG_DATA_HOME``), so nothing is read from or
written to the real one. Waits poll for what a user would see, with generous deadlines:
the machine may be busy, and a wait that succeeds returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets._toast import Toast

from lstm_tui.core.store import paths
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput

WAIT = 90.0  # seconds: the longest any single wait may take on a loaded 2-core machine


@pytest.fixture(autouse=True)
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private platformdirs data folder for this test (never the real one)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return paths.data_dir()


class ThreadWrites:
    """Attributes of the app written off its UI thread (none may be)."""

    def __init__(self) -> None:
        self.found: list[str] = []


@pytest.fixture(autouse=True)
def app_writes_off_the_ui_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadWrites]:
    """Fails any test in which a thread other than the app's own wrote an app attribute.

    Workers must post messages and let the UI thread apply them; this watches every
    attribute assignment on every ``LstmApp`` for the whole test.
    """
    writes = ThreadWrites()
    original = LstmApp.__setattr__

    def guarded(self: LstmApp, name: str, value: object) -> None:
        owner = self.__dict__.get("_thread_id")
        if owner and threading.get_ident() != owner:
            writes.found.append(f"{name} (from thread {threading.current_thread().name})")
        original(self, name, value)

    monkeypatch.setattr(LstmApp, "__setattr__", guarded)
    yield writes
    assert not writes.found, f"app attributes written off the UI thread: {writes.found}"


async def wait_for(
    pilot: Pilot, predicate: Callable[[], object], what: str, timeout: float = WAIT
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)


async def wait_ready(pilot: Pilot) -> LstmApp:
    """Until a model is loaded and the predictor takes input."""
    app = pilot.app
    assert isinstance(app, LstmApp)
    await wait_for(
        pilot,
        lambda: (
            app.session is not None and not app.busy and not app.query_one(PromptInput).disabled
        ),
        "the model to load",
    )
    return app


async def type_text(pilot: Pilot, text: str) -> None:
    """Type into the predictor, then wait until its suggestions are for what was typed."""
    app = pilot.app
    prompt = app.query_one(PromptInput)
    prompt.focus()
    await pilot.pause()
    for char in text:
        await pilot.press("space" if char == " " else char)
    pane = app.query_one(PredictorPane)
    await wait_for(pilot, lambda: pane.suggestions_for == prompt.value, f"suggestions for {text!r}")


def toasts(app: LstmApp) -> list[str]:
    """The text of every notification on screen."""
    return [toast.render().plain for toast in app.screen.query(Toast)]


def static_text(app: LstmApp, selector: str) -> str:
    """What a Static (or Label) on the active screen shows, as plain text."""
    widget = app.screen.query_one(selector)
    return widget.render().plain  # type: ignore[union-attr]


def input_value(app: LstmApp, selector: str) -> str:
    return app.query_one(selector, Input).value
