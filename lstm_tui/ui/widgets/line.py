"""A one-line text widget that repaints without a layout pass.

``Static.update`` asks for a layout of the whole screen (its size may change); these lines
have a fixed height, so a new text only repaints them: a repaint costs a small fraction of
a layout pass, per keystroke (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class Line(Widget):
    DEFAULT_CSS = """
    Line {
        height: 1;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(
        self, text: Text | str = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._text = (
            Text(text, no_wrap=True, overflow="ellipsis") if isinstance(text, str) else text
        )
        self._shorter: tuple[Text, ...] = ()

    @property
    def text(self) -> Text:
        return self._text

    def update(self, text: Text | str, *shorter: Text) -> None:
        """Show ``text``; where it is wider than the line, the first of ``shorter`` that fits
        (the last one, cut, if none does), so a narrow terminal loses words, not figures."""
        if isinstance(text, str):
            text = Text(text, no_wrap=True, overflow="ellipsis")
        if text == self._text and shorter == self._shorter:
            return
        self._text, self._shorter = text, shorter
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        for text in (self._text, *self._shorter):
            if text.cell_len <= width:
                return text
        return self._shorter[-1] if self._shorter else self._text


INDENT = "  "  # where a log line wraps, its further rows start this far in


class LogLines(Widget):
    """The last lines of a log, as many as fit; repainted, never re-laid-out.

    A line written to wrap that is wider than the widget goes on in rows indented under it,
    so the end of a run's long line (which weights were kept) is read, not cut; the oldest
    rows give way first. (A RichLog grows its virtual size with every line, which
    costs a layout pass of the whole screen twice a second during training.)
    """

    # Textual lays a rendered Text out by these styles, not by the Text's own no_wrap: without
    # them a long line (a sample, an evaluation's figures) wrapped onto the next row.
    DEFAULT_CSS = """
    LogLines {
        height: 5;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(
        self, *, max_lines: int = 1000, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.lines: list[Text] = []

    def write(self, line: Text | str, wrap: bool = False) -> None:
        """Add ``line``: one row, cut with "…" (a row of figures reads as a table, a sample
        of text would push the figures off), or with ``wrap`` a sentence whose end matters
        (why a run ended, which weights it kept), on as many rows as it needs."""
        text = Text(line) if isinstance(line, str) else line.copy()
        text.no_wrap = not wrap
        text.overflow = "ellipsis"
        self.lines.append(text)
        del self.lines[: -self.max_lines]
        self.refresh()

    def clear(self) -> None:
        self.lines.clear()
        self.refresh()

    @property
    def plain(self) -> str:
        return "\n".join(line.plain for line in self.lines)

    def render(self) -> Text:
        height, width = max(1, self.size.height), self.size.width
        rows: list[Text] = []
        for line in reversed(self.lines):  # the newest first, until the widget is full
            rows[:0] = self._rows(line, width)
            if len(rows) >= height:
                break
        # The joined Text must say no_wrap itself: its lines' own settings do not carry over,
        # and Textual would wrap the rows again, pushing the first ones off.
        return Text("\n", no_wrap=True, overflow="ellipsis").join(rows[-height:])

    def _rows(self, line: Text, width: int) -> list[Text]:
        """``line`` in rows of ``width`` cells: wrapped at spaces, the rows after the first
        indented by ``INDENT`` (a word longer than a row is cut, as is a line not to wrap)."""
        if line.no_wrap or width <= 2 * len(INDENT) or line.cell_len <= width:
            return [line]
        first, *rest = line.wrap(self.app.console, width, no_wrap=False, overflow="ellipsis")
        if not rest:
            return [first]
        tail = Text(" ").join(rest)  # the rest again, in rows narrower by the indent
        more = tail.wrap(self.app.console, width - len(INDENT), no_wrap=False)
        return [first, *(Text(INDENT) + row for row in more)]
