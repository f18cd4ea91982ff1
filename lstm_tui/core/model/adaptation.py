"""What a model learns from the text it reads, after training: the LSTM's delta and n-gram counts.

- The LSTM, by dynamic evaluation (Krause, Kahembwe, Murray & Renals 2018, "Dynamic Evaluation
  of Neural Sequence Models", ICML): after each segment of text it takes a gradient step on that
  segment's loss, and is pulled back toward the trained weights θ₀ (their SGD rule with a
  global prior):  θ ← θ − η ∇L(segment) + λ (θ₀ − θ).  The adapted weights are kept as a
  delta Δ = θ − θ₀, so that training may go on moving θ₀ while what was learnt is kept.
- The n-gram, by counting the text read so far (``TextCounts``): each of its contexts of one
  to ``order - 1`` words refines the trained Kneser-Ney distribution the way MAP adaptation
  does (Federico 1996, "Bayesian estimation methods for n-gram language model adaptation";
  Bacchiani & Roark 2003): p(w | h) = (c(h w) + β p_lower(w | h)) / (c(h) + β), from the
  shortest context up, the trained n-gram at the bottom.

``core/serving/adapt.py`` uses these: in the app (a sent line) and in ``eval --adapt``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from copy import deepcopy
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from lstm_tui.core.model.lstm import LanguageModel, State
from lstm_tui.core.model.mixture import CACHE_WINDOW


@dataclass(frozen=True)
class AdaptConfig:
    """How fast and how far the model follows the text it reads (tuned on validation text:
    docs/TYPING_ADAPT.md)."""

    lr: float = 1.0  # η: SGD step on a segment's mean cross-entropy
    decay: float = 0.001  # λ: pull back toward the trained weights per step
    segment: int = 20  # tokens per gradient step (Krause et al. use 5-20 words)
    order: int = 3  # counted contexts of 1..order-1 words
    prior: float = 100.0  # β: how many counts the trained n-gram's opinion is worth

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AdaptConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class TextCounts:
    """n-gram counts of the text read so far, refining a trained distribution (MAP adaptation).

    ``ids`` is everything counted, in order; counts[k-1][context of k words][word] for
    k = 1..order-1.
    """

    def __init__(self, order: int = 3, prior: float = 100.0) -> None:
        self.order, self.prior = order, prior
        self.ids: list[int] = []
        self._counts: list[defaultdict[tuple[int, ...], dict[int, int]]] = [
            defaultdict(dict) for _ in range(order - 1)
        ]
        self._totals: list[defaultdict[tuple[int, ...], int]] = [
            defaultdict(int) for _ in range(order - 1)
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def extended(self, ids: list[int] | np.ndarray) -> TextCounts:
        """A copy that has also counted ``ids`` (readers of this one never see it change)."""
        copy = TextCounts(self.order, self.prior)
        copy.ids = list(self.ids)
        copy._counts = [
            defaultdict(dict, {c: dict(f) for c, f in level.items()}) for level in self._counts
        ]
        copy._totals = [defaultdict(int, level) for level in self._totals]
        copy.add(ids)
        return copy

    def add(self, ids: list[int] | np.ndarray) -> None:
        """Count ``ids`` as the text that follows what was counted before."""
        for token in (int(t) for t in ids):
            self._add_one(token)

    def _add_one(self, token: int) -> None:
        history = self.ids
        for k in range(1, min(self.order - 1, len(history)) + 1):
            context = tuple(history[-k:])
            followers = self._counts[k - 1][context]
            followers[token] = followers.get(token, 0) + 1
            self._totals[k - 1][context] += 1
        history.append(token)

    def _contexts(self, history: list[int]) -> list[tuple[tuple[int, ...], int]]:
        """(context, total) for the seen contexts of ``history``'s last 1, 2, … words."""
        out = []
        for k in range(1, min(self.order - 1, len(history)) + 1):
            context = tuple(history[-k:])
            total = self._totals[k - 1].get(context, 0)
            if total == 0:
                break  # a longer context than an unseen one is unseen too
            out.append((context, total))
        return out

    def prob(self, base: float, history: list[int], word: int) -> float:
        """The adapted probability of ``word`` after ``history``, the trained one being ``base``."""
        p = base
        for context, total in self._contexts(history):
            count = self._counts[len(context) - 1][context].get(word, 0)
            p = (count + self.prior * p) / (total + self.prior)
        return p

    def distribution(self, base: np.ndarray, history: list[int]) -> np.ndarray:
        """[V] the adapted distribution after ``history`` from the trained one ``base`` [V]."""
        p = base
        for context, total in self._contexts(history):
            p = p * (self.prior / (total + self.prior))
            followers = self._counts[len(context) - 1][context]
            words = np.fromiter(followers.keys(), np.int64, len(followers))
            counts = np.fromiter(followers.values(), np.float64, len(followers))
            p[words] += counts / (total + self.prior)
        return p


