"""Issue 8's bugs, each as a user met it, through Pilot (the tmux test covers real terminals)."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Input

from lstm_tui.core.store import checkpoint, paths
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.confirm import ConfirmScreen
from lstm_tui.ui.screens.files import OpenCorpusScreen
from lstm_tui.ui.screens.hyperparams import HyperparamsScreen
from lstm_tui.ui.widgets.predictor import PredictorPane, PromptInput, insert_word
from lstm_tui.ui.widgets.status_bar import StatusBar

from .conftest import type_text, wait_for, wait_ready
from .test_app import drive, small_model, train_steps


async def terminal_sends(pilot: Pilot, sequence: str) -> None:
    """Deliver ``sequence`` as a terminal would: through Textual's own input parser."""
    from textual._xterm_parser import XTermParser

    for event in XTermParser().feed(sequence):
        event.set_sender(pilot.app)
        pilot.app._driver.send_message(event)
    await pilot.pause()


def status(app: LstmApp) -> str:
    return app.query_one(StatusBar).render().plain


# -- 1: picking a suggestion in every terminal -----------------------------------------------------


def test_every_way_to_pick_a_suggestion_inserts_it() -> None:
    """alt+N; ESC+N as tmux sends it (Textual reads ¡ ™ £ ¢ ∞); ↓/↑ then Tab; a click."""

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        prompt = app.query_one(PromptInput)
        pane = app.query_one(PredictorPane)
        await type_text(pilot, "the mice ")
        assert pane.suggestions is not None
        words = [w.word for w in pane.suggestions.next_words]
        for n in range(5):  # tmux, xterm: ESC and the digit; macOS: Option+digit, ¡ ™ £ ¢ ∞
            await terminal_sends(pilot, f"\x1b{n + 1}")
            assert prompt.value == insert_word("the mice ", "", words[n]), n + 1
            await pilot.press("ctrl+u")
            await type_text(pilot, "the mice ")
        await pilot.press("alt+5")
        assert prompt.value == insert_word("the mice ", "", words[4])
        await pilot.press("ctrl+u")
        await type_text(pilot, "the mice ")
        await pilot.press("down", "down", "down", "up", "tab")
        assert prompt.value == insert_word("the mice ", "", words[1])
        await pilot.press("ctrl+u")
        await type_text(pilot, "the mice ")
        row = app.query_one("#suggestions")
        text = row.render().plain
        x = text.index(f" {words[2]} ") + 2  # on the third word
        await pilot.click("#suggestions", offset=(x + 1, 0))  # +1: the row's left padding
        assert prompt.value == insert_word("the mice ", "", words[2])
        assert app.focused is prompt

    drive(LstmApp(), scenario)


# -- 2: the ghost follows the live model; Tab never leaves the input -------------------------------


def test_ghost_text_follows_new_suggestions_and_tab_stays_in_the_input() -> None:
    """Fresher weights (after F8, during F5) answer for the same text; when their answer has
    no ghost (the likeliest next word is punctuation), the old model's ghost must go, and
    Tab, with nothing shown, does nothing: the focus and the next letter stay here."""
    from dataclasses import replace

    from lstm_tui.core.serving.predict import WordProb

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        app.inference.phrases = False  # the one-word ghost (a phrase would come after it)
        prompt = app.query_one(PromptInput)
        pane = app.query_one(PredictorPane)
        await type_text(pilot, "the mice ")
        assert prompt._suggestion == "the mice had"  # the shipped model's ghost
        newer = replace(pane.suggestions, next_words=[WordProb(".", 0.4), WordProb("had", 0.3)])
        assert pane.show_suggestions("the mice ", newer)
        await pilot.pause()
        assert prompt._suggestion == "" and pane.ghost is None
        await pilot.press("tab", "x")
        assert app.focused is prompt and prompt.value == "the mice x"

    drive(LstmApp(), scenario)


# -- 3: F4 does not select the line ----------------------------------------------------------------


def test_showing_the_predictor_keeps_what_was_typed() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        prompt = app.query_one(PromptInput)
        await type_text(pilot, "the cat")
        await pilot.press("f2", "f4", "s")
        assert prompt.value == "the cats"

    drive(LstmApp(), scenario)


# -- 5: the form focuses the field an error is about -----------------------------------------------


def test_a_form_error_focuses_its_own_field() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, HyperparamsScreen), "the form")
        form = app.screen
        for field, value in (("hidden", "9000"), ("embed", "9000"), ("layers", "17")):
            original = form.query_one(f"#field-{field}", Input).value
            form.query_one(f"#field-{field}", Input).value = value
            await pilot.press("ctrl+s")
            assert app.focused is form.query_one(f"#field-{field}"), field
            form.query_one(f"#field-{field}", Input).value = original

    drive(LstmApp(), scenario)


