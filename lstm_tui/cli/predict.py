"""``lstm-tui predict``, ``chat`` and ``eval``: a model at work on text."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from lstm_tui.cli.common import (
    load_corpus_with_progress,
    load_session,
    open_predictor,
    refuse_special_file,
    use_threads,
)
from lstm_tui.core import format as fmt
from lstm_tui.core.text.safe_text import visible

if TYPE_CHECKING:  # imported lazily: `lstm-tui --help` should not wait for torch
    import numpy as np

    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor

MAX_PROMPT_CHARS = 10_000  # an LSTM is steered by the last few hundred tokens at most


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = open_predictor(args)
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
    from lstm_tui.api import suggestion

    started = time.perf_counter()
    typed = suggestion(text, predictor.suggest(text, k=args.top_k), predictor.phrase(text))
    after = predictor.next_words(text, k=args.top_k)
    continuation = None
    if args.words > 0:
        continuation = predictor.continue_text(
            text, args.words, temperature=args.temperature, seed=args.seed
        ).text
    return {
        "input": text,
        "suggestions": [{"word": w.word, "probability": w.prob} for w in after],
        "completion": typed.completion,
        "phrase": typed.phrase,  # several words the model is confident of, or null
        "continuation": continuation,
        "unknown": predictor.unknown_words(text),
        "ms": round((time.perf_counter() - started) * 1000, 3),
    }


def cmd_chat(args: argparse.Namespace) -> int:
    from lstm_tui.core.text.tokenize import detokenize, tokenize

    predictor = open_predictor(args)
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
    refuse_special_file(args.corpus)
    from lstm_tui.core.errors import CorpusError
    from lstm_tui.core.runtime import training_threads
    from lstm_tui.core.text.corpus import encode_text, read_text
    from lstm_tui.core.text.token_cache import CACHE_FROM_BYTES
    from lstm_tui.core.training.metrics import evaluate_session

    use_threads(training_threads(args.threads))
    session = load_session(args)
    path = Path(args.corpus)
    big = path.is_file() and path.stat().st_size >= CACHE_FROM_BYTES
    tokens: list[str] | None = None
    args.ksr = args.ksr or args.phrases  # phrases are a KSR figure
    if args.ksr:  # the typist needs the words as written, not only their ids
        from lstm_tui.core.text.corpus import text_blocks
        from lstm_tui.core.text.tokenize import tokenize

        text = read_text(path, args.max_corpus_bytes)
        kind, lowercase = session.tokenizer, session.lowercase
        tokens = [t for block in text_blocks(text) for t in tokenize(block, lowercase, kind)]
        del text
        ids = session.vocab.encode(tokens)
    elif args.token_cache == "on" or (args.token_cache == "auto" and big):
        ids = load_corpus_with_progress(args, path, session, val_fraction=0.0).corpus.ids
    else:
        text = read_text(path, args.max_corpus_bytes)
        ids = encode_text(text, session.vocab, session.lowercase, session.tokenizer)
        del text
    if len(ids) < 2:
        raise CorpusError(f"{args.corpus}: needs at least 2 tokens to score a prediction")
    started = time.perf_counter()
    result = evaluate_session(session, ids)
    if tokens is not None:
        from lstm_tui.core.serving.typist import PHRASE_POSITIONS, session_ksr
        from lstm_tui.core.training.metrics import eval_streams

        streams = eval_streams(len(ids))
        phrases = PHRASE_POSITIONS if args.phrases else 0
        result["ksr"] = session_ksr(
            session, tokens, ids, args.top_k, streams=streams, phrases=phrases
        )
    result["seconds"] = round(time.perf_counter() - started, 3)
    if args.adapt:
        result["adapt"] = _adapt_figures(args, session, ids, tokens)
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
        if "ksr" in result:
            print(_ksr_line(result["ksr"]))
        if "phrases" in result.get("ksr", {}):
            print(_phrase_line(result["ksr"]["phrases"]))
        if args.adapt:
            _print_adapt(result["adapt"])
    return 0


def _phrase_line(phrases: dict) -> str:
    """Keystrokes saved with and without phrases, on the same run of words."""
    with_, without = phrases["with"], phrases["without"]
    return (
        f"with phrases ({phrases['positions']:,} words in a row): {with_['ksr']:.1%} "
        f"({with_['phrases']:,} phrases taken), without: {without['ksr']:.1%}"
    )


def _adapt_figures(
    args: argparse.Namespace, session: Session, ids: np.ndarray, tokens: list[str] | None
) -> dict:
    """Perplexities (and with --ksr keystrokes saved) reading the text as trained and
    learning as it goes, in one run."""
    from dataclasses import replace

    from lstm_tui.core.model.adaptation import AdaptConfig
    from lstm_tui.core.serving.adapt import adaptive_ksr, adaptive_scores

    config = AdaptConfig()
    given = {
        "lr": args.adapt_lr,
        "decay": args.adapt_decay,
        "prior": args.adapt_prior,
        "segment": args.adapt_segment,
    }
    config = replace(config, **{k: v for k, v in given.items() if v is not None})
    started = time.perf_counter()
    scores = adaptive_scores(session.model, session.ngram, session.mix, ids, config)
    figures = scores.perplexities()
    static, adapted = figures["static"]["mixture"], figures["adapted"]["mixture"]
    out = {
        "config": config.to_dict(),
        "without": figures["static"],
        "with": figures["adapted"],
        "change": adapted / static - 1.0,
    }
    if tokens is not None:
        out["ksr"] = adaptive_ksr(session, tokens, ids, args.top_k, config)
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


def _print_adapt(figures: dict) -> None:
    parts = ", ".join(
        f"{name} {figures['without'][name]:.2f} → {figures['with'][name]:.2f}"
        for name in figures["with"]
    )
    print(
        f"learning as it reads (one stream): perplexity {parts} "
        f"({figures['change']:+.1%} for the mixture)"
    )
    if "ksr" in figures:
        ksr = figures["ksr"]
        print(
            f"keystrokes saved learning as it reads (top-{ksr['top_k']}, "
            f"{ksr['positions']:,} words): {ksr['without']['ksr']:.1%} → {ksr['with']['ksr']:.1%}"
        )


def _ksr_line(ksr: dict) -> str:
    """Keystrokes saved by the mixture and each part, in one line."""
    parts = ", ".join(f"{name} {ksr[name]['ksr']:.1%}" for name in ("lstm", "ngram") if name in ksr)
    mixture = ksr["mixture"]
    return (
        f"keystrokes saved (top-{ksr['top_k']}, {ksr['positions']:,} words): "
        f"{mixture['ksr']:.1%}" + (f" ({parts} alone)" if parts else "") + "; "
        f"offered before the first letter {mixture['offered_before_first_letter']:.1%}; "
        f"ceiling {mixture['ceiling']:.1%}"
    )
