"""Issue 7: the mixture of LSTM, n-gram and cache; the time budget; best-validation weights;
the n-gram in checkpoints; the whitespace tokenizer."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_tui.core.errors import CheckpointError, ConfigError
from lstm_tui.core.model.mixture import (
    MixMode,
    MixWeights,
    cache_target_probs,
    fit_weights,
    parse_mix,
)
from lstm_tui.core.model.session import Session
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.store import checkpoint
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.text.tokenize import EOS, Tokenizer, detokenize, split_partial, tokenize
from lstm_tui.core.training import train
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.metrics import evaluate_session, score_components
from lstm_tui.core.training.train import EpochEvent, StopReason, Trainer, TrainResult


@pytest.fixture(scope="module")
def story(make_text) -> Corpus:
    """A few thousand tokens with a validation split (the fable has none)."""
    return Corpus.from_text(make_text(4_000, seed=3), name="story")


def small_session(corpus: Corpus, **train) -> Session:
    torch.manual_seed(0)
    config = TrainConfig(seed=1, batch_size=8, **train)
    return Session.new(corpus, "default", config, embed=24, hidden=24, layers=1, dropout=0.1)


def run(session: Session, corpus: Corpus, **train) -> list:
    config = TrainConfig(seed=1, batch_size=8, **train)
    return list(Trainer(session, corpus.train_ids, corpus.val_ids, config).run())


# -- weights and the cache -----------------------------------------------------------------


def test_em_weights_favour_the_better_component_and_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    good = rng.uniform(0.2, 0.9, 5_000)
    bad = rng.uniform(0.0, 0.05, 5_000)
    weights = fit_weights(np.stack([good, bad]))
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] > 0.95
    # The fitted weights beat every other point on a grid: EM finds the optimum.
    best = np.log(weights @ np.stack([good, bad])).mean()
    for w in np.linspace(0, 1, 21):
        assert best >= np.log(w * good + (1 - w) * bad).mean() - 1e-9
    fixed = fit_weights(np.stack([good, bad, bad]), fixed_first=0.3)
    assert fixed[0] == pytest.approx(0.3) and fixed.sum() == pytest.approx(1.0)


@given(st.lists(st.integers(0, 6), min_size=2, max_size=120), st.integers(1, 40))
@settings(max_examples=80, deadline=None)
def test_cache_probabilities_match_counting_by_hand(ids: list[int], window: int) -> None:
    got = cache_target_probs(np.array(ids), window)
    for i in range(1, len(ids)):
        recent = ids[max(0, i - window) : i]
        assert got[i - 1] == pytest.approx(recent.count(ids[i]) / len(recent))


def test_parse_mix() -> None:
    assert parse_mix("auto") == (MixMode.AUTO, None)
    assert parse_mix("off") == (MixMode.OFF, None)
    assert parse_mix("0.25") == (MixMode.FIXED, 0.25)
    for bad in ("1.5", "-0.1", "nan", "lots"):
        with pytest.raises(ConfigError, match="mix must be"):
            parse_mix(bad)


# -- the predictor's mixture -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(story: Corpus) -> Session:
    session = small_session(story)
    run(session, story, epochs=2)
    return session


def test_a_new_session_predicts_from_the_ngram_at_once(story: Corpus) -> None:
    session = small_session(story)
    assert session.ngram is not None and session.mix == MixWeights.ngram_only()
    # The untrained LSTM plays no part: suggestions are the n-gram's, ranked by it.
    suggestions = Predictor(session).suggest("the old mouse ", k=3)
    ids = [session.vocab.id(t) for t in tokenize("the old mouse")]
    expected = session.ngram.log_probs(ids[-4:])
    expected[0] = -np.inf
    top = np.sort(np.exp(expected))[::-1][:3]  # by probability: words may tie
    assert [w.prob for w in suggestions.next_words] == pytest.approx(top.tolist(), rel=1e-5)
    for w in suggestions.next_words:
        assert math.exp(expected[session.vocab.id(w.word)]) == pytest.approx(w.prob, rel=1e-5)


def test_training_fits_weights_that_predictions_use(mixed: Session) -> None:
    mix = mixed.mix
    assert mix.lstm > 0 and mix.ngram > 0
    assert mix.lstm + mix.ngram + mix.cache == pytest.approx(1.0)
    assert mixed.metrics["mix"] == pytest.approx(mix.to_dict())
    assert set(mixed.metrics["components"]) == {"lstm", "ngram", "mixture"}


@given(
    st.lists(st.sampled_from(["the", "cat", "mouse", "bell", ".", "said", "zzz"]), max_size=12),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
@settings(max_examples=40, deadline=None)
def test_the_mixture_sums_to_one(mixed: Session, words: list[str], a: float, b: float) -> None:
    kept = mixed.mix
    try:
        mixed.mix = MixWeights.from_dict({"lstm": a + 1e-3, "ngram": b, "cache": 1 - b})
        mixed.mark_changed()
        predictor = Predictor(mixed)
        model = predictor.model
        ids = [mixed.vocab.id(w) for w in words]
        with torch.inference_mode():
            state = predictor._fresh_state(model, ids) if ids else model.init_state()
            lstm = predictor._lstm_log_probs(model, state)
            total = float(torch.logsumexp(predictor.mixture(lstm, ids), 0).exp())
        assert total == pytest.approx(1.0, abs=1e-4)
    finally:
        mixed.mix = kept
        mixed.mark_changed()


@given(
    st.lists(st.sampled_from(["the", "cat", "mouse", "bell", ".", "said", "zzz"]), min_size=1,
             max_size=10),
)  # fmt: skip
@settings(max_examples=25, deadline=None)
def test_live_surprise_is_the_mixtures_typed_or_pasted(mixed: Session, words: list[str]) -> None:
    """The bits shown while typing are -log2 of the mixture's probability of each word,
    whether the line was typed key by key or pasted in one go; an unknown word has none."""
    text = " ".join(words) + " "
    typed = Predictor(mixed)
    for i in range(1, len(text) + 1):
        got = typed.suggest(text[:i])
    pasted = Predictor(mixed).suggest(text)
    assert len(got.surprise) == len(pasted.surprise) == len(words)
    reference = Predictor(mixed)
    model = reference.model
    ids = [mixed.vocab.id(w) for w in words]
    for i, (word_id, a, b) in enumerate(zip(ids, got.surprise, pasted.surprise, strict=True)):
        if word_id == 0:
            assert a is None and b is None
            continue
        with torch.inference_mode():
            if i == 0:
                logp = reference._unigram
            else:
                state = reference._fresh_state(model, ids[:i])
                logp = reference.mixture(reference._lstm_log_probs(model, state), ids[:i])
        expected = -float(logp[word_id]) / math.log(2)
        assert a == pytest.approx(expected, rel=1e-4, abs=1e-4)
        assert b == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_evaluation_components_and_top_k(mixed: Session, story: Corpus) -> None:
    result = evaluate_session(mixed, story.val_ids)
    parts = result["components"]
    assert set(parts) == {"lstm", "ngram", "mixture"}
    assert result["perplexity"] == pytest.approx(parts["mixture"]["perplexity"])
    for figures in parts.values():
        assert figures["perplexity"] > 1 and 0 <= figures["top1"] <= figures["top3"] <= 1
    # The mixture's perplexity is that of the weighted per-token probabilities.
    scores = score_components(mixed.model, story.val_ids, 1, mixed.ngram)
    mix = mixed.mix.as_array()
    expected = math.exp(-np.log(mix @ scores.probs).mean())
    assert parts["mixture"]["perplexity"] == pytest.approx(expected, rel=1e-6)


# -- words the vocabulary lacks ----------------------------------------------------------------


def test_words_seen_once_become_unk_on_a_text_worth_training_on(make_text, fable) -> None:
    """So that the LSTM learns what an unseen word is worth (auto_min_count); the fable,
    learnt by heart, keeps every word, and --min-count 1 keeps them anywhere."""
    from collections import Counter

    assert fable.vocab.counts[0] == 0
    assert len(fable.vocab) - 1 == len(set(tokenize(fable.path.read_text(encoding="utf-8"))))
    text = make_text(3_000, seed=5) + " ".join(f"once{i}" for i in range(40)) + " .\n"
    counts = Counter(tokenize(text))
    singletons = sum(1 for c in counts.values() if c == 1)
    corpus = Corpus.from_text(text)
    assert "once0" not in corpus.vocab.index and singletons >= 40
    assert int(corpus.vocab.counts[0]) == singletons == int((corpus.ids == 0).sum())
    assert min(corpus.vocab.counts[1:]) >= 2
    assert "once0" in Corpus.from_text(text, min_count=1).vocab.index


def test_top_k_is_what_the_app_would_suggest_never_unk() -> None:
    from lstm_tui.core.training.metrics import _top_hits

    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]] * 3)  # <unk> (id 0) ranks first
    # Targets: 3 is the third suggestion once <unk> steps aside; <unk> itself never hits.
    assert _top_hits(scores, torch.tensor([1, 3, 0])).tolist() == [1.0, 2.0]


def test_an_untrained_model_predicts_word_frequencies(fable) -> None:
    from lstm_tui.core.model.lstm import LanguageModel, make_config

    model = LanguageModel(make_config(len(fable.vocab), "seed-1layer", embed=16, hidden=16))
    model.start_from_frequencies(fable.vocab.counts)
    with torch.no_grad():
        model.decoder.weight.zero_()  # the bias alone: what the model knows before any context
        logp = torch.log_softmax(model(torch.tensor([[1, 2]]))[0][0, -1], -1)
    smoothed = fable.vocab.counts + 1.0
    assert logp.exp().numpy() == pytest.approx(smoothed / smoothed.sum(), rel=1e-5)


# -- the time budget and the weights kept ------------------------------------------------------


def test_a_budget_is_spent_and_the_run_says_why_it_ended(story: Corpus) -> None:
    session = small_session(story)
    config = TrainConfig(seed=1, batch_size=8, max_seconds=4.0)
    trainer = Trainer(session, story.train_ids, story.val_ids, config)
    assert trainer.epochs is None  # no epoch limit under a budget
    events = list(trainer.run())
    result = events[-1]
    assert isinstance(result, TrainResult)
    assert result.reason in (StopReason.TIME, StopReason.PLATEAU)
    if result.reason == StopReason.TIME:
        assert result.seconds >= 0.9 * 4.0, "a budgeted run stopped early without a plateau"
    else:
        assert "stopped improving" in result.message
    assert result.best_epoch is not None and result.mix is not None
    # The rate: a short linear warm-up, then a cosine that ends near 0 at the deadline.
    peak = config.lr
    rates = [trainer._learning_rate(done) for done in np.linspace(0, 1, 101)]
    assert rates[0] < 0.05 * peak and max(rates) == pytest.approx(peak, rel=0.01)
    assert rates[-1] == pytest.approx(train.FINAL_LR * peak)
    top = int(np.argmax(rates))
    assert rates[: top + 1] == sorted(rates[: top + 1]) and rates[top:] == sorted(rates[top:])[::-1]


def test_the_weights_kept_are_the_best_on_validation(make_text) -> None:
    # Training text unlike its validation text, a big model and a high rate: validation loss
    # falls, then rises as the model learns the training text by heart.
    train_part = make_text(3_000, seed=1)
    val_part = " ".join(reversed(make_text(400, seed=2).split())) + "\n"
    corpus = Corpus.from_text(train_part + val_part, val_fraction=0.1)
    torch.manual_seed(0)
    config = TrainConfig(seed=1, batch_size=4, lr=2e-2, epochs=40, mix="off", schedule="constant")
    session = Session.new(corpus, "default", config, embed=64, hidden=64, layers=1, dropout=0.0)
    events = list(Trainer(session, corpus.train_ids, corpus.val_ids, config).run())
    evaluations = [e for e in events if isinstance(e, EpochEvent)]
    losses = [e.val_loss for e in evaluations[:-1]]  # the last re-measures the weights kept
    best = int(np.argmin(losses))
    assert best < len(losses) - 1 and losses[-1] > losses[best] * 1.05, "it did not overfit"
    kept = score_components(session.model, corpus.val_ids[:16_000], 1, None).lstm.loss
    assert kept == pytest.approx(losses[best], rel=1e-4)
    assert events[-1].val_perplexity == pytest.approx(math.exp(losses[best]), rel=1e-4)
    assert "kept the weights of evaluation" in events[-1].message


def test_the_fable_keeps_its_constant_rate_and_target(fable: Corpus, make_session) -> None:
    session = make_session(fable)
    events = list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=3)).run())
    assert {e.lr for e in events if hasattr(e, "lr")} == {6e-3}
    assert events[-1].reason == StopReason.FINISHED and events[-1].mix is None


# -- checkpoints -------------------------------------------------------------------------------


def test_the_ngram_and_mixture_survive_a_checkpoint(mixed: Session, tmp_path) -> None:
    path = checkpoint.save(mixed, tmp_path / "m.safetensors")
    loaded = checkpoint.load(path)
    assert loaded.mix == mixed.mix and loaded.history == mixed.history
    for context in ([], [3], [5, 7, 2, 9], [0, 0, 1]):
        assert np.array_equal(loaded.ngram.log_probs(context), mixed.ngram.log_probs(context))
    before = Predictor(mixed).suggest("the cat said ")
    after = Predictor(loaded).suggest("the cat said ")
    assert [w.word for w in after.next_words] == [w.word for w in before.next_words]


def test_an_old_checkpoint_loads_as_the_lstm_alone(default_session: Session) -> None:
    # The bundled model was written before mixtures (format 1).
    assert default_session.ngram is None and default_session.mix == MixWeights.lstm_only()
    words = Predictor(default_session).suggest("the mice ").next_words
    assert words and sum(w.prob for w in words) <= 1.0


def _rewrite_metadata(path, change) -> None:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["lstm_tui"])
    change(meta)
    header["__metadata__"]["lstm_tui"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_a_newer_format_is_refused_in_one_line(mixed: Session, tmp_path) -> None:
    path = checkpoint.save(mixed, tmp_path / "m.safetensors")
    _rewrite_metadata(path, lambda meta: meta.update(format_version=99))
    with pytest.raises(CheckpointError, match="newer lstm-tui"):
        checkpoint.load(path)


@pytest.mark.parametrize("mix", [None, [0.5, 0.5], {"lstm": "x"}, {"lstm": -1, "ngram": 2}])
def test_bad_mixture_weights_are_one_line(mixed: Session, tmp_path, mix) -> None:
    # Found by the fuzz test: an n-gram with "mix": null escaped as an AttributeError.
    path = checkpoint.save(mixed, tmp_path / "m.safetensors")
    _rewrite_metadata(path, lambda meta: meta.update(mix=mix))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


# -- the whitespace tokenizer --------------------------------------------------------------------


def test_whitespace_tokens_keep_case_and_end_lines() -> None:
    text = " = Valkyria Chronicles = \n\n Senjō no Valkyria 3 : <unk> Chronicles\n"
    tokens = tokenize(text, kind=Tokenizer.WHITESPACE)
    assert tokens == [
        "=", "Valkyria", "Chronicles", "=", EOS, EOS,
        "Senjō", "no", "Valkyria", "3", ":", "<unk>", "Chronicles", EOS,
    ]  # fmt: skip
    assert split_partial("New York Ci", kind=Tokenizer.WHITESPACE) == (["New", "York"], "Ci")
    assert split_partial("New York ", kind=Tokenizer.WHITESPACE) == (["New", "York"], "")
    assert detokenize(["a", "b", EOS, "c"], Tokenizer.WHITESPACE) == "a b\nc"
    corpus = Corpus.from_text(text * 200, tokenizer="whitespace")
    assert corpus.tokenizer == Tokenizer.WHITESPACE and not corpus.lowercase
    assert "Valkyria" in corpus.vocab and corpus.vocab.id("<unk>") == 0
    assert len(corpus.ids) == 14 * 200


def test_a_big_texts_ngram_is_counted_while_training_starts(
    story: Corpus, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from lstm_tui.core.model import session as session_module

    monkeypatch.setattr(session_module, "BACKGROUND_NGRAM_TOKENS", 100)  # the story is "big"
    session = small_session(story)
    assert session.counting is not None  # counting in a thread: training need not wait
    events = run(session, story, epochs=1)
    assert session.counting is None and session.ngram is not None  # evaluations waited for it
    assert events[-1].mix is not None and events[-1].mix["ngram"] > 0
    fresh = small_session(story)
    loaded = checkpoint.load(checkpoint.save(fresh, tmp_path / "m.safetensors"))
    assert loaded.ngram is not None  # a save waits for it too


def test_the_recount_takes_the_last_tokens_when_validation_alone_fills_it(
    story: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstm_tui.core.model import session as session_module

    # A held-out part longer than the n-gram's limit (as on a 1 GB text): the recount after
    # training takes the last tokens of it, whole numbers all the same.
    monkeypatch.setattr(session_module, "MAX_NGRAM_TOKENS", 50)
    monkeypatch.setattr(train, "MAX_NGRAM_TOKENS", 50)
    session = small_session(story)
    run(session, story, epochs=1)
    assert session.ngram is not None and session.ngram.num_ngrams()[1] <= 50