# -- 6: Tab completes a path in the open dialog ----------------------------------------------------


def test_tab_completes_the_path_in_the_open_dialog(tmp_path: Path) -> None:
    (tmp_path / "my_story.txt").write_text("the owl sang .\n")

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenCorpusScreen), "the dialog")
        box = app.screen.query_one("#corpus-path", Input)
        for char in str(tmp_path / "my_"):
            await pilot.press(char)
        await wait_for(pilot, lambda: box._suggestion.endswith("my_story.txt"), "the completion")
        await pilot.press("tab")
        assert box.value == str(tmp_path / "my_story.txt")
        assert app.focused is box

    drive(LstmApp(), scenario)


# -- 7, 14: the unsaved count after a load; the safe choice has the focus --------------------------


def test_after_a_load_only_new_steps_count_and_enter_keeps_the_work(tmp_path: Path) -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await small_model(pilot)
        await train_steps(pilot, 2)
        saved, old = checkpoint.save(app.session, tmp_path / "small.safetensors"), app.session
        app.load_checkpoint(saved)
        await wait_for(pilot, lambda: app.session is not old and not app.busy, "the load")
        loaded = app.session.progress.steps
        assert loaded > 0 and app.dialogs.unsaved_steps() == 0
        await train_steps(pilot, 1)
        new = app.session.progress.steps - loaded
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        message = app.screen.query_one(".dialog-message").render().plain
        assert f"have {new:,} steps of training" in message
        assert app.focused.id == "choice-cancel"  # one Enter must not discard the work
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "closed")
        assert app.session.progress.steps == loaded + new  # nothing was reset

    drive(LstmApp(), scenario)


# -- 8: no empty segment in the header -------------------------------------------------------------


def test_the_header_has_no_empty_segment_and_names_what_it_holds() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        assert "✓ saved (fable-seed)" in status(app)
        await pilot.press("f8")
        await wait_for(pilot, lambda: app.session.progress.steps == 0, "fresh weights")
        await pilot.pause(0.3)
        line = status(app)
        assert "│  │" not in line.replace(" ", "").replace("││", "│  │") and "││" not in line
        assert "● unsaved" in line

    drive(LstmApp(), scenario)


# -- 10: buttons show their keys -------------------------------------------------------------------


def test_buttons_show_their_keys() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, HyperparamsScreen), "the form")
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert labels == ["Apply [ctrl+s]", "Cancel [esc]"]

    drive(LstmApp(), scenario)


def test_the_load_dialog_marks_the_open_checkpoint() -> None:
    from textual.widgets import DataTable

    from lstm_tui.ui.screens.files import LoadScreen

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadScreen), "the dialog")
        table = app.screen.query_one("#load-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the list")
        assert str(table.get_row_at(0)[0]) == "● fable-seed (bundled) (open)"
        assert paths.default_checkpoint().is_file()

    drive(LstmApp(), scenario)


# -- 4: numbers whole in the vocabulary table; the details fit -------------------------------------


def test_the_vocabulary_table_shows_whole_numbers_on_a_big_corpus() -> None:
    import asyncio

    import numpy as np
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from lstm_tui.core.text.vocab import Vocabulary
    from lstm_tui.ui.inference import InferenceService
    from lstm_tui.ui.widgets.vocab import VocabPane

    class VocabOnly(App[None]):
        CSS_PATH = LstmApp.CSS_PATH

        def compose(self) -> ComposeResult:
            yield VocabPane(InferenceService(), id="vocab", classes="pane")

    counts = [0, 14_717, *np.full(11_999, 3).tolist()]
    vocab = Vocabulary(["<unk>", "the", *(f"w{i}" for i in range(11_999))], counts)

    async def main() -> None:
        app = VocabOnly()
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(VocabPane)
            pane.set_vocab(vocab)
            pane.action_cycle_sort()
            pane.action_cycle_sort()  # by id
            pane.action_reverse()  # the highest id first
            await pilot.pause()
            table = app.query_one(DataTable)
            lines = table.render_lines(table.region.reset_offset)
            screen = "\n".join(line.text for line in lines)
            assert " 12000 " in screen or " 12000│" in screen, screen[:400]
            pane.action_reverse()
            pane.action_cycle_sort()  # by count
            await pilot.pause()
            lines = table.render_lines(table.region.reset_offset)
            screen = "\n".join(line.text for line in lines)
            assert "14,717" in screen and "29%" in screen  # 14,717 of 50,714 tokens
            assert "0.0059%" in screen  # 3 of 50,714: two significant digits, not 0.0%

    asyncio.run(main())


