"""The predictor on the shipped fable model: suggestions, completion, continuation, incremental
state, unknown words, and safety while a trainer thread changes the weights."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import pytest
import torch

from lstm_tui.core.serving import predict
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.text.corpus import Corpus, encode_text
from lstm_tui.core.text.tokenize import split_partial
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import Trainer

SENTENCE = "long ago , the mice had a general council to consider what"


@pytest.fixture
def predictor(default_session) -> Predictor:
    return Predictor(default_session)


def direct_log_probs(session, text: str) -> torch.Tensor:
    """log P(next word | text) straight from the session's model, no caching at all."""
    ids = encode_text(text, session.vocab, session.lowercase)
    model = session.model.eval()
    with torch.inference_mode():
        scores, _ = model(torch.as_tensor(ids, dtype=torch.long).unsqueeze(0))
        return torch.log_softmax(scores[0, -1].float(), -1)


def test_the_default_model_is_the_fable_model(default_session) -> None:
    assert len(default_session.vocab) == 113
    assert (default_session.config.layers, default_session.config.hidden) == (2, 512)
    assert default_session.metrics["window_accuracy"] >= 0.95


def test_next_word_suggestions(predictor: Predictor, default_session) -> None:
    s = predictor.suggest("long ago , the ", k=5)
    assert s.tokens == ["long", "ago", ",", "the"] and s.partial == "" and s.unknown == []
    assert s.completion is None
    assert s.next_words[0].word == "mice"
    probs = [w.prob for w in s.next_words]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True)
    assert 0 < sum(probs) <= 1 + 1e-6
    assert "<unk>" not in [w.word for w in s.next_words]
    expected = direct_log_probs(default_session, "long ago , the").exp()
    assert probs[0] == pytest.approx(float(expected.max()), rel=1e-4)
    # next_words reads its context as whole words.
    assert predictor.next_words("long ago , the", k=3)[0].word == "mice"


def test_completion_of_a_partial_word_keeps_the_users_case(predictor: Predictor) -> None:
    s = predictor.suggest("The Ca")
    assert s.tokens == ["the"] and s.partial == "Ca"
    assert s.completion is not None
    assert (s.completion.word, s.completion.text, s.completion.suffix) == ("cat", "Cat", "t")
    assert 0 < s.completion.prob <= 1
    assert s.next_words[0].word == "cat"
    assert all(w.word.startswith("ca") for w in s.next_words)
    assert [w.prob for w in s.next_words] == sorted((w.prob for w in s.next_words), reverse=True)
    lower = predictor.suggest("the ca")
    assert lower.completion.text == "cat" and lower.completion.suffix == "t"
    shouted = predictor.suggest("THE CA")
    assert shouted.completion.text == "CAT" and shouted.completion.suffix == "T"


def test_completion_when_nothing_or_everything_is_typed(predictor: Predictor) -> None:
    exact = predictor.suggest("long ago , the mice had a general council to cons")
    assert exact.completion.word == "consider" and exact.completion.suffix == "ider"
    done = predictor.suggest("the cat")  # "cat" is a whole word already: nothing to add
    assert done.partial == "cat"
    assert done.completion is None or done.completion.word.startswith("cat")
    assert done.completion is None or done.completion.suffix != ""
    none = predictor.suggest("the qx")
    assert none.partial == "qx" and none.next_words == [] and none.completion is None


def test_empty_text_suggests_the_commonest_words(predictor: Predictor, default_session) -> None:
    s = predictor.suggest("", k=5)
    vocab = default_session.vocab
    assert s.tokens == [] and s.partial == ""
    # At the start of a text the words are capitalised (the model's are lowercase).
    assert all(w.word == w.word.capitalize() for w in s.next_words if w.word.isalpha())
    counts = [int(vocab.counts[vocab.id(w.word.lower())]) for w in s.next_words]
    assert counts == sorted(vocab.counts[1:].tolist(), reverse=True)[:5]  # ties in any order
    for w, count in zip(s.next_words, counts, strict=True):
        assert w.prob == pytest.approx(count / vocab.total)
    assert sum(w.prob for w in predictor.suggest("", k=200).next_words) == pytest.approx(1.0)


def test_unknown_words_are_reported_never_an_error(predictor: Predictor) -> None:
    s = predictor.suggest("the zebra ate the ca")
    assert s.unknown == ["zebra", "ate"]
    assert s.completion is not None and s.completion.word.startswith("ca")
    assert predictor.suggest("Zebra Quagga ").unknown == ["zebra", "quagga"]
    assert predictor.unknown_words("the Zebra and the cat") == ["zebra"]
    assert predictor.next_words("xylophone", k=3)
    cont = predictor.continue_text("the zebra", 4)
    assert cont.unknown == ["zebra"] and len(cont.words) == 4
    weird = predictor.suggest("\u0000 \U0001f600 <unk> ")
    assert weird.unknown == ["\U0001f600"] and weird.next_words  # NUL separates, like a space
    assert "<unk>" not in weird.unknown  # a literal <unk> is known for what it is


