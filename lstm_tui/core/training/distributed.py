"""Training on many processes, GPUs or machines: torchrun and DistributedDataParallel.

``torchrun`` starts one process per GPU (or CPU share) and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; ``Distributed.from_env()`` joins the group (nccl
on CUDA, gloo on the CPU). The global batch of ``batch_size`` streams is shared out: stream
``b`` goes to rank ``b % world``, and DDP averages the gradients, so a step is the same step
a single process takes on the whole batch. Rank 0 alone evaluates (every rank receives its
metrics, so all decide alike), prints and saves. Stopping is a vote: a rank that wants to
stop (time limit, Ctrl-C, SIGTERM: ``control.StopOnSignals``) stops every rank at the same
step, so none is left waiting in a collective.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from lstm_tui.core.errors import ConfigError
from lstm_tui.core.model.device import resolve_device
from lstm_tui.core.model.lstm import LanguageModel, State

T = TypeVar("T")
NCCL_VOTE_EVERY = 8  # steps between stop votes on GPUs: each vote waits for the GPU
TIMEOUT = datetime.timedelta(minutes=30)  # a collective waits this long for a slow rank


def launched() -> bool:
    """Whether this process was started by torchrun (or with its variables set by hand)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


class TrainStep(nn.Module):
    """One training forward pass as a module, so that DDP's gradient hooks see it.

    ``LanguageModel`` trains through ``features`` then ``loss``, not ``forward``; DDP
    only syncs gradients of a call to the wrapped module's ``forward``.
    """

    def __init__(self, model: LanguageModel, autocast: torch.dtype | None = None) -> None:
        super().__init__()
        self.model = model
        self.autocast = autocast

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, state: State | None, count_correct: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, State]:
        cast = self.autocast
        with torch.autocast(x.device.type, dtype=cast) if cast else contextlib.nullcontext():
            features, state = self.model.features(x, state)
            loss, correct = self.model.loss(features, y, count_correct=count_correct)
        # The state is carried in fp32: under bf16 autocast the LSTM hands it back in bf16.
        return loss.float(), correct, (state[0].detach().float(), state[1].detach().float())


@dataclass
class Distributed:
    """This process's place in the group, and the few collectives training needs."""

    rank: int
    world: int
    local_rank: int
    device: torch.device
    vote_every: int  # steps between stop votes

    @classmethod
    def from_env(cls, device: str = "auto") -> Distributed:
        """Join the group torchrun describes; ``device`` auto picks this rank's GPU."""
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        resolved = resolve_device(device)
        if resolved.type == "cuda":
            if local_rank >= torch.cuda.device_count():
                raise ConfigError(
                    f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} here): "
                    "start at most one process per GPU"
                )
            resolved = torch.device("cuda", local_rank)
            torch.cuda.set_device(resolved)
        elif resolved.type != "cpu":
            raise ConfigError(f"training on many processes needs cuda or cpu, not {resolved}")
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=TIMEOUT)
        vote_every = NCCL_VOTE_EVERY if backend == "nccl" else 1
        return cls(rank, world, local_rank, resolved, vote_every)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> np.ndarray:
        """The streams of a global batch this rank reads."""
        return np.arange(self.rank, batch_size, self.world)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise ConfigError(
                f"a batch of {batch_size} streams cannot be shared equally by {self.world} "
                f"processes: use a batch size that is a multiple of {self.world}"
            )

    def wrap(self, step: TrainStep) -> nn.Module:
        devices = [self.device.index] if self.device.type == "cuda" else None
        # An adaptive softmax leaves a tail cluster unused by a batch with no rare target.
        unused = step.model.config.softmax == "adaptive"
        return nn.parallel.DistributedDataParallel(
            step, device_ids=devices, find_unused_parameters=unused
        )

    def vote_stop(self, mine: int, step: int) -> int:
        """The largest stop code any rank gives (0: go on); held votes read 0 between polls."""
        if step % self.vote_every:
            return 0
        flag = torch.tensor([mine], dtype=torch.int32, device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def from_main(self, compute: Callable[[], T]) -> T:
        """Rank 0's ``compute()``, on every rank (the others do not compute it)."""
        box: list = [compute() if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def shared_seed(self, seed: int | None) -> int:
        """One seed for every rank (each picks its own epoch offsets from it)."""
        return self.from_main(lambda: random.randrange(2**31) if seed is None else seed)

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def torchrun(argv: list[str]) -> int:
    """torch's own launcher (``torchrun``), quiet when Ctrl-C stops it: the ranks save first."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main

    try:
        main(argv)
    except SignalException:
        return 130
    return 0


if (
    __name__ == "__main__"
):  # `train --processes N` runs `python -m lstm_tui.core.training.distributed`
    raise SystemExit(torchrun(sys.argv[1:]))