def test_word_details_fit_the_side_panel_at_120_by_40() -> None:
    async def scenario(pilot: Pilot) -> None:
        from lstm_tui.ui.widgets.vocab import VocabPane

        app = await wait_ready(pilot)
        await pilot.press("f3")
        pane = app.query_one(VocabPane)
        details = app.query_one("#vocab-details")
        await wait_for(pilot, lambda: "nearest" in details.render().plain, "the details")
        text = details.render().plain.rstrip("\n")
        assert len(text.splitlines()) <= details.size.height
        shown = text.split("nearest (cosine)")[1].strip().splitlines()
        assert shown and all(line.strip() for line in shown) and pane.selected

    drive(LstmApp(), scenario)


# -- 9: notifications never cover the input or a dialog's buttons ----------------------------------


def test_notifications_leave_the_input_and_the_buttons_visible() -> None:
    from textual.widgets._toast import Toast

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        for n in range(4):
            app.notify(f"note {n}: " + "a long message that wraps " * 3, timeout=30)
        await pilot.press("ctrl+r", "ctrl+r", "ctrl+r")
        await pilot.pause(0.3)
        prompt = app.query_one(PromptInput).region
        toasts = list(app.screen.query(Toast))
        assert toasts and not any(t.region.overlaps(prompt) for t in toasts), (
            prompt,
            [t.region for t in toasts],
        )
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, HyperparamsScreen), "the form")
        await pilot.pause(0.3)
        buttons = [b.region for b in app.screen.query(Button)]
        toasts = list(app.screen.query(Toast))
        assert toasts and not any(t.region.overlaps(b) for t in toasts for b in buttons)

    drive(LstmApp(), scenario)


# -- 13: the chart's axes --------------------------------------------------------------------------


def test_chart_axis_labels_are_evenly_spaced_round_values() -> None:
    import itertools
    import re

    from lstm_tui.ui.widgets.chart import LossChart

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        chart = app.query_one(LossChart)
        for step in range(1, 60):
            chart.add(step, 4.0 / step + 0.3, min(1.0, step / 50))
        builds = chart.builds
        chart.redraw()
        await wait_for(pilot, lambda: chart.builds > builds, "the chart")
        rows = chart.render().plain.splitlines()
        right = [
            (i, int(m.group(1))) for i, r in enumerate(rows) if (m := re.search(r"├(\d+) *$", r))
        ]
        values = [v for _, v in right]
        assert set(values) <= {0, 25, 50, 75, 100} and len(values) >= 3, rows
        gaps = {b[0] - a[0] for a, b in itertools.pairwise(right)}
        assert len(gaps) == 1, right  # evenly spaced on the screen

    drive(LstmApp(), scenario)


# -- it remembers you ------------------------------------------------------------------------------


