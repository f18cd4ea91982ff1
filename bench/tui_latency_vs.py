"""bench/tui_latency.py for this tree and another commit, side by side, in one run.

Makes a git worktree of REF in a temporary folder, then runs each tree's own
bench/tui_latency.py in turn (A B A B …, so that a change in the machine's load hits both
alike) and prints every run's keystroke-to-screen p50/p99 and their medians.

    python bench/tui_latency_vs.py HEAD~1 --rounds 2 --modes train
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tree: Path, args: argparse.Namespace) -> list[dict]:
    command = [sys.executable, str(tree / "bench" / "tui_latency.py"), "--json"]
    command += ["--modes", args.modes, "--keys", str(args.keys), "--device", args.device]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{tree}: bench failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return [json.loads(line) for line in lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the commit to compare with (e.g. HEAD~1, main)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="train")
    parser.add_argument("--keys", type=int, default=150)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    other = Path(tempfile.mkdtemp(prefix="lstm-tui-ref-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(other),
                    args.ref], check=True)  # fmt: skip
    results: dict[str, list[dict]] = {args.ref: [], "this tree": []}
    try:
        for _ in range(args.rounds):
            for name, tree in ((args.ref, other), ("this tree", ROOT)):
                for record in run(tree, args):
                    results[name].append(record)
                    print(name, json.dumps(record), flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)])
    print("\nsuggestions keystroke-to-screen, ms (median over runs):")
    for name, records in results.items():
        for mode in sorted({r.get("mode") for r in records}):
            runs = [r for r in records if r.get("mode") == mode]
            p50 = statistics.median(r["suggestions"]["p50_ms"] for r in runs)
            p99 = statistics.median(r["suggestions"]["p99_ms"] for r in runs)
            steps = [r.get("training_steps_seen") for r in runs]
            print(
                f"  {name:>12} {mode:>6}: p50 {p50:.1f}  p99 {p99:.1f}  ({len(runs)} runs; "
                f"training steps seen {steps})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
