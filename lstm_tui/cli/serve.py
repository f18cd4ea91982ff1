"""``lstm-tui serve``: the app in a browser."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lstm_tui.core.errors import UserError

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    pass


def cmd_serve(args: argparse.Namespace) -> int:
    import shlex

    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError("serve needs textual-serve: pip install textual-serve") from None
    app_args = [a for a in args.app_args if a != "--"]
    command = shlex.join([sys.executable, "-m", "lstm_tui", *app_args])
    Server(command, host=args.host, port=args.port, public_url=args.public_url).serve()
    return 0
