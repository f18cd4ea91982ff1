"""Prediction latency: one keystroke's suggestions, and a 32-word continuation.

What it measures, on the CPU, with the shipped model (``paths.default_checkpoint()``: the
seed preset, 2x512, trained on the fable) unless ``--checkpoint`` names another:

  - keystroke: ``Predictor.suggest(text, k=5)`` (the top-5 next words, or the completions of
    the word being typed, plus the completion) as the text grows or shrinks by one character:
    realistic typing of fable sentences, sentences with words the model has never seen,
    capitals, and typos fixed with backspaces. A text is cleared after each paragraph (a new
    message). Figures are also split by whether the keystroke finished a word (the predictor
    then runs one LSTM step) or not (its cached state is reused).
  - phrase: ``Predictor.phrase(text)`` after each keystroke's ``suggest`` (measured apart:
    the app posts the row first, then asks for the phrase). Its threshold is fitted first,
    untimed (the app fits it in a thread of its own). Target p90 < 60 ms.
  - continuation: ``Predictor.continue_text(prompt, 32)`` (greedy) over many different prompts
    of 1 to 8 words: once after the prompt was typed (its state is cached: 32 LSTM steps), and
    once with the prompt new to the predictor (its words are run as well).

Each pass uses a fresh ``Predictor`` (its one-off copy of the weights is made before timing);
one untimed pass warms up first. Targets (issue #2): keystroke p50 and p99 < 5 ms,
continuation < 50 ms.

Run:  python bench/latency.py [--passes 5] [--samples 300] [--threads 1] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.store import checkpoint
from lstm_tui.core.store.paths import default_checkpoint
from lstm_tui.core.text.tokenize import detokenize, split_partial, tokenize

KEYSTROKE_TARGET_MS = 5.0
CONTINUATION_TARGET_MS = 50.0
PHRASE_TARGET_MS = 60.0  # p90, as Smart Compose's (issue 17)

# What gets typed. Each string is a paragraph (one message); "\b" is a backspace.
PARAGRAPHS = [
    "Long ago, the mice had a general council to consider what measures they could take "
    "to outwit their common enemy, the cat. Some said this, and some said that.",
    "But at last a young mouse got up and said he had a proposal to make, which he thought "
    "would meet the case. You will all agree, said he, that our chief dnag\b\b\b\banger "
    "consists in the sly and treacherous manner in which the enemy approaches us.",
    "Now, if we could receive some signal of her approach, we could easily escape from her. "
    "I venture, therefore, to propose that a small bell be procured.",
    "The dragon and the giraffe had a meeting in the kitchen about the weather, "
    "and the old mouse said teh\b\bhe cat is asleep.",
    "This proposal met with general applause, until an old mouse got up and said that "
    "is all very well, but who is to bell the cat?",
    "The mice looked at one another and nobody spoke. Then the old mouse said it is easy "
    "to propose impossible remedies. Pizza tomorrow? Maybe the cta\b\bat will know.",
]


def keystrokes(paragraph: str):
    """The text after each keystroke of typing ``paragraph``."""
    text = ""
    for ch in paragraph:
        text = text[:-1] if ch == "\b" else text + ch
        yield text


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Timer:
    """Wall and this thread's CPU milliseconds of one call (CPU time shows what a busy
    machine adds: with one torch thread all the work is on this thread)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter_ns(), time.thread_time_ns()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = (time.perf_counter_ns() - self.wall) / 1e6
        self.cpu = (time.thread_time_ns() - self.cpu) / 1e6


def summary(name: str, timers: list[Timer], target: float | None = None) -> str:
    wall = [t.wall for t in timers]
    cpu = [t.cpu for t in timers]
    p50, p99 = percentile(wall, 50), percentile(wall, 99)
    line = (
        f"{name:<28} n={len(wall):5d}  wall p50 {p50:6.2f} p99 {p99:6.2f} max {max(wall):6.2f} ms"
        f"  | cpu p50 {percentile(cpu, 50):6.2f} p99 {percentile(cpu, 99):6.2f} ms"
    )
    if target is not None:
        line += f"  (< {target:g} ms: {'met' if p50 < target and p99 < target else 'MISSED'})"
    return line


