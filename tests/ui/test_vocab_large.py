"""The vocabulary browser with a 50,000-word vocabulary: the core filters, the table stays small."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from lstm_tui.core.text.vocab import Vocabulary
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.inference import InferenceService
from lstm_tui.ui.widgets.vocab import ROW_LIMIT, VocabPane

from .conftest import wait_for

WORDS = 50_000


class VocabOnly(App[None]):
    CSS_PATH = LstmApp.CSS_PATH

    def compose(self) -> ComposeResult:
        yield VocabPane(InferenceService(), id="vocab", classes="pane")


def test_fifty_thousand_words_stay_fast() -> None:
    rng = np.random.default_rng(0)
    words = ["<unk>", *(f"word{i:05d}" for i in range(WORDS))]
    vocab = Vocabulary(words, [0, *rng.integers(1, 1000, WORDS).tolist()])

    async def main() -> None:
        app = VocabOnly()
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(VocabPane)
            table = app.query_one(DataTable)
            started = time.perf_counter()
            pane.set_vocab(vocab)
            await pilot.pause()
            assert time.perf_counter() - started < 2.0
            assert table.row_count == ROW_LIMIT  # never 50k rows in the table
            count = app.query_one("#vocab-count").render().plain
            assert count.startswith(f"1–{ROW_LIMIT} of {WORDS + 1:,} words")
            first = [int(str(table.get_row_at(i)[2]).replace(",", "")) for i in range(5)]
            assert first == sorted(first, reverse=True)  # by count, over all 50k words
            # Typing in the filter narrows the whole vocabulary, in the core, quickly.
            pane.action_focus_filter()
            started = time.perf_counter()
            for char in "word4999":
                await pilot.press(char)
            await wait_for(pilot, lambda: table.row_count == 10, "the filtered rows")
            per_key = (time.perf_counter() - started) / 8
            assert per_key < 0.5, f"{per_key * 1000:.0f} ms a keystroke"
            shown = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
            assert shown == {f"word4999{d}" for d in range(10)}

    asyncio.run(main())
