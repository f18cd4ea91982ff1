"""lstm-tui: train a word-level LSTM language model on your own text and type with it."""

__version__ = "0.2.0"  # pyproject.toml reads it; CHANGELOG.md says what moved
