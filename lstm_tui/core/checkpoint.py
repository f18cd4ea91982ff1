"""Checkpoints: one safetensors file with weights, vocabulary, configs, progress and optimizer.

safetensors holds tensors plus a string header and runs no code when read, so a file from
anywhere can be opened without risk. Everything that is not a tensor lives in one JSON
document under the ``lstm_tui`` metadata key. Writes go to a temporary file that is then
renamed over the target, so a crash mid-save never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui import __version__
from lstm_tui.core import history
from lstm_tui.core.errors import CheckpointError, ConfigError
from lstm_tui.core.paths import CHECKPOINT_SUFFIX, checkpoints_dir

if TYPE_CHECKING:  # torch-backed types, imported lazily so that listing stays torch-free
    from lstm_tui.core.model import LanguageModel, ModelConfig
    from lstm_tui.core.session import Session

FORMAT = "lstm-tui-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "lstm_tui"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint is, read from its header alone (no tensors, no torch)."""

    path: Path
    created: str
    corpus: str
    model: str
    params: int
    vocab_size: int
    steps: int
    epochs: int
    metrics: dict
    size_bytes: int

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(CHECKPOINT_SUFFIX)


def read_header(path: str | Path) -> dict:
    """The JSON document of an lstm-tui checkpoint, or ``CheckpointError`` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with path.open("rb") as f:
            head = f.read(8)
            size = path.stat().st_size
            if len(head) < 8:
                raise CheckpointError(f"{path}: not a checkpoint (file too short)")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise CheckpointError(
                    f"{path}: not an lstm-tui checkpoint (not a safetensors file; "
                    "pickled .pt/.pth files are refused because loading them can run code)"
                )
            raw = f.read(header_len)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        header = json.loads(raw)
        document = header["__metadata__"][METADATA_KEY]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(
            f"{path}: not an lstm-tui checkpoint (no lstm-tui metadata in its header)"
        ) from None
    try:
        meta = json.loads(document)
        version = int(meta["format_version"])
        if meta.get("format") != FORMAT:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: corrupt checkpoint (its metadata cannot be read)") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer lstm-tui (format {version}; this version reads up to "
            f"{FORMAT_VERSION}); upgrade lstm-tui to load it"
        )
    try:
        end = max(
            (t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0
        )
    except (KeyError, TypeError, IndexError):
        raise CheckpointError(f"{path}: corrupt checkpoint (bad tensor table)") from None
    if 8 + header_len + end > size:  # caught before any tensor is read
        raise CheckpointError(
            f"{path}: checkpoint is truncated ({size:,} of {8 + header_len + end:,} bytes)"
        )
    return meta


def info(path: str | Path) -> CheckpointInfo:
    path = Path(path)
    meta = read_header(path)
    try:  # a header that parses can still hold the wrong types: that is one clear line too
        config = meta.get("model_config", {})
        progress = meta.get("progress", {})
        return CheckpointInfo(
            path=path,
            created=str(meta.get("created", "")),
            corpus=str(meta.get("corpus", {}).get("name", "")),
            model=f"{config.get('layers', '?')}×{config.get('hidden', '?')}",
            params=int(meta.get("params", 0)),
            vocab_size=int(config.get("vocab_size", 0)),
            steps=int(progress.get("steps", 0)),
            epochs=int(progress.get("epochs", 0)),
            metrics=dict(meta.get("metrics") or {}),
            size_bytes=path.stat().st_size,
        )
    except (AttributeError, TypeError, ValueError):
        raise CheckpointError(f"{path}: corrupt checkpoint (its metadata cannot be read)") from None


def list_checkpoints(folder: Path | None = None) -> list[CheckpointInfo]:
    """Readable checkpoints in a folder (default: the user's), newest first."""
    folder = folder or checkpoints_dir()
    found = []
    for path in sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}")) if folder.is_dir() else []:
        try:
            found.append(info(path))
        except CheckpointError:
            continue
    return sorted(found, key=lambda c: c.created, reverse=True)


def save(session: Session, path: str | Path, include_optimizer: bool = True) -> Path:
    """Write a session to ``path`` atomically; returns the path."""
    import torch
    from safetensors.torch import save as safetensors_bytes

    path = Path(path)
    with session.lock:
        version = session.version  # the weights written; training may move on meanwhile
        steps = session.progress.steps
        tensors, tied = _model_tensors(session.model)
        optimizer_meta = None
        if include_optimizer and session.optimizer_state:
            optimizer_meta = _add_optimizer_tensors(session.optimizer_state, tensors)
        tensors["vocab.counts"] = torch.as_tensor(session.vocab.counts, dtype=torch.int64)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "lstm_tui_version": __version__,
            "torch_version": torch.__version__,
            "params": session.model.num_parameters(),
            "model_config": session.config.to_dict(),
            "tied_keys": tied,
            "train_config": session.train_config.to_dict(),
            "corpus": vars(session.corpus),
            "progress": session.progress.to_dict(),
            "metrics": session.metrics,
            "history": session.history,
            "optimizer": optimizer_meta,
            "vocab_words": session.vocab.words,
        }
    data = safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(meta)})
    _write_atomically(path, data)
    with session.lock:
        session.mark_saved(path, version, steps)  # not a version taken after the snapshot
    return path


