"""How surprising a model finds each word of a text: -log2 P(word | the words before it).

Low for the words the model expected, high for the ones it did not: as a model trains, a
line it has read turns from all-surprising to mostly-expected. The first word is scored
against the vocabulary's word frequencies (there is no context yet); a word the vocabulary
does not have gets no score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lstm_tui.core.model import LanguageModel
from lstm_tui.core.tokenize import tokenize
from lstm_tui.core.vocab import Vocabulary

EXPECTED_BITS = 4.0  # up to here: the model expected it (about 1 in 16 or likelier)
SURPRISING_BITS = 9.0  # from here: it did not (1 in 500 or rarer)


@dataclass(frozen=True)
class WordSurprise:
    word: str
    bits: float | None  # None: not in the vocabulary


@torch.inference_mode()
def surprisal(
    model: LanguageModel, vocab: Vocabulary, text: str, lowercase: bool = True
) -> list[WordSurprise]:
    tokens = tokenize(text, lowercase=False)
    if not tokens:
        return []
    ids = [int(i) for i in vocab.encode([t.lower() if lowercase else t for t in tokens])]
    bits: list[float | None] = []
    total = max(1, vocab.total)
    first = int(vocab.counts[ids[0]]) if ids[0] else 0
    bits.append(-math.log2(first / total) if first else None)
    if len(ids) > 1:
        device = model.embedding.weight.device
        was_training = model.training
        model.eval()
        features, _ = model.features(torch.tensor([ids[:-1]], device=device))
        logp = torch.log_softmax(model.scores(features)[0].float(), dim=-1)
        following = torch.tensor(ids[1:], device=device)
        scored = (-logp.gather(1, following[:, None])[:, 0] / math.log(2)).tolist()
        bits += [b if i else None for i, b in zip(ids[1:], scored, strict=True)]
        model.train(was_training)
    return [WordSurprise(t, b) for t, b in zip(tokens, bits, strict=True)]
