"""The ``lstm-tui`` command: the app with no subcommand; train/predict/chat/eval/list for scripts.

Exit status: 0 on success, 2 on a user error (one line on stderr), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from lstm_tui import __version__
from lstm_tui.core import format as fmt
from lstm_tui.core import runtime  # noqa: F401  first, so that its CPU window spans torch's import
from lstm_tui.core.errors import UserError
from lstm_tui.core.safe_text import visible

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    from lstm_tui.core.corpus import Corpus
    from lstm_tui.core.distributed import Distributed, StopOnSignals
    from lstm_tui.core.predict import Predictor
    from lstm_tui.core.session import Session
    from lstm_tui.core.token_cache import Loaded
    from lstm_tui.core.train import Trainer
    from lstm_tui.progress_bar import ProgressBar

SUBCOMMANDS = ("train", "predict", "chat", "eval", "list", "history", "serve", "cache")
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take this range
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0  # below, logits / T overflow to NaN
MAX_TOP_K = 10_000
MAX_WORDS = 10_000
MAX_PROMPT_CHARS = 10_000  # an LSTM is steered by the last few hundred tokens at most
DEFAULT_MAX_CORPUS_BYTES = 2 << 30


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum`` (and at most ``maximum``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            shown = f"{value:,}" if len(str(value)) <= 30 else "a longer number"
            raise argparse.ArgumentTypeError(f"expected at most {maximum:,}, got {shown}")
        return value

    return parse


_positive_int = _whole_number(1)
_count = _whole_number(0)
_seed = _whole_number(0, MAX_SEED)
_top_k = _whole_number(1, MAX_TOP_K)
_words = _whole_number(0, MAX_WORDS)


def _temperature(text: str) -> float:
    value = _number(text)
    if value != 0 and not MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        raise argparse.ArgumentTypeError(
            f"expected 0 (greedy) or {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}, got {value:g}"
        )
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


TEMPERATURE_HELP = f"0 is greedy; else {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}"


def _mix(text: str) -> str:
    from lstm_tui.core.errors import ConfigError
    from lstm_tui.core.mixture import parse_mix

    try:
        parse_mix(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _add_prediction(p: argparse.ArgumentParser, words: int, words_help: str) -> None:
    """What predict and chat share: how many suggestions, and how to continue the text."""
    p.add_argument("--top-k", type=_top_k, default=5, help=f"1..{MAX_TOP_K:,} (5)")
    p.add_argument("--words", type=_words, default=words, help=words_help)
    p.add_argument("--temperature", type=_temperature, default=0.0, help=TEMPERATURE_HELP)
    p.add_argument("--seed", type=_seed, help=f"seed for sampled continuations, 0..{MAX_SEED}")


def _add_model_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="checkpoint file or saved name (default: the bundled fable model)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda or mps")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_threads(p)


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads (default: training and eval use the cores no other process keeps "
        "busy; predict and chat use 1)",
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="lstm-tui", description="Train a word-level LSTM on your text and type with it."
    )
    parser.add_argument("--version", action="version", version=f"lstm-tui {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    train = sub.add_parser("train", help="train a model on a text file")
    train.add_argument(
        "corpus", nargs="?", help="UTF-8 (or UTF-16) text file (default: the bundled fable)"
    )
    train.add_argument(
        "--max-corpus-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_CORPUS_BYTES,
        metavar="N",
        help=f"refuse a corpus larger than this ({DEFAULT_MAX_CORPUS_BYTES:,} bytes, 2 GiB)",
    )
    train.add_argument(
        "--preset",
        default="auto",
        help="auto, seed (2×512), seed-1layer (1×512), default (2×256), large (2×650)",
    )
    train.add_argument("--layers", type=_positive_int)
    train.add_argument("--hidden", type=_positive_int)
    train.add_argument("--embed", type=_positive_int)
    train.add_argument("--dropout", type=_number)
    train.add_argument(
        "--softmax",
        default="auto",
        choices=["auto", "full", "adaptive"],
        help="adaptive: much faster for large vocabularies on a CPU "
        "(auto: adaptive above 12,000 words, except on cuda)",
    )
    train.add_argument("--bptt", type=_positive_int, help="tokens per backprop chunk (35)")
    train.add_argument("--batch-size", type=_positive_int, help="parallel streams (32)")
    train.add_argument(
        "--lr", type=_number, help="learning rate (auto preset: from the text's size; else 6e-3)"
    )
    train.add_argument("--weight-decay", type=_number)
    train.add_argument("--clip", type=_number, help="max gradient norm, 0 for none (1.0)")
    train.add_argument("--lr-decay", type=_number, help="lr multiplier after each epoch (1.0)")
    train.add_argument("--optimizer", choices=["adamw", "sgd"])
    train.add_argument(
        "--epochs",
        type=_positive_int,
        help="epochs in this run (default: unbounded under --max-seconds, else ~300k tokens' "
        "worth, at least 10)",
    )
    train.add_argument(
        "--max-seconds",
        type=_number,
        help="time budget: the best model in this many seconds (evaluations included)",
    )
    train.add_argument(
        "--target-accuracy",
        type=_number,
        help="stop once window accuracy (3 words -> next) reaches this, e.g. 0.952",
    )
    train.add_argument(
        "--seed", type=_seed, default=1, help=f"random seed for repeatable runs, 0..{MAX_SEED} (1)"
    )
    train.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda or mps")
    train.add_argument(
        "--min-count",
        type=_positive_int,
        help="words seen fewer times become <unk> (default: 2, or 1 for a text under 1,000 words)",
    )
    train.add_argument("--max-vocab", type=_positive_int, help="keep only the most common words")
    train.add_argument("--keep-case", action="store_true", help="do not lowercase the text")
    train.add_argument(
        "--tokenizer",
        choices=["words", "whitespace"],
        default="words",
        help="words: words and punctuation apart (default); whitespace: pre-tokenised text "
        "(WikiText, PTB): split on whitespace, case kept, <eos> at each line end",
    )
    train.add_argument(
        "--mix",
        type=_mix,
        help="auto (default): mix the LSTM with a Kneser-Ney n-gram and a cache, weights fitted "
        "on validation text; off: the LSTM alone; a number: the LSTM's weight",
    )
    train.add_argument(
        "--no-cache", action="store_true", help="no cache of recent words in the mixture"
    )
    train.add_argument(
        "--ngram-order", type=_whole_number(1), default=5, help="order of the n-gram (5)"
    )
    train.add_argument(
        "--val-fraction",
        type=_number,
        default=0.1,
        help="last part of the text held out for validation (0.1; none under 1,000 tokens)",
    )
    train.add_argument(
        "--out",
        metavar="PATH",
        help="where to save (default: <corpus>.safetensors in the user data folder)",
    )
    train.add_argument("--resume", metavar="CKPT", help="continue training a checkpoint")
    train.add_argument(
        "--weights-only",
        action="store_true",
        help="save without optimizer state (3× smaller; a resume starts a fresh optimizer)",
    )
    train.add_argument("--json", action="store_true", help="last stdout line: a JSON summary")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(train)
    train.add_argument(
        "--processes",
        type=_positive_int,
        default=1,
        help="train on N processes of this machine (one per GPU, or CPU shares) with torchrun",
    )
    train.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="auto (default): bf16 autocast where the GPU or CPU computes in it, else fp32",
    )
    _add_token_cache(train)

    predict = sub.add_parser("predict", help="next words (and a continuation) for a text")
    predict.add_argument("text")
    _add_prediction(predict, 0, f"also continue the text by N words (≤ {MAX_WORDS:,})")
    _add_model_source(predict)

    chat = sub.add_parser("chat", help="one prompt per stdin line, one answer per stdout line")
    _add_prediction(chat, 32, f"words of continuation per answer (32, ≤ {MAX_WORDS:,})")
    _add_model_source(chat)

    evaluate = sub.add_parser("eval", help="perplexity and next-word accuracy on a text")
    evaluate.add_argument("corpus")
    evaluate.add_argument(
        "--max-corpus-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_CORPUS_BYTES,
        metavar="N",
        help=f"refuse a text larger than this ({DEFAULT_MAX_CORPUS_BYTES:,} bytes, 2 GiB)",
    )
    _add_token_cache(evaluate)
    _add_model_source(evaluate)

    listing = sub.add_parser("list", help="checkpoints saved in the user data folder")
    listing.add_argument("--json", action="store_true")

    history = sub.add_parser("history", help="a checkpoint's training history, per evaluation")
    history.add_argument("checkpoint", metavar="CKPT", help="checkpoint file or saved name")
    history.add_argument("--format", choices=["csv", "json"], default="csv")
    history.add_argument("--out", metavar="FILE", help="write there instead of stdout")

    serve = sub.add_parser("serve", help="the app in a web browser (textual-serve)")
    serve.add_argument("--host", default="localhost", help="address to listen on (localhost)")
    serve.add_argument("--port", type=_positive_int, default=8000)
    serve.add_argument("--public-url", help="the URL the browser reaches the server at")
    serve.add_argument(
        "app_args", nargs=argparse.REMAINDER, help="arguments for the app (after --)"
    )
    cache = sub.add_parser("cache", help="the token cache of big corpora: list or clear it")
    cache.add_argument("action", choices=["list", "clear"])
    cache.add_argument("--json", action="store_true")
    return parser


def _add_token_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--token-cache",
        default="auto",
        choices=["auto", "on", "off"],
        help="keep the text's token ids in the user cache folder (auto: for files of 4 MiB "
        "and more)",
    )


def build_app_parser() -> Parser:
    parser = Parser(
        prog="lstm-tui",
        description="Open the lstm-tui app. Subcommands for scripts: "
        + ", ".join(SUBCOMMANDS)
        + " (lstm-tui SUBCOMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"lstm-tui {__version__}")
    parser.add_argument(
        "corpus", nargs="?", help="text file to train on (default: the bundled fable)"
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="checkpoint to open")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    _add_threads(parser)
    parser.add_argument(
        "--fresh", action="store_true", help="do not reopen what was open last time"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            args = build_parser().parse_args(args_list)
            args.argv = args_list  # `train --processes N` starts itself again under torchrun
            return COMMANDS[args.command](args)
        if args_list[:1] in (["-h"], ["--help"]):
            build_app_parser().print_help()
            print("\nsubcommands:")
            build_parser().print_help()
            return 0
        return run_app(build_app_parser().parse_args(args_list))
    except UserError as e:
        print(f"lstm-tui: error: {visible(str(e))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("lstm-tui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


def run_app(args: argparse.Namespace) -> int:
    from lstm_tui.core.device import DEVICE_CHOICES
    from lstm_tui.core.errors import ConfigError

    if args.device.split(":")[0] not in DEVICE_CHOICES:
        raise ConfigError(
            f"unknown device {args.device!r}; choose from {', '.join(DEVICE_CHOICES)}"
        )
    _refuse_special_file(args.corpus, missing=True)
    from lstm_tui.ui.app import LstmApp

    LstmApp(
        corpus=args.corpus,
        checkpoint=args.checkpoint,
        device=args.device,
        threads=args.threads,
        fresh=args.fresh,
    ).run()
    return 0


# -- train ------------------------------------------------------------------------------------


def _refuse_special_file(path: str | None, missing: bool = False) -> None:
    """A FIFO, a device or a folder as the text (and with ``missing``, no file at all): said
    at once, before torch is even imported. Otherwise a missing file is said where it is read,
    in the order of the other checks."""
    from lstm_tui.core.files import regular_file_problem

    problem = regular_file_problem(path) if path and (missing or os.path.exists(path)) else None
    if problem:
        from lstm_tui.core.errors import CorpusError

        raise CorpusError(problem)


def cmd_train(args: argparse.Namespace) -> int:
    _refuse_special_file(args.corpus)  # before torch is imported: a FIFO is one line at once
    from lstm_tui.core import distributed

    if args.processes > 1 and not distributed.launched():
        return _launch_torchrun(args)
    if not distributed.launched():
        return _train(args, None)
    dist = distributed.Distributed.from_env(args.device)
    signals = distributed.StopOnSignals()  # before any wait: from now on a signal is a vote
    try:
        return _train(args, dist, signals)
    finally:
        dist.close()


def _train(
    args: argparse.Namespace, dist: Distributed | None, votes: StopOnSignals | None = None
) -> int:
    from lstm_tui.core import checkpoint
    from lstm_tui.core.auto import auto_choice
    from lstm_tui.core.config import TrainConfig
    from lstm_tui.core.model import PRESETS
    from lstm_tui.core.paths import checkpoint_path, default_corpus, save_path
    from lstm_tui.core.runtime import training_threads
    from lstm_tui.core.session import Session
    from lstm_tui.core.train import EpochEvent, StepEvent, Trainer

    started = time.perf_counter()
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
    trainer = Trainer(
        session, corpus.train_ids, corpus.val_ids, config, dist=dist, precision=args.precision
    )
    threads = _use_threads(training_threads(args.threads)) if trainer.device.type == "cpu" else 0
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
    bar = None if quiet else _progress_bar()
    result = None
    lost_rank: str | None = None
    run = trainer.run()
    if votes:  # every rank stops at the same step: Ctrl-C and SIGTERM are votes to stop
        votes.attach(trainer)
    with _StopOnSignals(trainer if dist is None else None) as signals:
        try:
            for event in run:
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
        if not main_rank:
            return 1 if lost_rank else EXIT_INTERRUPTED if interrupted else 0
        # Saved with the handlers still in place: a second signal cannot cut the save short.
        path = checkpoint.save(session, out, include_optimizer=not args.weights_only)
    if lost_rank is not None:  # the weights of the last step every rank finished
        _say(
            f"lstm-tui: error: a training process stopped ({lost_rank}); the model as of "
            f"step {session.progress.steps} is saved to {visible(str(path))}"
        )
        return 1
    if interrupted:  # Ctrl-C inside a step ends the run without a result: that is fine here
        _say(f"lstm-tui: interrupted; the model so far is saved to {visible(str(path))}")
        return EXIT_INTERRUPTED
    if signals.received is not None:
        name = signal.Signals(signals.received).name
        _say(f"lstm-tui: stopped by {name}; the model so far is saved to {visible(str(path))}")
        return 128 + signals.received
    assert result is not None
    if votes and votes.received:  # exit 0: a failed rank would make torchrun report a crash
        _say(f"lstm-tui: interrupted; the model so far is saved to {visible(str(path))}")
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


def _checkpoint_size(session: Session, with_optimizer: bool) -> int:
    """About how many bytes a save of this session writes (AdamW keeps two slots a weight)."""
    weights = 4 * session.model.num_parameters()
    words = sum(len(w) + 4 for w in session.vocab.words) + 8 * len(session.vocab)
    return weights * (3 if with_optimizer else 1) + words


class _StopOnSignals:
    """SIGTERM and SIGHUP (``timeout``, systemd, a closed terminal) stop training as Ctrl-C
    does: the run ends after its current step and the model is saved."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self, trainer: Trainer | None) -> None:
        self.trainer = trainer  # None: under torchrun, where signals are votes (distributed)
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.received = signum
        if self.trainer is not None:
            self.trainer.stop()

    def __enter__(self) -> _StopOnSignals:
        if self.trainer is not None and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _say(line: str) -> None:
    """A line on stderr that may find no terminal left (after SIGHUP): then it goes unsaid."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


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
        loaded = _load_corpus(args, path, val_fraction=args.val_fraction, **options)
    finally:  # also on bad text: the others then read it and say so too, none waits forever
        if dist is not None and dist.local_rank == 0:
            dist.barrier()
    return loaded.corpus


def _load_corpus(args: argparse.Namespace, path: str | Path, **options: object) -> Loaded:
    from lstm_tui.core.token_cache import Phase, Tokenizer, load_corpus

    cache = {"auto": None, "on": True, "off": False}[args.token_cache]
    lowercase = bool(options.pop("lowercase", True))
    kind = options.pop("kind", "words")
    quiet = getattr(args, "quiet", False) or not sys.stderr.isatty()
    bar = None if quiet else _progress_bar()

    def progress(phase: Phase, done: int, total: int) -> None:
        if bar is not None:
            bar.task(f"{phase.value} {Path(path).name}", done / total)

    try:
        loaded = load_corpus(
            path,
            tokenizer=Tokenizer.of(kind, lowercase),
            cache=cache,
            progress=progress,
            max_bytes=getattr(args, "max_corpus_bytes", None),
            **options,
        )  # type: ignore[arg-type]
    finally:
        if bar is not None:
            bar.close()
    if loaded.note:
        print(f"lstm-tui: note: {loaded.note}", file=sys.stderr)
    return loaded


def _launch_torchrun(args: argparse.Namespace) -> int:
    """``train --processes N``: the same command on N processes of this machine, by torchrun."""
    import subprocess

    from lstm_tui.core.checkpoint import read_header
    from lstm_tui.core.config import TrainConfig

    batch = args.batch_size or TrainConfig().batch_size
    if args.resume and not args.batch_size:
        batch = int(read_header(args.resume).get("train_config", {}).get("batch_size", batch))
    if batch % args.processes:  # said once, here, rather than by every rank
        raise UserError(
            f"a batch of {batch} streams cannot be shared equally by {args.processes} "
            f"processes: use a batch size that is a multiple of {args.processes}"
        )
    if not args.resume:  # tokenised once, here: bad text is one line, and the ranks map the cache
        from lstm_tui.core.paths import default_corpus

        path = args.corpus or default_corpus()
        _load_corpus(args, path, val_fraction=args.val_fraction, **_new_vocab(args))
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
        "lstm_tui.core.distributed",  # torchrun, quiet on Ctrl-C
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


def _progress_bar() -> ProgressBar:
    from lstm_tui.progress_bar import ProgressBar

    return ProgressBar()


# -- predict, chat, eval ----------------------------------------------------------------------


def _load_session(args: argparse.Namespace) -> Session:
    from lstm_tui.core import checkpoint
    from lstm_tui.core.paths import checkpoint_path, default_checkpoint

    path = checkpoint_path(args.checkpoint) if args.checkpoint else default_checkpoint()
    return checkpoint.load(path, device=args.device)


def _predictor(args: argparse.Namespace) -> Predictor:

    from lstm_tui.core.predict import Predictor
    from lstm_tui.core.runtime import PREDICT_THREADS

    # One token at a time is a chain of matrix-vector products bound by memory bandwidth: a
    # second thread does not make them faster (bench/latency.py), so leave the rest to the user.
    _use_threads(args.threads or PREDICT_THREADS)
    return Predictor(_load_session(args))


def _use_threads(n: int) -> int:
    import torch

    torch.set_num_threads(n)
    return n


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = _predictor(args)
    answer = _answer(predictor, _capped(args.text), args)
    if args.json:
        print(json.dumps(answer))  # JSON escapes every control character itself
        return 0
    for item in answer["suggestions"]:
        print(f"{visible(item['word'])}\t{item['probability']:.4f}")
    if answer["continuation"]:
        print(visible(answer["continuation"]))
    _note_unknown(answer)
    return 0


def _note_unknown(answer: dict) -> None:
    if answer["unknown"]:
        words = visible(", ".join(answer["unknown"]))
        print(f"note: not in the vocabulary: {words}", file=sys.stderr)


def _capped(text: str, dropped: int = 0) -> str:
    """The end of a prompt, at most ``MAX_PROMPT_CHARS`` long, cut at a space; says so on
    stderr when anything is dropped (``dropped`` counts characters already gone)."""
    if len(text) > MAX_PROMPT_CHARS:
        kept = text[-MAX_PROMPT_CHARS:]
        space = next((i for i, c in enumerate(kept) if c.isspace()), -1)
        kept = kept[space + 1 :] if 0 <= space < len(kept) - 1 else kept  # no half word
        dropped += len(text) - len(kept)
        text = kept
    if dropped:
        print(
            f"lstm-tui: warning: the prompt is longer than {MAX_PROMPT_CHARS:,} characters; "
            f"read only its last {len(text):,} ({dropped:,} ignored)",
            file=sys.stderr,
        )
    return text


def _read_prompt(stream: TextIO) -> tuple[str, int] | None:
    """One line of stdin without its line end, holding at most about ``MAX_PROMPT_CHARS``
    characters in memory however long the line is; None at the end of input. Returns the
    line's end and how many characters before it were dropped."""
    line = stream.readline(MAX_PROMPT_CHARS + 1)
    if not line:
        return None
    dropped = 0
    while not line.endswith("\n"):
        more = stream.readline(MAX_PROMPT_CHARS + 1)
        if not more:
            break
        dropped += max(0, len(line) + len(more) - 2 * MAX_PROMPT_CHARS)
        line = (line + more)[-2 * MAX_PROMPT_CHARS :]
    return line.rstrip("\r\n"), dropped


