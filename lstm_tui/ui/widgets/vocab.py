"""The vocabulary browser: a filtered, sorted window onto the vocabulary, and word details.

Filtering and sorting happen in the core (``Vocabulary.query``) over every word; the table
only ever holds ``ROW_LIMIT`` rows, so a 50k-word vocabulary stays as quick as the fable's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label

from lstm_tui.core import format as fmt
from lstm_tui.core.text.safe_text import visible
from lstm_tui.ui.inference import InferenceService
from lstm_tui.ui.messages import PredictorRefreshed, WordDetailsReady
from lstm_tui.ui.widgets.inputs import InOrderInput
from lstm_tui.ui.widgets.line import Line

if TYPE_CHECKING:
    from lstm_tui.core.serving.predict import WordProb
    from lstm_tui.core.text.vocab import Vocabulary

ROW_LIMIT = 300
DEBOUNCE_FROM_WORDS = 20_000  # above this, wait for a pause in typing before filtering
DEBOUNCE_SECONDS = 0.08
COLUMNS = (("id", "id", 4), ("word", "word", 12), ("count", "count", 5), ("share", "share", 5))
DETAILS_WIDTH = 21  # #vocab-details in app.tcss, its border included
MIN_WORD_WIDTH = 8  # below this the details beside the table give way to the numbers
MAX_WORD_WIDTH = 24
SORTS = ("count", "word", "id")


class VocabTable(DataTable):
    """The table pages on through every word: PgDn on its last row loads the next window
    of ``ROW_LIMIT`` rows, PgUp on its first the one before; Home and End go to the first
    and the last word of all (the table itself only ever holds one window)."""

    @property
    def pane(self) -> VocabPane:
        return self.query_ancestor(VocabPane)

    def action_page_down(self) -> None:
        if self.cursor_row >= self.row_count - 1 and self.pane.show_window(+1):
            self.move_cursor(row=0)
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0 and self.pane.show_window(-1):
            self.move_cursor(row=self.row_count - 1)
            return
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.pane.show_window(first=True)
        self.move_cursor(row=0)

    def action_scroll_end(self) -> None:
        self.pane.show_window(last=True)
        self.move_cursor(row=self.row_count - 1)

    action_scroll_top = action_scroll_home
    action_scroll_bottom = action_scroll_end


class VocabPane(Vertical):
    BORDER_TITLE = "Vocabulary"
    BINDINGS = [
        Binding("escape", "clear_filter", "Clear", tooltip="Clear the filter", id="vocab.clear"),
        Binding(
            "slash", "focus_filter", "Filter", tooltip="Type to filter the words", id="vocab.filter"
        ),
        Binding("s", "cycle_sort", "Sort", tooltip="Sort by count, word or id", id="vocab.sort"),
        Binding("r", "reverse", "Reverse", tooltip="Reverse the sort order", id="vocab.reverse"),
    ]

    def __init__(
        self, inference: InferenceService, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.inference = inference
        self.vocab: Vocabulary | None = None
        self.sort = "count"
        self.descending = True
        self.selected: str | None = None
        self.lowercase = True
        self._debounce: Timer | None = None
        self.first_row = 0  # the first row shown, of all the words the filter matches
        self.matched = 0  # how many words the filter matches

    def compose(self) -> ComposeResult:
        yield InOrderInput(placeholder="filter words…  (/)", id="vocab-filter", compact=True)
        yield Label("", id="vocab-count")
        with Horizontal(id="vocab-body"):
            yield VocabTable(id="vocab-table", cursor_type="row", zebra_stripes=True)
            yield Line("", id="vocab-details")  # repainted on every refresh: no layout pass

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.border_subtitle = "/ filter · esc clear · s sort · r reverse · pgdn more"

    # -- called by the app ----------------------------------------------------------------

    def set_vocab(self, vocab: Vocabulary, lowercase: bool = True) -> None:
        self.vocab = vocab
        self.lowercase = lowercase
        self._size_columns(vocab)
        self.selected = None
        self.query_one("#vocab-details", Line).update("")
        self.refill()

    def show_details(
        self, word: str, next_words: list[WordProb], neighbours: list[WordProb]
    ) -> None:
        if word != self.selected or self.vocab is None:
            return
        row = self.vocab.row(self.vocab.id(word))
        text = Text()
        text.append(f"“{visible(word)}”\n", style="bold")
        text.append(f"id {row.id} · {row.count:,}× · {fmt.share(row.share)}\n\n", style="dim")
        # As many of each list as fit: six lines are headings and gaps.
        fit = max(1, (self.query_one("#vocab-details").size.height - 6) // 2)
        next_words, neighbours = next_words[:fit], neighbours[:fit]
        text.append("next words\n", style="bold underline")
        for item in next_words:
            text.append(fmt.fit(visible(item.word), 13), style="")
            text.append(f"{fmt.prob(item.prob):>6}\n", style="cyan")
        text.append("\nnearest (cosine)\n", style="bold underline")
        for item in neighbours:
            text.append(fmt.fit(visible(item.word), 14), style="")
            text.append(f"{item.prob:+.2f}\n", style="magenta")
        self.query_one("#vocab-details", Line).update(text)

    def _size_columns(self, vocab: Vocabulary) -> None:
        """Numbers whole: the id and count columns as wide as the largest value needs."""
        table = self.query_one(DataTable)
        most = int(vocab.counts.max()) if len(vocab) else 0
        total = max(1, vocab.total)
        widths = {
            "id": max(2, len(str(len(vocab) - 1))),
            "count": max(5, len(f"{most:,}")),
            "share": max(5, len(fmt.share(1 / total)), len(fmt.share(most / total))),
        }
        for key, width in widths.items():
            # Textual keys columns by ColumnKey, which hashes and compares as its string.
            column = table.columns[key]  # type: ignore[index]
            column.width = width
            column.auto_width = False
        self._fit_word_column()

    def on_resize(self) -> None:
        self._fit_word_column()

    def _fit_word_column(self) -> None:
        """The numbers are always shown whole (the share with its %): the word column takes
        the width they leave, and on a narrow pane the details beside the table give way
        (the three panes side by side at 100 columns cut the count and dropped the share)."""
        table = self.query_one(DataTable)
        details = self.query_one("#vocab-details", Line)
        columns = {str(key.value): column for key, column in table.columns.items()}
        numbers = sum(c.get_render_width(table) for key, c in columns.items() if key != "word")
        room = self.content_size.width - numbers - 2 * table.cell_padding - 1  # scrollbar
        details.display = room - DETAILS_WIDTH >= MIN_WORD_WIDTH
        if details.display:
            room -= DETAILS_WIDTH
        word = columns["word"]
        word.width = max(MIN_WORD_WIDTH // 2, min(room, MAX_WORD_WIDTH))
        word.auto_width = False
        table.refresh()

    # -- filtering and sorting ------------------------------------------------------------

    def show_window(self, step: int = 0, first: bool = False, last: bool = False) -> bool:
        """Move the window of rows shown by ``step`` windows, or to the first or last one;
        False where there is no such window (the table is left as it is)."""
        last_offset = max(0, (self.matched - 1) // ROW_LIMIT * ROW_LIMIT)
        if first:
            offset = 0
        elif last:
            offset = last_offset
        else:
            offset = self.first_row + step * ROW_LIMIT
        if offset < 0 or offset > last_offset or offset == self.first_row:
            return False
        self.first_row = offset
        self.refill(keep_offset=True)
        return True

    def refill(self, keep_offset: bool = False) -> None:
        if self.vocab is None:
            return
        if not keep_offset:  # a new filter or order starts at its first row
            self.first_row = 0
        text = self.query_one("#vocab-filter", Input).value.strip()
        if self.lowercase:  # a lowercased vocabulary: match what is typed in any case
            text = text.lower()
        rows, total = self.vocab.query(
            text, self.sort, self.descending, limit=ROW_LIMIT, offset=self.first_row
        )
        self.matched = total
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(
                Text(str(row.id), justify="right", style="dim"),
                Text(visible(row.word), no_wrap=True, overflow="ellipsis"),
                Text(f"{row.count:,}", justify="right"),
                Text(fmt.share(row.share), justify="right"),
                key=str(row.id),
            )
        arrow = "↓" if self.descending else "↑"
        first, end = self.first_row + 1, self.first_row + len(rows)
        shown = f"{first:,}–{end:,} of {total:,}" if total > len(rows) else f"{total:,}"
        in_all = f" · {len(self.vocab):,} in all" if total < len(self.vocab) else ""
        self.query_one("#vocab-count", Label).update(
            f"{shown} words · by {self.sort} {arrow}{in_all}"  # the sort first: it must show
        )
        if not rows:
            self.selected = None
            self.query_one("#vocab-details", Line).update(Text("no word matches", style="dim"))

    @on(Input.Changed, "#vocab-filter")
    def _filter_changed(self) -> None:
        if self.vocab is not None and len(self.vocab) > DEBOUNCE_FROM_WORDS:
            if self._debounce is not None:
                self._debounce.stop()
            self._debounce = self.set_timer(DEBOUNCE_SECONDS, self.refill)
        else:
            self.refill()

    @on(Input.Submitted, "#vocab-filter")
    def _filter_submitted(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == "share":
            key = "count"
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort = key
            self.descending = key == "count"
        self.refill()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.vocab is None or event.row_key.value is None:
            return
        word = self.vocab.words[int(event.row_key.value)]
        self.selected = word
        self.inference.word_details(word, self)

    def on_word_details_ready(self, message: WordDetailsReady) -> None:
        if self.inference.current(message.generation):
            self.show_details(message.word, message.next_words, message.neighbours)

    def on_predictor_refreshed(self, message: PredictorRefreshed) -> None:
        if self.selected is not None and self.inference.current(message.generation):
            self.inference.word_details(self.selected, self)

    def action_clear_filter(self) -> None:
        box = self.query_one("#vocab-filter", Input)
        if box.value:
            box.value = ""  # Input.Changed refills
        self.query_one(DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#vocab-filter", Input).focus()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.descending = self.sort == "count"
        self.refill()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.refill()
