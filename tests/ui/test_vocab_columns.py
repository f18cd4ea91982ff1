"""The vocabulary's numbers are always whole (issue 19: the share column lost its %).

At 100×30, the smallest size with three panes side by side, the table had room for
``id word coun`` and no share at all; each size now draws the count and the share whole.
"""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from lstm_tui.ui.app import LstmApp

from .conftest import wait_ready
from .test_app import drive


def _row_text(table: DataTable, y: int) -> str:
    strips = table.render_lines(Region(0, y, table.size.width, 1))
    return "".join(segment.text for segment in strips[0])


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40)])
def test_the_count_and_the_share_are_drawn_whole(size: tuple[int, int]) -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("f3")
        await pilot.pause(0.5)
        table = app.query_one("#vocab-table", DataTable)
        header, first = _row_text(table, 0), _row_text(table, 1)
        assert "count" in header and "share" in header, header
        # The fable's commonest token, ",": 14 of 204 (6.9%), as the details say too.
        assert "14" in first.split() and "6.9%" in first.split(), first

    drive(LstmApp(), scenario, size=size)
