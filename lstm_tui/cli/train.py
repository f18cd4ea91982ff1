"""``lstm-tui train``: train (or resume) a model on a text, on one process or many."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    load_corpus_with_progress,
    progress_bar,
    refuse_special_file,
    say,
    use_threads,
)
from lstm_tui.core.errors import UserError
from lstm_tui.core.text.safe_text import visible

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.text.corpus import Corpus
    from lstm_tui.core.training.control import StopOnSignals
    from lstm_tui.core.training.distributed import Distributed
    from lstm_tui.core.training.logbook import Logbook


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

    dist = distributed.Distributed.from_env(args.device)
    votes = StopOnSignals(VOTE_SIGNALS)
    with votes.installed():  # before any wait: from now on a signal is a vote
        try:
            return _train(args, dist, votes)
        finally:
            dist.close()


def _train(
    args: argparse.Namespace, dist: Distributed | None, votes: StopOnSignals | None = None
) -> int:
    from lstm_tui.core.model.lstm import PRESETS
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.runtime import training_threads
    from lstm_tui.core.store import checkpoint
    from lstm_tui.core.store.paths import checkpoint_path, default_corpus, save_path
    from lstm_tui.core.training.auto import auto_choice
    from lstm_tui.core.training.config import TrainConfig
    from lstm_tui.core.training.control import StopOnSignals
    from lstm_tui.core.training.train import EpochEvent, StepEvent, Trainer

    started = getattr(args, "started", None) or time.perf_counter()  # --max-seconds from here
    main_rank = dist is None or dist.is_main  # under torchrun, rank 0 alone prints and saves
    quiet, device = args.quiet or not main_rank, str(dist.device) if dist else args.device
    if args.preset != "auto" and args.preset not in PRESETS:
        raise UserError(f"unknown preset {args.preset!r}; choose from auto, {', '.join(PRESETS)}")
    overrides = {
        k: getattr(args, k)
        for k in (
            "batch_size",
            "bptt",
            "lr",
            "weight_decay",
            "clip",
            "lr_decay",
            "optimizer",
            "epochs",
            "max_seconds",
            "target_accuracy",
            "mix",
        )
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_cache:
        overrides["cache"] = False
    if args.resume:
        resume = checkpoint_path(args.resume)  # a name, as --checkpoint takes it elsewhere
        session = checkpoint.load(resume, device=None)
        corpus_path = args.corpus or session.corpus.path
        if not corpus_path:
            raise UserError(f"{args.resume}: says no corpus file; name the text to train on")
        corpus = _open_corpus(
            args,
            dist,
            corpus_path,
            vocab=session.vocab,
            lowercase=session.lowercase,
            kind=session.tokenizer,
        )
        config = TrainConfig.from_dict(
            {
                **session.train_config.to_dict(),
                "epochs": None,
                "max_seconds": None,
                "target_accuracy": None,
                **overrides,
                "seed": args.seed,
                "device": device,
            }
        )
        out = save_path(args.out) if args.out else resume
    else:
        corpus = _open_corpus(args, dist, args.corpus or default_corpus(), **_new_vocab(args))
        if args.preset == "auto":  # training settings that fit the corpus, unless given
            overrides = {**auto_choice(len(corpus.train_ids)).train, **overrides}
        config = TrainConfig(**overrides, seed=args.seed, device=device).check()
        session = Session.new(  # seeded by config.seed: the whole run repeats
            corpus,
            args.preset,
            config,
            softmax=args.softmax,
            ngram_order=args.ngram_order if config.mix != "off" else None,
            layers=args.layers,
            hidden=args.hidden,
            embed=args.embed,
            dropout=args.dropout,
        )
        out = save_path(args.out or Path(corpus.name).stem)
    if main_rank:  # before any training: a save that cannot succeed is said now
        checkpoint.check_target(
            out,
            protect=tuple(p for p in (corpus.path,) if p is not None),
            size_hint=_checkpoint_size(session, not args.weights_only),
        )
    save_bytes = _checkpoint_size(session, not args.weights_only)
    trainer = Trainer(
        session,
        corpus.train_ids,
        corpus.val_ids,
        config,
        dist=dist,
        precision=args.precision,
        budget_started=started,  # the budget covers the whole command: reading, saving
        reserve=1.0 + save_bytes / SAVE_BYTES_PER_SECOND,
    )
    threads = use_threads(training_threads(args.threads)) if trainer.device.type == "cpu" else 0
    world = dist.world if dist else 1
    if not quiet:
        processes = f" × {world} processes" if dist else ""
        print(
            f"training {session.summary()} on {visible(corpus.name)} ({len(corpus.ids):,} tokens, "
            f"{len(corpus.vocab):,} words) on {trainer.device}{processes}; batch "
            f"{trainer.batch_size} × bptt {trainer.bptt}, "
            + (f"{trainer.epochs} epochs max" if trainer.epochs else "epochs unbounded")
            + (f", {threads} thread{'s' if threads > 1 else ''}" if threads else ""),
            file=sys.stderr,
        )
    bar = None if quiet else progress_bar()
    book = _open_logbook(args, out, session.summary()) if main_rank else None
    result = None
    lost_rank: str | None = None
    run = trainer.run()
    # One process: SIGTERM and SIGHUP stop the run after its step, as Ctrl-C does. Under
    # torchrun every signal is already a vote to stop, so that all ranks stop at the same step.
    signals = votes or StopOnSignals()
    signals.attach(trainer)
    with signals.installed():
        try:
            for event in run:
                if book is not None:
                    book.record(event)
                if isinstance(event, StepEvent) and bar:
                    bar.step(event)
                elif isinstance(event, EpochEvent) and bar:
                    bar.epoch(event)
                else:
                    result = event
        except KeyboardInterrupt:
            trainer.stop()
            result = next((e for e in run if not isinstance(e, (StepEvent, EpochEvent))), None)
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
        # Saved with the handlers still in place: a second signal cannot cut the save short.
        path = checkpoint.save(session, out, include_optimizer=not args.weights_only)
    if lost_rank is not None:  # the weights of the last step every rank finished
        say(
            f"lstm-tui: error: a training process stopped ({lost_rank}); the model as of "
            f"step {session.progress.steps} is saved to {visible(str(path))}"
        )
        return 1
    if interrupted:  # Ctrl-C inside a step ends the run without a result: that is fine here
        say(f"lstm-tui: interrupted; the model so far is saved to {visible(str(path))}")
        return EXIT_INTERRUPTED
    if votes is None and signals.received is not None:
        name = signal.Signals(signals.received).name
        say(f"lstm-tui: stopped by {name}; the model so far is saved to {visible(str(path))}")
        return 128 + signals.received
    assert result is not None
    if votes and votes.received:  # exit 0: a failed rank would make torchrun report a crash
        say(f"lstm-tui: interrupted; the model so far is saved to {visible(str(path))}")
    elif not quiet:
        print(f"{result.message}; saved {visible(str(path))}", file=sys.stderr)
    if args.json:
        summary = {
            "epochs": result.epochs,
            "steps": result.steps,
            "seconds": round(result.seconds, 3),
            "wall_seconds": round(time.perf_counter() - started, 3),
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
            "device": str(trainer.device),
            "threads": threads or None,
            "world_size": world,
            "model": session.summary(),
            "params": session.model.num_parameters(),
            "checkpoint": str(path),
        }
        print(json.dumps(summary))
    if result.reason == "diverged":
        print(
            f"lstm-tui: error: {result.message}; the last good weights are saved to "
            f"{visible(str(path))}",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    return 0


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


def _checkpoint_size(session: Session, with_optimizer: bool) -> int:
    """About how many bytes a save of this session writes (AdamW keeps two slots a weight)."""
    weights = 4 * session.model.num_parameters()
    words = sum(len(w) + 4 for w in session.vocab.words) + 8 * len(session.vocab)
    return weights * (3 if with_optimizer else 1) + words


def _new_vocab(args: argparse.Namespace) -> dict:
    return {
        "lowercase": not args.keep_case,
        "min_count": args.min_count,
        "max_vocab": args.max_vocab,
        "kind": args.tokenizer,
    }


def _open_corpus(
    args: argparse.Namespace, dist: Distributed | None, path: str | Path, **options: object
) -> Corpus:
    """The training text, through the token cache when it is big.

    Under torchrun, each machine's first process tokenises while the others wait, then they
    all map its cache entry.
    """
    if dist is not None and dist.local_rank != 0:
        dist.barrier()
    try:
        loaded = load_corpus_with_progress(args, path, val_fraction=args.val_fraction, **options)
    finally:  # also on bad text: the others then read it and say so too, none waits forever
        if dist is not None and dist.local_rank == 0:
            dist.barrier()
    return loaded.corpus


def _launch_torchrun(args: argparse.Namespace) -> int:
    """``train --processes N``: the same command on N processes of this machine, by torchrun."""
    import subprocess

    from lstm_tui.core.store.checkpoint import read_header
    from lstm_tui.core.training.config import TrainConfig

    batch = args.batch_size or TrainConfig().batch_size
    if args.resume and not args.batch_size:
        batch = int(read_header(args.resume).get("train_config", {}).get("batch_size", batch))
    if batch % args.processes:  # said once, here, rather than by every rank
        raise UserError(
            f"a batch of {batch} streams cannot be shared equally by {args.processes} "
            f"processes: use a batch size that is a multiple of {args.processes}"
        )
    if not args.resume:  # tokenised once, here: bad text is one line, and the ranks map the cache
        from lstm_tui.core.store.paths import default_corpus

        path = args.corpus or default_corpus()
        load_corpus_with_progress(args, path, val_fraction=args.val_fraction, **_new_vocab(args))
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
    process = subprocess.Popen(command)
    interrupted = False
    while True:
        try:
            code = process.wait()
        except KeyboardInterrupt:  # Ctrl-C reached torchrun too: wait while the ranks save
            interrupted = True
            continue
        return EXIT_INTERRUPTED if interrupted else code
