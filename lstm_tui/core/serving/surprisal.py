"""How surprising the model finds each word of a text: -log2 P(word | the words before it).

Low for the words the model expected, high for the ones it did not: as a model trains, a
line it has read turns from all-surprising to mostly-expected. ``Predictor.surprisal`` and
``Predictor.suggest`` score words under the same mixture that makes the suggestions. The
first word is scored against the vocabulary's word frequencies (there is no context yet); a
word the vocabulary does not have gets no score.
"""

from __future__ import annotations

from dataclasses import dataclass

EXPECTED_BITS = 4.0  # up to here: the model expected it (about 1 in 16 or likelier)
SURPRISING_BITS = 9.0  # from here: it did not (1 in 500 or rarer)


@dataclass(frozen=True)
class WordSurprise:
    word: str
    bits: float | None  # None: not in the vocabulary
