"""The ``lstm-tui`` command: the app with no subcommand; train/predict/chat/eval/list for scripts.

Exit status: 0 on success, 2 on a user error (one line on stderr), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from lstm_tui import __version__
from lstm_tui.core.errors import UserError

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    from lstm_tui.core.corpus import Corpus
    from lstm_tui.core.distributed import Distributed, StopOnSignals
    from lstm_tui.core.predict import Predictor
    from lstm_tui.core.session import Session
    from lstm_tui.core.token_cache import Loaded
    from lstm_tui.progress_bar import ProgressBar

SUBCOMMANDS = ("train", "predict", "chat", "eval", "list", "cache")
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _whole_number(1)
_count = _whole_number(0)


def _temperature(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (greedy) or more, got {value:g}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _add_model_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="checkpoint file or saved name (default: the bundled fable model)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda or mps")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> Parser:
    parser = Parser(
        prog="lstm-tui", description="Train a word-level LSTM on your text and type with it."
    )
    parser.add_argument("--version", action="version", version=f"lstm-tui {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    train = sub.add_parser("train", help="train a model on a text file")
    train.add_argument("corpus", nargs="?", help="UTF-8 text file (default: the bundled fable)")
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
        "(auto: adaptive above 10k words, except on cuda)",
    )
    train.add_argument("--bptt", type=_positive_int, help="tokens per backprop chunk (35)")
    train.add_argument("--batch-size", type=_positive_int, help="parallel streams (32)")
    train.add_argument("--lr", type=_number, help="learning rate (6e-3)")
    train.add_argument("--weight-decay", type=_number)
    train.add_argument("--clip", type=_number, help="max gradient norm, 0 for none (1.0)")
    train.add_argument("--lr-decay", type=_number, help="lr multiplier after each epoch (1.0)")
    train.add_argument("--optimizer", choices=["adamw", "sgd"])
    train.add_argument(
        "--epochs",
        type=_positive_int,
        help="epochs in this run (default: ~300k tokens' worth, at least 10)",
    )
    train.add_argument("--max-seconds", type=_number, help="stop after this much training time")
    train.add_argument(
        "--target-accuracy",
        type=_number,
        help="stop once window accuracy (3 words -> next) reaches this, e.g. 0.952",
    )
    train.add_argument("--seed", type=int, default=1, help="random seed for repeatable runs (1)")
    train.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda or mps")
    train.add_argument(
        "--min-count", type=_positive_int, default=1, help="words seen fewer times become <unk>"
    )
    train.add_argument("--max-vocab", type=_positive_int, help="keep only the most common words")
    train.add_argument("--keep-case", action="store_true", help="do not lowercase the text")
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
        help="bf16 autocast needs CUDA (auto: bf16 on a GPU that has it, else fp32)",
    )
    _add_token_cache(train)

    predict = sub.add_parser("predict", help="next words (and a continuation) for a text")
    predict.add_argument("text")
    predict.add_argument("--top-k", type=_positive_int, default=5)
    predict.add_argument(
        "--words", type=_count, default=0, help="also continue the text by N words"
    )
    predict.add_argument("--temperature", type=_temperature, default=0.0, help="0 is greedy")
    predict.add_argument("--seed", type=int, help="seed for sampled continuations")
    _add_model_source(predict)

    chat = sub.add_parser("chat", help="one prompt per stdin line, one answer per stdout line")
    chat.add_argument("--top-k", type=_positive_int, default=5)
    chat.add_argument(
        "--words", type=_count, default=32, help="words of continuation per answer (32)"
    )
    chat.add_argument("--temperature", type=_temperature, default=0.0, help="0 is greedy")
    chat.add_argument("--seed", type=int, help="seed for sampled continuations")
    _add_model_source(chat)

    evaluate = sub.add_parser("eval", help="perplexity and next-word accuracy on a text")
    evaluate.add_argument("corpus")
    _add_token_cache(evaluate)
    _add_model_source(evaluate)

    listing = sub.add_parser("list", help="checkpoints saved in the user data folder")
    listing.add_argument("--json", action="store_true")

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
        print(f"lstm-tui: error: {e}", file=sys.stderr)
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
    if args.corpus and not Path(args.corpus).is_file():
        raise UserError(f"{args.corpus}: no such file")
    from lstm_tui.ui.app import LstmApp

    LstmApp(corpus=args.corpus, checkpoint=args.checkpoint, device=args.device).run()
    return 0


# -- train ------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
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
    args: argparse.Namespace, dist: Distributed | None, signals: StopOnSignals | None = None
) -> int:
    from lstm_tui.core import checkpoint
    from lstm_tui.core.config import TrainConfig
    from lstm_tui.core.model import PRESETS
    from lstm_tui.core.paths import checkpoints_dir, default_corpus
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
        )
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.resume:
        session = checkpoint.load(args.resume, device=None)
        corpus_path = args.corpus or session.corpus.path
        if not corpus_path:
            raise UserError(f"{args.resume}: says no corpus file; name the text to train on")
        corpus = _open_corpus(
            args,
            dist,
            corpus_path,
            vocab=session.vocab,
            lowercase=session.lowercase,
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
        out = Path(args.out) if args.out else Path(args.resume)
    else:
        corpus = _open_corpus(args, dist, args.corpus or default_corpus(), **_new_vocab(args))
        config = TrainConfig(**overrides, seed=args.seed, device=device).check()
        session = Session.new(  # seeded by config.seed: the whole run repeats
            corpus,
            args.preset,
            config,
            softmax=args.softmax,
            layers=args.layers,
            hidden=args.hidden,
            embed=args.embed,
            dropout=args.dropout,
        )
        out = (
            Path(args.out)
            if args.out
            else checkpoints_dir() / f"{Path(corpus.name).stem}.safetensors"
        )
    trainer = Trainer(
        session, corpus.train_ids, corpus.val_ids, config, dist=dist, precision=args.precision
    )
    world = dist.world if dist else 1
    if not quiet:
        processes = f" × {world} processes" if dist else ""
        print(
            f"training {session.summary()} on {corpus.name} ({len(corpus.ids):,} tokens, "
            f"{len(corpus.vocab):,} words) on {trainer.device}{processes}; batch "
            f"{trainer.batch_size} × bptt {trainer.bptt}, {trainer.epochs} epochs max",
            file=sys.stderr,
        )
    bar = None if quiet else _progress_bar()
    result = None
    run = trainer.run()
    if signals:  # every rank stops at the same step: Ctrl-C and SIGTERM are votes to stop
        signals.attach(trainer)
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
    if dist is not None and "lost_rank" in locals():
        # The weights are those of the last step every rank finished: keep them.
        if main_rank:
            path = checkpoint.save(session, out, include_optimizer=not args.weights_only)
            print(
                f"lstm-tui: error: a training process stopped ({lost_rank}); the model as of "
                f"step {session.progress.steps} is saved to {path}",
                file=sys.stderr,
            )
        return 1
    if not main_rank:
        return EXIT_INTERRUPTED if interrupted else 0
    path = checkpoint.save(session, out, include_optimizer=not args.weights_only)
    if interrupted:  # Ctrl-C inside a step ends the run without a result: that is fine here
        print(f"lstm-tui: interrupted; the model so far is saved to {path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    assert result is not None
    if signals and signals.received:  # exit 0: a failed rank would make torchrun report a crash
        print(f"lstm-tui: interrupted; the model so far is saved to {path}", file=sys.stderr)
    elif not quiet:
        print(f"{result.message}; saved {path}", file=sys.stderr)
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
            "stop_reason": result.reason,
            "device": str(trainer.device),
            "world_size": world,
            "model": session.summary(),
            "params": session.model.num_parameters(),
            "checkpoint": str(path),
        }
        print(json.dumps(summary))
    if result.reason == "diverged":
        print(
            f"lstm-tui: error: {result.message}; the last good weights are saved to {path}",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    return 0


def _new_vocab(args: argparse.Namespace) -> dict:
    return {
        "lowercase": not args.keep_case,
        "min_count": args.min_count,
        "max_vocab": args.max_vocab,
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
    quiet = getattr(args, "quiet", False) or not sys.stderr.isatty()
    bar = None if quiet else _progress_bar()

    def progress(phase: Phase, done: int, total: int) -> None:
        if bar is not None:
            bar.task(f"{phase.value} {Path(path).name}", done / total)

    try:
        loaded = load_corpus(
            path, tokenizer=Tokenizer.words(lowercase), cache=cache, progress=progress, **options
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
    import torch

    from lstm_tui.core.predict import Predictor

    # One token at a time is a chain of matrix-vector products bound by memory bandwidth: a
    # second thread does not make them faster (bench/latency.py, 2-core EPYC: 32 words p50
    # 32-36 ms on one thread, 34-39 ms on two), so leave the other core to the user.
    torch.set_num_threads(1)
    return Predictor(_load_session(args))


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = _predictor(args)
    answer = _answer(predictor, args.text, args)
    if args.json:
        print(json.dumps(answer))
        return 0
    for item in answer["suggestions"]:
        print(f"{item['word']}\t{item['probability']:.4f}")
    if answer["continuation"]:
        print(answer["continuation"])
    if answer["unknown"]:
        print(f"note: not in the vocabulary: {', '.join(answer['unknown'])}", file=sys.stderr)
    return 0


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
        line = sys.stdin.readline()
        if not line:
            return 0
        text = line.rstrip("\r\n")
        answer = _answer(predictor, text, args)
        if args.json:
            print(json.dumps(answer), flush=True)
            continue
        words = tokenize(text, lowercase=False)
        print(
            detokenize([*words, *tokenize(answer["continuation"] or "", lowercase=False)]),
            flush=True,
        )
        if answer["unknown"]:
            print(f"note: not in the vocabulary: {', '.join(answer['unknown'])}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> int:
    from lstm_tui.core.corpus import encode_text, read_text
    from lstm_tui.core.errors import CorpusError
    from lstm_tui.core.metrics import score_text, window_accuracy
    from lstm_tui.core.token_cache import CACHE_FROM_BYTES

    session = _load_session(args)
    path = Path(args.corpus)
    big = path.is_file() and path.stat().st_size >= CACHE_FROM_BYTES
    if args.token_cache == "on" or (args.token_cache == "auto" and big):
        options = {"vocab": session.vocab, "lowercase": session.lowercase, "val_fraction": 0.0}
        ids = _load_corpus(args, path, **options).corpus.ids
    else:
        ids = encode_text(read_text(path), session.vocab, session.lowercase)
    if len(ids) < 2:
        raise CorpusError(f"{args.corpus}: needs at least 2 tokens to score a prediction")
    started = time.perf_counter()
    streams = 1 if len(ids) <= 5_000 else 16
    score = score_text(session.model, ids, streams)
    window = window_accuracy(session.model, ids)
    result = {
        "tokens": len(ids),
        "perplexity": score.perplexity,
        "loss": score.loss,
        "top1": score.top1,
        "top3": score.top3,
        # NaN for a text shorter than one window: null, as NaN is not JSON.
        "window_accuracy": None if math.isnan(window) else window,
        "oov_rate": float((ids == 0).mean()),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.corpus}: {result['tokens']:,} tokens, perplexity {result['perplexity']:.2f}, "
            f"top-1 {result['top1']:.1%}, top-3 {result['top3']:.1%}, "
            f"window accuracy {_percent(result['window_accuracy'])}, "
            f"out of vocabulary {result['oov_rate']:.1%}"
        )
    return 0


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def cmd_list(args: argparse.Namespace) -> int:
    from lstm_tui.core.checkpoint import list_checkpoints
    from lstm_tui.core.paths import checkpoints_dir

    found = list_checkpoints()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": c.name,
                        "path": str(c.path),
                        "created": c.created,
                        "corpus": c.corpus,
                        "model": c.model,
                        "params": c.params,
                        "steps": c.steps,
                        "metrics": c.metrics,
                    }
                    for c in found
                ]
            )
        )
        return 0
    if not found:
        print(f"no checkpoints in {checkpoints_dir()}", file=sys.stderr)
    for c in found:
        accuracy = c.metrics.get("window_accuracy")
        shown = f"{accuracy:.1%}" if isinstance(accuracy, float) else "—"
        print(f"{c.name}\t{c.created}\t{c.corpus}\t{c.model}\tsteps {c.steps}\twindow acc {shown}")
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
    "train": cmd_train,
    "predict": cmd_predict,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "list": cmd_list,
    "cache": cmd_cache,
}
