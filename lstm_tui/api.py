"""A small public API for scripts and other editors: ``lstm_tui.load(...).suggest(text)``.

    >>> import lstm_tui
    >>> model = lstm_tui.load()  # the shipped fable model; or a checkpoint's name or path
    >>> s = model.suggest("long ago, the mi")
    >>> s.words, s.completion, s.phrase
    (['mice'], 'mice', 'mice had a general council')

``suggest`` answers what the app shows for the same typed text: the row of next words (those
starting with the partial last word, if one is being typed), the completion of that word,
and the phrase the ghost text offers. It wraps the core ``Predictor`` that the app and the
CLI use (``Model.predictor``). torch is imported by ``load``, not by ``import lstm_tui``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ATTACH_LEFT = frozenset(",.;:?!%)]}…'’”")  # as the app: no punctuation ghost after a space

if TYPE_CHECKING:
    from lstm_tui.core.serving.phrase import Phrase
    from lstm_tui.core.serving.predict import Predictor, Suggestions


@dataclass(frozen=True)
class Suggestion:
    """What the app shows for a typed text."""

    text: str  # the typed text this answers
    partial: str  # the word being typed at its end, "" after a space
    words: list[str]  # the row: the k likeliest next words (or completions of ``partial``)
    probabilities: list[float]  # of each of ``words``, under the mixture
    completion: str | None  # ``partial`` completed, in the user's case ("Ca" -> "Cat")
    phrase: str | None  # the phrase offered, from ``partial`` on: "mice had a general council"
    phrase_probability: float | None  # P(the phrase's words | text) under the mixture
    ghost: str  # what Tab adds to ``text`` in the app: the phrase, else the completion, or ""
    unknown: list[str]  # typed words the vocabulary lacks


class Model:
    """A loaded model, ready to suggest. Calls from several threads run one at a time (the
    predictor holds a lock)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def suggest(self, text: str, k: int = 5, phrase: bool = True) -> Suggestion:
        """The row, the completion and (unless ``phrase=False``) the phrase for ``text``."""
        typed = self.predictor.suggest(text, k=k)
        found = self.predictor.phrase(text) if phrase else None
        return suggestion(text, typed, found)

    def continue_text(
        self, text: str, words: int = 24, temperature: float = 0.8, seed: int | None = None
    ) -> str:
        """``words`` more tokens after ``text``: sampled (``temperature`` > 0) or greedy (0),
        greedy with a guard against loops."""
        return self.predictor.continue_text(text, words, temperature=temperature, seed=seed).text

    @property
    def vocabulary_size(self) -> int:
        return len(self.predictor.session.vocab)


def suggestion(text: str, typed: Suggestions, found: Phrase | None) -> Suggestion:
    """The public answer from the core's (the CLI's JSON says the same)."""
    completion = typed.completion
    if (
        found is not None
        and completion is not None
        and not found.text.startswith(completion.suffix)
    ):
        found = None  # the row completes the word otherwise (a rare word): the phrase must agree
    ghost = found.text if found is not None else completion.suffix if completion else ""
    if found is None and not typed.partial and text[-1:].isspace() and typed.next_words:
        first = typed.next_words[0].word  # the app's ghost after a space: the top word
        ghost = "" if first[:1] in ATTACH_LEFT else first
    return Suggestion(
        text=text,
        partial=typed.partial,
        words=[w.word for w in typed.next_words],
        probabilities=[w.prob for w in typed.next_words],
        completion=completion.text if completion is not None else None,
        phrase=(typed.partial + found.text).strip() if found is not None else None,
        phrase_probability=found.prob if found is not None else None,
        ghost=ghost,
        unknown=list(typed.unknown),
    )


def load(
    name_or_path: str | Path | None = None, *, device: str = "cpu", threads: int | None = 1
) -> Model:
    """A checkpoint, by name (in the checkpoints folder) or path; the shipped model if None.

    ``threads``: torch's CPU threads (1 is quickest for one keystroke at a time; None leaves
    torch's setting alone). Raises ``lstm_tui.core.errors.CheckpointError`` (a ``UserError``,
    with one clear line) for a missing or damaged file.
    """
    import torch

    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.store import checkpoint
    from lstm_tui.core.store.paths import checkpoint_path, default_checkpoint

    if threads is not None:
        torch.set_num_threads(threads)
    path = checkpoint_path(name_or_path) if name_or_path is not None else default_checkpoint()
    return Model(Predictor(checkpoint.load(path, device=device)))
