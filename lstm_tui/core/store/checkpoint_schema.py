"""What a checkpoint's header and metadata may hold: types, ranges, finite numbers.

A checkpoint may come from anywhere, so everything read from it is checked here before any
of it is used: the safetensors tensor table (dtypes, shapes, offsets that lie inside the
file and do not overlap) and our JSON document (every field's type and range, the
vocabulary's size against the weights'). Whatever does not fit raises ``SchemaError``, which
the loader turns into one ``CheckpointError`` line. Torch-free, so that listing stays light.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

from lstm_tui.core.training.config import OPTIMIZERS

MAX_SEED = 2**32 - 1
MAX_LAYERS = 16
MAX_WIDTH = 8192
# safetensors dtypes and their sizes in bytes.
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
INT_DTYPES = frozenset({"I8", "I16", "I32", "I64", "U8", "U16", "U32"})


class SchemaError(ValueError):
    """One field that does not fit; ``str()`` names it."""


def parse_json(raw: bytes | str, strict: bool) -> Any:
    """JSON, with nesting too deep for the parser refused as ``ValueError`` (never a
    RecursionError). ``strict`` also refuses NaN and Infinity, which JSON itself lacks."""

    def no_constant(name: str) -> float:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw, parse_constant=no_constant) if strict else json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(where: str, value: object, low: int = 0, high: int | None = None) -> int:
    if not _is_int(value) or value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f"at least {low}"
        raise SchemaError(f"{where} must be a whole number {span}, not {_short(value)}")
    return value  # type: ignore[return-value]


def _number(where: str, value: object, low: float = 0.0, high: float = math.inf) -> float:
    if not _is_number(value) or not low <= value <= high:  # type: ignore[operator]
        span = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f"of at least {low:g}"
        raise SchemaError(f"{where} must be a finite number {span}, not {_short(value)}")
    return float(value)  # type: ignore[arg-type]


def _dict(where: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise SchemaError(f"{where} must be an object, not {type(value).__name__}")
    return value


def _list(where: str, value: object) -> list:
    if not isinstance(value, list):
        raise SchemaError(f"{where} must be a list, not {type(value).__name__}")
    return value


def _str(where: str, value: object, optional: bool = False) -> None:
    if not (isinstance(value, str) or (optional and value is None)):
        raise SchemaError(f"{where} must be text, not {type(value).__name__}")


def _short(value: object) -> str:
    text = repr(value) if _is_number(value) or isinstance(value, (str, bool)) else None
    if text is None:
        return "NaN or infinite" if isinstance(value, float) else type(value).__name__
    return text if len(text) <= 24 else text[:21] + "…"


def check_version(meta: object) -> int:
    meta = _dict("the metadata", meta)
    if meta.get("format") != "lstm-tui-checkpoint":
        raise SchemaError("its metadata is not lstm-tui's")
    return _int("format_version", meta.get("format_version"), 1)


def check_tensor_table(header: object) -> int:
    """Check every tensor entry; returns where the last tensor's data ends."""
    header = _dict("the header", header)
    extra = _dict("__metadata__", header.get("__metadata__", {}))
    for key, value in extra.items():
        _str(f"__metadata__[{_short(key)}]", value)
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"tensor {_short(name)}"
        entry = _dict(where, entry)
        dtype = entry.get("dtype")
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise SchemaError(f"{where} has an unknown dtype {_short(dtype)}")
        shape = _list(f"{where} shape", entry.get("shape"))
        numel = 1
        for dim in shape:
            numel *= _int(f"{where} shape", dim)
        offsets = _list(f"{where} data_offsets", entry.get("data_offsets"))
        if len(offsets) != 2:
            raise SchemaError(f"{where} data_offsets must be two numbers")
        begin = _int(f"{where} data_offsets", offsets[0])
        end = _int(f"{where} data_offsets", offsets[1], begin)
        if end - begin != numel * DTYPE_BYTES[dtype]:
            raise SchemaError(f"{where} data_offsets do not fit its shape")
        spans.append((begin, end))
    spans.sort()
    for (_, end), (begin, _) in itertools.pairwise(spans):
        if begin < end:
            raise SchemaError("tensors overlap in the file")
    return spans[-1][1] if spans else 0


