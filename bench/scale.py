"""Big corpora: tokenising throughput, peak memory, time to the first step, tokens/s on 1 and 2
processes, on a ~1 GB text built by repeating the public texts in ../shared/data.

    nice -n 19 python bench/scale.py                 # builds /tmp/lstm-tui-scale, removes it
    nice -n 19 python bench/scale.py --gb 0.1 --seconds 10   # a quicker look

Every measurement runs in a fresh process, which reports its own peak RSS (and its pool
workers'), so one phase's memory never shows in another's. Today's in-memory path
(``Corpus.from_file``) is measured on a 100 MB slice only: it holds the whole text, its
tokens and its ids at once. Training runs use a 10k-word vocabulary (full softmax) and the
default preset; the same cache entry serves them all. Exits 0 with a note without ../shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SOURCES = [
    "wikitext-2/train.txt",
    "wikitext-2/valid.txt",
    "wikitext-2/test.txt",
    "tinyshakespeare/input.txt",
    "belling_the_cat.txt",
]
WORK = Path("/tmp/lstm-tui-scale")
MAX_VOCAB = 10_000
MODEL = ["--preset", "default", "--max-vocab", str(MAX_VOCAB), "--batch-size", "32"]


def peak_mb() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(me), "peak_rss_children_mb": round(children)}


def build(size: int) -> tuple[Path, Path]:
    """The big corpus and a 100 MB slice of it (each cut at a line end)."""
    WORK.mkdir(parents=True, exist_ok=True)
    texts = [(DATA / name).read_bytes() for name in SOURCES]
    big = WORK / "corpus.txt"
    with big.open("wb") as f:
        written = 0
        while written < size:
            for text in texts:
                f.write(text if text.endswith(b"\n") else text + b"\n")
                written += len(text) + 1
    piece = WORK / "slice100mb.txt"
    with big.open("rb") as f:
        head = f.read(100 * 10**6)
    piece.write_bytes(head[: head.rfind(b"\n") + 1])
    return big, piece


# -- phases, each in a process of its own --------------------------------------------------


def phase_memory(path: Path) -> dict:
    from lstm_tui.core.text.corpus import Corpus

    started = time.perf_counter()
    corpus = Corpus.from_file(path, max_vocab=MAX_VOCAB)
    seconds = time.perf_counter() - started
    mb = path.stat().st_size / 1e6
    return {"tokens": len(corpus.ids), "seconds": round(seconds, 2), "mb_s": round(mb / seconds, 2)}


def phase_cache(path: Path, workers: int) -> dict:
    from lstm_tui.core.text import token_cache

    token_cache.clear()
    started = time.perf_counter()
    loaded = token_cache.load_corpus(path, max_vocab=MAX_VOCAB, cache=True, workers=workers)
    seconds = time.perf_counter() - started
    mb = path.stat().st_size / 1e6
    return {
        "state": loaded.state.value,
        "tokens": len(loaded.corpus.ids),
        "dtype": str(loaded.corpus.ids.dtype),
        "workers": workers,
        "seconds": round(seconds, 2),
        "mb_s": round(mb / seconds, 2),
    }


def phase_first_step(path: Path) -> dict:
    """From a cache hit to the first training step, then stop (no evaluation)."""
    import torch

    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text import token_cache
    from lstm_tui.core.training.config import TrainConfig
    from lstm_tui.core.training.train import StepEvent, Trainer

    torch.set_num_threads(1)
    loaded = token_cache.load_corpus(path, max_vocab=MAX_VOCAB)
    config = TrainConfig(device="cpu", batch_size=32)
    session = Session.new(loaded.corpus, "default", config)
    trainer = Trainer(session, loaded.corpus.train_ids, loaded.corpus.val_ids, config)
    for event in trainer.run():
        if isinstance(event, StepEvent):
            print("FIRST_STEP", flush=True)
            trainer.stop()
    return {"state": loaded.state.value}


def phase_train(path: Path, processes: int, seconds: float) -> dict:
    """The CLI for ``seconds`` on this many processes; its JSON line, and the ranks' peak RSS."""
    command = [sys.executable, "-m", "lstm_tui", "train", str(path), *MODEL, "--device", "cpu"]
    command += ["--max-seconds", str(seconds), "--json", "--quiet", "--out", str(WORK / "m")]
    if processes > 1:
        command += ["--processes", str(processes)]
    # Every core busy either way: one process on all of them, or each of N on its share.
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    summary = json.loads(done.stdout.splitlines()[-1])
    keep = ("tokens_per_second", "steps", "seconds", "wall_seconds", "world_size")
    return {**{k: summary[k] for k in keep}, "threads_per_process": threads}


def run_phase(*args: str) -> tuple[dict, float]:
    """This script in a fresh process for one phase: its figures and its wall time."""
    started = time.perf_counter()
    first_step = None
    process = subprocess.Popen(
        [sys.executable, __file__, "--phase", *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    result = None
    for line in process.stdout:
        if line.startswith("FIRST_STEP"):
            first_step = time.perf_counter() - started
        elif line.startswith("{"):
            result = json.loads(line)
    if process.wait() or result is None:
        raise SystemExit(f"phase {args} failed")
    if first_step is not None:
        result["seconds_to_first_step"] = round(first_step, 2)
    return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="corpus size (1.0)")
    parser.add_argument("--seconds", type=float, default=30, help="training time per run (30)")
    parser.add_argument("--keep", action="store_true", help="keep /tmp/lstm-tui-scale")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.phase:
        name, path, *rest = args.phase
        phases = {
            "memory": lambda: phase_memory(Path(path)),
            "cache": lambda: phase_cache(Path(path), int(rest[0])),
            "first-step": lambda: phase_first_step(Path(path)),
            "train": lambda: phase_train(Path(path), int(rest[0]), float(rest[1])),
        }
        print(json.dumps({**phases[name](), **peak_mb()}), flush=True)
        return 0
    if not all((DATA / name).is_file() for name in SOURCES):
        print(f"note: {DATA} not found; nothing to measure", file=sys.stderr)
        return 0
    os.environ["XDG_CACHE_HOME"] = str(WORK / "cache")  # the user's cache stays untouched
    os.environ["XDG_DATA_HOME"] = str(WORK / "data")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    try:
        big, piece = build(int(args.gb * 1e9))
        sizes = [p.stat().st_size / 1e6 for p in (big, piece)]
        print(f"corpus {big}: {sizes[0]:,.0f} MB; slice: {sizes[1]:,.0f} MB")
        rows = [
            ("today's path (Corpus.from_file), slice", ("memory", str(piece))),
            ("token cache, 1 worker, slice", ("cache", str(piece), "1")),
            ("token cache, 2 workers, slice", ("cache", str(piece), "2")),
            ("token cache, 2 workers, whole corpus", ("cache", str(big), "2")),
            ("cache hit -> first training step", ("first-step", str(big))),
            ("train 1 process (CLI)", ("train", str(big), "1", str(args.seconds))),
            ("train 2 processes (CLI --processes 2)", ("train", str(big), "2", str(args.seconds))),
        ]
        for label, phase in rows:
            result, wall = run_phase(*phase)
            print(f"{label}: {json.dumps(result)} (wall {wall:.1f} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
