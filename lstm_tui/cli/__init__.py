"""The ``lstm-tui`` command: the app with no subcommand, and eight subcommands for scripts.

``train``, ``predict``, ``chat``, ``eval``, ``list``, ``history``, ``serve`` and ``cache``: one
module per group (``train``, ``predict``, ``files``, ``serve``), one parser (``parser``), and
what they share (``common``). This package only parses, prints and handles signals: the work
is the core's.

Exit status: 0 on success, 2 on a user error (one line on stderr), 130 on Ctrl-C.
"""

from __future__ import annotations

# First, so that its CPU window spans torch's import (it tells how busy the other cores are),
# and so that a command's time budget (train --max-seconds) does too: runtime.IMPORTED.
from lstm_tui.core import runtime  # isort: skip

import argparse
import sys
import time
from collections.abc import Sequence

from lstm_tui.cli.common import EXIT_INTERRUPTED, EXIT_USER_ERROR, refuse_special_file
from lstm_tui.cli.files import cmd_cache, cmd_history, cmd_list
from lstm_tui.cli.parser import SUBCOMMANDS, build_app_parser, build_parser
from lstm_tui.cli.predict import cmd_chat, cmd_eval, cmd_predict
from lstm_tui.cli.serve import cmd_serve
from lstm_tui.cli.train import cmd_train
from lstm_tui.core.errors import UserError
from lstm_tui.core.text.safe_text import visible


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            args = build_parser().parse_args(args_list)
            args.argv = args_list  # `train --processes N` starts itself again under torchrun
            # The command line's own call counts from this package's import; a call from
            # Python (argv given, as tests do, maybe many times) from the call.
            args.started = runtime.IMPORTED if argv is None else time.perf_counter()
            return COMMANDS[args.command](args)
        if args_list and not args_list[0].startswith("-"):  # before the app's parser, which
            _refuse_mistyped_command(args_list[0])  # would complain of the command's arguments
        if args_list[:1] in (["-h"], ["--help"]):
            build_app_parser().print_help()
            print("\nsubcommands:")
            build_parser().print_help()
            return 0
        app_args = build_app_parser().parse_args(args_list)
        _refuse_mistyped_command(app_args.corpus)
        return run_app(app_args)
    except UserError as e:
        print(f"lstm-tui: error: {visible(str(e))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("lstm-tui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


def _refuse_mistyped_command(corpus: str | None) -> None:
    """``lstm-tui trian``: a command mistyped, not a text that is missing. A word close to a
    subcommand that names no file is said as such (a file of that name still opens)."""
    import difflib
    import os

    if not corpus or os.path.lexists(corpus) or os.sep in corpus or "." in corpus:
        return
    close = difflib.get_close_matches(corpus, SUBCOMMANDS, n=1, cutoff=0.6)
    if close:
        raise UserError(f"unknown command {corpus!r}; did you mean {close[0]!r}?")


def run_app(args: argparse.Namespace) -> int:
    from lstm_tui.core.errors import ConfigError
    from lstm_tui.core.model.device import DEVICE_CHOICES

    if args.device.split(":")[0] not in DEVICE_CHOICES:
        raise ConfigError(
            f"unknown device {args.device!r}; choose from {', '.join(DEVICE_CHOICES)}"
        )
    refuse_special_file(args.corpus, missing=True)
    from lstm_tui.ui.app import LstmApp

    LstmApp(
        corpus=args.corpus,
        checkpoint=args.checkpoint,
        device=args.device,
        threads=args.threads,
        fresh=args.fresh,
    ).run()
    return 0


COMMANDS = {
    "history": cmd_history,
    "serve": cmd_serve,
    "train": cmd_train,
    "predict": cmd_predict,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "list": cmd_list,
    "cache": cmd_cache,
}
