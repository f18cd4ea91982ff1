"""Learning as you type (core/serving/adapt.py): causal, it helps, it is saved, it is offered."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core.serving.adapt import (
    AdaptConfig,
    AdaptRows,
    TextCounts,
    adaptive_probs,
    adaptive_scores,
    forget,
    learn,
    set_learning,
)
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.store import checkpoint, paths
from lstm_tui.core.text.corpus import encode_text

# Small segments, so that the LSTM learns several times inside the short texts drawn here.
QUICK = AdaptConfig(segment=3)


@pytest.fixture(scope="module")
def fable_session(fable, make_session):
    """A 1×32 model with the fable's n-gram and a mixture that gives every part a say."""
    from lstm_tui.core.model.mixture import MixWeights

    session = make_session(fable)
    session.mix = MixWeights(0.5, 0.3, 0.2)
    return session


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_scoring_a_position_never_sees_it_or_later(fable_session, data) -> None:
    """Property: the score of ids[i] depends on ids[:i + 1] alone. Change everything from a
    cut onwards; every score before the cut stays bit for bit the same."""
    vocab = len(fable_session.vocab)
    ids = data.draw(st.lists(st.integers(0, vocab - 1), min_size=4, max_size=40))
    cut = data.draw(st.integers(1, len(ids) - 1))
    tail = data.draw(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=20))
    other = ids[:cut] + tail
    model, ngram = fable_session.model, fable_session.ngram
    rows_a, rows_b = AdaptRows.at(np.arange(len(ids))), AdaptRows.at(np.arange(len(other)))
    a = adaptive_probs(model, ngram, np.array(ids), QUICK, rows_a)
    b = adaptive_probs(model, ngram, np.array(other), QUICK, rows_b)
    # Column i scores ids[i + 1]: columns 0 .. cut - 2 score words before the cut.
    np.testing.assert_array_equal(a[:, : cut - 1], b[:, : cut - 1])
    # The typist's whole distributions too: the one for the word at p reads ids[:p] alone.
    for p in range(1, cut + 1):
        torch.testing.assert_close(rows_a.lstm[p], rows_b.lstm[p], rtol=0, atol=0)
        torch.testing.assert_close(rows_a.ngram[p], rows_b.ngram[p], rtol=0, atol=0)


def test_the_property_is_not_vacuous_it_does_learn(fable_session, fable) -> None:
    """The scores of the same words differ once something was learnt before them."""
    ids = np.asarray(fable.ids[:60])
    learning = adaptive_probs(fable_session.model, fable_session.ngram, ids, QUICK)
    frozen = replace(QUICK, lr=0.0, decay=0.0, prior=1e12)  # nothing moves
    still = adaptive_probs(fable_session.model, fable_session.ngram, ids, frozen)
    np.testing.assert_allclose(learning[:, :2], still[:, :2], rtol=1e-6)  # first segment
    assert not np.allclose(learning[0, 3:], still[0, 3:])  # the LSTM learnt
    assert not np.allclose(learning[1, 3:], still[1, 3:])  # the n-gram counted


def test_adaptation_lowers_perplexity_on_repeated_text(default_session, fable) -> None:
    """The shipped fable model reads the fable's words in an order it never saw, three times
    over: learning as it reads, the second and third reading cost it much less."""
    order = np.random.default_rng(0).permutation(len(fable.ids))
    ids = np.tile(np.asarray(fable.ids)[order], 3)
    session = default_session  # read-only: adaptive_scores adapts a copy
    scores = adaptive_scores(session.model, session.ngram, session.mix, ids, AdaptConfig())
    figures = scores.perplexities()
    assert figures["adapted"]["lstm"] < 0.5 * figures["static"]["lstm"]
    assert figures["adapted"]["mixture"] < 0.5 * figures["static"]["mixture"]


def test_the_counts_lower_the_ngram_perplexity_on_repeated_text(fable_session, fable) -> None:
    ids = np.tile(np.asarray(fable.ids)[::-1], 3)  # reversed: not what the n-gram counted
    probs = adaptive_probs(fable_session.model, fable_session.ngram, ids, AdaptConfig())
    static = np.exp(fable_session.ngram.target_log_probs(ids))
    assert np.exp(-np.log(probs[1]).mean()) < 0.7 * np.exp(-np.log(static).mean())


