#!/usr/bin/env bash
# Issue 16.2: `train --resume` twice on Shakespeare; does the held-out perplexity a run
# reports agree with `eval` on text no part of the model has read, and does the second
# resumed run do no worse there than the first? Usage: bench/resume_honest.sh [seconds]
# Writes bench/results/resume_honest.txt. One thread per run (the machine is shared).
set -euo pipefail
SECONDS_PER_RUN=${1:-60}
SRC=${SHAKESPEARE:-../shared/data/tinyshakespeare/input.txt}
WORK=$(mktemp -d)
export XDG_DATA_HOME=$WORK/data XDG_CACHE_HOME=$WORK/cache
LINES=$(wc -l <"$SRC")
KEEP=$((LINES * 9 / 10))
head -n "$KEEP" "$SRC" >"$WORK/train.txt"         # the corpus (its last 10%: held out)
tail -n +"$((KEEP + 1))" "$SRC" >"$WORK/unseen.txt" # never given to any run
LT="${LSTM_TUI:-.venv/bin/lstm-tui}"
run() { echo "\$ $*"; "$@"; }
{
  run "$LT" train "$WORK/train.txt" --max-seconds "$SECONDS_PER_RUN" --threads 1 --out "$WORK/shk.safetensors" --quiet --json
  run "$LT" eval "$WORK/unseen.txt" --checkpoint "$WORK/shk.safetensors" --threads 1 --json
  for i in 1 2; do
    run "$LT" train --resume "$WORK/shk.safetensors" --max-seconds "$SECONDS_PER_RUN" --threads 1 --quiet --json
    run "$LT" eval "$WORK/unseen.txt" --checkpoint "$WORK/shk.safetensors" --threads 1 --json
  done
} 2>&1
rm -rf "$WORK"
