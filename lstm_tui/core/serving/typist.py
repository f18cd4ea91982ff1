"""Keystrokes saved: a simulated typist types a text with the predictor's help.

The definition (issue 17; see docs/TYPING.md, after Trnka & McCoy 2008, "Evaluating word
prediction: framing keystroke savings", ACL-HLT short papers):

* The typist types the text word by word (a token of the tokenizer is a word, punctuation
  included). Before each word, and after each letter of it, it looks at what is offered: the
  top-k row, filtered by the letters typed so far, and the completion (ghost text).
* If the word it wants is offered, one key takes it, and that key also types the space after
  it. If a phrase is offered whose words are the next words of the text, one key takes them all.
* Otherwise it types the next letter. Having typed every letter, it types the space.
* Keys without prediction: the letters of each word plus one space.
* KSR = 1 − keys / keys without. Taking every word at its first key (before its first letter)
  is the ceiling: 1 − words / (letters + words).

Whatever offers words is an ``Offerer``: the app's ``Predictor`` (``PredictorOfferer``), or
next-word distributions computed ahead for sampled positions of a long text (``RowOfferer``,
as the top-k figures sample positions), for the mixture or any part of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from lstm_tui.core.model.mixture import CACHE_WINDOW, MixWeights, cache_row
from lstm_tui.core.serving.open_vocab import open_top
from lstm_tui.core.text.tokenize import UNK
from lstm_tui.core.text.vocab import Vocabulary

if TYPE_CHECKING:
    from lstm_tui.core.model.lstm import LanguageModel
    from lstm_tui.core.model.ngram import KneserNey
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor

DEFAULT_TOP_K = 5
KSR_POSITIONS = 4_000  # words typed on a long text: an even sample of its positions
ROW_CHUNK = 256  # positions whose whole distributions are held at once: [chunk, vocab]


@dataclass(frozen=True)
class Offer:
    """What the typist sees: the row (already filtered by the letters typed), the completion
    (a whole word), and a phrase (several words from the one being typed on)."""

    words: Sequence[str]
    completion: str | None = None
    phrase: Sequence[str] = ()


class Offerer(Protocol):
    def offer(self, tokens: Sequence[str], at: int, prefix: str) -> Offer:
        """What is offered for ``tokens[at]`` once ``prefix`` of it is typed; reads only
        ``tokens[:at]`` (never the words it is asked to predict)."""
        ...


@dataclass
class Typing:
    """The typist's tally over the words it typed."""

    words: int = 0
    keys: int = 0
    keys_without: int = 0
    first_key: int = 0  # words offered before their first letter
    phrases: int = 0  # phrases taken (each with one key)
    phrase_words: int = 0  # words typed as part of a phrase

    @property
    def ksr(self) -> float:
        """Keystroke savings rate: 1 − keys / keys without prediction."""
        return 1.0 - self.keys / self.keys_without if self.keys_without else 0.0

    @property
    def first_key_share(self) -> float:
        """Share of words offered before their first letter was typed."""
        return self.first_key / self.words if self.words else 0.0

    @property
    def ceiling(self) -> float:
        """The KSR if every word were taken at its first key."""
        return 1.0 - self.words / self.keys_without if self.keys_without else 0.0

    def to_dict(self) -> dict:
        return {
            "ksr": self.ksr,
            "offered_before_first_letter": self.first_key_share,
            "ceiling": self.ceiling,
            "words": self.words,
            "keys": self.keys,
            "keys_without": self.keys_without,
            "phrases": self.phrases,
        }


def type_word(offerer: Offerer, tokens: Sequence[str], at: int) -> tuple[int, int, bool]:
    """Type ``tokens[at]``: (keys pressed, words it covered, offered before its first letter)."""
    word = tokens[at]
    for typed in range(len(word)):
        offer = offerer.offer(tokens, at, word[:typed])
        phrase = list(offer.phrase)
        if len(phrase) > 1 and list(tokens[at : at + len(phrase)]) == phrase:
            return typed + 1, len(phrase), typed == 0
        if word in offer.words or offer.completion == word:
            return typed + 1, 1, typed == 0
    return len(word) + 1, 1, False  # every letter, then the space


def simulate(
    offerer: Offerer, tokens: Sequence[str], positions: Sequence[int] | np.ndarray | None = None
) -> Typing:
    """Type ``tokens`` (the words at ``positions``, default all) with ``offerer``'s help.

    A phrase taken covers the words after the one typed: their positions are not typed again.
    """
    tally = Typing()
    wanted = range(len(tokens)) if positions is None else sorted(positions)
    free = 0  # the first position not yet covered by a phrase
    for at in wanted:
        if at < free:
            continue
        keys, covered, first = type_word(offerer, tokens, at)
        free = at + covered
        tally.words += covered
        tally.keys += keys
        tally.keys_without += sum(len(w) + 1 for w in tokens[at : at + covered])
        tally.first_key += first
        if covered > 1:
            tally.phrases += 1
            tally.phrase_words += covered
    return tally