def test_counts_refine_the_trained_distribution() -> None:
    """MAP adaptation: (c(h w) + β p(w)) / (c(h) + β), and it still sums to 1."""
    counts = TextCounts(order=2, prior=2.0)
    counts.add([1, 2, 1, 3])  # after 1: 2 once, 3 once
    base = np.full(4, 0.25)
    p = counts.distribution(base, [1])
    assert p[2] == pytest.approx((1 + 2 * 0.25) / (2 + 2))
    assert p.sum() == pytest.approx(1.0)
    assert counts.prob(0.25, [1], 2) == pytest.approx(p[2])
    assert counts.prob(0.25, [0], 2) == 0.25  # an unseen context: the trained figure


def _offered(predictor: Predictor, text: str) -> list[str]:
    return [w.word for w in predictor.suggest(text).next_words]


def _rare_word_and_prefix(session, context: str) -> tuple[str, str]:
    """A word of the vocabulary not offered after ``context`` + its first letter."""
    predictor = Predictor(session)
    for word in sorted(session.vocab.words[1:], key=len, reverse=True):
        prefix = word[0]
        if word not in _offered(predictor, f"{context} {prefix}"):
            return word, prefix
    raise AssertionError("every word is offered after its first letter")


def test_a_word_typed_once_is_offered_next_time(fable, make_session) -> None:
    session = make_session(fable)
    word, prefix = _rare_word_and_prefix(session, "the")
    assert learn(session, encode_text(f"we saw the {word} .", session.vocab).tolist())
    assert word in _offered(Predictor(session), f"the {prefix}")
    set_learning(session, False)  # off: the trained model's answer again
    assert word not in _offered(Predictor(session), f"the {prefix}")
    set_learning(session, True)
    assert forget(session) == 5
    assert word not in _offered(Predictor(session), f"the {prefix}")


def test_what_was_learnt_survives_save_and_load(fable, make_session, tmp_path) -> None:
    session = make_session(fable)
    word, prefix = _rare_word_and_prefix(session, "the")
    ids = encode_text(f"we saw the {word} and the {word} .", session.vocab).tolist()
    learn(session, ids)
    before = session.adaptation
    assert before is not None and before.words == len(ids) and before.delta
    assert not session.is_saved
    path = checkpoint.save(session, tmp_path / "learnt.safetensors")
    loaded = checkpoint.load(path)
    after = loaded.adaptation
    assert after is not None and after.counts.ids == before.counts.ids
    assert after.config == before.config and after.enabled
    assert set(after.delta) == set(before.delta)
    for name, delta in before.delta.items():
        torch.testing.assert_close(after.delta[name], delta, rtol=0, atol=0)
    assert _offered(Predictor(loaded), f"the {prefix}") == _offered(
        Predictor(session), f"the {prefix}"
    )
    assert word in _offered(Predictor(loaded), f"the {prefix}")


def test_a_checkpoint_from_before_learning_still_loads(default_session) -> None:
    """The shipped model predates learning as you type: it loads with nothing learnt."""
    header = checkpoint.read_header(paths.default_checkpoint())
    assert header["format_version"] < checkpoint.FORMAT_VERSION
    assert default_session.adaptation is None


def test_a_forged_learnt_part_is_refused_in_one_line(fable, make_session, tmp_path) -> None:
    """What was learnt comes from a file too: its word count and settings are checked."""
    from lstm_tui.core.errors import CheckpointError

    from .test_mixture import _rewrite_metadata

    session = make_session(fable)
    learn(session, encode_text("the cat and the mice .", session.vocab).tolist())
    for change, problem in (
        (lambda meta: meta["adapt"].update(words=99), "adapt.words does not match"),
        (lambda meta: meta["adapt"]["config"].update(lr="fast"), "adapt.config.lr"),
    ):
        path = checkpoint.save(session, tmp_path / "forged.safetensors")
        _rewrite_metadata(path, change)
        with pytest.raises(CheckpointError, match=problem) as refused:
            checkpoint.load(path)
        assert "\n" not in str(refused.value)
