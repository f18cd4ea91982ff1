"""``lstm-tui train``: train (or resume) a model on a text, on one process or many."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    load_corpus_with_progress,
    progress_bar,
    refuse_special_file,
    say,
)
from lstm_tui.core.errors import UserError
from lstm_tui.core.text.safe_text import visible

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    from lstm_tui.core.jobs import Started
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text.corpus import Corpus
    from lstm_tui.core.training.control import StopOnSignals
    from lstm_tui.core.training.distributed import Distributed
    from lstm_tui.core.training.logbook import Logbook
    from lstm_tui.core.training.train import TrainResult


# A save writes the weights (and AdamW's two slots a weight) at about this many bytes a second
# or faster on the disks seen so far; a budget keeps that long, plus a second, for saving.
SAVE_BYTES_PER_SECOND = 50e6


def cmd_train(args: argparse.Namespace) -> int:
    refuse_special_file(args.corpus)  # before torch is imported: a FIFO is one line at once
    from lstm_tui.core.training import distributed

    if args.processes > 1 and not distributed.launched():
        return _launch_torchrun(args)
    if not distributed.launched():
        return _train(args, None)
    from lstm_tui.core.training.control import VOTE_SIGNALS, StopOnSignals

    votes = StopOnSignals(VOTE_SIGNALS)
    with votes.installed():  # before any wait: from now on a signal is a vote
        distributed.end_with_launcher()  # a rank left alone (torchrun killed) stops and saves
        dist = distributed.Distributed.from_env(args.device)
        try:
            return _train(args, dist, votes)
        finally:
            dist.close()


def _train(
    args: argparse.Namespace, dist: Distributed | None, votes: StopOnSignals | None = None
) -> int:
    with ExitStack() as held:  # what the run holds until it ends: the target's lock
        return _train_holding(args, dist, votes, held)


def _train_holding(
    args: argparse.Namespace, dist: Distributed | None, votes: StopOnSignals | None, held: ExitStack
) -> int:
    from lstm_tui.core import jobs
    from lstm_tui.core.store.checkpoint import saved_size
    from lstm_tui.core.store.paths import checkpoint_path, default_corpus, save_path
    from lstm_tui.core.training.config import TrainConfig
    from lstm_tui.core.training.control import RunControl, StopOnSignals
    from lstm_tui.core.training.train import EpochEvent, StepEvent, TrainResult

    started = getattr(args, "started", None) or time.perf_counter()  # --max-seconds from here
    main_rank = dist is None or dist.is_main  # under torchrun, rank 0 alone prints and saves
    quiet, device = args.quiet or not main_rank, str(dist.device) if dist else args.device
    overrides = {**jobs.train_overrides(args), "seed": args.seed, "device": device}
    if args.no_cache:
        overrides["cache"] = False
    shape = {k: getattr(args, k) for k in jobs.SHAPE_FIELDS}
    model = jobs.ModelChoice(args.preset, args.softmax, args.ngram_order, shape).check()
    if args.resume:
        resume = checkpoint_path(args.resume)  # a name, as --checkpoint takes it elsewhere
        resumed = jobs.resume(resume, overrides, args.corpus)
        session, config = resumed.session, resumed.config
        corpus = _open_corpus(args, dist, resumed.text, session)
        out = save_path(args.out) if args.out else resume
    else:
        corpus = _open_corpus(args, dist, args.corpus or default_corpus())
        session = jobs.new_session(corpus, TrainConfig(), overrides, model)
        config = session.train_config
        out = save_path(args.out or Path(corpus.name).stem)
    if main_rank:  # before any training: a save that cannot succeed is said now
        from lstm_tui.core.store.checkpoint import writer_lock

        held.enter_context(writer_lock(out))  # one run at a time per target
        protect = tuple(p for p in (corpus.path,) if p is not None)
        jobs.check_save(session, out, protect, args.weights_only, len(corpus.ids))
    control = RunControl()
    # One process: SIGTERM and SIGHUP stop the run after its step, as Ctrl-C does, from here
    # on (a signal while the run is set up stops it before its first step; it still saves).
    # Under torchrun every signal is already a vote to stop, so that all ranks stop at the
    # same one. The handlers stay until the save is done: a second signal cannot cut it short.
    signals = votes or StopOnSignals()
    signals.attach(control)
    held.enter_context(signals.installed())
    run = jobs.train_session(
        session,
        corpus,
        config,
        control=control,
        dist=dist,
        precision=args.precision,
        threads=args.threads,
        budget_started=started,  # the budget covers the whole command: reading, saving
        save_seconds=1.0 + saved_size(session, not args.weights_only) / SAVE_BYTES_PER_SECOND,
    )
    setup = next(run)
    assert isinstance(setup, jobs.Started)
    world = dist.world if dist else 1
    if not quiet:
        processes = f" × {world} processes" if dist else ""
        threads = setup.threads
        print(
            f"training {session.summary()} on {visible(corpus.name)} ({len(corpus.ids):,} tokens, "
            f"{len(corpus.vocab):,} words) on {setup.device}{processes}; batch "
            f"{setup.batch_size} × bptt {setup.bptt}, "
            + (f"{setup.epochs} epochs max" if setup.epochs else "epochs unbounded")
            + (f", stops at {setup.target:.1%} window accuracy" if setup.target else "")
            + (f", {threads} thread{'s' if threads > 1 else ''}" if threads else ""),
            file=sys.stderr,
        )
    bar = None if quiet else progress_bar()
    book = _open_logbook(args, out, session.summary()) if main_rank else None
    result: TrainResult | None = None
    lost_rank: str | None = None
    try:
        for event in run:
            if book is not None:
                book.record(event)
            if isinstance(event, StepEvent) and bar:
                bar.step(event)
            elif isinstance(event, EpochEvent) and bar:
                bar.epoch(event)
            elif isinstance(event, TrainResult):
                result = event
    except KeyboardInterrupt:
        control.stop()
        result = next((e for e in run if isinstance(e, TrainResult)), None)
        interrupted = True
    except RuntimeError as e:  # under torchrun: another rank died, its collective failed
        if dist is None:
            raise
        lost_rank, interrupted = str(e).strip().splitlines()[0], False
    else:
        interrupted = False
    finally:
        if bar:
            bar.close()
        if book is not None:
            book.close()
    if not main_rank:
        return 1 if lost_rank else EXIT_INTERRUPTED if interrupted else 0
    path = jobs.save(session, out, args.weights_only)
    if lost_rank is not None:  # the weights of the last step every rank finished
        say(
            f"lstm-tui: error: a training process stopped ({lost_rank}); the model as of "
            f"step {session.progress.steps} is saved to {visible(str(path))}"
        )
        return 1
    received = signals.received if votes is None else None
    if interrupted or received is not None:
        # A script asked for a JSON line gets one also when the run is cut short: what was
        # done, and where it is saved (the figures of an unfinished run are not there).
        number = signal.SIGINT if received is None else received
        name = signal.Signals(number).name
        if args.json:
            done = (
                _summary(result, setup, session, path, world, started)
                if result is not None
                else {
                    "epochs": session.progress.epochs,
                    "steps": session.progress.steps,
                    "wall_seconds": round(time.perf_counter() - started, 3),
                    "checkpoint": str(path),
                }
            )
            _print_json({**done, "stop_reason": "interrupted", "signal": name})
        if interrupted:  # Ctrl-C inside a step ends the run without a result: fine here
            say(f"lstm-tui: interrupted; the model so far is saved to {visible(str(path))}")
            return EXIT_INTERRUPTED
        say(f"lstm-tui: stopped by {name}; the model so far is saved to {visible(str(path))}")
        return 128 + number
    assert result is not None
    if votes and votes.received:  # exit 0: a failed rank would make torchrun report a crash
        say(f"lstm-tui: interrupted; the model so far is saved to {visible(str(path))}")
    elif not quiet:
        print(f"{result.message}; saved {visible(str(path))}", file=sys.stderr)
    if args.json:
        _print_json(_summary(result, setup, session, path, world, started))
    if result.reason == "diverged":
        print(
            f"lstm-tui: error: {result.message}; the last good weights are saved to "
            f"{visible(str(path))}",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    return 0


def _print_json(summary: dict) -> None:
    with contextlib.suppress(OSError):  # stdout gone (after SIGHUP): the checkpoint is saved
        print(json.dumps(summary), flush=True)


def _open_logbook(args: argparse.Namespace, out: Path, description: str) -> Logbook | None:
    """TensorBoard events for this run (``--logdir``, the setting, else runs/ by ``out``)."""
    if args.no_log:
        return None
    from lstm_tui.core.store.settings import read_settings
    from lstm_tui.core.training.logbook import Logbook, run_folder

    logdir = args.logdir or read_settings()[0].logdir
    book, problem = Logbook.open(run_folder(out, Path(logdir) if logdir else None), description)
    if problem:
        say(f"lstm-tui: {problem}")
    elif book is not None and not args.quiet:
        print(f"TensorBoard log: {visible(str(book.folder))}", file=sys.stderr)
    return book


def _summary(
    result: TrainResult, setup: Started, session: Session, path: Path, world: int, began: float
) -> dict:
    """``train --json``'s last line."""
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "wall_seconds": round(time.perf_counter() - began, 3),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "train_loss": result.train_loss,
        "window_accuracy": result.window_accuracy,
        "full_accuracy": result.full_accuracy,
        "val_perplexity": result.val_perplexity,
        "val_accuracy": result.val_accuracy,
        "stop_reason": result.reason.value,
        "best_epoch": result.best_epoch,
        "mix": result.mix,
        "components": result.components,
        "ksr": result.ksr,
        "device": str(setup.device),
        "threads": setup.threads or None,
        "world_size": world,
        "model": session.summary(),
        "params": session.model.num_parameters(),
        "checkpoint": str(path),
    }


