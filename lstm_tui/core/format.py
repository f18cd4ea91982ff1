"""How numbers read, everywhere: the app's panes and screens, the CLI and its progress bar.

Pure functions of plain values (no torch, no Textual), so the command line and the app
cannot drift apart in how they show a duration, a percentage or a count.
"""

from __future__ import annotations

import math
from datetime import datetime

from rich.cells import cell_len, set_cell_size


def eta(seconds: float | None, bound: bool = False) -> str:
    """``ETA 01:15``; ``ETA ≤ 01:15`` where the run may end sooner (at a target accuracy)."""
    return f"ETA {'≤ ' if bound else ''}{duration(seconds)}"


def duration(seconds: float | None) -> str:
    """``75`` -> ``01:15``; ``3700`` -> ``1:01:40``; unknown -> ``--:--``; past -> ``00:00``.

    A negative time left (a run that went past its estimate) is nothing left, not ``-1:59:59``.
    """
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}%}"


def share(fraction: float) -> str:
    """A share of a corpus with two significant digits: 12%, 3.4%, 0.12%, 0.0012%."""
    if not math.isfinite(fraction) or fraction <= 0:
        return "0%"
    value = fraction * 100
    if value >= 9.95:
        return f"{value:.0f}%"
    digits = max(1, 1 - math.floor(math.log10(value)))
    return f"{value:.{digits}f}%"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Evenly spaced round axis values from 0 that reach ``top``: 0, 0.5, 1, 1.5 … or 0, 25, 50…"""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / max(1, count - 1)
    scale = 10 ** math.floor(math.log10(raw))
    step = next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= raw)
    n = math.ceil(top / step - 1e-9)
    digits = max(0, 2 - math.floor(math.log10(step)))  # no 0.30000000000000004
    return [round(i * step, digits) for i in range(n + 1)]


def prob(p: float) -> str:
    """A probability in as few characters as still say something: 41%, 4.1%, 0.3%, <0.1%."""
    if p >= 0.995:
        return ">99%"
    if p >= 0.1:
        return f"{p:.0%}"
    if p >= 0.001:
        return f"{p:.1%}"
    return "<0.1%"


def number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def perplexity(value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return "∞"
    return f"{value:,.1f}" if value < 1e5 else f"{value:.2e}"


def rate(tokens_per_second: float | None) -> str:
    if tokens_per_second is None or not math.isfinite(tokens_per_second):
        return "—"
    if tokens_per_second >= 10_000:
        return f"{tokens_per_second / 1000:,.1f}k"
    return f"{tokens_per_second:,.0f}"


def count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def size_bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def when(iso: str) -> str:
    """An ISO timestamp (UTC) as local ``YYYY-MM-DD HH:MM``; unparsable text as it is."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def fit(text: str, width: int) -> str:
    """``text`` cut or padded to exactly ``width`` terminal cells (a CJK character is two)."""
    return set_cell_size(text, width) if cell_len(text) != width else text