def sample_positions(n_tokens: int, count: int = KSR_POSITIONS) -> np.ndarray:
    """An even sample of ``count`` positions of a text (all of them when it is shorter)."""
    if n_tokens <= count:
        return np.arange(n_tokens)
    return np.unique(np.linspace(0, n_tokens - 1, count).astype(np.int64))


class PredictorOfferer:
    """What the app shows: the ``Predictor``'s row and completion for the text typed so far."""

    def __init__(self, predictor: Predictor, k: int = DEFAULT_TOP_K) -> None:
        self.predictor, self.k = predictor, k

    def offer(self, tokens: Sequence[str], at: int, prefix: str) -> Offer:
        text = " ".join(tokens[:at])
        text = f"{text} {prefix}" if text else prefix
        suggestions = self.predictor.suggest(text, self.k)
        completion = suggestions.completion.word if suggestions.completion else None
        # The row capitalises a sentence's first word for the eye ("The"); the typist wants
        # the model's own spelling, as the text's tokens have it.
        lower = self.predictor.session.lowercase
        words = [w.word.lower() if lower else w.word for w in suggestions.next_words]
        return Offer(words, completion)


PHRASE_CONTEXT = 256  # tokens: the phrase offerer's context starts on a multiple of this
PHRASE_POSITIONS = 300  # words typed with phrases offered (a beam search at every key: slow)


