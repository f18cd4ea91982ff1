#!/usr/bin/env bash
# Issue 16.5: how long an open-ended `lstm-tui train` on the fable runs, the commit BEFORE
# (default: a88e27a, the last without the fix) and this tree, back to back, one thread each
# (the machine is shared). Usage: bench/fable_stop.sh [BEFORE]. Writes
# bench/results/fable_stop.txt. The step counts do not depend on the machine; the seconds do.
set -euo pipefail
BEFORE=${1:-a88e27a}
HERE=$(pwd)
PY="$HERE/.venv/bin/python"
WORK=$(mktemp -d)
export XDG_DATA_HOME=$WORK/data XDG_CACHE_HOME=$WORK/cache XDG_CONFIG_HOME=$WORK/config
mkdir -p "$WORK/before"
git archive "$BEFORE" lstm_tui | tar -x -C "$WORK/before"
FABLE=$("$PY" -c "from lstm_tui.core.store import paths; print(paths.default_corpus())")
train() {  # $1: label, $2: the folder holding the lstm_tui to run (run from $WORK: not cwd's)
  (cd "$WORK" && /usr/bin/time -f "$1: wall %e s" env PYTHONPATH="$2" "$PY" -c \
    "import sys; from lstm_tui.cli import main; sys.exit(main(sys.argv[1:]))" \
    train "$FABLE" --threads 1 --quiet --json --out "$WORK/out-$1")
}
{
  echo "# $(date -u +%FT%TZ) $(uptime)"
  echo "\$ lstm-tui train <fable> --threads 1 --quiet --json   # before: $BEFORE"
  train before "$WORK/before"
  echo "\$ lstm-tui train <fable> --threads 1 --quiet --json   # after: $(git rev-parse --short HEAD)"
  train after "$HERE"
  echo "# $(uptime)"
} 2>&1 | tee bench/results/fable_stop.txt
rm -rf "$WORK"
