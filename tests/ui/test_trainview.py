"""The training view (issue 19): a chart that can be read, sample text, the runs view, and the
small things a new user met at 120×40. Each "Why" of the issue has a test here that failed
before its fix; the snapshots show the training pane with a real history at three sizes, and
two checkpoints overlaid in the runs view.

The checkpoints are trained here, seeded, on one thread (a second or two each): a fable model
(no held-out text) and one on generated text with held-out text, so with the mixture's lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Footer, Input

from lstm_tui.cli import main as cli_main
from lstm_tui.core.store import checkpoint, paths
from lstm_tui.core.text.vocab import Vocabulary
from lstm_tui.core.training.train import EpochEvent
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.files import OpenCorpusScreen
from lstm_tui.ui.screens.help import HelpScreen
from lstm_tui.ui.widgets.chart import LossChart
from lstm_tui.ui.widgets.line import LogLines
from lstm_tui.ui.widgets.status_bar import StatusBar
from lstm_tui.ui.widgets.training import TrainingPane
from lstm_tui.ui.widgets.vocab import ROW_LIMIT, VocabPane

from .conftest import static_text, toasts, wait_for, wait_ready

# (The names new with issue 19 are imported in the tests that use them, so that this file can
# be run against the code before it: each "Why" test then fails on what it checks.)
SMALL = ["--preset", "seed-1layer", "--embed", "32", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, make_text) -> dict[str, Path]:
    """Three small checkpoints with real histories."""
    folder = tmp_path_factory.mktemp("trained")
    text = folder / "story.txt"
    text.write_text(make_text(4000))
    runs = {
        "fable-h32": ["--hidden", "32", "--epochs", "120"],
        "fable-h64": ["--hidden", "64", "--epochs", "120", "--lr", "0.01"],
        "story": [str(text), "--hidden", "32", "--epochs", "15"],
    }
    out = {}
    for name, args in runs.items():
        path = folder / f"{name}.safetensors"
        corpus = [a for a in args if a.endswith(".txt")]
        rest = [a for a in args if not a.endswith(".txt")]
        code = cli_main(["train", *corpus, *SMALL, *rest, "--weights-only", "--out", str(path)])
        assert code == 0
        out[name] = path
    return out


def run_app(app: LstmApp, scenario, size: tuple[int, int] = (120, 40)) -> None:
    async def body() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await scenario(pilot)

    asyncio.run(body())


async def settled(pilot: Pilot) -> LstmApp:
    app = await wait_ready(pilot)
    for box in app.query(Input):
        box.cursor_blink = False
    chart = app.query_one(LossChart)
    if chart.display and chart.size.width:
        await wait_for(pilot, lambda: chart.builds > 0 and not chart.dirty, "the chart")
    return app


# -- Why: "the chart is 3 rows tall once the mixture lines appear" --------------------------------


def test_the_chart_is_at_least_12_rows_at_120x40_with_the_mixture_lines(trained) -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        pane = app.query_one(TrainingPane)
        await wait_for(pilot, lambda: pane.query_one("#train-mix").display, "the mixture lines")
        await pilot.pause(0.3)
        chart = app.query_one(LossChart)
        assert chart.size.height >= 12, chart.size
        assert len(chart.render().plain.splitlines()) >= 12  # drawn at that height
        # c picks what is plotted; the line above the chart says what and its figures.
        from lstm_tui.ui.widgets.chart import ChartView

        pane.focus()
        legend = static_text(app, "#chart-legend")
        assert re.fullmatch(r"loss·acc  ━ loss \d\.\d+( \(min \S+\))?  ━ acc [\d.]+%.*", legend)
        await pilot.press("c")
        assert chart.view is ChartView.PERPLEXITY
        legend = static_text(app, "#chart-legend")
        assert legend.startswith("ppl") and "ppl mix" in legend and "ppl LSTM" in legend
        await pilot.press("c", "c", "c")
        assert chart.view is ChartView.LOSS

    run_app(LstmApp(checkpoint=trained["story"]), scenario)


# -- Why: "log lines wrap, and 'suggestions should be useful now' repeats" ------------------------


def test_a_long_log_line_takes_one_row_and_never_wraps() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        log = app.query_one(LogLines)
        log.clear()
        figures = "  ".join(f"figure{n} {n * 1.2345:.4f}" for n in range(30))
        log.write(Text(figures))
        log.write(Text("last line"))
        await pilot.pause(0.1)
        rows = log.render().plain.splitlines()
        assert rows[-1] == "last line"  # the long line did not push it off
        width = log.size.width
        lines = list(log.render().wrap(app.console, width))
        assert len(lines) == 2, [line.plain for line in lines]  # one row each

    run_app(LstmApp(), scenario)


def test_the_usefulness_note_is_said_once(trained) -> None:
    records = checkpoint.load(trained["fable-h64"]).history
    assert records[-1]["full_accuracy"] > 0.5  # the note is due well before the end

    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        pane = app.query_one(TrainingPane)
        pane.reset_history()
        for record in records:  # the evaluations of a real run, as the trainer sent them
            fields = {k: record.get(k) for k in EpochEvent.__dataclass_fields__ if k in record}
            fields.setdefault("elapsed", float(record["step"]))
            pane.epoch(EpochEvent(**fields))
        log = app.query_one(LogLines).plain
        assert log.count("suggestions should be useful now") == 1, log

    run_app(LstmApp(), scenario)


# -- Why: the header's name, the legend, the share column -----------------------------------------


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_the_header_always_names_the_checkpoint(trained, width: int) -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        line = app.query_one(StatusBar).render().plain
        assert len(line) <= width and "…" not in line, line
        assert "saved (fable-h32)" in line or "saved fable-h32" in line, line

    # (A corpus and model line long enough to fill 120 columns: the name was cut off.)
    run_app(LstmApp(checkpoint=trained["fable-h32"]), scenario, size=(width, 40))


def test_the_legend_under_the_input_fits_the_pane_at_120x40() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        await pilot.pause(0.2)
        line = app.query_one("#predictor-info")
        shown = line.render()
        assert shown.cell_len <= line.size.width, (shown.plain, line.size.width)

    run_app(LstmApp(), scenario)


@pytest.mark.parametrize("width", [34, 44, 58, 98])
def test_the_legend_under_the_input_is_never_cut(width: int) -> None:
    from lstm_tui.ui.widgets.predictor import info_line

    line = info_line(24, "greedy", width)
    assert line.cell_len <= width and "…" not in line.plain
    assert line.plain.startswith("tab accept")
    if width >= 98:
        assert line.plain.endswith("■ surprising")


# -- Why: vocabulary paging, Esc ------------------------------------------------------------------


def test_the_vocabulary_pages_over_every_word_and_esc_clears_the_filter() -> None:
    words = ["<unk>", *(f"w{i:04d}" for i in range(1000))]
    vocab = Vocabulary(words, [0, *range(1000, 0, -1)])

    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        pane = app.query_one(VocabPane)
        pane.set_vocab(vocab)
        await pilot.pause()
        table = pane.query_one(DataTable)
        table.focus()
        assert table.row_count == ROW_LIMIT
        await pilot.press("end")  # the last of all the words, not of the first 300
        assert str(table.get_row_at(table.cursor_row)[1]) == "<unk>"
        assert static_text(app, "#vocab-count").startswith(f"901–1,001 of {len(words):,}")
        await pilot.press("home")
        assert str(table.get_row_at(0)[1]) == "w0000" and table.cursor_row == 0
        table.move_cursor(row=ROW_LIMIT - 1)
        await pilot.press("pagedown")  # on the last row: the next window, not the end
        assert pane.first_row == ROW_LIMIT and table.cursor_row == 0
        assert str(table.get_row_at(0)[1]) == f"w{ROW_LIMIT:04d}"
        await pilot.press("pageup")  # on the first row: back to the window before
        assert pane.first_row == 0 and table.cursor_row == ROW_LIMIT - 1
        await pilot.press("slash")
        for char in "w09":
            await pilot.press(char)
        await wait_for(pilot, lambda: table.row_count == 100, "the filter")
        await pilot.press("escape")
        assert pane.query_one("#vocab-filter", Input).value == ""
        await wait_for(pilot, lambda: table.row_count == ROW_LIMIT, "every word again")

    run_app(LstmApp(), scenario)


# -- Why: ? opens help; dialogs show their own keys; Tab on an ambiguous path ---------------------


def test_question_mark_opens_help_whose_footer_shows_its_own_keys() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        app.query_one(TrainingPane).focus()
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.pause(0.2)
        footer = app.screen.query_one(Footer)
        keys = {b.binding.description for b in app.screen.active_bindings.values()}
        assert "Close" in keys and "Train" not in keys
        assert footer.region.y == 39  # its own footer, over the main screen's
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "closed")

    run_app(LstmApp(), scenario)


def test_tab_on_an_ambiguous_path_fills_the_common_part_and_lists_the_choices(
    tmp_path: Path,
) -> None:
    for name in ("story_one.txt", "story_two.txt", "stories"):
        (tmp_path / name).write_text("the owl sang .\n")
    (tmp_path / "stories").unlink()
    (tmp_path / "stories").mkdir()

    async def scenario(pilot: Pilot) -> None:
        app = await settled(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenCorpusScreen), "the dialog")
        box = app.screen.query_one("#corpus-path", Input)
        box.value = str(tmp_path / "story")
        box.cursor_position = len(box.value)
        await pilot.press("tab")
        assert box.value == str(tmp_path / "story_")  # not the first match
        assert app.focused is box
        await wait_for(pilot, lambda: any("story_one.txt" in t for t in toasts(app)), "choices")
        await pilot.press("o", "tab")
        assert box.value == str(tmp_path / "story_one.txt")

    run_app(LstmApp(), scenario)


def test_complete_path_gives_the_common_prefix_and_every_choice(tmp_path: Path) -> None:
    from lstm_tui.ui.screens.files import complete_path

    for name in ("story_one.txt", "story_two.txt"):
        (tmp_path / name).write_text("the owl sang .\n")
    (tmp_path / "stories").mkdir()
    (tmp_path / ".story_hidden").write_text("")
    choices = [str(tmp_path / "stories") + os.sep]
    choices += [str(tmp_path / n) for n in ("story_one.txt", "story_two.txt")]
    assert complete_path(str(tmp_path / "st"), None) == (str(tmp_path / "stor"), choices)
    assert complete_path(str(tmp_path / "story_o"), None) == (choices[1], [])
    assert complete_path(str(tmp_path / "x"), None) == (str(tmp_path / "x"), [])


# -- the runs view --------------------------------------------------------------------------------


def install(trained: dict[str, Path], *names: str) -> None:
    folder = paths.checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(trained[name], folder / trained[name].name)


async def open_runs(pilot: Pilot):
    from lstm_tui.ui.screens.runs import RunsScreen

    app = await settled(pilot)
    await pilot.press("f10")
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs view")
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    return screen


def test_the_runs_view_overlays_two_checkpoints(trained) -> None:
    from lstm_tui.ui.screens.runs import RunsChart, RunsScreen

    install(trained, "fable-h32", "fable-h64")

    async def scenario(pilot: Pilot) -> None:
        screen = await open_runs(pilot)
        chart = screen.query_one(RunsChart)
        assert [r.name for r in chart.picked] == ["fable-h32"]  # the model loaded
        table = screen.query_one(DataTable)
        assert {str(table.get_row_at(i)[1]) for i in range(table.row_count)} == {
            "fable-h32",
            "fable-h64",
        }
        table.move_cursor(row=[r.name for r in screen.runs].index("fable-h64"))
        builds = chart.builds
        await pilot.press("space")
        assert [r.name for r in chart.picked] == ["fable-h32", "fable-h64"]
        legend = screen.query_one("#runs-legend").render().plain
        assert "fable-h32" in legend and "fable-h64" in legend
        await wait_for(pilot, lambda: chart.builds > builds, "the chart")
        assert len(chart.series()) == 2 and all(len(s.xs) == 20 for s in chart.series())
        await pilot.press("c")
        assert screen.query_one("#runs-legend").render().plain.startswith("held-out perplexity")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, RunsScreen), "closed")

    run_app(LstmApp(checkpoint=paths.checkpoints_dir() / "fable-h32.safetensors"), scenario)


# -- snapshots ------------------------------------------------------------------------------------


def _training_pane(size: tuple[int, int]):
    async def before(pilot: Pilot) -> None:
        app = await settled(pilot)
        if app.state.narrow:
            await pilot.press("f2")
        await pilot.pause(0.2)
        chart = app.query_one(LossChart)
        builds = chart.builds
        chart.redraw()
        await wait_for(pilot, lambda: chart.builds > builds, "the chart")
        app.clear_notifications()
        await pilot.pause(0.3)

    return before


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_snapshot_training_pane_with_a_real_history(snap_compare, trained, size) -> None:
    app = LstmApp(checkpoint=trained["story"])
    assert snap_compare(app, terminal_size=size, run_before=_training_pane(size))


def test_snapshot_runs_view_two_checkpoints_overlaid(snap_compare, trained) -> None:
    from lstm_tui.ui.screens.runs import RunsChart

    install(trained, "fable-h32", "fable-h64")

    async def before(pilot: Pilot) -> None:
        screen = await open_runs(pilot)
        table = screen.query_one(DataTable)
        table.move_cursor(row=[r.name for r in screen.runs].index("fable-h64"))
        await pilot.press("space")
        chart = screen.query_one(RunsChart)
        await wait_for(pilot, lambda: len(chart.picked) == 2, "two runs")
        builds = chart.builds
        chart.redraw()
        await wait_for(pilot, lambda: chart.builds > builds, "the chart")
        pilot.app.clear_notifications()
        await pilot.pause(0.3)

    app = LstmApp(checkpoint=paths.checkpoints_dir() / "fable-h32.safetensors")
    assert snap_compare(app, terminal_size=(120, 40), run_before=before)
