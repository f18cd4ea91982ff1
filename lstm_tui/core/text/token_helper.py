"""The token cache's helper process: ``python -m lstm_tui.core.text.token_helper``.

The app (many threads, and a stand-in ``sys.stderr`` under Textual) can neither fork a
worker pool nor spawn one; it starts this instead, with plain stdio, and reads its progress
on a pipe (``token_cache._build_in_helper``).
"""

import sys

from lstm_tui.core.text.token_cache import _helper_main

if __name__ == "__main__":
    sys.exit(_helper_main())