class PhraseOfferer:
    """Another offerer's row and completion, plus the ``Predictor``'s phrase: the app's ghost.

    The phrase is read from the last ``PHRASE_CONTEXT`` to ``2 * PHRASE_CONTEXT`` tokens,
    starting on a multiple of it, so that consecutive positions share the predictor's cached
    states (a context sliding by one word would be read again at every key).
    """

    def __init__(self, inner: Offerer, predictor: Predictor, end: int | None = None) -> None:
        self.inner, self.predictor = inner, predictor
        self.end = end  # a phrase never covers this position or later (the run typed ends)

    def offer(self, tokens: Sequence[str], at: int, prefix: str) -> Offer:
        offer = self.inner.offer(tokens, at, prefix)
        start = max(0, (at // PHRASE_CONTEXT - 1) * PHRASE_CONTEXT)
        text = " ".join(tokens[start:at])
        text = f"{text} {prefix}" if text else prefix
        found = self.predictor.phrase(text)
        if found is None:
            return offer
        lower = self.predictor.session.lowercase
        words = [w.lower() if lower else w for w in found.words]
        if self.end is not None:
            words = words[: self.end - at]
        if offer.completion is not None and words[0] != offer.completion:
            return offer  # the app shows a phrase only where it agrees with the completion
        return Offer(offer.words, offer.completion, words)


RowsFn = Callable[[np.ndarray], torch.Tensor]
PartFn = Callable[[np.ndarray], torch.Tensor]  # positions (none 0) -> [n, vocab] probabilities


def mix_rows(
    positions: np.ndarray, unigram: torch.Tensor, weights: np.ndarray, parts: Sequence[PartFn]
) -> torch.Tensor:
    """[len(positions), vocab] log-probabilities as the predictor mixes them: the unigram
    before the first word, elsewhere the parts (LSTM, n-gram, cache) weighted by ``weights``;
    a part with no weight is not computed."""
    positions = np.asarray(positions, dtype=np.int64)
    out = torch.empty(len(positions), len(unigram))
    first = positions == 0
    out[torch.as_tensor(first)] = unigram
    at = positions[~first]
    if len(at) == 0:
        return out
    probs = torch.zeros(len(at), len(unigram))
    for weight, part in zip(weights, parts, strict=True):
        if weight > 0:
            probs.add_(part(at), alpha=float(weight))
    out[torch.as_tensor(~first)] = torch.log(probs)
    return out


def cache_rows(ids: np.ndarray, positions: np.ndarray, size: int) -> torch.Tensor:
    """float32 [len(positions), size]: the unigram cache before each position (``cache_row``)."""
    return torch.from_numpy(np.stack([cache_row(ids, p, size) for p in positions.tolist()])).float()


ExtrasFn = Callable[[int], dict[str, float]]  # position -> the cache's words outside the vocab


class RowOfferer:
    """Offers from next-word distributions computed ahead, a chunk of positions at a time.

    ``rows(positions)`` gives log P(word at p | the words before p) for each p, [P, vocab],
    ``<unk>`` included (its share goes to the rare words, as the predictor offers them).
    The typist asks for positions in increasing order; each chunk is computed once.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        rows: RowsFn,
        positions: np.ndarray,
        k: int = DEFAULT_TOP_K,
        extras: ExtrasFn | None = None,
    ) -> None:
        self.vocab, self.rows, self.k, self.extras = vocab, rows, k, extras
        self.positions = np.asarray(positions, dtype=np.int64)
        self._chunk: dict[int, torch.Tensor] = {}
        self._extras: tuple[int, dict[str, float] | None] = (-1, None)

    def _row(self, at: int) -> torch.Tensor:
        if at not in self._chunk:
            start = int(np.searchsorted(self.positions, at))
            if start >= len(self.positions) or self.positions[start] != at:
                raise KeyError(f"position {at} was not planned")
            chunk = self.positions[start : start + ROW_CHUNK]
            self._chunk = dict(zip(chunk.tolist(), self.rows(chunk), strict=True))
        return self._chunk[at]

    def offer(self, tokens: Sequence[str], at: int, prefix: str) -> Offer:
        if self.extras is not None and self._extras[0] != at:
            self._extras = (at, self.extras(at))
        words, _ = open_top(self.vocab, self._row(at), prefix, self.k, self._extras[1])
        completion = words[0] if prefix and words and len(words[0]) > len(prefix) else None
        return Offer(words, completion)


@dataclass
class PartRows:
    """Next-word log-probabilities of a session's parts at chosen positions of a text.

    The LSTM reads the text once (in ``streams`` pieces side by side on a long text, as
    ``lstm-tui eval`` scores it) and keeps its output at each chosen position; distributions
    are made a chunk at a time. Position 0 has no context: every part answers with the
    vocabulary's unigram, as the predictor does.
    """

    model: LanguageModel
    ngram: KneserNey | None
    ids: np.ndarray
    unigram: torch.Tensor
    features: dict[int, torch.Tensor] = field(default_factory=dict)

    @classmethod
    @torch.inference_mode()
    def read(
        cls, session: Session, ids: np.ndarray, positions: np.ndarray, streams: int = 1
    ) -> PartRows:
        model, vocab = session.model, session.vocab
        was_training = model.training
        model.eval()
        ids = np.asarray(ids, dtype=np.int64)
        counts = torch.as_tensor(vocab.counts, dtype=torch.float32)
        counts[0] = max(float(counts[0]), float(sum(vocab.rare.counts)))
        rows = cls(model, session.ngram, ids, torch.log(counts / counts.sum()))
        wanted = set((np.asarray(positions) - 1).tolist())  # outputs after ids[: p]
        streams = max(1, min(streams, len(ids) // 2))
        length = len(ids) // streams
        device = model.embedding.weight.device
        x = torch.as_tensor(ids[: streams * length], device=device).view(streams, length)
        state = None
        for t in range(0, length, 64):
            out, state = model.features(x[:, t : t + 64], state)  # [S, C, hidden]
            for s in range(streams):
                base = s * length + t
                for j in range(out.shape[1]):
                    if base + j in wanted:
                        rows.features[base + j + 1] = out[s, j].float().cpu().clone()
        model.train(was_training)
        return rows

    def usable(self, positions: np.ndarray) -> np.ndarray:
        """The positions whose LSTM output was kept (all but a few at the end of a long text)."""
        keep = [p for p in np.asarray(positions).tolist() if p == 0 or p in self.features]
        return np.asarray(keep, dtype=np.int64)

    def _lstm(self, positions: np.ndarray) -> torch.Tensor:
        features = torch.stack([self.features[int(p)] for p in positions])  # [P, hidden]
        model = self.model
        device = model.embedding.weight.device
        was_training = model.training  # a trainer's model: no dropout while it is measured
        model.eval()
        with torch.inference_mode():
            scores = model.scores(features.to(device)).float()
        model.train(was_training)
        return torch.log_softmax(scores, dim=-1).cpu()  # [P, vocab]

    def _ngram(self, positions: np.ndarray) -> torch.Tensor:
        assert self.ngram is not None
        k = self.ngram.order - 1
        contexts = self.ids[np.maximum(positions[:, None] + np.arange(-k, 0)[None, :], 0)]
        return torch.from_numpy(self.ngram.probs_batch(contexts, np.minimum(positions, k)))

    def _weights(self, mix: MixWeights) -> np.ndarray:
        weights = np.array([mix.lstm, mix.ngram if self.ngram is not None else 0, mix.cache])
        return weights / weights.sum() if weights.sum() > 0 else np.array([1.0, 0, 0])

    def extras(self, tokens: Sequence[str], mix: MixWeights) -> ExtrasFn:
        """For a ``RowOfferer``: the cache's share of each word outside the vocabulary among
        the tokens before a position, by its spelling (as ``open_vocab.cache_extras``)."""
        weight = float(self._weights(mix)[2])
        unknown = np.flatnonzero(self.ids == 0)

        def at(position: int) -> dict[str, float]:
            if weight <= 0 or position == 0:
                return {}
            lo = max(0, position - CACHE_WINDOW)
            a, b = np.searchsorted(unknown, [lo, position])
            counts = Counter(tokens[i] for i in unknown[a:b].tolist() if tokens[i] != UNK)
            return {w: weight * c / (position - lo) for w, c in counts.items()}

        return at

    def mixed(self, mix: MixWeights) -> RowsFn:
        """``rows`` for a ``RowOfferer``: the parts weighted by ``mix``, as the predictor mixes
        them (a part with no weight is not computed)."""

        parts = (
            lambda at: self._lstm(at).exp(),
            lambda at: self._ngram(at).float(),
            lambda at: cache_rows(self.ids, at, len(self.unigram)),
        )
        weights = self._weights(mix)
        return lambda positions: mix_rows(positions, self.unigram, weights, parts)


def session_ksr(
    session: Session,
    tokens: Sequence[str],
    ids: np.ndarray,
    k: int = DEFAULT_TOP_K,
    positions: int = KSR_POSITIONS,
    streams: int = 1,
    parts: bool = True,
    mix: MixWeights | None = None,
    skip_unknown: bool = False,
    phrases: int = 0,
) -> dict:
    """KSR of the session's mixture (and, with ``parts``, of the LSTM and the n-gram alone) on
    a text: ``tokens`` as typed, ``ids`` the same tokens in the session's vocabulary.

    ``mix`` overrides the session's weights; ``skip_unknown`` types only the words the
    vocabulary has (where ``tokens`` hold ``<unk>`` for the others, their spelling lost).
    With ``phrases`` (a number of words), ``"phrases"`` has the mixture's KSR without and with
    the predictor's phrases (``PhraseOfferer``) on that many of the positions.
    Returns ``{"mixture": Typing.to_dict(), "lstm": …, "ngram": …, "positions": n, "top_k": k}``.
    """
    chosen = sample_positions(len(tokens), positions)
    if skip_unknown:
        chosen = chosen[np.asarray(ids)[chosen] != 0]
    rows = PartRows.read(session, ids, chosen, streams)
    chosen = rows.usable(chosen)
    if mix is None:
        mix = session.mix if session.ngram is not None else MixWeights.lstm_only()
    mixes = {"mixture": mix}
    if parts:
        mixes["lstm"] = MixWeights.lstm_only()
        if session.ngram is not None:
            mixes["ngram"] = MixWeights.ngram_only()
    out: dict = {"positions": len(chosen), "top_k": k}
    for name, mix in mixes.items():
        offerer = RowOfferer(session.vocab, rows.mixed(mix), chosen, k, rows.extras(tokens, mix))
        out[name] = simulate(offerer, tokens, chosen).to_dict()
    if phrases:  # the mixture with and without phrases, on the same (fewer) words
        from lstm_tui.core.serving.predict import Predictor

        # A run of consecutive words, as a person types them: a phrase taken covers the words
        # after it, which a sample of scattered positions would count without their own turn.
        mix = mixes["mixture"]
        start = max(0, (len(tokens) - phrases) // 2)
        end = min(len(tokens), start + phrases)
        some = np.arange(start, end)
        if skip_unknown:
            some = some[np.asarray(ids)[some] != 0]
        block = PartRows.read(session, ids, some, streams)
        some = block.usable(some)
        parts_of = (session.vocab, block.mixed(mix), some, k, block.extras(tokens, mix))
        plain, row = RowOfferer(*parts_of), RowOfferer(*parts_of)
        predictor = Predictor(session)
        fit = predictor.phrase_fit()
        assert fit is not None  # (None only when told to stop)
        typed = some.tolist()
        out["phrases"] = {
            "positions": len(some),
            "threshold": fit.to_dict(),
            "without": simulate(plain, tokens, typed).to_dict(),
            "with": simulate(PhraseOfferer(row, predictor, end), tokens, typed).to_dict(),
        }
    return out
