"""Sample text as the model learns: a short greedy continuation of a fixed prompt.

After each evaluation the LSTM continues the first words of the training text. The prompt
never changes within a run, so the samples read as a sequence: babble, then grammar, then the
text's own phrases. Greedy (argmax) decoding makes a sample a function of the weights alone, so
two runs' samples compare and a seeded run writes the same ones again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from lstm_tui.core.text.tokenize import detokenize

if TYPE_CHECKING:
    from lstm_tui.core.model.session import Session

SAMPLE_PROMPT_TOKENS = 4  # the prompt: this many tokens from the start of the training text
SAMPLE_WORDS = 12  # how many tokens the model adds


def sample_prompt(train_ids: np.ndarray) -> list[int]:
    return [int(i) for i in np.asarray(train_ids[:SAMPLE_PROMPT_TOKENS])]


@torch.inference_mode()
def continue_prompt(
    session: Session, train_ids: np.ndarray, n_words: int = SAMPLE_WORDS
) -> str | None:
    """``prompt → continuation`` as one line of text; None for a text too short to prompt.

    The unknown word (id 0) is never picked: a line of ``<unk>`` says nothing about learning.
    """
    prompt = sample_prompt(train_ids)
    if not prompt:
        return None
    model = session.model
    was_training = model.training
    model.eval()  # no dropout: the sample is the weights' own
    try:
        device = model.embedding.weight.device
        tokens = torch.tensor([prompt], device=device)  # [1, P]
        features, state = model.features(tokens)  # [1, P, hidden]
        words: list[int] = []
        last = features[:, -1:]  # [1, 1, hidden]
        for _ in range(n_words):
            scores = model.scores(last)[0, -1].float()  # [vocab]
            scores[0] = -torch.inf
            token = int(scores.argmax())
            words.append(token)
            last, state = model.features(torch.tensor([[token]], device=device), state)
    finally:
        model.train(was_training)
    vocab, kind = session.vocab.words, session.tokenizer
    head = detokenize([vocab[i] for i in prompt], kind)
    return f"{head} → {detokenize([vocab[i] for i in words], kind)}"
