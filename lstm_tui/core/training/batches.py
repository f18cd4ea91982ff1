"""An epoch's batches, read from the token ids as they are needed (the ids may be a memory map).

The text is cut into ``batch_size`` side-by-side streams of ``length`` tokens from
``offset``; batch ``i`` is ``bptt`` tokens of each stream, and the targets are the same
positions one token on. Only the ``[streams, bptt + 1]`` block a step uses is read, so a
corpus mapped from the token cache is never copied into memory whole.

For the text "a b c ... x" (24 tokens), ``offset`` 1, 3 streams of ``length`` 7, ``bptt`` 3
(as pytorch/examples' word_language_model draws ``batchify``, but rows are streams here)::

    ids     a | b c d e f g h | i j k l m n o | p q r s t u v | w x
     offset ^   stream 0        stream 1        stream 2        (the rest is left out)

    batch:     0       1       2     (the last one is short)
    x      ┌ b c d │ e f g │ h ┐
           │ i j k │ l m n │ o │     [streams, bptt]: one row per stream
           └ p q r │ s t u │ v ┘
    y        c d e   f g h   i       the same positions one token on
             j k l   m n o   p       (the last target of a stream is
             q r s   t u v   w        the first token of the next)

The state a stream ends a batch with is where it starts the next one (truncated backprop
through time): row 0 of batch 1 continues row 0 of batch 0. ``rows`` picks the streams this
process reads (under torchrun, stream ``b`` goes to rank ``b % world``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import torch


class StreamBatches(Sequence[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(
        self,
        ids: np.ndarray,
        offset: int,
        length: int,
        bptt: int,
        rows: np.ndarray,
        device: torch.device,
    ) -> None:
        self.ids = ids
        self.length = length
        self.bptt = bptt
        self.starts = offset + rows.astype(np.int64) * length  # where each stream begins
        self.device = device
        # Pinned memory lets the copy to a GPU run alongside the previous step.
        self.pin = device.type == "cuda"

    def __len__(self) -> int:
        return -(-self.length // self.bptt)

    @overload
    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[torch.Tensor, torch.Tensor]]: ...
    def __getitem__(self, i: int | slice):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        t = (i % len(self)) * self.bptt
        width = min(self.bptt, self.length - t)
        positions = self.starts[:, None] + t + np.arange(width + 1)
        block = torch.from_numpy(self.ids[positions].astype(np.int64))
        if self.pin:
            block = block.pin_memory()
        block = block.to(self.device, non_blocking=True)
        return block[:, :-1], block[:, 1:]