def test_the_app_reopens_what_was_open_and_fresh_does_not(tmp_path: Path) -> None:
    from lstm_tui.core.store import settings

    text = tmp_path / "owl.txt"
    text.write_text("the owl sang to the moon and the moon sang back to the owl .\n" * 5)

    async def first(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        assert app.corpus_path == text

    drive(LstmApp(corpus=str(text)), first)
    assert settings.read_state().to_reopen() == ("corpus", text.resolve())

    async def again(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        assert app.session.corpus.name == "owl.txt" and "owl" in app.session.vocab

    drive(LstmApp(), again)

    async def fresh(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        assert app.session.corpus.name == "belling_the_cat.txt"

    drive(LstmApp(fresh=True), fresh)


def test_settings_apply_and_a_broken_file_is_one_line_and_the_defaults() -> None:
    from lstm_tui.core.store import settings

    path = settings.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('theme = "nord"\nthreads = 1\n[keys]\ntrain = "f5,ctrl+t"\n')

    async def applied(pilot: Pilot) -> None:
        from .conftest import toasts

        app = await wait_ready(pilot)
        assert app.theme == "nord" and app.threads == 1
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.training_state != "idle", "ctrl+t to train")
        await pilot.press("f7")
        await wait_for(pilot, lambda: app.training_state == "idle", "stop")
        app.theme = "gruvbox"  # the palette's "Change theme" does this: it is remembered
        await wait_for(
            pilot, lambda: settings.read_settings()[0].theme == "gruvbox", "the theme saved"
        )
        assert not any("Settings" in t for t in toasts(app))

    drive(LstmApp(), applied)
    path.write_text('theme = "nord\n')

    async def broken(pilot: Pilot) -> None:
        from .conftest import toasts

        app = await wait_ready(pilot)
        note = [t for t in toasts(app) if "config.toml" in t]
        assert len(note) == 1 and "using the defaults" in note[0]
        assert app.theme != "nord" and app.is_running

    drive(LstmApp(), broken)
    assert path.read_text() == 'theme = "nord\n'  # never overwritten


# -- it says what it holds: the history in the chart, and exported --------------------------------


def test_a_loaded_checkpoint_draws_its_history_and_ctrl_g_exports_it(tmp_path: Path) -> None:
    from lstm_tui.ui.widgets.chart import LossChart

    async def scenario(pilot: Pilot) -> None:
        from .conftest import toasts

        app = await wait_ready(pilot)
        await small_model(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: any("No training history" in t for t in toasts(app)), "no")
        await train_steps(pilot, 2)
        await wait_for(pilot, lambda: app.session.history, "an evaluation")
        saved = checkpoint.save(app.session, tmp_path / "hist.safetensors")
        records, old = list(app.session.history), app.session
        app.load_checkpoint(saved)
        await wait_for(pilot, lambda: app.session is not old and not app.busy, "the load")
        chart = app.query_one(LossChart)
        assert chart.steps == [r["step"] for r in records]  # the history, before any new run
        await pilot.press("ctrl+g")
        exported = paths.checkpoints_dir() / "hist.history.csv"
        await wait_for(pilot, exported.is_file, "the export")
        assert exported.read_text().count("\n") == 1 + len(records)

    drive(LstmApp(), scenario)


# -- it explains itself ----------------------------------------------------------------------------


def test_metrics_are_explained_and_f9_shows_what_a_run_will_use() -> None:
    from lstm_tui.ui.screens.help import HelpScreen

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        tooltip = str(app.query_one("#train-metrics").tooltip)
        assert "val ppl: perplexity on held-out text" in tooltip and "window:" in tooltip
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        titles = [title for title, _ in app.screen.sections]
        assert "Metrics" in titles
        await pilot.press("escape")
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, HyperparamsScreen), "the form")
        note = app.screen.query_one("#form-effective").render().plain
        # The fable: 204 tokens, too short for the default 32 × 35.
        assert note == "On this text (204 training tokens) a run uses batch 25 × bptt 8."
        app.screen.query_one("#field-batch", Input).value = "4"
        await pilot.pause()
        note = app.screen.query_one("#form-effective").render().plain
        assert "batch 4 × bptt" in note

    drive(LstmApp(), scenario)


def test_an_evaluation_says_when_suggestions_should_be_useful() -> None:
    from lstm_tui.ui.widgets.line import LogLines

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await small_model(pilot)
        await pilot.press("f5")
        log = app.query_one(LogLines)
        await wait_for(pilot, lambda: "suggestions should be useful" in log.plain, "the hint")
        await pilot.press("f7")
        await wait_for(pilot, lambda: app.training_state == "idle", "stop")

    drive(LstmApp(), scenario)


def test_the_footer_shows_every_key_whole_at_120_columns() -> None:
    """ "F10 Runs" was cut to "F10 Run▏" at 120 columns (tab's "Accept" is in the predictor's
    own legend, so the footer leaves it out)."""
    from textual.widgets._footer import FooterKey

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await pilot.press("f4")  # the predictor has the focus, as when a person types

        def settled() -> bool:  # the footer is recomposed a moment after the bindings change
            shown = {k.description: k.region.width for k in app.screen.query(FooterKey)}
            return "Cancel" not in shown and "Chart" not in shown and bool(shown.get("Runs"))

        await wait_for(pilot, settled, "the footer's keys for the predictor")
        keys = list(app.screen.query(FooterKey))
        palette = next(k for k in keys if k.description == "palette")  # docked at the right
        cut = [
            k.description for k in keys if k is not palette and k.region.right > palette.region.x
        ]
        assert not cut, " ".join(f"{k.description}:{k.region.right}" for k in keys)

    drive(LstmApp(), scenario)


