"""``python -m lstm_tui`` is the ``lstm-tui`` command."""

from lstm_tui.cli import main

raise SystemExit(main())
