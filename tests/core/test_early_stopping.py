"""Early stopping on the LSTM's own validation loss, and a time budget that covers the whole job.

Issue 17 item 5: on small texts the LSTM overfits, the weights kept followed the mixture's
validation loss (which the n-gram and the cache prop up) rather than the LSTM's, and a
600-s budget ran for 645 s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from lstm_tui.cli import main
from lstm_tui.core.model.session import Session
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.crossfit import read_as_unseen, words_in
from lstm_tui.core.training.metrics import score_components
from lstm_tui.core.training.train import EpochEvent, StopReason, Trainer, TrainResult

REPO = Path(__file__).resolve().parents[2]
SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def held_out(corpus: Corpus) -> np.ndarray:
    """The held-out text as a run scores it: words the training part lacks as <unk>."""
    return read_as_unseen(corpus.val_ids, words_in(corpus.train_ids, len(corpus.vocab)))


def overfitting_run(make_text, mix: str) -> tuple[Corpus, Session, list]:
    """A big model at a high rate on training text unlike its validation text: the LSTM's
    validation loss falls, then rises as it learns the training text by heart. No epoch
    count and no budget: the run plans ~300k tokens and early stopping may end it sooner."""
    train_part = make_text(3_000, seed=1)
    val_part = " ".join(reversed(make_text(400, seed=2).split())) + "\n"
    corpus = Corpus.from_text(train_part + val_part, val_fraction=0.1)
    config = TrainConfig(seed=1, batch_size=4, lr=2e-2, mix=mix, schedule="constant")
    session = Session.new(corpus, "default", config, embed=64, hidden=64, layers=1, dropout=0.0)
    events = list(Trainer(session, corpus.train_ids, corpus.val_ids, config).run())
    return corpus, session, events


def test_early_stopping_keeps_the_lstms_best_weights_not_the_mixtures(make_text) -> None:
    corpus, session, events = overfitting_run(make_text, mix="auto")
    result = events[-1]
    assert isinstance(result, TrainResult)
    evaluations = [e for e in events if isinstance(e, EpochEvent)]
    lstm_losses = [e.val_loss for e in evaluations[:-1]]  # the last re-measures the kept
    best = int(np.argmin(lstm_losses))
    assert lstm_losses[-1] > lstm_losses[best] * 1.05, "the LSTM did not overfit"
    # Patience ran out on the LSTM's loss: the run ended before its planned epochs.
    assert result.reason == StopReason.PLATEAU, result.message
    assert len(lstm_losses) - 1 - best == 4  # PATIENCE evaluations after the best
    # What the product serves is the LSTM of the best evaluation ...
    kept = score_components(session.model, held_out(corpus), 1, None, cache=False).lstm.loss
    assert kept == pytest.approx(lstm_losses[best], rel=1e-4)
    assert result.val_perplexity == pytest.approx(np.exp(lstm_losses[best]), rel=1e-4)
    # ... with the mixture's weights fitted for it, on the held-out text, by the evaluation
    # that re-measured it (the n-gram then counts the held-out text too).
    assert evaluations[-1].val_loss == pytest.approx(lstm_losses[best], rel=1e-4)
    assert result.mix == evaluations[-1].mix == session.mix.to_dict()
    assert "the LSTM's best validation loss" in result.message


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason="no ../shared/data (a user's clone)")
def test_the_weights_kept_are_the_lstms_best_even_where_the_mixtures_best_is_later() -> None:
    """On real text the mixture's validation loss keeps falling for a while after the LSTM's
    has turned: an overfitted LSTM is sharper where it is right, and the n-gram and the cache
    catch it where it is wrong. The LSTM that is served alone (and mixed) is its own best."""
    corpus = Corpus.from_text(SHAKESPEARE.read_text(encoding="utf-8")[:20_000])
    config = TrainConfig(seed=1, batch_size=8, lr=1e-2, epochs=12, schedule="constant")
    session = Session.new(corpus, "default", config, embed=64, hidden=64, layers=1, dropout=0.0)
    events = list(Trainer(session, corpus.train_ids, corpus.val_ids, config).run())
    evaluations = [e for e in events if isinstance(e, EpochEvent)][:-1]  # the last re-measures
    lstm = [e.val_loss for e in evaluations]
    mixture = [e.components["mixture"]["perplexity"] for e in evaluations]
    best = int(np.argmin(lstm))
    assert int(np.argmin(mixture)) > best, "this run no longer tells the two apart"
    kept = score_components(session.model, held_out(corpus), 1, None, cache=False).lstm.loss
    assert kept == pytest.approx(lstm[best], rel=1e-4)


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason="no ../shared/data (a user's clone)")
def test_a_short_budget_covers_the_whole_command(tmp_path: Path, capsys) -> None:
    """``train --max-seconds`` ends, checkpoint saved, within a small margin of its budget:
    reading the text, the evaluations, counting the n-gram again and saving included."""
    text = tmp_path / "plays.txt"
    text.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:100_000], encoding="utf-8")
    budget = 5.0
    started = time.perf_counter()
    code = main(["train", str(text), "--max-seconds", str(budget), "--out", str(tmp_path / "m"),
                 "--quiet", "--json"])  # fmt: skip
    wall = time.perf_counter() - started
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stop_reason"] in ("time", "plateau") and summary["steps"] > 0
    assert Path(summary["checkpoint"]).is_file()
    # Before the fix the run alone took the budget, then evaluated, recounted and saved.
    assert wall <= budget + 1.0, f"{wall:.2f} s for a {budget:g} s budget"