def _model_tensors(model: LanguageModel) -> tuple[dict, list[str]]:
    """CPU copies of the weights; a tied tensor is stored once (safetensors forbids aliases)."""
    tensors = {}
    tied = []
    seen: dict[int, str] = {}
    for name, value in model.state_dict().items():
        key = value.data_ptr()
        if key in seen:
            tied.append(name)
            continue
        seen[key] = name
        tensors[f"model.{name}"] = value.detach().to("cpu", copy=True).contiguous()
    return tensors, tied


def _add_optimizer_tensors(saved: dict, tensors: dict) -> dict:
    state = saved["state"]
    slots: dict[str, list[str]] = {}
    for index, values in state["state"].items():
        slots[str(index)] = []
        for key, value in values.items():
            tensors[f"optim.{index}.{key}"] = (
                value.detach().to("cpu", copy=True).reshape(value.shape).contiguous()
            )
            slots[str(index)].append(key)
    return {
        "kind": saved["kind"],
        "lr_scale": saved.get("lr_scale", 1.0),
        "param_groups": state["param_groups"],
        "slots": slots,
    }


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; save like any file
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise CheckpointError(f"{path}: cannot save: {e.strerror or e}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | Path, device: str | None = "cpu") -> Session:
    """A ``Session`` from a checkpoint, on ``device`` (weights always load to CPU first)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from lstm_tui.core.config import TrainConfig
    from lstm_tui.core.model import LanguageModel, ModelConfig, check_config
    from lstm_tui.core.session import CorpusInfo, Progress, Session
    from lstm_tui.core.vocab import Vocabulary

    path = Path(path)
    meta = read_header(path)
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    try:
        config = ModelConfig.from_dict(meta["model_config"])
        check_config(config)
        vocab = Vocabulary(meta["vocab_words"], tensors["vocab.counts"].tolist())
        corpus = CorpusInfo(**meta.get("corpus", {}))
        train_config = TrainConfig.from_dict(meta.get("train_config", {}))
        progress = Progress(**meta.get("progress", {}))
        optimizer_state = _optimizer_state(meta.get("optimizer"), tensors)
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint (bad metadata: {e})") from None
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{path}: vocabulary has {len(vocab)} words but the model expects {config.vocab_size}"
        )
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    _check_shapes(path, config, weights)
    model = LanguageModel(config)
    model.load_state_dict(weights, strict=False)  # shapes and names checked: cannot fail
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise CheckpointError(f"{path}: weights hold NaN or infinite values")
    session = Session(
        vocab=vocab,
        model=model,
        corpus=corpus,
        train_config=train_config,
        progress=progress,
        metrics=meta.get("metrics", {}),
        history=history.checked(meta.get("history")),  # none in older checkpoints
        optimizer_state=optimizer_state,
    )
    if device is not None:
        from lstm_tui.core.device import resolve_device

        session.to(resolve_device(device))
    session.mark_saved(path)
    return session


def _check_shapes(path: Path, config: ModelConfig, weights: dict) -> None:
    """Refuse weights that do not fit the config, before a model of that config is built.

    The config is only metadata: a forged one could ask for gigabytes. A model on the meta
    device has every shape and allocates nothing. A tied weight is stored once, under the
    first of its names (as ``_model_tensors`` writes it).
    """
    import torch

    from lstm_tui.core.model import LanguageModel

    with torch.device("meta"):
        expected = LanguageModel(config).state_dict(keep_vars=True)
    wanted: dict[str, tuple[int, ...]] = {}
    seen: set[int] = set()
    for name, tensor in expected.items():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            wanted[name] = tuple(tensor.shape)
    given = {name: tuple(t.shape) for name, t in weights.items()}
    if given != wanted:
        raise CheckpointError(f"{path}: weights do not match the model config in the file")


def _optimizer_state(meta: dict | None, tensors: dict) -> dict | None:
    if not meta:
        return None
    state = {
        int(index): {key: tensors[f"optim.{index}.{key}"] for key in keys}
        for index, keys in meta["slots"].items()
    }
    return {
        "kind": meta["kind"],
        "lr_scale": meta.get("lr_scale", 1.0),
        "state": {"state": state, "param_groups": meta["param_groups"]},
    }
