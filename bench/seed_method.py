"""The 2018 tutorial's method, ported faithfully to torch: the baseline we must beat.

What it measures: how fast (steps/s, seconds) and how well (the tutorial's moving
"Average Accuracy" and the whole-fable window accuracy) the tutorial's own training
method learns the fable ("Belling the Cat", 204 words, 112 distinct).

The method, as in ../shared/seed/ (TensorFlow 1):
  - ``read_data``: every line whitespace-split; ``build_dataset``: ids by
    ``collections.Counter(words).most_common()`` (ties in first-seen order).
  - Input: the ids of 3 consecutive words as raw floats, shape [1, 3, 1] (no embedding).
  - ``MultiRNNCell([BasicLSTMCell(512)] * layers)`` read by ``static_rnn`` from a zero state;
    output ``matmul(outputs[-1], W) + b`` with W, b drawn from ``random_normal`` (std 1).
  - ``softmax_cross_entropy_with_logits``, ``RMSPropOptimizer(0.001)``, batch 1.
  - The offset walk: start at ``randint(0, 4)``, move 4 words per step, wrap to a new
    ``randint(0, 4)`` past the end; 50,000 steps; print every 1,000 steps.

Matched exactly (up to random draws, which cannot be TF's own):
  - BasicLSTMCell: one kernel [input + 512, 4 * 512] per layer, gates (i, j, f, o) split in
    that order, ``c = c * sigmoid(f + 1.0) + sigmoid(i) * tanh(j)``, ``h = tanh(c) * sigmoid(o)``
    (forget_bias 1.0 as a constant), kernel initialised glorot-uniform over its full shape
    (TF1's default for ``get_variable`` without an initializer), bias zeros. Written out here
    rather than ``nn.LSTM``, which has two trainable biases (twice the bias step size).
  - TF1 RMSProp: decay 0.9, momentum 0, epsilon 1e-10 *inside* the square root, and the
    mean-square accumulator initialised to 1.0 (torch's ``RMSprop`` starts it at 0, so its
    first step is lr * sign(g) * sqrt(10) whatever the gradient, where TF's is about lr * g;
    it also adds eps outside the root): hence the 10-line optimizer below.
  - float32 throughout; per-step accuracy ``argmax(pred) == argmax(y)``.
Not matched: TF's random number streams (glorot/normal draws and ``random.randint`` are
seeded from ``--seed`` here), and TF's kernels (summation order, fused ops, its handling of
denormals), so no run is bit-identical to the tutorial's, and runs on different machines or
thread counts drift apart after a few thousand steps. ``read_data`` flattens the lines with
a list comprehension: the tutorial's ``np.reshape(np.array(content), [-1])`` only flattens a
one-line file (the fable is one).

Added for measurement only (the training itself is untouched): the whole-fable window
accuracy (every 3-word window, 201 on the fable, read from a zero state, as our trainer's
``window_accuracy``) at each display step and every ``--eval-every`` steps for ``--target``;
steps/s; elapsed time (from model creation; evaluation included).

Run:  python bench/seed_method.py [--layers 1|2] [--steps 50000] [--target 0.85]
                                  [--seed 1] [--threads 2] [--eval-every 100] [--quiet]
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FABLE = Path(__file__).resolve().parent.parent / "data" / "belling_the_cat.txt"

# The tutorial's parameters.
LEARNING_RATE = 0.001
TRAINING_ITERS = 50_000
DISPLAY_STEP = 1000
N_INPUT = 3
N_HIDDEN = 512
FORGET_BIAS = 1.0  # BasicLSTMCell's default


def read_data(fname: str | Path) -> list[str]:
    with open(fname) as f:
        content = f.readlines()
    content = [x.strip() for x in content]
    return [word for line in content for word in line.split()]


def build_dataset(words: list[str]) -> tuple[dict[str, int], dict[int, str]]:
    count = collections.Counter(words).most_common()
    dictionary: dict[str, int] = {}
    for word, _ in count:
        dictionary[word] = len(dictionary)
    reverse_dictionary = dict(zip(dictionary.values(), dictionary.keys(), strict=True))
    return dictionary, reverse_dictionary


def glorot_uniform(shape: tuple[int, int]) -> torch.Tensor:
    """tf.glorot_uniform_initializer for a 2-D variable: U(-l, l), l = sqrt(6 / (in + out))."""
    limit = math.sqrt(6.0 / (shape[0] + shape[1]))
    return torch.empty(shape).uniform_(-limit, limit)


class BasicLSTMCell(nn.Module):
    """tf.contrib.rnn.BasicLSTMCell(num_units): one kernel, one bias, a constant forget bias."""

    def __init__(self, input_depth: int, num_units: int, forget_bias: float = FORGET_BIAS):
        super().__init__()
        self.forget_bias = forget_bias
        self.kernel = nn.Parameter(glorot_uniform((input_depth + num_units, 4 * num_units)))
        self.bias = nn.Parameter(torch.zeros(4 * num_units))

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        c, h = state
        gates = torch.addmm(self.bias, torch.cat([inputs, h], 1), self.kernel)
        i, j, f, o = gates.chunk(4, dim=1)
        new_c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        new_h = torch.tanh(new_c) * torch.sigmoid(o)
        return new_h, (new_c, new_h)


class SeedRNN(nn.Module):
    """RNN(x, weights, biases): static_rnn over MultiRNNCell, then the output projection."""

    def __init__(self, vocab_size: int, layers: int = 2, n_hidden: int = N_HIDDEN):
        super().__init__()
        self.n_hidden = n_hidden
        self.cells = nn.ModuleList(
            BasicLSTMCell(1 if k == 0 else n_hidden, n_hidden) for k in range(layers)
        )
        self.weights_out = nn.Parameter(torch.randn(n_hidden, vocab_size))  # random_normal
        self.biases_out = nn.Parameter(torch.randn(vocab_size))  # random_normal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [batch, n_input, 1] (ids as floats) -> logits [batch, vocab] after the last input."""
        zeros = x.new_zeros(x.shape[0], self.n_hidden)
        states = [(zeros, zeros) for _ in self.cells]
        for t in range(x.shape[1]):  # static_rnn: tf.split(x, n_input, 1)
            out = x[:, t]
            for k, cell in enumerate(self.cells):  # MultiRNNCell: layer after layer
                out, states[k] = cell(out, states[k])
        return torch.addmm(self.biases_out, out, self.weights_out)


