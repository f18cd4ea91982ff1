"""Issue 16.1: a text big enough for the token cache's worker pool is tokenised from a
process that runs threads and has no real stderr (the app under Textual), and opening it
can be cancelled, leaving nothing behind."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from lstm_tui.core.errors import Cancelled
from lstm_tui.core.text import token_cache
from lstm_tui.core.text.token_cache import Phase, Tokenizer, load_corpus


class _TextualLikeStderr:
    """What Textual puts in ``sys.stderr`` while the app runs: no file descriptor."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return -1


@pytest.fixture(scope="module")
def big_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Just over one worker's range (8 MiB), so that the pool is used: two ranges."""
    path = tmp_path_factory.mktemp("big") / "big.txt"
    line = "The Owl @-@ sang to the Moon , and the Moon sang back to the Owl .\n"
    path.write_text(line * (token_cache.RANGE_BYTES // len(line) + 2_000), encoding="utf-8")
    assert path.stat().st_size > token_cache.RANGE_BYTES
    return path


def _in_a_thread_under_a_textual_like_stderr(work) -> dict:
    """Run ``work`` in a second thread (as the app's loader does) with Textual's stderr."""
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = work()
        except BaseException as e:  # reported to the test
            out["error"] = e

    saved = sys.stderr
    sys.stderr = _TextualLikeStderr()
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(120)
    finally:
        sys.stderr = saved
    return out


def test_the_pool_works_from_a_threaded_process_without_a_real_stderr(big_text: Path) -> None:
    """Before the fix: ValueError "bad value(s) in fds_to_keep" (spawn passes stderr's fd)."""
    phases: set[Phase] = set()
    out = _in_a_thread_under_a_textual_like_stderr(
        lambda: load_corpus(
            big_text,
            tokenizer=Tokenizer.of("whitespace"),
            workers=2,
            progress=lambda phase, done, total: phases.add(phase),
        )
    )
    assert "error" not in out, out.get("error")
    loaded = out["value"]
    assert loaded.state is token_cache.CacheState.BUILT
    assert {"Owl", "@-@", "<eos>"} <= set(loaded.corpus.vocab.words)
    assert Phase.TOKENISING in phases and Phase.WRITING in phases
    again = load_corpus(big_text, tokenizer=Tokenizer.of("whitespace"))  # the same entry
    assert again.state is token_cache.CacheState.HIT
    assert (again.corpus.ids == loaded.corpus.ids).all()


def test_cancelling_stops_the_helper_and_leaves_no_entry(big_text: Path) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(phase: Phase, done: int, total: int) -> None:
        seen.append(done)
        cancel.set()  # at the first range's news

    out = _in_a_thread_under_a_textual_like_stderr(
        lambda: load_corpus(big_text, workers=2, progress=progress, cancel=cancel)
    )
    assert isinstance(out.get("error"), Cancelled), out
    assert seen  # it had started
    folder = token_cache.cache_dir()
    assert not token_cache.list_entries()
    assert not list(folder.iterdir()) if folder.exists() else True  # no scratch debris
    children = [p for p in os.listdir("/proc") if p.isdigit()] if sys.platform == "linux" else []
    helpers = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"token_helper" in cmdline and Path(f"/proc/{pid}/stat").read_text().split()[3] == str(
            os.getpid()
        ):
            helpers.append(pid)
    assert not helpers  # the helper is gone
