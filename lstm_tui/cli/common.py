"""What every command shares: exit codes, one-line messages, opening a model or a text."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    from lstm_tui.cli.progress import ProgressBar
    from lstm_tui.core.jobs import TextOptions
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.text.token_cache import Loaded


EXIT_USER_ERROR = 2


EXIT_INTERRUPTED = 130


DEFAULT_MAX_CORPUS_BYTES = 2 << 30


def refuse_special_file(path: str | None, missing: bool = False) -> None:
    """A FIFO, a device or a folder as the text (and with ``missing``, no file at all): said
    at once, before torch is even imported. Otherwise a missing file is said where it is read,
    in the order of the other checks."""
    from lstm_tui.core.store.files import regular_file_problem

    problem = regular_file_problem(path) if path and (missing or os.path.exists(path)) else None
    if problem:
        from lstm_tui.core.errors import CorpusError

        raise CorpusError(problem)


def say(line: str) -> None:
    """A line on stderr that may find no terminal left (after SIGHUP): then it goes unsaid."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def text_options(args: argparse.Namespace, val_fraction: float | None = None) -> TextOptions:
    """How the command's options read a text (what a command does not take keeps its default)."""
    from lstm_tui.core.jobs import TextOptions

    return TextOptions(
        lowercase=not getattr(args, "keep_case", False),
        tokenizer=getattr(args, "tokenizer", "words"),
        min_count=getattr(args, "min_count", None),
        max_vocab=getattr(args, "max_vocab", None),
        val_fraction=getattr(args, "val_fraction", 0.1) if val_fraction is None else val_fraction,
        max_bytes=getattr(args, "max_corpus_bytes", None),
        cache={"auto": None, "on": True, "off": False}[args.token_cache],
    )


def load_corpus_with_progress(
    args: argparse.Namespace,
    path: str | Path,
    session: Session | None = None,
    val_fraction: float | None = None,
) -> Loaded:
    """``jobs.open_text`` with a progress bar on a terminal and its note on stderr."""
    from lstm_tui.core.jobs import open_text
    from lstm_tui.core.text.token_cache import Phase

    quiet = getattr(args, "quiet", False) or not sys.stderr.isatty()
    bar = None if quiet else progress_bar()

    def progress(phase: Phase, done: int, total: int) -> None:
        if bar is not None:
            bar.task(f"{phase.value} {Path(path).name}", done / total)

    try:
        options = text_options(args, val_fraction)
        loaded = open_text(path, options, session=session, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if loaded.note:
        print(f"lstm-tui: note: {loaded.note}", file=sys.stderr)
    return loaded


def progress_bar() -> ProgressBar:
    from lstm_tui.cli.progress import ProgressBar

    return ProgressBar()


def load_session(args: argparse.Namespace) -> Session:
    from lstm_tui.core.store import checkpoint
    from lstm_tui.core.store.paths import checkpoint_path, default_checkpoint

    path = checkpoint_path(args.checkpoint) if args.checkpoint else default_checkpoint()
    return checkpoint.load(path, device=args.device)


def open_predictor(args: argparse.Namespace) -> Predictor:

    from lstm_tui.core.runtime import PREDICT_THREADS
    from lstm_tui.core.serving.predict import Predictor

    # One token at a time is a chain of matrix-vector products bound by memory bandwidth: a
    # second thread does not make them faster (bench/latency.py), so leave the rest to the user.
    use_threads(args.threads or PREDICT_THREADS)
    return Predictor(load_session(args))


def use_threads(n: int) -> int:
    import torch

    torch.set_num_threads(n)
    return n
