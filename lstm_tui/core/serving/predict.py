"""Prediction for typing: next words, completion of a partial word, continuations.

A ``Predictor`` reads a ``Session``'s weights into its own eval-mode copy (under the
session lock, whenever the version moved), so it can run while a trainer thread updates
the session. It keeps the LSTM state after each token of the text it last saw: one more
keystroke costs at most one LSTM step, and usually none.

Every word of the training text, and every word the user typed, can be offered: rare words
are ``<unk>`` to the models, and ``<unk>``'s probability is shared among them
(``core.serving.open_vocab``).

Next-word distributions are the session's mixture (``core.mixture``): the LSTM, the
Kneser-Ney n-gram and a unigram cache over the text typed so far, weighted as fitted on
validation text. Before the LSTM has been evaluated the n-gram alone predicts.

``suggest`` also says how surprising the same mixture found each word already typed
(-log2 P(word | the words before it)), so the app can tint the line as it is typed. Typing
word by word, each score is read from the distribution the previous keystroke computed
anyway; pasted text, or a line after the weights changed, is scored in one pass.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from lstm_tui.core.model.adaptation import TextCounts
from lstm_tui.core.model.lstm import LanguageModel, State
from lstm_tui.core.model.mixture import CACHE_WINDOW, MixWeights, cache_target_probs
from lstm_tui.core.model.session import Session
from lstm_tui.core.serving.open_vocab import cache_extras, open_top
from lstm_tui.core.serving.phrase import (
    DEFAULT_THRESHOLD,
    SENTENCE_END,
    FitSource,
    Phrase,
    PhraseConfig,
    PhraseFit,
    beam_search,
    choose,
    fit_threshold,
    held_out_text,
)
from lstm_tui.core.serving.surprisal import WordSurprise
from lstm_tui.core.text.tokenize import UNK, Tokenizer, detokenize, split_partial, tokenize

MAX_CACHED_STATES = 2048
STEPWISE_TAIL = 32  # when catching up on pasted text, the last this-many tokens go one by one
ATTACH_LEFT = frozenset(",.;:?!%)]}…'’”")  # punctuation that hugs the word before it
SURPRISE_TOKENS = 128  # a pasted text's words are scored up to this many from its end
MAX_PHRASE_FITS = 4  # phrase thresholds a session keeps (one is in use)
NO_REPEAT_NGRAM = 3  # greedy continuations never repeat a 3-gram they wrote (nor a word twice)


@dataclass(frozen=True)
class WordProb:
    word: str
    prob: float


@dataclass(frozen=True)
class Completion:
    word: str  # as the vocabulary has it: "cat"
    text: str  # the user's partial word completed, keeping their case: "Ca" -> "Cat"
    suffix: str  # what to append to what was typed: "t"
    prob: float


@dataclass(frozen=True)
class Suggestions:
    tokens: list[str]  # the complete tokens of the context
    partial: str  # the word being typed, "" if none
    next_words: list[WordProb]  # most likely next words (starting with ``partial``, if any)
    completion: Completion | None
    unknown: list[str]  # context words the vocabulary does not have
    # -log2 P(token | the tokens before it) for each of ``tokens``, under the mixture; None
    # for a word the vocabulary lacks (or too far back in a long pasted text to score)
    surprise: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class Continuation:
    words: list[str]
    text: str  # the words as readable text
    unknown: list[str]


class Predictor:
    def __init__(self, session: Session, mix: MixWeights | None = None) -> None:
        """``mix`` overrides the session's mixture weights (e.g. the n-gram alone, to
        measure a part); None follows the session's."""
        self.session = session
        self._lock = threading.RLock()
        self._model: LanguageModel | None = None
        self._step: OneTokenLSTM | None = None  # built for the current weights on first use
        self._version = -1
        self._ids: list[int] = []
        self._states: list[State | None] = []  # _states[i]: state after _ids[: i + 1]
        self._last: tuple[int, torch.Tensor] | None = None  # (position, LSTM log-probs) memo
        self._mix = MixWeights.lstm_only()  # the session's, read with the weights
        self._scored: list[int] = []  # the context ids whose surprise is known …
        self._bits: list[float | None] = []  # … and that surprise, in bits
        self._previous: tuple[list[int], torch.Tensor] | None = None  # last context, log-probs
        # What was learnt from the text typed (serving/adapt.py), read with the weights: the
        # n-gram's counts (never changed once read: learning replaces them) and the tail of
        # that text, which the unigram cache counts before the words of the context.
        self._counts: TextCounts | None = None
        self._recent: list[int] = []
        self.phrase_config = PhraseConfig()
        self._override = mix
        self._unigram_at = -1  # the rare words' version ``_unigram`` was made for
        self._unigram_cached = torch.zeros(0)

    @property
    def _unigram(self) -> torch.Tensor:
        """log P(first word), ``<unk>`` included: the guess before any word is typed.

        ``<unk>`` counts at least as often as the rare words it stands for, words the user
        typed included, so that a word typed once can be offered first thing.
        """
        vocab = self.session.vocab
        if self._unigram_at != vocab.rare.version:
            counts = torch.as_tensor(vocab.counts, dtype=torch.float32)
            counts[0] = max(float(counts[0]), float(sum(vocab.rare.counts)))
            self._unigram_cached = torch.log(counts / counts.sum())
            self._unigram_at = vocab.rare.version
        return self._unigram_cached

    @property
    def model(self) -> LanguageModel:
        with self._lock:
            return self._synced()

    def _synced(self) -> LanguageModel:
        """The private copy, refreshed if training (or a reset) changed the session's weights."""
        session = self.session
        if self._model is not None and self._version == session.version:
            return self._model
        with session.lock:
            source = session.model
            if self._model is None or self._model.config != source.config:
                self._model = LanguageModel(source.config)
            self._model.to(source.embedding.weight.device)
            self._model.load_state_dict(source.state_dict())
            self._version = session.version
            self._mix = session.mix if session.ngram is not None else MixWeights.lstm_only()
            adaptation = getattr(session, "adaptation", None)
            self._counts, self._recent = None, []
            if adaptation is not None and adaptation.active:
                adaptation.apply(self._model)
                self._counts, self._recent = adaptation.counts, adaptation.recent()
            if self._override is not None:
                self._mix = self._override
            self._step = None  # laid out from the old weights
        self._model.eval()
        self._ids, self._states, self._last = [], [], None
        self._scored, self._bits, self._previous = [], [], None  # scored by the old weights
        return self._model

    def _encode(self, tokens: list[str]) -> tuple[list[int], list[str]]:
        vocab = self.session.vocab
        ids = [vocab.id(t) for t in tokens]
        unknown = [t for t, i in zip(tokens, ids, strict=True) if i == 0 and t != UNK]
        return ids, unknown

    def _advance(self, model: LanguageModel, ids: list[int]) -> None:
        """Make the cache hold states for exactly ``ids``, reusing the longest shared prefix."""
        keep = 0
        for a, b in zip(self._ids, ids, strict=False):
            if a != b:
                break
            keep += 1
        while keep > 0 and self._states[keep - 1] is None:
            keep -= 1
        del self._ids[keep:], self._states[keep:]
        if self._last is not None and self._last[0] > keep:
            self._last = None
        state = self._states[-1] if self._states else None
        todo = ids[keep:]
        bulk, tail = todo[:-STEPWISE_TAIL], todo[-STEPWISE_TAIL:]
        if bulk:  # pasted text: one call, one stored state at its end
            device = model.embedding.weight.device
            _, state = model.features(torch.tensor([bulk], device=device), state)
            self._ids.extend(bulk)
            self._states.extend([None] * (len(bulk) - 1) + [state])
        for token in tail:
            state = self._one_token(model)(token, state)
            self._ids.append(token)
            self._states.append(state)
        if len(self._states) > MAX_CACHED_STATES:  # forget the oldest, keep their ids
            drop = len(self._states) - MAX_CACHED_STATES
            self._states[:drop] = [None] * drop

    def _fresh_state(self, model: LanguageModel, ids: list[int]) -> State:
        """The state after ``ids`` (not empty) read from the start, leaving the cache alone."""
        if len(ids) > STEPWISE_TAIL:  # a long text: one call
            device = model.embedding.weight.device
            return model.features(torch.tensor([ids], device=device))[1]
        step = self._one_token(model)
        state = None
        for token in ids:
            state = step(token, state)
        assert state is not None
        return state

    @staticmethod
    def _lstm_log_probs(model: LanguageModel, state: State) -> torch.Tensor:
        """The LSTM's log P(next word) after ``state``, [vocab] on the CPU."""
        return torch.log_softmax(model.scores(state[0][-1, 0]).float(), dim=-1).cpu()

    def _mixed(self, lstm: torch.Tensor | None, ids: list[int]) -> torch.Tensor:
        """log P(next word | ids) of the mixture, [vocab], never ``<unk>``."""
        logp = self.mixture(lstm, ids).clone()
        logp[0] = -float("inf")
        return logp

    def mixture(self, lstm: torch.Tensor | None, ids: list[int]) -> torch.Tensor:
        """log P(next word | ids) of the mixture over the whole vocabulary (it sums to 1).

        ``lstm`` (the LSTM's log-probabilities) may be None where the LSTM's weight is 0
        (before it has been evaluated): the n-gram then answers alone, without an LSTM step.
        A part that cannot answer (the cache, with no words yet) gives its weight to the rest.
        """
        mix, ngram = self._mix, self.session.ngram
        parts: list[torch.Tensor] = []
        weights: list[float] = []
        if lstm is not None and mix.lstm > 0:
            parts.append(lstm)
            weights.append(mix.lstm)
        if ngram is not None and mix.ngram > 0:
            context = ids[-(ngram.order - 1) :] if ngram.order > 1 else []
            logp = ngram.log_probs(context)
            if self._counts is not None:  # refined by the counts of the text typed so far
                adapted = self._counts.distribution(np.exp(logp.astype(np.float64)), ids)
                logp = np.log(adapted).astype(np.float32)
            parts.append(torch.from_numpy(logp))
            weights.append(mix.ngram)
        history = self._recent + ids if self._recent else ids
        if mix.cache > 0 and history:
            recent = torch.as_tensor(history[-CACHE_WINDOW:])
            counts = torch.bincount(recent, minlength=len(self.session.vocab)).float()
            parts.append(torch.log(counts / len(recent)))
            weights.append(mix.cache)
        if not parts:  # only the LSTM is left to answer
            assert lstm is not None
            return lstm
        log_w = torch.log(torch.tensor(weights) / sum(weights))
        return torch.logsumexp(torch.stack(parts) + log_w[:, None], dim=0)

    def _cache_weight(self, ids: list[int]) -> float:
        """The cache's weight in ``mixture`` after ``ids``, as it renormalises the parts."""
        mix, ngram = self._mix, self.session.ngram
        if not (mix.cache > 0 and (ids or self._recent)):
            return 0.0
        lstm = mix.lstm if mix.lstm > 0 else 0.0
        ngram_weight = mix.ngram if ngram is not None and mix.ngram > 0 else 0.0
        return mix.cache / (lstm + ngram_weight + mix.cache)

    def _needs_lstm(self) -> bool:
        return self._mix.lstm > 0 or self.session.ngram is None

    def _next_log_probs(
        self, model: LanguageModel, state: State | None, ids: list[int]
    ) -> torch.Tensor:
        """The mixture after ``ids``, whose LSTM state is ``state``."""
        lstm = None
        if self._needs_lstm():
            assert state is not None
            lstm = self._lstm_log_probs(model, state)
        return self._mixed(lstm, ids)

    def _first_word(self) -> torch.Tensor:
        """log P(first word): the unigram, mixed with the cache of the text learnt from."""
        weight = self._mix.cache
        if not self._recent or weight <= 0:
            return self._unigram
        recent = torch.as_tensor(self._recent)
        cache = torch.bincount(recent, minlength=len(self.session.vocab)).float() / len(recent)
        return torch.log((1 - weight) * self._unigram.exp() + weight * cache)

    def _one_token(self, model: LanguageModel) -> OneTokenLSTM:
        if self._step is None or self._step.model is not model:
            self._step = OneTokenLSTM(model)
        return self._step

    def _log_probs(self, model: LanguageModel, ids: list[int]) -> torch.Tensor:
        """log P(next word | ids), [vocab], ``<unk>`` included (the rare words' share), on the
        CPU; unigram when there is no context."""
        if not ids:
            return self._first_word()
        if not self._needs_lstm():
            return self.mixture(None, ids)
        self._advance(model, ids)
        if self._last is not None and self._last[0] == len(ids):
            return self.mixture(self._last[1], ids)
        state = self._states[-1]
        assert state is not None
        lstm = self._lstm_log_probs(model, state)
        self._last = (len(ids), lstm)
        return self.mixture(lstm, ids)

    @torch.inference_mode()
    def suggest(self, text: str, k: int = 5) -> Suggestions:
        """Next-word suggestions and a completion for text being typed."""
        with self._lock:
            model = self._synced()
            tokens, partial = split_partial(text, self.session.lowercase, self.session.tokenizer)
            ids, unknown = self._encode(tokens)
            logp = self._log_probs(model, ids)
            surprise = self._surprise(model, ids)
            self._previous = (ids, logp)
            extras = cache_extras(tokens, ids, self._cache_weight(ids))
            return self._rank(tokens, partial, logp, k, unknown, surprise, extras)

    @torch.inference_mode()
    def phrase(
        self,
        text: str,
        threshold: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Phrase | None:
        """The phrase to offer after ``text`` (its partial word completed), or None.

        Ask after ``suggest`` for the same text: the LSTM state is then cached, and the search
        costs only its own steps. ``threshold`` defaults to the fitted one (``phrase_fit()``).
        ``stop()``, asked between the search's steps, cuts it short (then the phrase found
        so far, maybe shorter, or None).
        """
        if threshold is None:
            fit = self.phrase_fit()
            assert fit is not None  # (only a stop can leave it unfitted)
            threshold = fit.threshold
        if math.isinf(threshold):
            return None
        with self._lock:
            model = self._synced()
            vocab = self.session.vocab
            tokens, partial = split_partial(text, self.session.lowercase, self.session.tokenizer)
            ids, _ = self._encode(tokens)
            first = _without_unk(self._log_probs(model, ids))  # a phrase spells its words
            if partial:  # the first word completes it: P(word | context, its first letters)
                key = partial.lower() if self.session.lowercase else partial
                allowed = torch.as_tensor(vocab.prefix_ids(key), dtype=torch.long)
                if len(allowed) == 0:
                    return None
                masked = torch.full_like(first, -float("inf"))
                masked[allowed] = first[allowed] - torch.logsumexp(first[allowed], 0)
                first = masked
            state = self._states[-1] if ids and self._needs_lstm() else None
            best = self._search(model, ids, state, first, min(threshold, 1.0), stop)
            picked = choose(best, threshold, self.phrase_config)
            if picked is None:
                return None
            prob, chosen = picked
            words = [vocab.words[i] for i in chosen]
            if self.session.lowercase:
                words = [
                    _cased(w, tokens if i == 0 else [*tokens, *words[:i]])
                    for i, w in enumerate(words)
                ]
            return _phrase_for(text, partial, words, prob, self.session.tokenizer)

    def _search(
        self,
        model: LanguageModel,
        ids: list[int],
        state: State | None,
        first: torch.Tensor,
        floor: float,
        stop: Callable[[], bool] | None = None,
    ) -> list[tuple[float, list[int]]]:
        """``phrase.beam_search`` over this predictor's mixture, from the state after ``ids``."""
        lstm = self._needs_lstm()

        def step(token: int, before: State | None) -> State | None:
            return self._one_token(model)(token, before) if lstm else None

        def dist(after: State | None, context: list[int]) -> torch.Tensor:
            return _without_unk(self._next_log_probs(model, after, context))

        stops = frozenset(self.session.vocab.id(p) for p in SENTENCE_END) - {0}
        config = self.phrase_config
        return beam_search(first, ids, state, step, dist, stops, floor, config, stop)

    def phrase_fit(self, stop: Callable[[], bool] | None = None) -> PhraseFit | None:
        """The phrase threshold, fitted on held-out text when first asked (see ``phrase``).

        Shared by every predictor of the session (the app keeps two), and fitted again once
        the session records another evaluation (its weights and mixture then moved for good),
        not on every training step. The fit holds this predictor's lock while it reads the
        text: the app fits with a predictor of its own, off the keystroke thread.
        """
        session, key = self._phrase_key()
        fit = session.phrase_fits.get(key)
        if fit is None:
            fit = self._fit_phrases(session, stop)
            if fit is None:  # stopped half way: nothing to keep
                return None
            session.phrase_fits[key] = fit
            while len(session.phrase_fits) > MAX_PHRASE_FITS:  # the oldest go first
                del session.phrase_fits[next(iter(session.phrase_fits))]
        return fit

    def fitted_phrases(self) -> PhraseFit | None:
        """The phrase threshold if it is fitted already, without fitting it."""
        session, key = self._phrase_key()
        return session.phrase_fits.get(key)

    def _phrase_key(self) -> tuple[Session, tuple]:
        """The session itself (the app's predictors read it through a ``LiveView``), and what
        a fit is for: its evaluations so far (reset_weights clears them) and the config."""
        session = getattr(self.session, "session", self.session)
        last = session.history[-1].get("step", -1) if session.history else -1
        trained = session.progress.steps > 0
        return session, (len(session.history), last, trained, self.phrase_config)

    @torch.inference_mode()
    def _fit_phrases(
        self, session: Session, stop: Callable[[], bool] | None = None
    ) -> PhraseFit | None:
        from lstm_tui.core.text.corpus import encode_text

        text, source = held_out_text(session.corpus.path)
        if not text:
            return PhraseFit(DEFAULT_THRESHOLD, None, 0, 0, FitSource.DEFAULT)
        ids = encode_text(text, session.vocab, session.lowercase, session.tokenizer)
        return self.fit_phrase_threshold(ids, source, stop)

    @torch.inference_mode()
    def fit_phrase_threshold(
        self, ids: np.ndarray, source: FitSource, stop: Callable[[], bool] | None = None
    ) -> PhraseFit | None:
        """A phrase threshold fitted on these token ids (``phrase.fit_threshold``)."""
        with self._lock:
            model = self._synced()

            context: list[int] = []  # read once, token by token, as the positions rise
            state: State | None = None

            def search(p: int, floor: float) -> list[tuple[float, list[int]]]:
                nonlocal state
                for token in ids[len(context) : p].tolist():
                    if self._needs_lstm():
                        state = self._one_token(model)(token, state)
                    context.append(token)
                first = self._next_log_probs(model, state, context)
                return self._search(model, list(context), state, first, floor)

            return fit_threshold(search, ids, source, self.phrase_config, stop)

    @torch.inference_mode()
    def surprisal(self, text: str) -> list[WordSurprise]:
        """Each word of a text (read as complete words), as written, with its bits of surprise."""
        with self._lock:
            model = self._synced()
            kind = self.session.tokenizer
            shown = tokenize(text, False, kind)
            ids, _ = self._encode(tokenize(text, self.session.lowercase, kind))
            bits = self._score_tokens(model, ids, 0) if ids else []
            return [WordSurprise(w, b) for w, b in zip(shown, bits, strict=True)]

    def _surprise(self, model: LanguageModel, ids: list[int]) -> list[float | None]:
        """Bits of surprise for each of ``ids``, reusing what earlier keystrokes scored."""
        keep = _shared_prefix(self._scored, ids)
        del self._scored[keep:], self._bits[keep:]
        new: list[float | None] = []
        # Typing adds a word or two at a time, each scored from what the keystroke computed
        # anyway; more (pasted text, a line after new weights) is cheaper in one pass.
        for at in range(keep, len(ids)):
            logp = self._known_log_probs(model, ids, at) if len(ids) - keep <= 2 else None
            if logp is None:
                new += self._score_tokens(model, ids, at)
                break
            new.append(_bits(logp, ids[at]))
        self._scored.extend(ids[keep:])
        self._bits.extend(new)
        return list(self._bits)

    def _known_log_probs(
        self, model: LanguageModel, ids: list[int], at: int
    ) -> torch.Tensor | None:
        """log P(next word | ids[:at]) from what typing has computed already, else None.

        Call after ``_log_probs(model, ids)``: the cache then holds a state for every
        position typed (not for the inside of pasted text).
        """
        if at == 0:
            return self._unigram
        previous = self._previous
        if previous is not None and len(previous[0]) == at and previous[0] == ids[:at]:
            return previous[1]  # one word more than last time: the common case, free
        if not self._needs_lstm():
            return self._mixed(None, ids[:at])
        state = self._states[at - 1] if at <= len(self._states) else None
        if state is None:
            return None
        return self._mixed(self._lstm_log_probs(model, state), ids[:at])

    def _score_tokens(self, model: LanguageModel, ids: list[int], start: int) -> list[float | None]:
        """Bits for ``ids[start:]`` under the mixture in one pass (pasted text, new weights)."""
        first = max(start, len(ids) - SURPRISE_TOKENS)
        bits: list[float | None] = [None] * (first - start)
        if first == 0:
            bits.append(_bits(self._unigram, ids[0]))
            first = 1
        if first >= len(ids):
            return bits
        targets = torch.tensor(ids[first:])
        parts: list[torch.Tensor] = []  # log P(target) per part: [len(ids) - first]
        weights: list[float] = []
        mix, ngram = self._mix, self.session.ngram
        if self._needs_lstm():  # as ``mixture``: the LSTM answers alone without an n-gram
            device = model.embedding.weight.device
            wanted = range(first - 1, len(ids) - 1)  # the states after ids[: i + 1]
            if self._ids == ids and all(self._states[i] is not None for i in wanted):
                # Typed: the keystroke's own states hold the LSTM's outputs, no re-read.
                # None of them is None (checked just above); mypy cannot carry that over.
                tops = [self._states[i][0][-1, 0] for i in wanted]  # type: ignore[index]
                features = torch.stack(tops)[None]  # [1, T - first, H]
            else:
                features, _ = model.features(torch.tensor([ids[:-1]], device=device))
                features = features[:, first - 1 :]  # [1, T - first, H]
            lstm = model.target_log_probs(features, targets[None].to(device))
            parts.append(lstm[0].float().cpu())
            weights.append(mix.lstm)
        if ngram is not None and mix.ngram > 0:  # from just the context each position needs
            lo = max(0, first - (ngram.order - 1))
            parts.append(
                torch.from_numpy(ngram.target_log_probs(np.asarray(ids[lo:]))[first - lo - 1 :])
            )
            weights.append(mix.ngram)
        if mix.cache > 0:
            lo = max(0, first - CACHE_WINDOW)
            cached = cache_target_probs(np.asarray(ids[lo:]))[first - lo - 1 :]
            parts.append(torch.log(torch.from_numpy(cached)))
            weights.append(mix.cache)
        log_w = torch.log(torch.tensor(weights, dtype=torch.float64) / sum(weights))
        logp = torch.logsumexp(torch.stack([p.double() for p in parts]) + log_w[:, None], dim=0)
        scored = (-logp / math.log(2)).tolist()
        return bits + [b if i else None for i, b in zip(ids[first:], scored, strict=True)]

    def _rank(
        self,
        tokens: list[str],
        partial: str,
        logp: torch.Tensor,
        k: int,
        unknown: list[str],
        surprise: list[float | None],
        extras: dict[str, float] | None = None,
    ) -> Suggestions:
        completion = None
        key = partial.lower() if partial and self.session.lowercase else partial
        words, scores = open_top(self.session.vocab, logp, key, k, extras)
        if partial and words and len(words[0]) > len(key):
            suffix = words[0][len(key) :]
            if len(partial) > 1 and partial.isupper():  # typed in capitals: "CA" -> "CAT"
                suffix = suffix.upper()
            completion = Completion(words[0], partial + suffix, suffix, float(scores[0].exp()))
        if self.session.lowercase and not partial:  # a typed partial word keeps its own case
            words = [_cased(w, tokens) for w in words]
        next_words = [WordProb(w, p) for w, p in zip(words, scores.exp().tolist(), strict=True)]
        return Suggestions(tokens, partial, next_words, completion, unknown, surprise)

    def learn(self, text: str) -> list[str]:
        """Count the words of a line the user sent: one the vocabulary lacks is offered from
        the next keystroke on (``Session.learn_words``). Returns the words new to it."""
        tokens = tokenize(text, self.session.lowercase, self.session.tokenizer)
        with self.session.lock:
            return self.session.vocab.learn(tokens)

    def unknown_words(self, text: str) -> list[str]:
        """Words of a text (read as complete words) that the vocabulary does not have."""
        return self._encode(tokenize(text, self.session.lowercase, self.session.tokenizer))[1]

    @torch.inference_mode()
    def next_words(self, context: str, k: int = 10) -> list[WordProb]:
        """The k likeliest words after a context (read as complete words).

        Computed aside from the typing cache: a question about some other text (a word picked
        in the vocabulary browser) must not cost the next keystroke a re-run of the line.
        """
        with self._lock:
            model = self._synced()
            ids, _ = self._encode(tokenize(context, self.session.lowercase, self.session.tokenizer))
            logp = _without_unk(self._unigram)
            if ids:
                state = self._fresh_state(model, ids) if self._needs_lstm() else None
                logp = self._next_log_probs(model, state, ids)
            values, chosen = logp.topk(min(k, len(self.session.vocab) - 1))
            return [
                WordProb(self.session.vocab.words[i], float(p))
                for i, p in zip(chosen.tolist(), values.exp().tolist(), strict=True)
            ]

    @torch.inference_mode()
    def continue_text(
        self,
        text: str,
        n_words: int = 32,
        temperature: float = 0.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> Continuation:
        """Extend text by ``n_words`` tokens: greedy at temperature 0, else sampled."""
        with self._lock:
            model = self._synced()
            tokens = tokenize(text, self.session.lowercase, self.session.tokenizer)
            ids, unknown = self._encode(tokens)
            logp = self._log_probs(model, ids)
            state = self._states[-1] if ids and self._needs_lstm() else None
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            words: list[str] = []
            context = list(ids)
            for _ in range(n_words):
                logp = _without_unk(logp)
                if temperature <= 0:  # greedy loops ("the the the", ",,,,"): guard it
                    logp = _no_repeats(logp, context, len(words))
                token = _pick(logp, temperature, top_k, generator)
                words.append(self.session.vocab.words[token])
                context.append(token)
                if self._needs_lstm():
                    state = self._one_token(model)(token, state)
                logp = self._next_log_probs(model, state, context)
            return Continuation(words, detokenize(words, self.session.tokenizer), unknown)

    @torch.inference_mode()
    def neighbours(self, word: str, k: int = 10) -> list[WordProb]:
        """Words whose input embeddings point the most the same way (cosine similarity)."""
        with self._lock:
            model = self._synced()
            vocab = self.session.vocab
            i = vocab.id(word.lower() if self.session.lowercase else word)
            if i == 0:
                return []
            table = torch.nn.functional.normalize(model.embedding.weight.float(), dim=-1)
            similarity = table @ table[i]
            similarity[[0, i]] = -2.0
            values, chosen = similarity.topk(min(k, len(vocab) - 2))
            return [
                WordProb(vocab.words[j], float(v))
                for j, v in zip(chosen.tolist(), values.tolist(), strict=True)
            ]


class OneTokenLSTM:
    """``model.features`` for one token at a time, fast on a CPU.

    A single token through ``nn.LSTM`` on a CPU takes its oneDNN path, which re-packs every
    weight on each call. The same equations as one [x, h] @ W product per layer, W laid out
    for it once, cost several times less, and less again with layer 0's input term looked
    up (figures: docs/BENCHMARKS.md, bench/latency.py). Build a new one when the weights
    change.
    """

    @torch.no_grad()
    def __init__(self, model: LanguageModel) -> None:
        self.model = model
        lstm = model.lstm
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []  # ([W_ih | W_hh]ᵀ, b_ih + b_hh)
        for k in range(lstm.num_layers):
            w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
            bias = getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")
            self.layers.append((torch.cat([w_ih, w_hh], dim=1).t().contiguous(), bias))
        # Where the vocabulary is no bigger than that (the fable's 113 words), layer 0's input
        # term for every word, embedding @ W_ih + b as [vocab, 4 * hidden]: a step looks it up.
        embedding = model.embedding.weight  # [vocab, embed]
        weight, bias = self.layers[0]
        self.inputs: torch.Tensor | None = None
        if embedding.shape[0] <= weight.shape[0]:
            self.inputs = torch.addmm(bias, embedding, weight[: embedding.shape[1]])

    def __call__(self, token: int, state: State | None) -> State:
        """The state after one more token; each of (h, c) is [layers, 1, hidden]."""
        model = self.model
        h, c = state if state is not None else model.init_state()
        x = model.embedding.weight[token].unsqueeze(0)  # [1, embed]; eval mode: no dropout
        hs, cs = [], []
        for k, (weight, bias) in enumerate(self.layers):
            if k == 0 and self.inputs is not None:  # x @ W_ih + b, precomputed
                gates = torch.addmm(self.inputs[token].unsqueeze(0), h[0], weight[x.shape[1] :])
            else:
                gates = torch.addmm(bias, torch.cat([x, h[k]], dim=1), weight)  # [1, 4 * hidden]
            i, f, g, o = gates.chunk(4, dim=1)  # nn.LSTM's gate order
            c_k = torch.sigmoid(f) * c[k] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c_k)
            hs.append(x)
            cs.append(c_k)
        return torch.stack(hs), torch.stack(cs)


def _no_repeats(logp: torch.Tensor, history: list[int], written: int) -> torch.Tensor:
    """``logp`` without the tokens that would repeat the last one, or a ``NO_REPEAT_NGRAM``-gram
    already in the continuation (``written`` tokens at the end of ``history``, with the two
    before them): the "no repeat n-gram" rule of greedy decoding (Paulus et al. 2018)."""
    if not history:
        return logp
    banned = {history[-1]}
    n = NO_REPEAT_NGRAM
    span = history[-(written + n - 1) :]  # the continuation and the n - 1 tokens before it
    prefix = span[len(span) - (n - 1) :]
    for i in range(len(span) - n + 1):
        if span[i : i + n - 1] == prefix:
            banned.add(span[i + n - 1])
    if len(banned) >= int(torch.isfinite(logp).sum()):
        return logp  # nothing else left to say: better a repeat than nothing
    guarded = logp.clone()
    guarded[list(banned)] = -float("inf")
    return guarded


def _pick(
    logp: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> int:
    if temperature <= 0:
        return int(logp.argmax())
    scores = logp / temperature
    if top_k is not None and top_k < len(scores):
        cutoff = scores.topk(top_k).values[-1]
        scores = scores.masked_fill(scores < cutoff, -float("inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def _cased(word: str, before: list[str]) -> str:
    """A lowercased model's word as a person would write it after the tokens ``before``:
    capitalised at the start of a sentence, and "i" (alone or as in "i'm") always."""
    if word == "i" or word.startswith(("i'", "i’")):
        return "I" + word[1:]
    if not before or before[-1] in SENTENCE_END:
        return word[:1].upper() + word[1:]
    return word


def _phrase_for(
    text: str, partial: str, words: list[str], prob: float, kind: Tokenizer
) -> Phrase | None:
    """The phrase as ghost text after ``text``; None where it cannot follow it as typed
    (punctuation after a typed space, which the row offers instead)."""
    joined = detokenize(words, kind)
    if partial:
        if not joined.lower().startswith(partial.lower()):
            return None
        return Phrase(words, joined[len(partial) :], prob)
    if joined[:1] in ATTACH_LEFT:
        return None
    gap = "" if not text or text[-1].isspace() else " "
    return Phrase(words, gap + joined, prob)


def _without_unk(logp: torch.Tensor) -> torch.Tensor:
    """The same log-probabilities with ``<unk>`` (id 0) impossible: it is never a word to show."""
    logp = logp.clone()
    logp[0] = -float("inf")
    return logp


def _shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _bits(logp: torch.Tensor, token: int) -> float | None:
    """-log2 P(token) from log-probabilities; None for ``<unk>`` (a word the vocabulary lacks)."""
    return float(-logp[token]) / math.log(2) if token else None