def _answer(predictor: Predictor, text: str, args: argparse.Namespace) -> dict:
    """Everything the predictor says about one line of text, as plain data."""
    started = time.perf_counter()
    typed = predictor.suggest(text, k=args.top_k)
    after = predictor.next_words(text, k=args.top_k)
    continuation = None
    if args.words > 0:
        continuation = predictor.continue_text(
            text, args.words, temperature=args.temperature, seed=args.seed
        ).text
    return {
        "input": text,
        "suggestions": [{"word": w.word, "probability": w.prob} for w in after],
        "completion": typed.completion.text if typed.completion else None,
        "continuation": continuation,
        "unknown": predictor.unknown_words(text),
        "ms": round((time.perf_counter() - started) * 1000, 3),
    }


def cmd_chat(args: argparse.Namespace) -> int:
    from lstm_tui.core.tokenize import detokenize, tokenize

    predictor = _predictor(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print("type a few words and press Enter; Ctrl-D to quit", file=sys.stderr)
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        read = _read_prompt(sys.stdin)
        if read is None:
            return 0
        text = _capped(*read)
        answer = _answer(predictor, text, args)
        if args.json:
            print(json.dumps(answer), flush=True)
            continue
        words = tokenize(text, lowercase=False)
        print(
            visible(detokenize([*words, *tokenize(answer["continuation"] or "", lowercase=False)])),
            flush=True,
        )
        _note_unknown(answer)


def cmd_eval(args: argparse.Namespace) -> int:
    _refuse_special_file(args.corpus)
    from lstm_tui.core.corpus import encode_text, read_text
    from lstm_tui.core.errors import CorpusError
    from lstm_tui.core.metrics import evaluate_session
    from lstm_tui.core.runtime import training_threads
    from lstm_tui.core.token_cache import CACHE_FROM_BYTES

    _use_threads(training_threads(args.threads))
    session = _load_session(args)
    path = Path(args.corpus)
    big = path.is_file() and path.stat().st_size >= CACHE_FROM_BYTES
    if args.token_cache == "on" or (args.token_cache == "auto" and big):
        options = {"vocab": session.vocab, "lowercase": session.lowercase, "val_fraction": 0.0}
        ids = _load_corpus(args, path, kind=session.tokenizer, **options).corpus.ids
    else:
        text = read_text(path, args.max_corpus_bytes)
        ids = encode_text(text, session.vocab, session.lowercase, session.tokenizer)
        del text
    if len(ids) < 2:
        raise CorpusError(f"{args.corpus}: needs at least 2 tokens to score a prediction")
    started = time.perf_counter()
    result = evaluate_session(session, ids)
    result["seconds"] = round(time.perf_counter() - started, 3)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{visible(args.corpus)}: {result['tokens']:,} tokens, "
            f"perplexity {result['perplexity']:.2f}, "
            f"top-1 {result['top1']:.1%}, top-3 {result['top3']:.1%}, "
            f"window accuracy {fmt.percent(result['window_accuracy'])}, "
            f"out of vocabulary {result['oov_rate']:.1%}"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from lstm_tui.core.checkpoint import scan_checkpoints
    from lstm_tui.core.paths import checkpoints_dir

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
    from lstm_tui.core import history
    from lstm_tui.core.paths import checkpoint_path

    path = checkpoint_path(args.checkpoint)
    records = history.read(path)
    if not records:
        print(
            f"lstm-tui: {path}: no training history (trained before it was kept?)", file=sys.stderr
        )
    text = history.to_csv(records) if args.format == "csv" else history.to_json(records)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UserError(f"{args.out}: cannot write: {e.strerror or e}") from None
    else:
        sys.stdout.write(text)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import shlex

    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError("serve needs textual-serve: pip install textual-serve") from None
    app_args = [a for a in args.app_args if a != "--"]
    command = shlex.join([sys.executable, "-m", "lstm_tui", *app_args])
    Server(command, host=args.host, port=args.port, public_url=args.public_url).serve()
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from lstm_tui.core import token_cache

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


COMMANDS = {
    "history": cmd_history,
    "serve": cmd_serve,
    "train": cmd_train,
    "predict": cmd_predict,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "list": cmd_list,
    "cache": cmd_cache,
}
