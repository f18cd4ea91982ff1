"""The command line: every subcommand, flag and range check, in one parser."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from lstm_tui._version import __version__
from lstm_tui.cli.common import DEFAULT_MAX_CORPUS_BYTES, EXIT_USER_ERROR

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    pass

SUBCOMMANDS = ("train", "predict", "chat", "eval", "list", "history", "serve", "cache")


MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take this range


MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0  # below, logits / T overflow to NaN


MAX_TOP_K = 10_000


MAX_WORDS = 10_000


MAX_NGRAM_ORDER = 5  # core/model/ngram.py's MAX_ORDER (not imported: it would load numpy)


MAX_PORT = 65_535


DEFAULT_MAX_CLIENTS = 2  # each browser tab is a whole app process (~400 MB with a model)


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


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}")
    return value


TEMPERATURE_HELP = (
    f"0.8 by default; 0 is greedy (guarded against loops); else {MIN_TEMPERATURE:g} to "
    f"{MAX_TEMPERATURE:g}"
)


def _mix(text: str) -> str:
    from lstm_tui.core.errors import ConfigError
    from lstm_tui.core.model.mixture import parse_mix

    try:
        parse_mix(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _add_prediction(p: argparse.ArgumentParser, words: int, words_help: str) -> None:
    """What predict and chat share: how many suggestions, and how to continue the text."""
    p.add_argument("--top-k", type=_top_k, default=5, help=f"1..{MAX_TOP_K:,} (5)")
    p.add_argument("--words", type=_words, default=words, help=words_help)
    # Sampled by default: greedy text loops ("the the the"), and reads as a machine's.
    p.add_argument("--temperature", type=_temperature, default=0.8, help=TEMPERATURE_HELP)
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
        help="time budget: the best model in this many seconds, the whole command included "
        "(reading the text, evaluations, saving)",
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
        "--ngram-order",
        type=_whole_number(1, MAX_NGRAM_ORDER),
        default=5,
        help=f"order of the n-gram, 1..{MAX_NGRAM_ORDER} (5)",
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
    train.add_argument(
        "--logdir",
        metavar="DIR",
        help="TensorBoard event files go to DIR/<name>/<time> (default: runs/ next to the "
        "checkpoint, or the logdir setting)",
    )
    train.add_argument("--no-log", action="store_true", help="write no TensorBoard events")
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
        "--oversubscribe",
        action="store_true",
        help="allow more --processes than CPU cores (each then runs slower)",
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
    evaluate.add_argument(
        "--adapt",
        action="store_true",
        help="also read the text learning as it goes (dynamic evaluation and n-gram counts), "
        "and report both",
    )
    # Defaults (None) come from AdaptConfig, read when --adapt runs: no torch for --help.
    for flag, kind, what in (
        ("--adapt-lr", _non_negative, "step size η of the LSTM's updates"),
        ("--adapt-decay", _non_negative, "pull λ toward the trained weights per step"),
        ("--adapt-prior", _non_negative, "counts the trained n-gram's opinion is worth"),
        ("--adapt-segment", _positive_int, "tokens per gradient step"),
    ):
        evaluate.add_argument(flag, type=kind, help=f"with --adapt: {what}")
    evaluate.add_argument(
        "--ksr",
        action="store_true",
        help="also keystrokes saved: a simulated typist types the text with the top-k row "
        "and the completion (docs/TYPING.md); reads the text in memory",
    )
    evaluate.add_argument(
        "--phrases",
        action="store_true",
        help="with --ksr: also the keystrokes saved with the phrases the ghost text offers "
        "(one key takes one), against none, on a run of 300 words (docs/PHRASES.md)",
    )
    evaluate.add_argument(
        "--top-k", type=_top_k, default=5, help=f"words in the typist's row, 1..{MAX_TOP_K:,} (5)"
    )
    _add_token_cache(evaluate)
    _add_model_source(evaluate)

    listing = sub.add_parser("list", help="checkpoints saved in the user data folder")
    listing.add_argument("--json", action="store_true")

    history = sub.add_parser(
        "history", help="training history per evaluation; of several checkpoints side by side"
    )
    history.add_argument(
        "checkpoint", metavar="CKPT", nargs="+", help="checkpoint file or saved name (one or more)"
    )
    history.add_argument("--format", choices=["csv", "json"], default="csv")
    history.add_argument("--out", metavar="FILE", help="write there instead of stdout")

    serve = sub.add_parser("serve", help="the app in a web browser (textual-serve)")
    serve.add_argument("--host", default="localhost", help="address to listen on (localhost)")
    serve.add_argument("--port", type=_whole_number(1, MAX_PORT), default=8000)
    serve.add_argument("--public-url", help="the URL the browser reaches the server at")
    serve.add_argument(
        "--max-clients",
        type=_positive_int,
        default=DEFAULT_MAX_CLIENTS,
        metavar="N",
        help=f"browsers at once; each runs a whole app with its own model ({DEFAULT_MAX_CLIENTS})",
    )
    serve.add_argument(
        "--token",
        help="the secret a browser must bring (?token=…) when --host is not loopback "
        "(default: a random one, printed at start)",
    )
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
