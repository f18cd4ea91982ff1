"""Errors that mean "the user gave us something we cannot use", each with one clear line.

The CLI turns these into exit status 2 and the TUI into a notification; anything else is
a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, file or settings; ``str()`` is the whole message."""


class CorpusError(UserError):
    """A corpus file that cannot be trained on."""


class CheckpointError(UserError):
    """A checkpoint that cannot be loaded or saved."""


class ConfigError(UserError):
    """A hyperparameter or device setting that is out of range or unavailable.

    ``field`` names the setting it is about (``"hidden"``, ``"batch_size"``…) when it is
    about one: a form puts the cursor there, without reading the message.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Cancelled(Exception):
    """Work stopped because the user asked (cancelling the opening of a big text)."""
