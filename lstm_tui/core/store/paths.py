"""Where things live: the user's data folder (platformdirs) and the bundled corpus and model."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from lstm_tui.core.errors import ConfigError

APP_NAME = "lstm-tui"
CHECKPOINT_SUFFIX = ".safetensors"
DEFAULT_CORPUS_NAME = "belling_the_cat.txt"
DEFAULT_MODEL_NAME = "fable-seed.safetensors"

_PACKAGE = Path(__file__).resolve().parents[2]  # lstm_tui/


def data_dir() -> Path:
    """The per-user data folder (``XDG_DATA_HOME`` moves it on Linux)."""
    return platformdirs.user_data_path(APP_NAME)


def checkpoints_dir() -> Path:
    return data_dir() / "checkpoints"


def bundled_dir(kind: str) -> Path:
    """``data`` or ``models``: inside an installed wheel, else the source checkout's folder."""
    installed = _PACKAGE / "_bundled" / kind
    return installed if installed.is_dir() else _PACKAGE.parent / kind


def default_corpus() -> Path:
    return bundled_dir("data") / DEFAULT_CORPUS_NAME


def default_checkpoint() -> Path:
    return bundled_dir("models") / DEFAULT_MODEL_NAME


def checkpoint_path(name_or_path: str | Path) -> Path:
    """A path as given if it names a file; else that name inside the checkpoints folder."""
    path = Path(name_or_path).expanduser()
    if path.exists() or path.parent != Path("."):
        return path
    name = path.name if path.name.endswith(CHECKPOINT_SUFFIX) else path.name + CHECKPOINT_SUFFIX
    return checkpoints_dir() / name


def save_path(name_or_path: str | Path) -> Path:
    """Where a checkpoint given as a name or a path is written (the app and the CLI agree).

    A bare name (``book``) goes into the checkpoints folder, where ``lstm-tui list`` and the
    load dialog find it and ``--checkpoint book`` loads it back; a path (``./book``,
    ``book.safetensors``) is where it says, and a new one ends in ``.safetensors``. A path to
    something that exists is taken as it is, so that the save refuses it if it must (a
    device, a FIFO, a folder, the corpus: ``checkpoint.check_target``) rather than write
    next to it under another name.
    """
    path = Path(name_or_path).expanduser()
    if path.name in ("", ".", ".."):  # `--out .` was saved as a nameless ".safetensors"
        raise ConfigError(f"{name_or_path}: give the checkpoint a name (e.g. {path / 'book'})")
    if path.parent == Path(".") and path.suffix != CHECKPOINT_SUFFIX:
        return checkpoints_dir() / (path.name + CHECKPOINT_SUFFIX)
    if path.suffix != CHECKPOINT_SUFFIX and not os.path.lexists(path):
        path = path.with_name(path.name + CHECKPOINT_SUFFIX)
    return path
