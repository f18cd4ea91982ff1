"""An epoch's batches, read from the token ids as they are needed (the ids may be a memory map).

The text is cut into ``batch_size`` side-by-side streams of ``length`` tokens from
``offset``; batch ``i`` is ``bptt`` tokens of each stream, and the targets are the same
positions one token on. Only the ``[streams, bptt + 1]`` block a step uses is read, so a
corpus mapped from the token cache is never copied into memory whole.
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
    def __getitem__(
        self, i: int | slice
    ) -> tuple[torch.Tensor, torch.Tensor] | list[tuple[torch.Tensor, torch.Tensor]]:
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
