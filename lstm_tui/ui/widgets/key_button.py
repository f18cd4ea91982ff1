"""A button that shows the key that presses it."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Button


def key_button(label: str, key: str, **options: Any) -> Button:
    """``Cancel [esc]``: as plain text, since a ``str`` label is markup, where ``[esc]`` is a
    tag and would vanish."""
    return Button(Content(f"{label} [{key}]"), **options)
