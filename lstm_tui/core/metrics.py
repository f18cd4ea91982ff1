"""How well a model predicts a text: perplexity, top-1/top-3, and the tutorial's window accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lstm_tui.core.corpus import WINDOW
from lstm_tui.core.model import LanguageModel, State

EVAL_CHUNK = 64  # tokens per stream per forward call: bounds the [streams, chunk, vocab] scores
WINDOW_BATCH = 2048
MAX_WINDOWS = 5000  # past this many windows, window accuracy is measured on an even sample


@dataclass(frozen=True)
class TextScore:
    tokens: int  # predictions scored
    loss: float
    top1: float
    top3: float

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))


def _as_tensor(ids: np.ndarray, device: torch.device) -> torch.Tensor:
    # One int64 copy, also of a read-only memory map (torch would warn about sharing it).
    return torch.from_numpy(np.array(ids, dtype=np.int64)).to(device)


@torch.inference_mode()
def score_text(model: LanguageModel, ids: np.ndarray, streams: int = 1) -> TextScore:
    """Score every next-word prediction given all text before it.

    With ``streams`` > 1 the text is cut into that many contiguous pieces read side by
    side (much faster on long texts); each piece then starts from an empty state.
    """
    was_training = model.training
    model.eval()
    device = model.embedding.weight.device
    streams = max(1, min(streams, (len(ids) - 1) // 2))
    length = (len(ids) - 1) // streams
    if length < 1:
        return TextScore(0, float("nan"), float("nan"), float("nan"))
    x = _as_tensor(ids[: streams * length], device).view(streams, length)
    y = _as_tensor(ids[1 : streams * length + 1], device).view(streams, length)
    state: State | None = None
    total_loss, top1, top3 = 0.0, 0, 0
    for t in range(0, length, EVAL_CHUNK):
        features, state = model.features(x[:, t : t + EVAL_CHUNK], state)
        logp = torch.log_softmax(model.scores(features).float(), dim=-1)
        target = y[:, t : t + EVAL_CHUNK]
        total_loss -= logp.gather(-1, target.unsqueeze(-1)).sum().item()
        best = logp.topk(min(3, logp.shape[-1]), dim=-1).indices
        top1 += (best[..., 0] == target).sum().item()
        top3 += (best == target.unsqueeze(-1)).any(-1).sum().item()
    n = streams * length
    model.train(was_training)
    return TextScore(n, total_loss / n, top1 / n, top3 / n)


@torch.inference_mode()
def window_accuracy(
    model: LanguageModel,
    ids: np.ndarray,
    window: int = WINDOW,
    max_windows: int | None = MAX_WINDOWS,
) -> float:
    """The tutorial's metric: top-1 accuracy predicting each word from the ``window`` before it.

    Every window of the text is scored from an empty state (the fable has 201); on long
    texts an evenly spaced sample of ``max_windows``.
    """
    n = len(ids) - window
    if n < 1:
        return float("nan")
    starts = np.arange(n)
    if max_windows is not None and n > max_windows:
        starts = np.linspace(0, n - 1, max_windows).astype(np.int64)
    was_training = model.training
    model.eval()
    device = model.embedding.weight.device
    ids_t = _as_tensor(ids, device)
    hits = 0
    for lo in range(0, len(starts), WINDOW_BATCH):
        first = torch.as_tensor(starts[lo : lo + WINDOW_BATCH], device=device)
        positions = first.unsqueeze(1) + torch.arange(window + 1, device=device)
        rows = ids_t[positions]  # [N, window + 1]
        features, _ = model.features(rows[:, :window])
        predicted = model.scores(features[:, -1]).argmax(-1)
        hits += (predicted == rows[:, window]).sum().item()
    model.train(was_training)
    return hits / len(starts)