def check_meta(meta: dict, header: dict) -> None:
    """Every field of our document, and the vocabulary against the tensor table."""
    for key in ("created", "lstm_tui_version", "torch_version"):
        _str(key, meta.get(key, ""))
    _int("params", meta.get("params", 0))
    config = _check_model_config(_dict("model_config", meta.get("model_config")))
    for key in _list("tied_keys", meta.get("tied_keys", [])):
        _str("tied_keys", key)
    _check_train_config(_dict("train_config", meta.get("train_config", {})))
    _check_corpus(_dict("corpus", meta.get("corpus", {})))
    _check_progress(_dict("progress", meta.get("progress", {})))
    _check_figures("metrics", _dict("metrics", meta.get("metrics") or {}))
    if meta.get("mix") is not None:
        _check_figures("mix", _dict("mix", meta["mix"]), depth=0)
    for row in _list("history", meta.get("history") or []):
        _check_figures("history", _dict("a history row", row), depth=0)
    if meta.get("ngram") is not None:
        _check_ngram(_dict("ngram", meta["ngram"]), header)
    if meta.get("optimizer") is not None:
        _check_optimizer(_dict("optimizer", meta["optimizer"]), header)
    words = _list("vocab_words", meta.get("vocab_words"))
    for word in words:
        _str("a vocabulary word", word)
    if len(words) != config["vocab_size"]:
        raise SchemaError(
            f"the vocabulary has {len(words)} words but the model expects {config['vocab_size']}"
        )
    counts = header.get("vocab.counts")
    if not isinstance(counts, dict) or counts.get("shape") != [len(words)]:
        raise SchemaError("the vocabulary counts do not match its words")
    if counts.get("dtype") not in INT_DTYPES:
        raise SchemaError("the vocabulary counts are not whole numbers")
    if "rare_words" in meta:
        rare = _list("rare_words", meta["rare_words"])
        for word in rare:
            _str("a rare word", word)
        rare_counts = header.get("vocab.rare_counts")
        if not isinstance(rare_counts, dict) or rare_counts.get("shape") != [len(rare)]:
            raise SchemaError("the rare words' counts do not match the words")
        if rare_counts.get("dtype") not in INT_DTYPES:
            raise SchemaError("the rare words' counts are not whole numbers")
    for name, entry in header.items():
        if name.startswith(("model.", "optim.")) and entry["dtype"] not in FLOAT_DTYPES:
            raise SchemaError(f"tensor {_short(name)} must hold floating-point numbers")


def _check_figures(where: str, figures: dict, depth: int = 2) -> None:
    """Numbers (or null) by name; ``depth`` levels of named groups of them (components)."""
    for key, value in figures.items():
        if isinstance(value, dict) and depth > 0:
            _check_figures(f"{where}.{_short(key)}", value, depth - 1)
        elif not (value is None or _is_number(value)):
            raise SchemaError(f"{where} {_short(key)} must be a number, not {_short(value)}")


def _check_ngram(ngram: dict, header: dict) -> None:
    _int("ngram.order", ngram.get("order"), 1, 5)
    for name, dtype in _dict("ngram.dtypes", ngram.get("dtypes")).items():
        if not isinstance(dtype, str) or len(dtype) > 4 or dtype[1:2] not in ("i", "u", "f"):
            raise SchemaError(f"ngram array {_short(name)} has an unknown type {_short(dtype)}")
        if f"ngram.{name}" not in header:
            raise SchemaError(f"ngram array {_short(name)} is missing")


def _check_model_config(config: dict) -> dict:
    # Settings this module does not know are refused by ModelConfig.from_dict at load.
    vocab = _int("model_config.vocab_size", config.get("vocab_size"), 2)
    for key in ("embed", "hidden"):
        _int(f"model_config.{key}", config.get(key, 512), 1, MAX_WIDTH)
    _int("model_config.layers", config.get("layers", 2), 1, MAX_LAYERS)
    for key in ("dropout", "dropout_input", "dropout_hidden", "dropout_embed"):
        dropout = config.get(key, 0.0)
        if dropout is None and key in ("dropout_input", "dropout_hidden"):
            continue
        if not _is_number(dropout) or not 0 <= dropout < 1:
            raise SchemaError(f"model_config.{key} must be in [0, 1), not {_short(dropout)}")
    for key in ("tie_weights", "locked_dropout"):
        if not isinstance(config.get(key, True), bool):
            raise SchemaError(f"model_config.{key} must be true or false")
    softmax = config.get("softmax", "full")
    if softmax not in ("full", "adaptive"):
        raise SchemaError(f"model_config.softmax must be full or adaptive, not {_short(softmax)}")
    cutoffs = _list("model_config.cutoffs", config.get("cutoffs", []))
    previous = 0
    for cutoff in cutoffs:
        _int("model_config.cutoffs", cutoff, previous + 1, vocab - 1)
        previous = cutoff
    if softmax == "adaptive" and not cutoffs:
        raise SchemaError("an adaptive softmax needs cutoffs")
    return {**config, "vocab_size": vocab}


