"""What lstm-tui remembers: the user's settings (TOML) and what they last had open (JSON).

* ``config.toml`` in the platformdirs config folder, written by the user (or by the app for
  the theme): ``theme``, ``device``, ``threads``, ``logdir`` (TensorBoard logs) and a
  ``[keys]`` table of key overrides by binding id (``train = "f5,ctrl+t"``; the ids are
  listed in the README).
* ``state.json`` in the platformdirs state folder, written by the app: the checkpoints and
  texts opened most recently, newest first; the app reopens the newest on launch.

A file that cannot be read is reported in one line and the defaults are used: settings never
keep the app from starting.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from lstm_tui.core.errors import UserError
from lstm_tui.core.store.files import read_bounded
from lstm_tui.core.store.paths import APP_NAME
from lstm_tui.core.text.safe_text import visible

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECENT = 8  # how many checkpoints and texts are remembered


def config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def state_path() -> Path:
    return platformdirs.user_state_path(APP_NAME) / "state.json"


@dataclass
class Settings:
    theme: str | None = None
    device: str | None = None
    threads: int | None = None
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> "key,key"
    learn: bool = True  # the model learns from the lines sent to it (serving/adapt.py)
    logdir: str | None = None  # TensorBoard logs go here; None: a runs folder by the model


def read_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """The settings, and a one-line problem if the file could not be used (then: defaults)."""
    path = path or config_path()
    if not path.exists():
        return Settings(), None
    try:
        data = _loads(tomllib.loads, _read_small(path))
        return _settings_from(data), None
    except (UserError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        where = "" if isinstance(e, UserError) else f"{path}: "  # (it names the file)
        return Settings(), visible(f"{where}{reason}; using the defaults")


def _settings_from(data: dict) -> Settings:
    settings = Settings()
    for name, kind in (("theme", str), ("device", str), ("threads", int), ("logdir", str)):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{name} must be a {kind.__name__}, not {value!r}")
        if name == "threads" and isinstance(value, int) and value < 1:
            raise ValueError(f"threads must be at least 1, not {value}")
        setattr(settings, name, value)
    learn = data.get("learn", True)
    if not isinstance(learn, bool):
        raise ValueError(f"learn must be true or false, not {learn!r}")
    settings.learn = learn
    keys = data.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ValueError('[keys] must map binding ids to key names, e.g. train = "f5"')
    settings.keys = dict(keys)
    unknown = set(data) - {"theme", "device", "threads", "learn", "logdir", "keys"}
    if unknown:
        raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
    return settings


def write_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings as TOML (the few value types they hold need no library)."""
    path = path or config_path()
    lines = ["# lstm-tui settings (see the README: Settings)"]
    for name in ("theme", "device", "threads", "logdir"):
        value = getattr(settings, name)
        if value is not None:
            lines.append(f"{name} = {_toml_value(value)}")
    if not settings.learn:
        lines.append("learn = false")
    if settings.keys:
        lines.append("\n[keys]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in sorted(settings.keys.items())]
    _write_atomically(path, "\n".join(lines) + "\n")
    return path


def _toml_value(value: str | int) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum()
    return key if bare else json.dumps(key)


@dataclass
class State:
    checkpoints: list[str] = field(default_factory=list)  # newest first
    corpora: list[str] = field(default_factory=list)
    last: str | None = None  # "checkpoint" or "corpus": what to reopen

    def remember(self, kind: str, path: Path) -> None:
        entries = self.checkpoints if kind == "checkpoint" else self.corpora
        name = str(path.resolve())
        entries[:] = [name, *(p for p in entries if p != name)][:RECENT]
        self.last = kind

    def to_reopen(self) -> tuple[str, Path] | None:
        """What was open last, if it is still there."""
        entries = self.checkpoints if self.last == "checkpoint" else self.corpora
        if not (self.last and entries):
            return None
        try:  # a name too long for the system, or with a NUL, is no file to reopen either
            there = Path(entries[0]).is_file()
        except (OSError, ValueError):
            there = False
        return (self.last, Path(entries[0])) if there else None


def read_state(path: Path | None = None) -> State:
    """What was open before; an unreadable file is a fresh start (the app rewrites it)."""
    path = path or state_path()
    try:
        data = _loads(json.loads, _read_small(path))
    except (UserError, ValueError):
        return State()
    if not isinstance(data, dict):
        return State()

    def paths(key: str) -> list[str]:
        entries = data.get(key)
        if not isinstance(entries, list):
            return []
        return [p for p in entries if isinstance(p, str) and p and "\0" not in p][:RECENT]

    last = data.get("last")
    return State(
        paths("checkpoints"), paths("corpora"), last if last in ("checkpoint", "corpus") else None
    )


MAX_FILE_BYTES = 1 << 20  # both files hold a few lines; more is not ours


def _read_small(path: Path) -> str:
    """The file's text, refused (``UserError``) if it is a FIFO, a device or a folder, or
    bigger than ``MAX_FILE_BYTES``: a FIFO as ``state.json`` kept the app on a blank screen."""
    return read_bounded(path, MAX_FILE_BYTES).decode("utf-8")


def _loads(parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``, with nesting too deep for the parser as ``ValueError``: both Python
    parsers recurse, and ``[[[[…`` 100k deep ended the app with a RecursionError."""
    try:
        return parse(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def write_state(state: State, path: Path | None = None) -> None:
    data = {"checkpoints": state.checkpoints, "corpora": state.corpora, "last": state.last}
    _write_atomically(path or state_path(), json.dumps(data, indent=2) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