class TF1RMSProp:
    """tf.train.RMSPropOptimizer(lr) with its defaults, as TF1's ApplyRMSProp computes it.

    ms <- decay * ms + (1 - decay) * g^2;  var <- var - lr * g / sqrt(ms + epsilon),
    with ms initialised to 1.0 (momentum 0, so the momentum slot is just that step).
    """

    def __init__(
        self, params, lr: float = LEARNING_RATE, decay: float = 0.9, epsilon: float = 1e-10
    ):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.decay, self.epsilon = lr, decay, epsilon
        self.ms = [torch.ones_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p, ms in zip(self.params, self.ms, strict=True):
            g = p.grad
            ms.mul_(self.decay).addcmul_(g, g, value=1.0 - self.decay)
            p.addcdiv_(g, ms.add(self.epsilon).sqrt_(), value=-self.lr)


@dataclass
class SeedResult:
    layers: int
    steps: int
    seconds: float  # from model creation, evaluations included
    steps_per_second: float
    window_accuracy: float  # whole fable, every 3-word window
    moving_accuracy: float | None  # the tutorial's "Average Accuracy" at the last display
    reached: bool | None  # None without a target


def run(
    layers: int = 2,
    steps: int = TRAINING_ITERS,
    target: float | None = None,
    seed: int | None = 1,
    eval_every: int = 100,
    fname: str | Path = FABLE,
    log: Callable[[str], None] | None = print,
) -> SeedResult:
    """Train as the tutorial does; stop after ``steps`` or once window accuracy >= target."""
    say = log or (lambda _: None)
    training_data = read_data(fname)
    dictionary, reverse_dictionary = build_dataset(training_data)
    vocab_size = len(dictionary)
    ids = [dictionary[w] for w in training_data]
    # Every 3-word window of the text and the word after it (201 on the fable).
    windows = torch.tensor(
        [ids[i : i + N_INPUT] for i in range(len(ids) - N_INPUT)], dtype=torch.float32
    ).unsqueeze(-1)  # [n, 3, 1]
    next_ids = torch.tensor(ids[N_INPUT:])
    say(
        f"Loaded training data... {len(training_data)} words, vocab {vocab_size}, {layers} layer(s)"
    )

    if seed is not None:
        random.seed(seed)
        torch.manual_seed(seed)
    start_time = time.perf_counter()
    model = SeedRNN(vocab_size, layers)
    optimizer = TF1RMSProp(model.parameters())

    @torch.no_grad()
    def whole_fable_accuracy() -> float:
        return float((model(windows).argmax(1) == next_ids).float().mean())

    step = 0
    offset = random.randint(0, N_INPUT + 1)
    end_offset = N_INPUT + 1
    acc_total = 0.0
    loss_total = 0.0
    moving = None
    accuracy = whole_fable_accuracy()
    reached = None if target is None else accuracy >= target
    while step < steps and not reached:
        if offset > (len(training_data) - end_offset):
            offset = random.randint(0, N_INPUT + 1)
        x = windows[offset : offset + 1]  # [[ids of words offset .. offset+2]] as floats
        y = next_ids[offset : offset + 1]  # the id of word offset+3

        pred = model(x)
        cost = F.cross_entropy(pred, y)  # softmax cross entropy, mean over the batch of 1
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()

        loss_total += cost.item()
        acc_total += float(pred.argmax(1).item() == y.item())
        if (step + 1) % DISPLAY_STEP == 0:
            moving = acc_total / DISPLAY_STEP
            say(
                f"Iter= {step + 1}, Average Loss= {loss_total / DISPLAY_STEP:.6f}, "
                f"Average Accuracy= {100 * moving:.2f}%"
            )
            acc_total = 0.0
            loss_total = 0.0
            symbols_in = [training_data[i] for i in range(offset, offset + N_INPUT)]
            symbols_out = training_data[offset + N_INPUT]
            symbols_out_pred = reverse_dictionary[int(pred.argmax(1).item())]
            say(f"{symbols_in} - [{symbols_out}] vs [{symbols_out_pred}]")
        step += 1
        offset += N_INPUT + 1

        display = step % DISPLAY_STEP == 0
        if display or (target is not None and step % eval_every == 0):
            accuracy = whole_fable_accuracy()
            reached = None if target is None else accuracy >= target
            if display or reached:
                elapsed = time.perf_counter() - start_time
                say(
                    f"    whole-fable window accuracy {accuracy:.2%} "
                    f"({round(accuracy * len(next_ids))}/{len(next_ids)}) at step {step}, "
                    f"{step / elapsed:.1f} steps/s, elapsed {elapsed:.1f} s"
                )
    elapsed = time.perf_counter() - start_time
    accuracy = whole_fable_accuracy()
    say("Optimization Finished!" if not reached else f"Target {target:.2%} reached.")
    say(f"Elapsed time: {elapsed:.1f} s, {step} steps, {step / max(elapsed, 1e-9):.1f} steps/s")
    return SeedResult(
        layers=layers,
        steps=step,
        seconds=elapsed,
        steps_per_second=step / max(elapsed, 1e-9),
        window_accuracy=accuracy,
        moving_accuracy=moving,
        reached=reached,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, choices=[1, 2], default=2)
    p.add_argument("--steps", type=int, default=TRAINING_ITERS, help="max steps (50,000)")
    p.add_argument("--target", type=float, help="stop once whole-fable window accuracy >= this")
    p.add_argument("--eval-every", type=int, default=100, help="steps between --target checks")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--file", default=str(FABLE), help="training text (the bundled fable)")
    p.add_argument("--quiet", action="store_true", help="only the final summary")
    args = p.parse_args(argv)
    if not Path(args.file).is_file():
        print(f"seed_method: {args.file} not found; skipping")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), numpy {np.__version__}")
    result = run(
        layers=args.layers,
        steps=args.steps,
        target=args.target,
        seed=args.seed,
        eval_every=args.eval_every,
        fname=args.file,
        log=None if args.quiet else print,
    )
    moving = "n/a" if result.moving_accuracy is None else f"{result.moving_accuracy:.2%}"
    print(
        f"seed method, {result.layers} layer(s): {result.steps} steps in {result.seconds:.1f} s "
        f"({result.steps_per_second:.1f} steps/s); whole-fable window accuracy "
        f"{result.window_accuracy:.2%}; last moving accuracy {moving}"
        + ("" if result.reached is None else f"; target reached: {result.reached}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
