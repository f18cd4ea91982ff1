"""The version, in one place: pyproject.toml reads it; CHANGELOG.md says what moved.

Its own module, so that the modules that say it (checkpoints, ``--version``) need not import
the package, which imports the public API (``lstm_tui.api``), which imports them: a circle.
"""

__version__ = "0.2.0"
