"""Phrases, suggestions a person would take, and the public API (issue 17, items 3, 6 and 7).

On the shipped fable model (it knows the fable nearly by heart, so its phrases are sure) and
on tiny n-gram sessions whose right answer is plain from the text.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

import lstm_tui
from lstm_tui.core.model.session import Session
from lstm_tui.core.serving import phrase as ph
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.text.corpus import Corpus, encode_text


@pytest.fixture
def predictor(default_session) -> Predictor:
    return Predictor(default_session)


def ngram_session(text: str) -> Session:
    """A session that predicts from its Kneser-Ney n-gram alone (an untrained LSTM)."""
    corpus = Corpus.from_text(text, val_fraction=0.0)
    return Session.new(corpus, preset="seed-1layer", ngram_order=3)


# -- phrases --------------------------------------------------------------------------------------


def test_a_sure_phrase_is_offered_and_an_unsure_one_is_not(predictor: Predictor) -> None:
    found = predictor.phrase("long ago, the mi", threshold=0.5)
    assert found is not None
    assert found.words[:4] == ["mice", "had", "a", "general"]
    assert found.text.startswith("ce had a general")  # what the ghost adds to "mi"
    assert 0.5 <= found.prob <= 1
    # The phrase's probability is the chain of the mixture's: no more than its first word's.
    first = predictor.suggest("long ago, the mi").next_words[0]
    assert (
        first.word == "mice"
        and found.prob
        <= first.prob / sum(w.prob for w in predictor.suggest("long ago, the mi").next_words) + 1e-6
    )
    # After "the " the fable goes on in many ways: nothing is sure enough.
    assert predictor.phrase("the ", threshold=0.5) is None
    # A phrase stops at the end of a sentence.
    ending = predictor.phrase("but who is to ", threshold=0.5)
    assert ending is not None and ending.text == "bell the cat?"


def test_the_phrase_starts_a_sentence_with_a_capital(predictor: Predictor) -> None:
    found = predictor.phrase("the cat. ", threshold=0.5)
    assert found is not None and found.text[0].isupper()


def test_threshold_is_the_lowest_that_keeps_the_precision() -> None:
    # A hand-made search: position p offers a 2-word phrase of probability probs[p], right
    # or wrong as ``right[p]`` says; the text's ids are 1, 2, 3, …
    probs = {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6, 5: 0.5, 6: 0.4}
    right = {1: True, 2: True, 3: False, 4: True, 5: False, 6: False}
    ids = np.arange(1, 10)

    def search(p: int, floor: float):
        truth = ids[p : p + 2].tolist()
        tokens = truth if right[p] else [truth[0], 99]
        return [(1.0, tokens[:1]), (probs[p], tokens)]

    config = ph.PhraseConfig(target_precision=0.75, fit_positions=6, max_words=2)
    fit = ph.fit_threshold(search, ids[:8], ph.FitSource.VALIDATION, config)
    # At 0.6 three of four offered are right (0.75); at 0.5, three of five.
    assert fit.threshold == 0.6 and fit.precision == 0.75 and fit.offered == 4
    assert fit.positions == 6 and fit.source is ph.FitSource.VALIDATION
    never = ph.fit_threshold(
        search,
        ids[:8],
        ph.FitSource.VALIDATION,
        ph.PhraseConfig(target_precision=1.01, fit_positions=6, max_words=2),
    )
    assert math.isinf(never.threshold) and never.to_dict()["threshold"] is None


def test_threshold_fitted_on_the_fable(predictor: Predictor, fable_text: str, default_session):
    ids = encode_text(fable_text, default_session.vocab, default_session.lowercase)
    fit = predictor.fit_phrase_threshold(ids, ph.FitSource.TRAINING)
    assert 0 < fit.threshold <= 1 and fit.precision is not None
    assert fit.precision >= predictor.phrase_config.target_precision
    assert fit.offered > 0 and fit.positions > 0


def test_held_out_text_is_the_end_of_a_big_file_and_all_of_a_small_one(tmp_path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("one two three four five. " * 20)
    assert ph.held_out_text(str(small)) == (small.read_text(), ph.FitSource.TRAINING)
    big = tmp_path / "big.txt"
    big.write_text("alpha beta gamma. " * 3000 + "omega end")
    text, source = ph.held_out_text(str(big))
    assert source is ph.FitSource.VALIDATION and text.endswith("omega end")
    assert len(text) < big.stat().st_size // 5
    assert ph.held_out_text(str(tmp_path / "gone.txt")) == ("", ph.FitSource.DEFAULT)
    assert ph.held_out_text(None) == ("", ph.FitSource.DEFAULT)


# -- suggestions a person would take ---------------------------------------------------------------


def test_capitals_at_a_sentence_start_and_for_i(predictor: Predictor) -> None:
    start = predictor.suggest("the cat. ").next_words
    assert start[0].word == "By"  # "by this means we should always know …"
    assert all(w.word[:1].isupper() for w in start if w.word.isalpha())
    middle = predictor.suggest("long ago, the ").next_words
    assert middle[0].word == "mice"  # not at a sentence start: as the model has it
    assert predictor.suggest("").next_words[1].word == "The"
    # "i" alone is always a capital: "… and said that is all very well, but who is to …"
    words = [w.word for w in predictor.suggest("therefore , ", k=20).next_words]
    assert "i" not in words
    # A partial word keeps the user's case, whatever the position.
    assert next(w.word for w in predictor.suggest("the cat. b").next_words) == "by"


def test_greedy_never_loops() -> None:
    # After "a b c" the text goes on "a b c …": an n-gram's greedy continuation repeats it
    # forever ("a b c a b c a b c"), and after "x" it says "x x x". The guard forbids both.
    session = ngram_session("a b c a b c a b c a b c d e . x x x x x x x y . " * 3)
    predictor = Predictor(session)
    words = predictor.continue_text("a b c", 12).words
    assert all(p != q for p, q in itertools.pairwise(words)), words
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    assert len(trigrams) == len(set(trigrams)), words
    after_x = predictor.continue_text("y . x", 6).words
    assert after_x[0] != "x" and all(p != q for p, q in itertools.pairwise(after_x))
    # Sampling is left alone: temperature > 0 draws from the model as it is.
    sampled = predictor.continue_text("x", 6, temperature=0.05, seed=1).words
    assert sampled[0] == "x"


# -- the public API --------------------------------------------------------------------------------


def test_import_is_light_and_load_suggests() -> None:
    code = (
        "import sys, lstm_tui; assert 'torch' not in sys.modules, 'torch at import';"
        "s = lstm_tui.load().suggest('long ago, the mi'); print(s.words[0], s.completion)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mice", "mice"]


def test_api_suggest_is_the_row_the_completion_and_the_phrase() -> None:
    model = lstm_tui.load()
    s = model.suggest("long ago, the mi")
    assert s.partial == "mi" and s.words == ["mice"] and s.completion == "mice"
    assert s.phrase is not None and s.phrase.startswith("mice had a")
    assert s.ghost == s.phrase[len("mi") :]
    row = model.predictor.suggest("The zebra and the Ca", k=5)
    typed = model.suggest("The zebra and the Ca")
    assert typed.words == [w.word for w in row.next_words] and typed.completion == "Cat"
    assert typed.unknown == ["zebra"]
    assert model.suggest("the ", phrase=False).phrase is None
    with pytest.raises(lstm_tui.core.errors.UserError):
        lstm_tui.load("no-such-model")


# -- the typist takes a phrase with one key ------------------------------------------------------


def test_typist_saves_more_keys_with_phrases(default_session, fable_text: str) -> None:
    from lstm_tui.core.serving.typist import session_ksr
    from lstm_tui.core.text.tokenize import tokenize

    tokens = tokenize(fable_text, default_session.lowercase)
    ids = default_session.vocab.encode(tokens)
    figures = session_ksr(default_session, tokens, ids, positions=60, parts=False, phrases=80)
    with_, without = figures["phrases"]["with"], figures["phrases"]["without"]
    assert figures["phrases"]["positions"] == 80
    assert with_["phrases"] > 0 and without["phrases"] == 0
    # The same 80 words: every word is typed, or covered by a phrase taken with one key.
    assert with_["keys_without"] == without["keys_without"]
    assert with_["keys"] < without["keys"] and with_["ksr"] > without["ksr"]


def test_a_phrase_never_repeats_a_word_back_to_back() -> None:
    """A model that has learnt to repeat (after any word, that word again at 90%) is not
    followed into "the mice mice": the search skips a word after itself."""
    import math

    import torch

    from lstm_tui.core.serving.phrase import PhraseConfig, beam_search

    vocab = 5

    def step(token: int, state: int) -> int:
        return token

    def dist(state: int, ids: list[int]) -> torch.Tensor:
        logp = torch.full((vocab,), math.log(0.1 / (vocab - 1)))
        logp[state] = math.log(0.9)
        return logp

    best = beam_search(dist(2, [1, 2]), [1, 2], 2, step, dist, frozenset(), 1e-12, PhraseConfig())
    assert best, "some phrase is found"
    for _, tokens in best:
        words = [2, *tokens]
        assert all(a != b for a, b in itertools.pairwise(words)), words
