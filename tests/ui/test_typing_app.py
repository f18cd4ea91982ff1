"""Issue 17: a word the user sends once is offered the next time they start typing it."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

from lstm_tui.core.training.train import EpochEvent
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.widgets.predictor import PredictorPane

from .conftest import static_text, type_text, wait_for, wait_ready


def test_a_word_sent_once_is_offered_next_time() -> None:
    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        pane = app.query_one(PredictorPane)
        await type_text(pilot, "a zor")
        assert pane.ghost is None  # the fable never says it: nothing to offer yet
        await pilot.press("ctrl+u")
        await type_text(pilot, "the mice met Zorblax")
        await pilot.press("enter")
        transcript = app.query_one("#transcript")
        await wait_for(pilot, lambda: not transcript.query(".pending"), "the model's answer")
        await type_text(pilot, "a Zor")
        await wait_for(pilot, lambda: pane.ghost == "a Zorblax", "the word sent, offered")
        assert "zorblax" in static_text(app, "#suggestions").split()

    async def main() -> None:
        async with LstmApp().run_test(size=(120, 40), notifications=True) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def _evaluation_with_ksr() -> EpochEvent:
    return EpochEvent(
        epoch=3, step=120, train_loss=4.2, train_accuracy=0.2, val_loss=4.5,
        val_perplexity=90.0, val_accuracy=0.15, window_accuracy=0.2, full_accuracy=0.15,
        elapsed=30.0, ksr=0.523,
    )  # fmt: skip


def test_the_training_pane_says_the_keystrokes_saved_in_words() -> None:
    from lstm_tui.ui.widgets.line import LogLines
    from lstm_tui.ui.widgets.training import TrainingPane

    event = _evaluation_with_ksr()

    async def main() -> None:
        async with LstmApp().run_test(size=(120, 40), notifications=True) as pilot:
            app = await wait_ready(pilot)
            pane = app.query_one(TrainingPane)
            pane.epoch(event)
            await pilot.pause()
            logged = [line.plain for line in pane.query_one(LogLines).lines]
            assert "saves 52% of keystrokes on held-out text" in logged
            pane._redraw_labels()
            await pilot.pause()
            line = static_text(app, "#train-metrics")  # what fits the pane, never cut
            assert (
                "saves 52% keys" in line
                and len(line) <= pane.query_one("#train-metrics").size.width
            )

    asyncio.run(main())


def test_at_80_columns_the_keystrokes_saved_fit_in_short() -> None:
    """The long sentence was cut to "saves 52% of keystr…" at 80×24 (and at 120×40, where
    the pane is half as wide)."""
    from lstm_tui.ui.widgets.training import TrainingPane

    event = _evaluation_with_ksr()

    async def main() -> None:
        async with LstmApp().run_test(size=(80, 24), notifications=True) as pilot:
            app = await wait_ready(pilot)
            await pilot.press("f2")  # at 80 columns the panes are tabs
            pane = app.query_one(TrainingPane)
            pane.epoch(event)
            pane._redraw_labels()
            await pilot.pause()
            line = static_text(app, "#train-metrics")
            assert line.endswith("saves 52% keys"), line
            assert len(line) <= pane.query_one("#train-metrics").size.width, line

    asyncio.run(main())


def test_at_120_columns_the_training_position_keeps_its_learning_rate() -> None:
    """'epoch 2  step 271 (271 of 2,040)  7,025 tok/s  lr' lost its value at 120×40."""
    from lstm_tui.core.training.train import StepEvent
    from lstm_tui.ui.widgets.training import TrainingPane

    event = StepEvent(
        step=271, epoch=2, epoch_progress=0.3, progress=0.13, loss=5.1, accuracy=0.16,
        tokens_per_second=7025.0, elapsed=29.0, eta=290.0, lr=3.5e-3, grad_norm=0.842,
    )  # fmt: skip

    async def main() -> None:
        async with LstmApp().run_test(size=(120, 40), notifications=True) as pilot:
            app = await wait_ready(pilot)
            pane = app.query_one(TrainingPane)
            pane.run_started("a run", total_steps=2_040, first_step=0)
            pane.step(event)
            pane._redraw_labels()
            await pilot.pause()
            line = static_text(app, "#train-position")
            assert "lr 3.5e-03" in line, line
            assert len(line) <= pane.query_one("#train-position").size.width, line

    asyncio.run(main())
