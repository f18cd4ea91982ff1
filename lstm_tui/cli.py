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
from lstm_tui.core import format as fmt
from lstm_tui.core.errors import UserError

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    from lstm_tui.core.predict import Predictor
    from lstm_tui.core.session import Session
    from lstm_tui.progress_bar import ProgressBar

SUBCOMMANDS = ("train", "predict", "chat", "eval", "list", "history", "serve")
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
    _add_threads(train)

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
    return parser


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

    LstmApp(
        corpus=args.corpus,
        checkpoint=args.checkpoint,
        device=args.device,
        threads=args.threads,
        fresh=args.fresh,
    ).run()
    return 0


# -- train ------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from lstm_tui.core import checkpoint
    from lstm_tui.core.config import TrainConfig
    from lstm_tui.core.corpus import Corpus
    from lstm_tui.core.model import PRESETS
    from lstm_tui.core.opening import corpus_for
    from lstm_tui.core.paths import checkpoint_path, default_corpus, save_path
    from lstm_tui.core.runtime import training_threads
    from lstm_tui.core.session import Session
    from lstm_tui.core.train import EpochEvent, StepEvent, Trainer

    started = time.perf_counter()
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
        resume = checkpoint_path(args.resume)  # a name, as --checkpoint takes it elsewhere
        session = checkpoint.load(resume, device=None)
        corpus_path = args.corpus or session.corpus.path
        if not corpus_path:
            raise UserError(f"{args.resume}: says no corpus file; name the text to train on")
        corpus = corpus_for(session, corpus_path, args.val_fraction)
        config = TrainConfig.from_dict(
            {
                **session.train_config.to_dict(),
                "epochs": None,
                "max_seconds": None,
                "target_accuracy": None,
                **overrides,
                "seed": args.seed,
                "device": args.device,
            }
        )
        out = save_path(args.out) if args.out else resume
    else:
        corpus = Corpus.from_file(
            args.corpus or default_corpus(),
            lowercase=not args.keep_case,
            min_count=args.min_count,
            max_vocab=args.max_vocab,
            val_fraction=args.val_fraction,
        )
        config = TrainConfig(**overrides, seed=args.seed, device=args.device).check()
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
        out = save_path(args.out or Path(corpus.name).stem)
    trainer = Trainer(session, corpus.train_ids, corpus.val_ids, config)
    threads = _use_threads(training_threads(args.threads)) if trainer.device.type == "cpu" else 0
    if not args.quiet:
        print(
            f"training {session.summary()} on {corpus.name} ({len(corpus.ids):,} tokens, "
            f"{len(corpus.vocab):,} words) on {trainer.device}; batch {trainer.batch_size} × "
            f"bptt {trainer.bptt}, {trainer.epochs} epochs max"
            + (f", {threads} thread{'s' if threads > 1 else ''}" if threads else ""),
            file=sys.stderr,
        )
    bar = None if args.quiet else _progress_bar()
    result = None
    run = trainer.run()
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
    else:
        interrupted = False
    finally:
        if bar:
            bar.close()
    path = checkpoint.save(session, out, include_optimizer=not args.weights_only)
    if interrupted:  # Ctrl-C inside a step ends the run without a result: that is fine here
        print(f"lstm-tui: interrupted; the model so far is saved to {path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    assert result is not None
    if not args.quiet:
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
            "threads": threads or None,
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
    from lstm_tui.core.metrics import eval_streams, score_text, window_accuracy
    from lstm_tui.core.runtime import training_threads

    _use_threads(training_threads(args.threads))
    session = _load_session(args)
    ids = encode_text(read_text(args.corpus), session.vocab, session.lowercase)
    if len(ids) < 2:
        raise CorpusError(f"{args.corpus}: needs at least 2 tokens to score a prediction")
    started = time.perf_counter()
    score = score_text(session.model, ids, eval_streams(len(ids)))
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
            f"window accuracy {fmt.percent(result['window_accuracy'])}, "
            f"out of vocabulary {result['oov_rate']:.1%}"
        )
    return 0


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


COMMANDS = {
    "history": cmd_history,
    "serve": cmd_serve,
    "train": cmd_train,
    "predict": cmd_predict,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "list": cmd_list,
}
