"""Training throughput in fp32 and under bf16 autocast, side by side, on this machine's CPU.

    python bench/precision.py [--threads 1]

One training step (forward, backward, fused AdamW) of a 1-layer LSTM on random tokens, for a
few sizes and softmaxes; prints tokens/s for each precision. bf16 is faster only where the CPU
computes in it (AMX, AVX-512 BF16): ``--precision auto`` picks it there (core/model/device.py).
"""

from __future__ import annotations

import argparse
import time

import torch

from lstm_tui.core.model.device import cpu_has_bf16
from lstm_tui.core.model.lstm import LanguageModel, make_config
from lstm_tui.core.training.optim import AdamW

CASES = [  # vocabulary, width, softmax, batch
    (6_000, 256, "full", 32),
    (6_000, 256, "adaptive", 32),
    (15_000, 256, "adaptive", 32),
    (33_000, 256, "adaptive", 32),
]


def tokens_per_second(
    vocab: int, width: int, softmax: str, batch: int, bf16: bool, steps: int
) -> float:
    torch.manual_seed(0)
    config = make_config(vocab, "default", softmax, embed=width, hidden=width, layers=1)
    model = LanguageModel(config).train()
    optimizer = AdamW(list(model.parameters()), lr=1e-3)
    x = torch.randint(0, vocab, (batch, 35))
    y = torch.randint(0, vocab, (batch, 35))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            features, _ = model.features(x)
            loss, _ = model.loss(features, y, count_correct=False)
        optimizer.zero_grad()
        loss.float().backward()
        optimizer.step()

    for _ in range(2):  # warm-up: kernels chosen, memory allocated
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * x.numel() / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), bf16 units: {cpu_has_bf16()}")
    print(f"{'vocab':>6} {'width':>5} {'softmax':9} {'fp32 tok/s':>10} {'bf16 tok/s':>10} ratio")
    for vocab, width, softmax, batch in CASES:
        fp32 = tokens_per_second(vocab, width, softmax, batch, False, args.steps)
        bf16 = tokens_per_second(vocab, width, softmax, batch, True, args.steps)
        print(f"{vocab:6} {width:5} {softmax:9} {fp32:10,.0f} {bf16:10,.0f} {bf16 / fp32:5.2f}x")


if __name__ == "__main__":
    main()
