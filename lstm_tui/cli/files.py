"""``lstm-tui list``, ``history`` and ``cache``: what is saved on disk."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.core.errors import UserError
from lstm_tui.core.text.safe_text import visible

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    pass


def cmd_list(args: argparse.Namespace) -> int:
    from lstm_tui.core.store.checkpoint import scan_checkpoints
    from lstm_tui.core.store.paths import checkpoints_dir

    found, unreadable = scan_checkpoints()
    if args.json:
        listed = [
            {
                "name": c.name,
                "path": str(c.path),
                "created": c.created,
                "corpus": c.corpus,
                "model": c.model,
                "params": c.params,
                "steps": c.steps,
                "metrics": _json_safe(c.metrics),
            }
            for c in found
        ]
        listed += [{"name": u.name, "path": str(u.path), "error": u.error} for u in unreadable]
        print(json.dumps(listed))
        return 0
    if not found and not unreadable:
        print(f"no checkpoints in {visible(str(checkpoints_dir()))}", file=sys.stderr)
    for c in found:
        accuracy = c.metrics.get("window_accuracy")
        shown = f"{accuracy:.1%}" if isinstance(accuracy, float) else "—"
        fields = (c.name, c.created, c.corpus, c.model, f"steps {c.steps}", f"window acc {shown}")
        print("\t".join(visible(f) for f in fields))
    for u in unreadable:
        why = u.error.removeprefix(f"{u.path}: ")
        print(f"{visible(u.name)}\tunreadable: {visible(why)}")
    return 0


def _json_safe(metrics: dict) -> dict:
    """NaN and infinity are not JSON: null instead."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()
    }


def cmd_history(args: argparse.Namespace) -> int:
    from lstm_tui.core.store import history
    from lstm_tui.core.store.checkpoint import read_history
    from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX, checkpoint_path

    paths = [checkpoint_path(name) for name in args.checkpoint]
    runs = []
    for path in paths:
        records = read_history(path)
        if not records:
            print(
                f"lstm-tui: {path}: no training history (trained before it was kept?)",
                file=sys.stderr,
            )
        runs.append((path.name.removesuffix(CHECKPOINT_SUFFIX), records))
    # One checkpoint: its rows as before; several: one table, each row led by its run.
    records = runs[0][1] if len(runs) == 1 else history.side_by_side(runs)
    text = history.to_csv(records) if args.format == "csv" else history.to_json(records)
    if args.out:
        from lstm_tui.core.store.files import regular_file_problem

        # A FIFO would block the write until some reader came (forever, in a script); a
        # device or a folder is no place for a table either.
        if os.path.lexists(args.out) and (problem := regular_file_problem(args.out)):
            raise UserError(problem)
        for path in paths:  # (any of the checkpoints read, when several are)
            _refuse_overwriting_a_checkpoint(Path(args.out), path)
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UserError(f"{args.out}: cannot write: {e.strerror or e}") from None
    else:
        sys.stdout.write(text)
    return 0


def _refuse_overwriting_a_checkpoint(out: Path, source: Path) -> None:
    """An export never replaces a checkpoint: not the one it reads (``--out X``
    for ``history X`` turned the model into CSV), nor any other file saved as one."""
    import os

    from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX

    try:
        same = os.path.samefile(out, source)
    except OSError:
        same = False  # one of them does not exist: not the same file
    if same:
        raise UserError(f"{out}: is the checkpoint being read; choose another --out")
    if out.suffix == CHECKPOINT_SUFFIX and out.exists():
        raise UserError(f"{out}: is a checkpoint; an export does not replace one")


def cmd_cache(args: argparse.Namespace) -> int:
    from lstm_tui.core.text import token_cache

    if args.action == "clear":
        entries, size = token_cache.clear()
        if args.json:
            print(json.dumps({"removed": entries, "bytes": size}))
        else:
            print(
                f"removed {entries} entries ({size / 1e6:,.1f} MB) from {token_cache.cache_dir()}"
            )
        return 0
    found = token_cache.list_entries()
    if args.json:
        rows = [
            {
                "key": e.key,
                "source": e.source,
                "tokens": e.tokens,
                "vocab_size": e.vocab_size,
                "bytes": e.size_bytes,
                "created": e.created,
                "settings": e.settings,
                "stale": e.stale,
            }
            for e in found
        ]
        print(json.dumps(rows))
        return 0
    if not found:
        print(f"no cached corpora in {token_cache.cache_dir()}", file=sys.stderr)
    for e in found:
        stale = "\tstale (the file changed)" if e.stale else ""
        print(
            f"{e.source}\t{e.tokens:,} tokens\t{e.vocab_size:,} words\t"
            f"{e.size_bytes / 1e6:,.1f} MB\t{e.created}{stale}"
        )
    return 0