def _count_lstm_steps(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Tokens run through the predictor's private model: one entry per call.

    Counts ``model.features`` calls and the predictor's single-token fast path
    (``OneTokenLSTM``, the same equations without nn.LSTM's per-call overhead).
    """
    model = predictor.model
    real_features = model.features
    fed: list[int] = []

    def features(tokens, state=None):
        fed.append(tokens.shape[1])
        return real_features(tokens, state)

    monkeypatch.setattr(model, "features", features)
    real_step = predict.OneTokenLSTM.__call__

    def one_step(self, token, state):
        assert self.model is model
        fed.append(1)
        return real_step(self, token, state)

    monkeypatch.setattr(predict.OneTokenLSTM, "__call__", one_step)
    return fed


def test_typing_runs_at_most_one_lstm_step_per_keystroke(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = _count_lstm_steps(predictor, monkeypatch)
    previous: list[str] = []
    for i in range(1, len(SENTENCE) + 1):
        text = SENTENCE[:i]
        before = sum(fed)
        predictor.suggest(text)
        tokens, _ = split_partial(text)
        assert sum(fed) - before == len(tokens) - len(previous), text
        assert sum(fed) - before <= 1
        previous = tokens
    assert sum(fed) == len(previous) == 11


def test_backspace_reuses_cached_states(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor.suggest(SENTENCE + " ")
    fed = _count_lstm_steps(predictor, monkeypatch)
    for cut in range(len(SENTENCE), len("long ago , the m") - 1, -1):  # backspace, backspace...
        predictor.suggest(SENTENCE[:cut])
    assert fed == []  # every shorter context was seen on the way in
    assert predictor.suggest("long ago , the cat ").next_words  # a new word: one step
    assert fed == [1]


def test_asking_about_other_text_keeps_the_typing_cache(
    predictor: Predictor, default_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = SENTENCE + " "
    before = predictor.suggest(typed)
    fed = _count_lstm_steps(predictor, monkeypatch)
    after_mice = predictor.next_words("mice", k=5)  # a word picked in the vocabulary browser
    assert fed == [1]  # one step from a fresh state
    assert after_mice[0].prob == pytest.approx(
        float(direct_log_probs(default_session, "mice").exp().max())
    )
    assert predictor.suggest(typed) == before
    assert fed == [1]  # no step: the typed line's states were all still there
    # The unigram; the row capitalises the words at the start of a text, next_words does not.
    row = predictor.suggest("", k=3).next_words
    assert [(w.word.lower(), w.prob) for w in row] == [
        (w.word, w.prob) for w in predictor.next_words("", k=3)
    ]


def test_incremental_results_equal_a_fresh_computation(
    predictor: Predictor, default_session
) -> None:
    vocab = default_session.vocab
    direct: dict[tuple, torch.Tensor] = {}  # from-scratch log-probs for each context
    typed = [SENTENCE[:i] for i in range(1, len(SENTENCE) + 1)]
    typed += [SENTENCE[:i] for i in range(len(SENTENCE), 20, -3)]  # and some backspacing
    for text in typed:
        got = predictor.suggest(text, k=5)
        tokens, partial = split_partial(text)
        assert (got.tokens, got.partial) == (tokens, partial)
        if not tokens:
            continue  # no context: the unigram guess, tested on its own
        key = tuple(tokens)
        if key not in direct:
            direct[key] = direct_log_probs(default_session, " ".join(tokens))
        logp = direct[key]
        candidates = vocab.prefix_ids(partial.lower()) if partial else range(1, len(vocab))
        ranked = sorted(candidates, key=lambda i: -float(logp[i]))[:5]
        assert [w.word for w in got.next_words] == [vocab.words[i] for i in ranked], text
        assert [w.prob for w in got.next_words] == pytest.approx(
            [float(logp[i].exp()) for i in ranked], rel=1e-4, abs=1e-7
        )
        if got.completion is not None:
            assert got.completion.word == vocab.words[ranked[0]]
            assert got.completion.text == partial + got.completion.suffix
    assert len(direct) == 11  # contexts of 1 to 11 whole words
    # A fresh predictor agrees on the final text, completion included.
    # (Its surprise scores, read word by word or in one pass, agree to rounding.)
    fresh = Predictor(default_session).suggest(typed[-1], k=5)
    again = predictor.suggest(typed[-1], k=5)
    assert again.surprise == pytest.approx(fresh.surprise, rel=1e-5, abs=1e-5)
    assert replace(again, surprise=[]) == replace(fresh, surprise=[])


def test_pasted_text_equals_the_whole_forward_pass(
    predictor: Predictor, default_session, fable_text: str
) -> None:
    text = " ".join(fable_text.split()[:60])  # longer than the step-by-step tail
    expected = direct_log_probs(default_session, text).exp()
    for words in (predictor.suggest(text + " ", k=112).next_words, predictor.next_words(text, 112)):
        for word, prob in ((w.word, w.prob) for w in words):
            assert prob == pytest.approx(float(expected[default_session.vocab.id(word)]), abs=1e-5)
    # Backspacing into pasted text (whose inner states were not all kept) still agrees.
    shorter = " ".join(fable_text.split()[:20])
    top = predictor.suggest(shorter + " ", k=1).next_words[0]
    assert top.prob == pytest.approx(float(direct_log_probs(default_session, shorter).exp().max()))


def test_greedy_continuation_is_deterministic(predictor: Predictor) -> None:
    first = predictor.continue_text("long ago", n_words=12)
    assert first.words[:6] == [",", "the", "mice", "had", "a", "general"]
    assert first.text.startswith(", the mice had a general council")
    predictor.suggest("some other text to move the cache about ")
    again = predictor.continue_text("long ago", n_words=12)
    assert again == first
    assert Predictor(predictor.session).continue_text("long ago", n_words=12) == first
    assert (
        predictor.continue_text("long ago", 5, temperature=1.0, top_k=1, seed=9).words
        == (first.words[:5])
    )
    assert predictor.continue_text("", 3).words  # from nothing at all
    assert predictor.continue_text("the cat", 0).words == []


def test_sampled_continuation_with_a_seed_is_repeatable(predictor: Predictor) -> None:
    a = predictor.continue_text("the cat", 10, temperature=1.5, seed=3)
    b = predictor.continue_text("the cat", 10, temperature=1.5, seed=3)
    assert a == b and len(a.words) == 10
    outcomes = {
        tuple(predictor.continue_text("the cat", 10, temperature=1.5, seed=s).words)
        for s in range(4)
    }
    assert len(outcomes) >= 2  # the seed matters
    limited = predictor.continue_text("the cat", 10, temperature=5.0, top_k=3, seed=1)
    assert "<unk>" not in limited.words


def test_neighbours(predictor: Predictor) -> None:
    near = predictor.neighbours("Cat", k=5)
    assert len(near) == 5
    assert all(w.word not in ("cat", "<unk>") for w in near)
    assert all(-1 <= w.prob <= 1 for w in near)
    assert [w.prob for w in near] == sorted((w.prob for w in near), reverse=True)
    assert predictor.neighbours("zebra") == []


def test_predicting_while_training_in_another_thread(
    fable: Corpus, make_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(fable, hidden=64, embed=64)
    # Record the weights of every version, as the trainer publishes them (under the lock).
    published = {session.version: [p.detach().clone() for p in session.model.parameters()]}
    real_mark = session.mark_changed

    def mark_changed() -> None:
        real_mark()
        published[session.version] = [p.detach().clone() for p in session.model.parameters()]

    monkeypatch.setattr(session, "mark_changed", mark_changed)
    trainer = Trainer(session, fable.train_ids, config=TrainConfig(epochs=100_000, lr=0.01))
    errors: list[BaseException] = []

    def train() -> None:
        try:
            for _ in trainer.run():
                pass
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=train, daemon=True)
    predictor = Predictor(session)
    thread.start()
    seen: dict[int, tuple] = {}
    deadline = time.monotonic() + 20
    try:
        # Until six versions were seen and the answers moved: the fable is evaluated every
        # few epochs, and until the first evaluation the n-gram alone answers.
        while (len(seen) < 6 or len(set(seen.values())) < 2) and time.monotonic() < deadline:
            s = predictor.suggest("the mice had a gen", k=3)
            answer = tuple((w.word, w.prob) for w in s.next_words)
            assert all(math.isfinite(p) and 0 <= p <= 1 for _, p in answer)
            # The private copy holds exactly the weights of one published version.
            version = predictor._version
            copy = list(predictor._model.parameters())
            assert all(torch.equal(a, b) for a, b in zip(copy, published[version], strict=True))
            seen[version] = answer
    finally:
        trainer.stop()
        thread.join(timeout=30)
    assert not errors and not thread.is_alive()
    assert len(seen) >= 6, "the predictor never saw the weights move"
    assert len(set(seen.values())) >= 2  # results change as the model learns
    final = predictor.suggest("the mice had a gen", k=3)
    fresh = Predictor(session).suggest("the mice had a gen", k=3)
    assert replace(final, surprise=[]) == replace(fresh, surprise=[])
    assert final.surprise == pytest.approx(fresh.surprise, rel=1e-5, abs=1e-5)


def test_surprisal_is_low_where_the_model_expects_the_word(predictor: Predictor) -> None:
    """The shipped fable model expects the fable's own words, in order, far more than the
    same words shuffled; a word it does not know has no score."""
    line = "the mice had a general council to consider what measures they could take"
    words = predictor.surprisal(line)
    assert [w.word for w in words] == line.split()
    shuffled = predictor.surprisal(" ".join(reversed(line.split())))

    def total(scored: list) -> float:
        return sum(w.bits for w in scored[1:] if w.bits is not None)

    assert all(w.bits is not None for w in words)  # every word of the fable is known
    assert total(words) < 0.5 * total(shuffled)
    assert predictor.surprisal("the zorblax")[1].bits is None
    assert predictor.surprisal("") == []
    # As typed: the same scores come with the suggestions, word by word.
    typed = [predictor.suggest(line[:i]) for i in range(1, len(line) + 1)]
    assert predictor.suggest(line + " ").surprise == pytest.approx([w.bits for w in words])
    assert len(typed[-1].surprise) == len(words) - 1  # "take" is still being typed
