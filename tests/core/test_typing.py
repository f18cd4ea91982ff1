"""Keystrokes saved (the simulated typist) and the open vocabulary (issue 17, items 1-2)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from lstm_tui.core.model.mixture import MixWeights
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.serving.typist import (
    Offer,
    PartRows,
    PredictorOfferer,
    RowOfferer,
    sample_positions,
    session_ksr,
    simulate,
)
from lstm_tui.core.store import checkpoint
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.text.tokenize import tokenize
from lstm_tui.core.text.vocab import RareWords, Vocabulary


def hand_built_vocab() -> Vocabulary:
    # <unk> stands for "cow" (seen once) and "cub" (seen three times).
    return Vocabulary(
        ["<unk>", "the", "cat", "car", "dog"], [4, 9, 7, 5, 3], RareWords(["cow", "cub"], [1, 3])
    )


def constant_rows(probs: Sequence[float]):
    """A 'model' that predicts the same next-word distribution everywhere."""
    row = torch.log(torch.tensor(probs))
    return lambda positions: row.expand(len(positions), -1)


def test_the_typist_on_a_hand_built_model_saves_what_a_hand_count_says() -> None:
    vocab = hand_built_vocab()
    # P: <unk> .1 (so cow .025, cub .075), the .4, cat .3, car .12, dog .08
    rows = constant_rows([0.1, 0.4, 0.3, 0.12, 0.08])
    text = ["the", "cat", "dog", "car", "cow"]
    offerer = RowOfferer(vocab, rows, np.arange(len(text)), k=2)
    tally = simulate(offerer, text)
    # By hand, with the top-2 row:
    #   the: offered before any letter (the, cat)         -> 1 key
    #   cat: the same                                     -> 1 key
    #   dog: "" (the, cat) no; "d" (dog)                  -> 1 letter + 1 key = 2
    #   car: "" no; "c" (cat .3, car .12) yes             -> 2
    #   cow: "" no; "c" (cat, car: cub .075 is lower) no; "co" (cow) -> 3
    # keys = 9; without prediction: 5 words of 3 letters + 5 spaces = 20.
    assert (tally.keys, tally.keys_without, tally.words) == (9, 20, 5)
    assert tally.ksr == pytest.approx(1 - 9 / 20)
    assert tally.first_key_share == pytest.approx(2 / 5)
    assert tally.ceiling == pytest.approx(1 - 5 / 20)
    # A word neither model nor rare words know is typed in full, then its space.
    assert simulate(RowOfferer(vocab, rows, np.arange(1), k=2), ["yak"]).keys == 4


def test_a_phrase_is_taken_with_one_key() -> None:
    class Phrases:
        def offer(self, tokens: Sequence[str], at: int, prefix: str) -> Offer:
            assert len(tokens) > at  # it may not read tokens[at:]; it reads nothing here
            return Offer(["the"], None, ["the", "cat", "sat"] if at == 0 else ())

    tally = simulate(Phrases(), ["the", "cat", "sat", "the"])
    # "the cat sat" with one key; the last "the" offered at once: 2 keys of 4 + 4 + 4 + 4.
    assert (tally.keys, tally.keys_without, tally.phrases, tally.words) == (2, 16, 1, 4)


def test_rows_and_the_predictor_offer_the_same(make_text, make_session) -> None:
    """The quick path (distributions at sampled positions) types as the app's predictor,
    rare words, and words never seen in training but typed a little earlier, included."""
    corpus = Corpus.from_text(make_text(1200, extra_words=20))
    session = make_session(corpus)
    session.mix = MixWeights(0.3, 0.5, 0.2)
    typed = re.sub(r"\bmouse\b", "zorblax mouse", make_text(150, seed=5))
    tokens = tokenize(typed + " word3 word7 word3")[:190]
    ids = corpus.vocab.encode(tokens)
    assert tokens.count("zorblax") > 1 and "zorblax" not in corpus.vocab.rare
    positions = sample_positions(len(tokens), len(tokens))
    rows = PartRows.read(session, ids, positions)
    offerer = RowOfferer(
        session.vocab, rows.mixed(session.mix), positions, extras=rows.extras(tokens, session.mix)
    )
    quick = simulate(offerer, tokens)
    slow = simulate(PredictorOfferer(Predictor(session)), tokens)
    assert quick.to_dict() == slow.to_dict()
    assert 0 < quick.ksr < quick.ceiling


def test_a_word_new_to_the_model_comes_back_through_the_cache(make_text, make_session) -> None:
    session = make_session(Corpus.from_text(make_text(1500)))
    session.mix = MixWeights(0.3, 0.5, 0.2)
    predictor = Predictor(session)
    suggestions = predictor.suggest("the cat met zorblax and the mouse saw zo")
    assert suggestions.completion is not None and suggestions.completion.word == "zorblax"
    assert "zorblax" not in session.vocab.rare  # offered from the text typed, not learnt


def test_session_ksr_reports_the_mixture_and_each_part(fable, make_session) -> None:
    session = make_session(fable)
    figures = session_ksr(session, tokenize(fable_text_of(fable)), fable.ids, positions=100)
    assert figures["positions"] == 100 and figures["top_k"] == 5
    for part in ("mixture", "lstm", "ngram"):
        assert 0 < figures[part]["ksr"] <= figures[part]["ceiling"] < 1
    # An untrained session predicts from the n-gram alone: the mixture is the n-gram.
    assert figures["mixture"] == figures["ngram"]


def fable_text_of(corpus: Corpus) -> str:
    assert corpus.path is not None
    return corpus.path.read_text(encoding="utf-8")


def test_a_word_seen_once_in_training_is_offered_after_its_first_letters(
    make_text, make_session
) -> None:
    text = make_text(3000) + "the mice met zanzibar at night .\n"
    corpus = Corpus.from_text(text)
    assert "zanzibar" not in corpus.vocab  # seen once: <unk> to the models
    assert "zanzibar" in corpus.vocab.rare
    session = make_session(corpus)
    for mix in (MixWeights.ngram_only(), MixWeights(0.5, 0.4, 0.1)):
        session.mix = mix
        suggestions = Predictor(session).suggest("the cat met za")
        assert suggestions.completion is not None
        assert suggestions.completion.word == "zanzibar"
        assert suggestions.next_words[0].word == "zanzibar"
        assert 0 < suggestions.next_words[0].prob < 1
    # "<unk>" itself is still never offered, with or without letters typed.
    rows = Predictor(session).suggest("the cat met ", k=50).next_words
    assert "<unk>" not in [w.word for w in rows]


def test_a_word_typed_once_is_offered_next_time(make_text, make_session) -> None:
    corpus = Corpus.from_text(make_text(2000))
    session = make_session(corpus)
    predictor = Predictor(session)
    assert predictor.suggest("the cat met quetz").next_words == []
    assert predictor.learn("The cat met Quetzalcoatl today") == ["quetzalcoatl", "today"]
    suggestions = predictor.suggest("the cat met Quetz")
    assert suggestions.completion is not None
    assert suggestions.completion.text == "Quetzalcoatl"
    # Through the session too (the app's other predictor shares the vocabulary).
    assert session.learn_words(["ocelot", "the"]) == ["ocelot"]
    assert Predictor(session).suggest("a oce").next_words[0].word == "ocelot"


def test_rare_words_split_unk_by_their_counts() -> None:
    vocab = hand_built_vocab()
    logp = torch.log(torch.tensor([0.1, 0.4, 0.3, 0.12, 0.08]))
    from lstm_tui.core.serving.open_vocab import open_top

    words, scores = open_top(vocab, logp, "cu", 5)
    assert words == ["cub"] and float(scores[0].exp()) == pytest.approx(0.1 * 3 / 4)
    words, scores = open_top(vocab, logp, "c", 5)
    assert words == ["cat", "car", "cub", "cow"]
    assert math.fsum(scores.exp().tolist()) == pytest.approx(0.3 + 0.12 + 0.1)


def test_checkpoints_round_trip_the_rare_words(make_text, make_session, tmp_path) -> None:
    corpus = Corpus.from_text(make_text(2000, extra_words=30))
    session = make_session(corpus)
    session.learn_words(["ocelot", "ocelot", "word3"])
    path = checkpoint.save(session, tmp_path / "rare.safetensors")
    loaded = checkpoint.load(path)
    assert loaded.vocab.rare.words == session.vocab.rare.words
    assert loaded.vocab.rare.counts == session.vocab.rare.counts
    assert loaded.vocab.rare.counts[loaded.vocab.rare.index["ocelot"]] == 2
    assert Predictor(loaded).suggest("a ocel").completion.word == "ocelot"  # type: ignore[union-attr]


def test_a_checkpoint_without_rare_words_still_loads(
    make_text, make_session, tmp_path, monkeypatch
) -> None:
    """Format 2 files (before rare words) load with none; offering then works as before."""
    import json

    from safetensors.torch import load_file, save_file

    session = make_session(Corpus.from_text(make_text(1500)))
    path = checkpoint.save(session, tmp_path / "new.safetensors")
    meta = checkpoint.read_header(path)
    meta["format_version"] = 2
    del meta["rare_words"]
    tensors = load_file(path)
    del tensors["vocab.rare_counts"]
    old = tmp_path / "old.safetensors"
    save_file(tensors, old, metadata={checkpoint.METADATA_KEY: json.dumps(meta)})
    loaded = checkpoint.load(old)
    assert len(loaded.vocab.rare) == 0
    assert Predictor(loaded).suggest("the ca").completion is not None
