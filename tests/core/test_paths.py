"""Where a checkpoint named on the command line or in the save dialog is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lstm_tui.core.store import paths


def test_save_path_names_paths_and_what_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = paths.checkpoints_dir()
    assert paths.save_path("book") == folder / "book.safetensors"  # a bare name
    assert paths.save_path("book.safetensors") == Path("book.safetensors")
    assert paths.save_path(tmp_path / "new") == tmp_path / "new.safetensors"  # a new path
    os.mkfifo(tmp_path / "fifo")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat")
    # What exists is taken as it is: the save then refuses a FIFO, a folder or the corpus,
    # instead of writing next to it under another name.
    for existing in (tmp_path / "fifo", corpus, tmp_path):
        assert paths.save_path(existing) == existing
