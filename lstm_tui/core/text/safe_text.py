"""Text from files made safe to show on a terminal.

Words come from corpora and checkpoints, which may come from anywhere. A terminal obeys the
control characters in what it is sent: ESC starts sequences that clear the screen, move the
cursor or retitle the window, BEL rings, BS overwrites. Every word the CLI prints or the app
draws passes through ``visible``, which turns each such character into a visible stand-in
(ESC -> ``␛``) so that it is shown, never obeyed.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals), and the
# bidirectional overrides and isolates that reorder what follows them on screen.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_NEWLINE_KEPT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _stand_in(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␀ … ␛ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def visible(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every control character shown as a visible stand-in, never sent raw.

    ``keep_newlines`` leaves ``\\n`` alone, for messages of several lines.
    """
    pattern = _CONTROL_OR_NEWLINE_KEPT if keep_newlines else _CONTROL
    return pattern.sub(_stand_in, text)


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None
