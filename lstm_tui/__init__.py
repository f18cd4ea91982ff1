"""lstm-tui: train a word-level LSTM language model on your own text and type with it.

``lstm_tui.load(name_or_path)`` opens a model for scripts (``lstm_tui.api``); torch is
imported then, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lstm_tui._version import __version__

__all__ = ["__version__", "load"]

if TYPE_CHECKING:
    from lstm_tui.api import load
else:

    def load(*args, **kwargs):  # the real one, imported only when called: torch is heavy
        from lstm_tui.api import load as _load

        return _load(*args, **kwargs)

    load.__doc__ = "Open a model: see ``lstm_tui.api.load``."
