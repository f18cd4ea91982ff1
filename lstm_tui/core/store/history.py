"""A model's training history: one record per evaluation, kept in its checkpoint.

Each record is a flat dict of plain numbers (``step`` and ``epoch`` of the session, and
the evaluation's metrics: ``train_loss``, ``train_accuracy``,
``val_perplexity``, ``val_accuracy``, ``window_accuracy``…); the checkpoint's JSON document
holds them as a list under ``history`` (``checkpoint.read_history`` reads it without torch).
Checkpoints written before there was a history load with an empty one. This module knows
nothing of files: the checkpoint imports it, never the other way round.
"""

from __future__ import annotations

import csv
import io
import json
import math

from lstm_tui.core.text.safe_text import visible

FIRST_COLUMNS = ("run", "step", "epoch", "train_loss", "train_accuracy", "val_perplexity")


def checked(raw: object) -> list[dict]:
    """The records of a checkpoint's ``history``, keeping only well-formed ones."""
    if not isinstance(raw, list):
        return []
    keep = []
    for record in raw:
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            # A column name is text from the file: shown with its control characters made
            # visible, or `history` would send a checkpoint's ESC and BEL to the terminal.
            keep.append(
                {
                    visible(str(k)): v
                    for k, v in record.items()
                    if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                }
            )
    return keep


def side_by_side(runs: list[tuple[str, list[dict]]]) -> list[dict]:
    """Several checkpoints' histories as one table: each row led by its ``run`` (the
    checkpoint's name), in the order given; columns one of them lacks stay empty."""
    return [{"run": name, **record} for name, records in runs for record in records]


def columns(records: list[dict]) -> list[str]:
    seen = dict.fromkeys(c for c in FIRST_COLUMNS if any(c in r for r in records))
    for record in records:
        seen.update(dict.fromkeys(record))
    return list(seen)


def to_csv(records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(records), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


def to_json(records: list[dict]) -> str:
    def plain(v: object) -> object:  # NaN and infinity are not JSON
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps([{k: plain(v) for k, v in r.items()} for r in records], indent=1) + "\n"


USEFUL_ACCURACY = 0.25  # top-1 next-word accuracy at which suggestions start to help


def useful_at(points: list[tuple[int, float]], target: float = USEFUL_ACCURACY) -> int | None:
    """A rough step at which accuracy reaches ``target``, from the trend of the last few
    evaluations (accuracy against log step, least squares): the step already reached if it
    is there, None while the trend does not rise."""
    recent = [(s, a) for s, a in points if s > 0 and math.isfinite(a)][-4:]
    if not recent:
        return None
    if recent[-1][1] >= target:
        return recent[-1][0]
    if len(recent) < 2:
        return None
    xs = [math.log(s) for s, _ in recent]
    ys = [a for _, a in recent]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread
    if slope <= 1e-6:
        return None
    log_step = mx + (target - my) / slope
    return int(math.exp(min(log_step, 40.0)))


# An estimate further out than this many times the steps already run is a guess from a
# flat trend (issue 16.5: "useful around step 94,797,966,106"): none is better.
MAX_EXTRAPOLATION = 10


def useful_estimate(
    points: list[tuple[int, float]], step: int, steps_run: int, said_now: bool
) -> tuple[str, int | None]:
    """What the training log says about usefulness after an evaluation at ``step``:
    ``("now", None)`` the first time accuracy is there (``said_now``: already said this run,
    then nothing), ``("at", s)`` for a step ``s`` within reach, ``("", None)`` otherwise."""
    at = useful_at(points)
    if at is None:
        return "", None
    if at <= step:
        return ("", None) if said_now else ("now", None)
    if at - step > MAX_EXTRAPOLATION * max(steps_run, 1):
        return "", None
    return "at", at