def time_typing(session, passes: int) -> tuple[list[Timer], list[Timer]]:
    """Time of each suggest() call: (keystrokes that finished a word, all others)."""
    boundary: list[Timer] = []
    within: list[Timer] = []
    for _ in range(passes):
        predictor = Predictor(session)
        predictor.model  # noqa: B018  (the one-off weight copy, untimed)
        for paragraph in PARAGRAPHS:
            tokens_before: list[str] = []
            for text in keystrokes(paragraph):
                with Timer() as timer:
                    predictor.suggest(text, k=5)
                tokens = split_partial(text, session.lowercase)[0]
                (within if tokens == tokens_before else boundary).append(timer)
                tokens_before = tokens
    return boundary, within


def time_phrases(session, passes: int) -> tuple[list[Timer], int]:
    """Time of each phrase() call after the keystroke's suggest() (the row is posted first,
    as in the app, and is not in these figures); and how many offered a phrase."""
    times: list[Timer] = []
    offered = 0
    for _ in range(passes):
        predictor = Predictor(session)
        predictor.model  # noqa: B018  (the one-off weight copy, untimed)
        for paragraph in PARAGRAPHS:
            for text in keystrokes(paragraph):
                predictor.suggest(text, k=5)
                with Timer() as timer:
                    found = predictor.phrase(text)
                times.append(timer)
                offered += found is not None
    return times, offered


def phrase_summary(name: str, timers: list[Timer], offered: int) -> str:
    wall = [t.wall for t in timers]
    p90 = percentile(wall, 90)
    return (
        f"{name:<28} n={len(wall):5d}  wall p50 {percentile(wall, 50):6.2f} p90 {p90:6.2f} "
        f"p99 {percentile(wall, 99):6.2f} max {max(wall):6.2f} ms; a phrase at {offered} keys"
        f"  (p90 < {PHRASE_TARGET_MS:g} ms: {'met' if p90 < PHRASE_TARGET_MS else 'MISSED'})"
    )


def prompts(session) -> list[str]:
    """Prompts of 1 to 8 words from all over the fable, plus a few with unknown words."""
    words = tokenize(" ".join(PARAGRAPHS).replace("\b", ""), session.lowercase)
    out = [detokenize(words[i : i + 1 + i % 8]) for i in range(0, len(words) - 8, 2) if words[i]]
    out += ["the dragon said", "who will bell the giraffe", "pizza and the cat", "mice"]
    return out


def time_continuations(session, samples: int, n_words: int, typed: bool) -> list[Timer]:
    """Time of each continue_text(prompt, n_words); with ``typed``, the prompt was seen first
    (as typing it leaves it in the predictor's cache), else its words are run too."""
    predictor = Predictor(session)
    predictor.model  # noqa: B018
    texts = prompts(session)
    times = []
    for i in range(samples):
        text = texts[i % len(texts)]
        if typed:
            predictor.suggest(text + " ")
        with Timer() as timer:
            predictor.continue_text(text, n_words)
        times.append(timer)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="model to time (default: the shipped fable model)")
    p.add_argument("--passes", type=int, default=5, help="times the typing script is timed (5)")
    p.add_argument("--samples", type=int, default=300, help="continuations timed (300)")
    p.add_argument("--words", type=int, default=32, help="words per continuation (32)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    path = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    if not path.is_file():
        print(f"latency: {path} not found; skipping")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    session = checkpoint.load(path, device="cpu")
    keys_per_pass = sum(1 for p_ in PARAGRAPHS for _ in keystrokes(p_))
    print(
        f"{path.name}: {session.summary()}, vocab {len(session.vocab)}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s); {keys_per_pass} keystrokes per pass; "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )

    time_typing(session, 1)  # warm-up
    time_continuations(session, 20, args.words, typed=False)

    boundary, within = time_typing(session, args.passes)
    print(summary("keystroke, all", boundary + within, KEYSTROKE_TARGET_MS))
    print(summary("keystroke, finishing a word", boundary))
    print(summary("keystroke, inside a word", within))
    started = time.perf_counter()
    fit = Predictor(session).phrase_fit()
    print(
        f"phrase threshold {fit.threshold:.3f} fitted on {fit.source} in "
        f"{time.perf_counter() - started:.1f} s (precision {fit.precision}, "
        f"{fit.offered}/{fit.positions} positions offered one)"
    )
    phrases, offered = time_phrases(session, args.passes)
    print(phrase_summary("phrase, after the row", phrases, offered))
    for typed, how in ((True, "typed prompt"), (False, "new prompt")):
        times = time_continuations(session, args.samples, args.words, typed)
        name = f"{args.words} words, {how}"
        print(summary(name, times, CONTINUATION_TARGET_MS))
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