class Adaptation:
    """What the model learnt from the text it read: the LSTM's delta and the n-gram's counts.

    Not thread-safe on its own: the session's lock guards it (``Session.adaptation``).
    """

    def __init__(self, config: AdaptConfig | None = None) -> None:
        self.config = config or AdaptConfig()
        self.delta: dict[str, torch.Tensor] = {}  # θ − θ₀ by parameter name; empty: none yet
        self.counts = TextCounts(self.config.order, self.config.prior)
        self.enabled = True

    @property
    def words(self) -> int:
        """Tokens learnt from."""
        return len(self.counts)

    @property
    def active(self) -> bool:
        return self.enabled and self.words > 0

    def recent(self) -> list[int]:
        """The tail of the learnt text the unigram cache counts."""
        return self.counts.ids[-CACHE_WINDOW:]

    def reset(self) -> None:
        self.delta = {}
        self.counts = TextCounts(self.config.order, self.config.prior)

    def apply(self, model: LanguageModel) -> None:
        """Add the learnt delta to ``model``'s weights (a copy of the trained ones), in place."""
        if not self.delta:
            return
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.delta:
                    p.add_(self.delta[name].to(p.device, p.dtype))

    def learnt(
        self, trained: LanguageModel, delta: dict[str, torch.Tensor], ids: list[int]
    ) -> dict[str, torch.Tensor]:
        """The delta after dynamic evaluation over ``ids`` from θ₀ + ``delta`` (``trained`` is
        a private copy of θ₀: it is changed)."""
        if len(ids) < 2:
            return delta
        base = {n: p.detach().clone() for n, p in trained.named_parameters()}
        model = trained
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in delta:
                    p.add_(delta[name].to(p.device, p.dtype))
        dynamic_steps(model, ids, self.config, base)
        with torch.no_grad():
            return {n: (p - base[n]).cpu() for n, p in model.named_parameters()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """What to save: the delta and the learnt ids (the counts are rebuilt from them)."""
        out = {f"delta.{n}": t.contiguous() for n, t in self.delta.items()}
        out["ids"] = torch.tensor(self.counts.ids, dtype=torch.int64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], config: AdaptConfig) -> Adaptation:
        adaptation = cls(config)
        adaptation.delta = {
            k.removeprefix("delta."): v for k, v in tensors.items() if k.startswith("delta.")
        }
        adaptation.counts.add(tensors["ids"].tolist())
        return adaptation


def adaptable_copy(model: LanguageModel) -> LanguageModel:
    """A private copy to adapt (no fresh initialisation: a big table's costs as much)."""
    copy = deepcopy(model)
    copy.eval()  # Krause et al. adapt without dropout
    for p in copy.parameters():
        p.requires_grad_(True)
    return copy


def _sgd_step(
    model: LanguageModel, loss: torch.Tensor, config: AdaptConfig, base: dict[str, torch.Tensor]
) -> None:
    """θ ← θ − η ∇L + λ (θ₀ − θ): one step of dynamic evaluation (Krause et al. 2018, eq. 8).

    As two fused updates over all the parameters at once (``torch._foreach_*``): the pull is
    a lerp toward θ₀ by λ.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    if not math.isfinite(float(loss.detach())):
        return  # a step on a non-finite loss would ruin the weights: skip it
    with torch.no_grad():
        stepped = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        if stepped and config.lr:
            torch._foreach_add_([p for p, _ in stepped], [g for _, g in stepped], alpha=-config.lr)
        if config.decay:
            torch._foreach_lerp_(list(params), [base[n] for n, _ in named], config.decay)


def dynamic_steps(
    model: LanguageModel,
    ids: list[int] | np.ndarray,
    config: AdaptConfig,
    base: dict[str, torch.Tensor],
    state: State | None = None,
    keep: dict[int, torch.Tensor] | None = None,
) -> tuple[np.ndarray, State | None]:
    """Read ``ids`` segment by segment, scoring then learning each; ``model`` is changed.

    Returns log P(ids[i] | ids[:i]) for i = 1..len-1 under the weights learnt from the
    segments strictly before i's, and the LSTM state after the text. ``keep``: positions
    whose whole distribution (log-probabilities [vocab], as scored) to fill in.
    """
    device = model.embedding.weight.device
    tokens = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)
    out = np.empty(max(len(tokens) - 1, 0))
    for start in range(0, len(tokens) - 1, config.segment):
        x = tokens[start : start + config.segment][None]  # [1, L]
        y = tokens[start + 1 : start + config.segment + 1][None]  # [1, L']
        x = x[:, : y.shape[1]]
        features, state = model.features(x, state)  # [1, L, hidden]
        logp = model.target_log_probs(features, y)  # [1, L]: scored before learning from it
        out[start : start + y.shape[1]] = logp[0].detach().cpu().double().numpy()
        for j in range(y.shape[1]):
            if keep is not None and start + j + 1 in keep:
                with torch.no_grad():
                    row = model.scores(features[0, j].detach()).float()
                    keep[start + j + 1] = torch.log_softmax(row, dim=-1).cpu()
        _sgd_step(model, -logp.mean(), config, base)
        state = (state[0].detach(), state[1].detach())
    return out, state