def _check_train_config(config: dict) -> None:
    for key in ("batch_size", "bptt"):
        _int(f"train_config.{key}", config.get(key, 1), 1)
    if config.get("epochs") is not None:
        _int("train_config.epochs", config["epochs"], 1)
    for key in ("lr", "weight_decay", "clip", "lr_decay"):
        _number(f"train_config.{key}", config.get(key, 1.0))
    for key in ("max_seconds", "target_accuracy"):
        if config.get(key) is not None:
            _number(f"train_config.{key}", config[key])
    if config.get("optimizer", "adamw") not in OPTIMIZERS:
        raise SchemaError(f"train_config.optimizer must be one of {', '.join(OPTIMIZERS)}")
    if config.get("seed") is not None:
        _int("train_config.seed", config["seed"], 0, MAX_SEED)
    _str("train_config.device", config.get("device", "auto"))
    _str("train_config.schedule", config.get("schedule", "auto"))
    _str("train_config.mix", config.get("mix", "auto"))
    if not isinstance(config.get("cache", True), bool):
        raise SchemaError("train_config.cache must be true or false")


def _check_corpus(corpus: dict) -> None:
    unknown = set(corpus) - {"name", "path", "tokens", "lowercase", "tokenizer"}
    if unknown:
        raise SchemaError(f"unknown corpus fields: {', '.join(sorted(map(_short, unknown)))}")
    _str("corpus.name", corpus.get("name", ""))
    _str("corpus.path", corpus.get("path"), optional=True)
    _int("corpus.tokens", corpus.get("tokens", 0))
    if not isinstance(corpus.get("lowercase", True), bool):
        raise SchemaError("corpus.lowercase must be true or false")
    if corpus.get("tokenizer", "words") not in ("words", "whitespace"):
        raise SchemaError(
            f"corpus.tokenizer must be words or whitespace, not {_short(corpus['tokenizer'])}"
        )


def _check_progress(progress: dict) -> None:
    unknown = set(progress) - {"epochs", "steps", "tokens", "seconds"}
    if unknown:
        raise SchemaError(f"unknown progress fields: {', '.join(sorted(map(_short, unknown)))}")
    for key in ("epochs", "steps", "tokens"):
        _int(f"progress.{key}", progress.get(key, 0))
    _number("progress.seconds", progress.get("seconds", 0.0))


def _check_optimizer(optimizer: dict, header: dict) -> None:
    if optimizer.get("kind") not in OPTIMIZERS:
        raise SchemaError(f"optimizer.kind must be one of {', '.join(OPTIMIZERS)}")
    _number("optimizer.lr_scale", optimizer.get("lr_scale", 1.0))
    seen: set[int] = set()
    for group in _list("optimizer.param_groups", optimizer.get("param_groups")):
        group = _dict("an optimizer param group", group)
        for index in _list("optimizer.param_groups params", group.get("params")):
            if _int("optimizer.param_groups params", index) in seen:
                raise SchemaError("optimizer.param_groups name a parameter twice")
            seen.add(index)
        for key, value in group.items():
            if key == "params":
                continue
            values = value if isinstance(value, list) else [value]
            for item in values:
                if not (item is None or isinstance(item, (bool, str)) or _is_number(item)):
                    raise SchemaError(f"optimizer setting {_short(key)} must be finite")
    for index, keys in _dict("optimizer.slots", optimizer.get("slots")).items():
        if not (index.isascii() and index.isdigit()) or int(index) not in seen:
            raise SchemaError(f"optimizer.slots names an unknown parameter {_short(index)}")
        for key in _list("optimizer.slots", keys):
            _str("optimizer.slots", key)
            if f"optim.{index}.{key}" not in header:
                raise SchemaError(f"optimizer state optim.{index}.{_short(key)} is missing")