def test_a_suggestion_never_wraps_apart_from_its_number() -> None:
    """The row's two lines break between suggestions: wrapped as plain text, a number could
    end the first line and its word start the second (seen at 120×40 with long words)."""
    from rich.text import Text
    from textual.app import App, ComposeResult

    from lstm_tui.ui.widgets.predictor import SuggestionRow

    words = ["the", "mice", "counsellors", "belling", "cat"]

    class RowApp(App):
        CSS = "SuggestionRow { height: 2; width: 34; text-wrap: wrap; }"

        def compose(self) -> ComposeResult:
            yield SuggestionRow(id="suggestions")

    async def scenario(pilot: Pilot) -> None:
        row = pilot.app.query_one(SuggestionRow)
        row.show_chips([Text(f" {n}  {w} 12%") for n, w in enumerate(words, start=1)])
        await pilot.pause()
        lines = [row.render_line(y).text for y in range(2)]
        for n, word in enumerate(words[:3], start=1):  # the first three fit in two lines
            assert any(f" {n}  {word} " in line for line in lines), lines
        row.styles.width = 60  # wider: it lays the same chips out again, one line
        await pilot.pause()
        assert all(f" {w} " in row.render_line(0).text for w in words[:3])

    drive(RowApp(), scenario)


def test_a_long_log_line_wraps_so_its_end_is_read() -> None:
    """The end of a run's line (which weights were kept, where the model went) was cut with
    an ellipsis at 120×40; it wraps onto indented rows, and the oldest rows give way."""
    from textual.app import App, ComposeResult

    from lstm_tui.ui.widgets.line import LogLines

    end = "kept the weights of evaluation 7 (the LSTM's best validation loss)"

    class LogApp(App):
        CSS = "LogLines { height: 4; width: 40; }"

        def compose(self) -> ComposeResult:
            yield LogLines()

    async def scenario(pilot: Pilot) -> None:
        log = pilot.app.query_one(LogLines)
        for n in range(3):
            log.write(f"evaluation {n} · ppl 12{n}.0")
        log.write(f"stopped: time · {end}", wrap=True)
        await pilot.pause()
        rows = [log.render_line(y).text.rstrip() for y in range(4)]
        assert rows[0] == "evaluation 2 · ppl 122.0"  # the older two gave way
        assert rows[1].startswith("stopped: time") and all(r.startswith("  ") for r in rows[2:])
        assert " ".join(" ".join(rows[1:]).split()) == f"stopped: time · {end}"
        log.write(f"  ↳ a sample of text, {end}")  # one row, cut
        await pilot.pause()
        rows = [log.render_line(y).text.rstrip() for y in range(4)]
        assert rows[-1].startswith("  ↳ a sample") and rows[-1].endswith("…")
        assert rows[0].startswith("stopped: time")

    drive(LogApp(), scenario)


# -- a key bound in the input keeps its place among the letters typed around it --------------------


def test_a_bound_key_acts_before_the_letters_typed_after_it() -> None:
    """Textual runs a focused widget's bindings only when the key has bubbled up to the app,
    while the input inserts a letter at once (Textual issue #6605): ctrl+u then "but" sent
    without a pause (a fast typist, a loaded machine, tmux in CI) deleted "but" too, and
    ctrl+→ then "X" put the X before the word taken."""
    from textual.events import Key

    def send(app: LstmApp, keys: list[str]) -> None:
        for key in keys:  # no pause between them, as a terminal delivers a burst
            app.post_message(Key(key, key if len(key) == 1 else None))

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        app.inference.phrases = False  # the one-word ghost: "the mice" → "the mice had"
        prompt = app.query_one(PromptInput)
        pane = app.query_one(PredictorPane)
        await type_text(pilot, "the mice ")
        await wait_for(pilot, lambda: pane.ghost == "the mice had", "the ghost 'had'")
        send(app, ["ctrl+right", "X"])
        await pilot.pause()
        assert prompt.value == "the mice hadX"
        send(app, ["ctrl+u", "b", "u", "t"])
        await pilot.pause()
        assert prompt.value == "but"
        send(app, ["ctrl+w", "c", "a", "t", "backspace", "r"])
        await pilot.pause()
        assert prompt.value == "car"
        # A key the user rebound in config.toml's [keys] acts in its place, in order too.
        app.set_keymap({"predictor.accept_word": "ctrl+y"})
        send(app, ["ctrl+u", *"the mice "])
        await wait_for(pilot, lambda: pane.ghost == "the mice had", "the ghost 'had' again")
        send(app, ["ctrl+y", "X"])
        await pilot.pause()
        assert prompt.value == "the mice hadX"
        # Every text box of the app does the same: the vocabulary's filter here.
        box = app.query_one("#vocab-filter", Input)
        box.focus()
        await pilot.pause()
        send(app, [*"cat", "ctrl+u", *"mi", "backspace", "e"])
        await pilot.pause()
        assert box.value == "me"

    drive(LstmApp(), scenario)