def _open_corpus(
    args: argparse.Namespace,
    dist: Distributed | None,
    path: str | Path,
    session: Session | None = None,
) -> Corpus:
    """The training text, through the token cache when it is big (with ``session``: read in
    that model's vocabulary).

    Under torchrun, each machine's first process tokenises while the others wait, then they
    all map its cache entry.
    """
    if dist is not None and dist.local_rank != 0:
        dist.barrier()
    try:
        loaded = load_corpus_with_progress(args, path, session)
    finally:  # also on bad text: the others then read it and say so too, none waits forever
        if dist is not None and dist.local_rank == 0:
            dist.barrier()
    return loaded.corpus


def _check_processes(args: argparse.Namespace) -> None:
    """More CPU processes than cores only slow each other down (and each holds a whole copy
    of the model): refused unless ``--oversubscribe``. On GPUs, one process per GPU."""
    from lstm_tui.core.lifetime import usable_cores
    from lstm_tui.core.model.device import resolve_device

    device = resolve_device(args.device)
    if device.type == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        if args.processes > gpus:
            raise UserError(f"--processes {args.processes}: this machine has {gpus} GPU(s)")
        return
    cores = usable_cores()
    if args.processes > cores and not args.oversubscribe:
        raise UserError(
            f"--processes {args.processes} is more than the {cores} CPU cores this process may "
            "use: each would slow the others down (--oversubscribe to do it anyway)"
        )


