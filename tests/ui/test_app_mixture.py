"""The mixture in the app: a text opened gives n-gram suggestions before any training, and the
training pane shows the mixture's weight and each part's figures after an evaluation."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from lstm_tui.core.training.train import EpochEvent
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.files import OpenCorpusScreen
from lstm_tui.ui.widgets.predictor import PredictorPane
from lstm_tui.ui.widgets.training import TrainingPane, mixture_text

from .conftest import type_text, wait_for, wait_ready
from .test_app import drive, small_model


def ngram_probs(app: LstmApp, context: list[str]) -> dict[str, float]:
    """P(next word | context) by the session's n-gram alone, for every word but <unk>."""
    session = app.session
    assert session is not None and session.ngram is not None
    logp = session.ngram.log_probs([session.vocab.id(w) for w in context])
    return {w: math.exp(float(p)) for w, p in zip(session.vocab.words[1:], logp[1:], strict=True)}


async def suggestions_before_training(pilot: Pilot, context: str, expected: str) -> None:
    """Typing ``context`` gives the n-gram's suggestions, with the LSTM untrained."""
    app = pilot.app
    assert isinstance(app, LstmApp)
    session = app.session
    assert session is not None and session.progress.steps == 0
    assert (session.mix.lstm, session.mix.ngram) == (0.0, 1.0)
    pane = app.query_one(PredictorPane)
    await type_text(pilot, context)
    assert pane.suggestions is not None and pane.suggestions.next_words
    shown = {item.word: item.prob for item in pane.suggestions.next_words}
    assert pane.suggestions.next_words[0].word == expected
    ngram = ngram_probs(app, context.split())
    for word, prob in shown.items():  # the n-gram's own figures, its likeliest words
        assert prob == pytest.approx(ngram[word], rel=1e-4)
    assert min(shown.values()) >= max(p for w, p in ngram.items() if w not in shown) - 1e-6
    app.query_one("#prompt", Input).value = ""


def test_a_text_opened_gives_ngram_suggestions_before_f5(tmp_path: Path) -> None:
    launched = tmp_path / "cats.txt"
    launched.write_text("the cat sat on the mat . the cat ran to the door .\n" * 6)
    opened = tmp_path / "owls.txt"
    opened.write_text("an owl sang to the moon . an owl flew over the hill .\n" * 6)

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)  # launched with a corpus argument
        await suggestions_before_training(pilot, "the ", "cat")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenCorpusScreen), "the dialog")
        app.screen.query_one("#corpus-path", Input).value = str(opened)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.corpus_path == opened and not app.busy, "owls.txt")
        await wait_ready(pilot)
        await suggestions_before_training(pilot, "an ", "owl")

    drive(LstmApp(corpus=str(launched)), scenario)


def test_the_training_pane_shows_the_mixture_after_an_evaluation(tmp_path: Path) -> None:
    rng = random.Random(3)  # a text with held-out words (over 1,000 tokens): a fitted mixture
    animals, verbs = ["cat", "dog", "owl", "fox", "hen"], ["sat", "ran", "hid", "slept"]
    places = ["mat", "hill", "barn", "door", "moon"]
    lines = [
        f"the {rng.choice(animals)} {rng.choice(verbs)} by the {rng.choice(places)} ."
        for _ in range(200)
    ]
    text = tmp_path / "farm.txt"
    text.write_text("\n".join(lines) + "\n")

    async def scenario(pilot: Pilot) -> None:
        app = await wait_ready(pilot)
        await small_model(pilot, hidden=16, epochs="1")
        pane = app.query_one(TrainingPane)
        mix_line = pane.query_one("#train-mix")
        assert not mix_line.display  # no evaluation yet: nothing to show
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.training_state == "idle", "the run to end", 120)
        epoch = pane.last_epoch
        assert isinstance(epoch, EpochEvent) and epoch.mix is not None
        assert epoch.components is not None
        await wait_for(pilot, lambda: mix_line.display, "the mixture line")
        shown = mix_line.render().plain
        assert shown.startswith(f"λ {epoch.mix['lstm']:.2f} · n-gram {epoch.mix['ngram']:.2f}")
        ppl = shown.split("\n")[1]
        assert ppl.startswith("ppl mix ") and " · LSTM " in ppl and " · n-gram " in ppl
        # The last evaluation of a run counts top-3 for every part (on the same line: the
        # chart keeps the rows).
        assert "  top-3 mix " in ppl
        assert mix_line.size.height == 2
        assert "λ" in str(mix_line.tooltip) and "n-gram" in str(mix_line.tooltip)
        session = app.session
        assert session is not None and session.mix.lstm == pytest.approx(epoch.mix["lstm"])

    drive(LstmApp(corpus=str(text)), scenario)


def test_mixture_text_reads_what_a_file_may_hold() -> None:
    components = {
        "lstm": {"perplexity": 150.0, "top1": 0.2, "top3": 0.4},
        "ngram": {"perplexity": 170.0, "top1": None, "top3": None},
        "mixture": {"perplexity": 123.4, "top1": None, "top3": None},
    }
    quick = mixture_text({"lstm": 0.62, "ngram": 0.38, "cache": 0.0}, components)
    assert quick is not None
    assert quick.plain.split("\n") == [
        "λ 0.62 · n-gram 0.38",
        "ppl mix 123 · LSTM 150 · n-gram 170  top-3 LSTM 40.0%",  # quick: the LSTM's alone
    ]
    components["mixture"]["perplexity_without_cache"] = 130.0
    components["lstm"]["perplexity"] = 45.67
    cached = mixture_text({"lstm": 0.5, "ngram": 0.45, "cache": 0.05}, components)
    assert cached is not None
    assert cached.plain.split("\n") == [
        "λ 0.50 · n-gram 0.45 · cache 0.05 (ppl 130 without)",
        "ppl mix 123 · LSTM 45.7 · n-gram 170  top-3 LSTM 40.0%",
    ]
    assert mixture_text(None, components) is None  # an LSTM-only model
    assert mixture_text({"lstm": 1.0}, None) is None
    odd = mixture_text({"lstm": "x"}, {"lstm": {"perplexity": "y", "top3": []}, "ngram": 3})
    assert odd is not None and odd.plain == "λ 0.00 · n-gram 0.00\nppl LSTM —"
