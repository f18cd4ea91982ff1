"""Hostile text: special files, huge lines, UTF-16, control characters; and ``visible``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import fifo, utf16
from hypothesis import given
from hypothesis import strategies as st

from lstm_tui.core.errors import CorpusError
from lstm_tui.core.text.corpus import read_text, text_blocks
from lstm_tui.core.text.safe_text import has_control, visible
from lstm_tui.core.text.tokenize import tokenize

CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]


def test_special_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    pipe = fifo(tmp_path)
    started = time.monotonic()
    for path, words in (
        (pipe, "is a FIFO (named pipe), not a file"),
        (Path("/dev/zero"), "is a device, not a file"),
        (tmp_path, "is a folder, not a file"),
        (tmp_path / "missing.txt", "no such file"),
    ):
        with pytest.raises(CorpusError) as caught:
            read_text(path)
        assert str(caught.value) == f"{path}: {words}"
    assert time.monotonic() - started < 5


def test_a_symlink_to_a_device_is_a_device(tmp_path: Path) -> None:
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(CorpusError, match="is a device"):
        read_text(link)


def test_a_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    assert read_text(path, max_bytes=5000) == "word " * 1000
    with pytest.raises(CorpusError, match="5,000 bytes, more than the limit of 4,999"):
        read_text(path, max_bytes=4999)


@pytest.mark.parametrize("order", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_bom_is_read(tmp_path: Path, order: str) -> None:
    text = "Long ago, the mice had a general council — “café” 3.14\n"
    assert read_text(utf16(tmp_path, text, order=order)) == text


def test_broken_utf16_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(b"\xff\xfe" + "the cat".encode("utf-16-le") + b"\x00\xd8")  # lone surrogate
    with pytest.raises(CorpusError, match="not valid UTF-16"):
        read_text(path)


def test_one_huge_line_is_cut_into_blocks_at_whitespace() -> None:
    text = "the cat saw a mouse , " * 1000
    blocks = list(text_blocks(text, size=500))
    assert "".join(blocks) == text
    assert max(map(len, blocks)) <= 1001
    assert all(b.endswith(" ") for b in blocks[:-1])  # never inside a word
    assert [t for b in blocks for t in tokenize(b)] == tokenize(text)
    no_space = "x" * 5000
    assert "".join(text_blocks(no_space, size=500)) == no_space
    assert max(map(len, text_blocks(no_space, size=500))) <= 1001


def test_a_one_line_corpus_does_not_blow_up_memory() -> None:
    """20 MB on one line: the issue measured 5.9 GB for 200 MB (about 30×); blocks keep the
    peak to a few times the text."""
    code = (
        "import resource\n"
        "from lstm_tui.core.text.corpus import Corpus\n"
        "text = 'the cat saw a mouse and the mouse ran , ' * 500_000\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "Corpus.from_text(text)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    growth_mb = int(done.stdout) / 1024
    assert growth_mb < 250, f"{growth_mb:.0f} MB peak growth for 20 MB of text"


# -- control characters -----------------------------------------------------------------------


def test_control_characters_separate_tokens_and_are_dropped() -> None:
    assert tokenize("the\x1b[2Jcat \x07bell\x08s \x9bx\x7fy") == [
        "the",
        "[",
        "2jcat",
        "bell",
        "s",
        "x",
        "y",
    ]


@given(st.text(alphabet=st.sampled_from([*CONTROLS, "a", "b", " ", ".", "é", "'", "1"])))
def test_no_token_holds_a_control_character(text: str) -> None:
    for lowercase in (True, False):
        assert not any(has_control(t) for t in tokenize(text, lowercase))


def test_visible_shows_every_control_character() -> None:
    assert visible("\x1b[2J") == "␛[2J"
    assert visible("\x1b]0;pwned\x07") == "␛]0;pwned␇"
    assert visible("a\tb\nc\x7f\x9b\u202e") == "a␉b␊c␡\\x9b\\u202e"
    assert visible("two\nlines", keep_newlines=True) == "two\nlines"
    assert visible("café “quoted” 日本") == "café “quoted” 日本"


@given(st.text())
def test_visible_leaves_nothing_a_terminal_obeys(text: str) -> None:
    shown = visible(text)
    assert not has_control(shown)
    if not has_control(text):
        assert shown == text
