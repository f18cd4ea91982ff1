"""Opening files that came from a user: regular files only, read with a limit.

A FIFO blocks a reader forever, ``/dev/zero`` never ends, a folder cannot be read: each gets
a one-line message instead. The kind is checked on the opened file itself (``fstat``), so a
path swapped for a FIFO between a check and the open cannot hang the reader: the open is
non-blocking, which a FIFO honours and a regular file ignores.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from lstm_tui.core.errors import UserError

READ_CHUNK = 1 << 20


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_file_problem(path: str | Path, noun: str = "file") -> str | None:
    """Why ``path`` cannot be read as a file (one line), or None if it is a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path}: no such {noun}"
    except OSError as e:
        return f"{path}: cannot read: {e.strerror or e}"
    if stat.S_ISREG(mode):
        return None
    return f"{path}: is {kind_of(mode)}, not a {noun}"


def open_regular(
    path: str | Path, error: type[UserError] = UserError, noun: str = "file"
) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; else ``error`` saying what it is."""
    problem = regular_file_problem(path, noun)
    if problem:
        raise error(problem)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between the check and the open
            raise error(f"{path}: is {kind_of(mode)}, not a {noun}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(
    path: str | Path, limit: int, error: type[UserError] = UserError, flag: str = ""
) -> bytes:
    """All of a regular file, or ``error`` if it holds more than ``limit`` bytes.

    Read in chunks and counted as it comes, so that a file that grows while being read (or
    lies about its size) still stops at the limit.
    """
    with open_regular(path, error) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise error(too_big(path, size, limit, flag))
        chunks = []
        total = 0
        try:
            while chunk := f.read(min(READ_CHUNK, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise error(too_big(path, total, limit, flag))
        except OSError as e:
            raise error(f"{path}: cannot read: {e.strerror or e}") from None
    return b"".join(chunks)


def too_big(path: str | Path, size: int, limit: int, flag: str = "") -> str:
    more = "at least " if size > limit and size == limit + 1 else ""
    hint = f" ({flag} raises it)" if flag else ""
    return f"{path}: {more}{size:,} bytes, more than the limit of {limit:,}{hint}"