def _launch_torchrun(args: argparse.Namespace) -> int:
    """``train --processes N``: the same command on N processes of this machine, by torchrun."""
    import subprocess

    from lstm_tui.core.lifetime import on_parent_death
    from lstm_tui.core.store.checkpoint import read_header
    from lstm_tui.core.store.paths import checkpoint_path
    from lstm_tui.core.training.config import TrainConfig

    batch = args.batch_size or TrainConfig().batch_size
    if args.resume and not args.batch_size:  # a saved name, as one process finds it
        header = read_header(checkpoint_path(args.resume))
        batch = int(header.get("train_config", {}).get("batch_size", batch))
    if batch % args.processes:  # said once, here, rather than by every rank
        raise UserError(
            f"a batch of {batch} streams cannot be shared equally by {args.processes} "
            f"processes: use a batch size that is a multiple of {args.processes}"
        )
    _check_processes(args)
    if not args.resume:  # tokenised once, here: bad text is one line, and the ranks map the cache
        from lstm_tui.core.store.paths import default_corpus

        path = args.corpus or default_corpus()
        load_corpus_with_progress(args, path)
    argv, rest = list(args.argv), []
    while argv:
        item = argv.pop(0)
        if item == "--processes":
            argv.pop(0)
        elif not item.startswith("--processes="):
            rest.append(item)
    command = [
        sys.executable,
        "-m",
        "lstm_tui.core.training.distributed",  # torchrun, quiet on Ctrl-C
        "--standalone",
        f"--nproc-per-node={args.processes}",
        "-m",
        "lstm_tui",
        *rest,
    ]
    # torchrun gets SIGTERM if this launcher dies, even by SIGKILL: it then passes it to the
    # ranks, which stop together and save (their own parent-death signal covers torchrun).
    process = subprocess.Popen(command, preexec_fn=on_parent_death())
    interrupted = False
    while True:
        try:
            code = process.wait()
        except KeyboardInterrupt:  # Ctrl-C reached torchrun too: wait while the ranks save
            interrupted = True
            continue
        return EXIT_INTERRUPTED if interrupted else code
