"""The app's memory between runs: settings applied at launch, what was open reopened.

Reads and writes through ``core/store/settings.py``; every method runs on the UI thread. Writing
the state file is best effort: a read-only home must not break the app. It knows the app
only as Textual's ``App`` (theme, keymap, notifications) and its ``AppState``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core.store import settings as store
from lstm_tui.core.text.safe_text import visible
from lstm_tui.ui.state import LoadKind

if TYPE_CHECKING:
    from textual.app import App

    from lstm_tui.ui.app_state import AppState


def binding_ids() -> set[str]:
    """Every binding id of the app, its screens and its widgets (the names ``[keys]`` takes)."""
    from textual.dom import DOMNode

    found: set[str] = set()
    todo: list[type] = [DOMNode]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("lstm_tui."):
            for binding in cls.__dict__.get("BINDINGS", []):
                binding_id = getattr(binding, "id", None)
                if binding_id:
                    found.add(binding_id)
    return found


class LaunchMemory:
    def __init__(self, shell: App, state: AppState, fresh: bool) -> None:
        self.app = shell
        self.app_state = state
        self.fresh = fresh  # --fresh: reopen nothing (settings still apply)
        self.settings, self.problem = store.read_settings()
        self.state = store.read_state()
        self._applying = False

    def apply_settings(self) -> None:
        """At mount: theme, keys, default device and threads (the command line wins)."""
        app, settings = self.app, self.settings
        self._applying = True
        try:
            if settings.theme and settings.theme in app.available_themes:
                app.theme = settings.theme
            if settings.keys:
                app.set_keymap(settings.keys)
        finally:
            self._applying = False
        unknown = sorted(set(settings.keys) - binding_ids())
        if unknown:  # a typo in config.toml would otherwise leave the key as it was, silently
            app.notify(
                visible(
                    f"[keys] in {store.config_path()}: no binding called "
                    + ", ".join(repr(k) for k in unknown[:5])
                    + " (the ids are listed in F1 and the README)"
                ),
                title="Settings",
                severity="warning",
                timeout=10,
                markup=False,
            )
        # The one subscription: each theme change is written once.
        app.theme_changed_signal.subscribe(app, lambda theme: self.theme_changed(theme.name))
        state = self.app_state
        if settings.device and state.device_name == "auto":
            state.device_name = settings.device
        if settings.threads and state.threads is None:
            state.threads = settings.threads
        if settings.logdir:
            state.logdir = Path(settings.logdir).expanduser()
        state.learning = settings.learn
        if self.problem:
            app.notify(self.problem, title="Settings", severity="warning", timeout=10)

    def first_load(self) -> tuple[LoadKind, Path | None]:
        """What to open at launch when the command line names nothing: what was open last."""
        last = None if self.fresh else self.state.to_reopen()
        if last is None:
            return LoadKind.CHECKPOINT, None  # the bundled model
        kind, path = last
        return (LoadKind.CHECKPOINT if kind == "checkpoint" else LoadKind.CORPUS), path

    def opened(self, checkpoint: Path | None, corpus: Path | None) -> None:
        if checkpoint is not None:
            self.state.remember("checkpoint", checkpoint)
        elif corpus is not None:
            self.state.remember("corpus", corpus)
        self._save_state()

    def saved(self, checkpoint: Path) -> None:
        self.state.remember("checkpoint", checkpoint)
        self._save_state()

    def theme_changed(self, theme: str) -> None:
        if not self._applying and theme != self.settings.theme:
            self._write_setting("theme", theme, "the theme")

    def learning_changed(self, on: bool) -> None:
        """Remember the switch for learning as you type (``learn`` in config.toml)."""
        if on != self.settings.learn:
            self._write_setting("learn", on, "the setting")

    def _write_setting(self, name: str, value: object, what: str) -> None:
        if self.problem:
            return  # (a config file that could not be read is never overwritten)
        setattr(self.settings, name, value)
        try:
            store.write_settings(self.settings)
        except OSError as e:
            self.app.notify(f"could not save {what}: {e}", severity="warning", timeout=5)

    def _save_state(self) -> None:
        with contextlib.suppress(OSError):  # best effort: remembering is a convenience
            store.write_state(self.state)
