"""Checkpoints: one safetensors file with weights, vocabulary, configs, progress and optimizer.

safetensors holds tensors plus a string header and runs no code when read, so a file from
anywhere can be opened without risk. Everything that is not a tensor lives in one JSON
document under the ``lstm_tui`` metadata key. Writes go to a temporary file that is then
renamed over the target, so a crash mid-save never leaves half a checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_tui._version import __version__
from lstm_tui.core.errors import CheckpointError, ConfigError
from lstm_tui.core.store import history
from lstm_tui.core.store.checkpoint_schema import (
    SchemaError,
    check_meta,
    check_tensor_table,
    check_version,
    parse_json,
)
from lstm_tui.core.store.files import kind_of, open_regular
from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX, checkpoints_dir

if TYPE_CHECKING:  # torch-backed types, imported lazily so that listing stays torch-free
    from lstm_tui.core.model.adaptation import Adaptation
    from lstm_tui.core.model.lstm import LanguageModel, ModelConfig
    from lstm_tui.core.model.ngram import KneserNey
    from lstm_tui.core.model.session import Session

FORMAT = "lstm-tui-checkpoint"
# 2: adds the n-gram (tensors "ngram.*"), the mixture weights, the training history and the
# tokenizer. A version-1 file loads as an LSTM alone.
# 3: adds the rare words (metadata "rare_words", tensor "vocab.rare_counts"): the words <unk>
# stands for, so that they can be offered (issue 17). Older files load with none.
# 4: adds what the model learnt from the text typed to it ("adapt": the LSTM's delta from the
# trained weights, tensors "adapt.delta.*", and the token ids learnt from, "adapt.ids"). Older
# files load with nothing learnt.
FORMAT_VERSION = 4
NGRAM_PREFIX = "ngram."
ADAPT_PREFIX = "adapt."
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


def read_history(path: str | Path) -> list[dict]:
    """A checkpoint's training history (``history.py``), read from its header alone (no torch)."""
    return history.checked(read_header(path).get("history"))


def read_header(path: str | Path) -> dict:
    """The JSON document of an lstm-tui checkpoint, checked against the schema, or
    ``CheckpointError`` saying why not. Reads the header only: no tensor, no torch."""
    path = Path(path)
    try:
        with open_regular(path, CheckpointError, "checkpoint file") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
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
    if len(raw) < header_len:
        raise CheckpointError(f"{path}: checkpoint is truncated (its header is cut short)")
    try:
        header = parse_json(raw, strict=True)
        document = header["__metadata__"][METADATA_KEY]
        if not isinstance(document, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(
            f"{path}: not an lstm-tui checkpoint (no lstm-tui metadata in its header)"
        ) from None
    try:
        meta = parse_json(document, strict=False)
    except ValueError:
        raise CheckpointError(f"{path}: corrupt checkpoint (its metadata cannot be read)") from None
    try:
        version = check_version(meta)
    except SchemaError as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer lstm-tui (format {version}; this version reads up to "
            f"{FORMAT_VERSION}); upgrade lstm-tui to load it"
        )
    try:
        end = check_tensor_table(header)
        check_meta(meta, header)
    except SchemaError as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    if 8 + header_len + end > size:  # caught before any tensor is read
        raise CheckpointError(
            f"{path}: checkpoint is truncated ({size:,} of {8 + header_len + end:,} bytes)"
        )
    return meta


def info(path: str | Path) -> CheckpointInfo:
    path = Path(path)
    meta = read_header(path)  # checked against the schema: the fields below have their types
    config = meta["model_config"]
    progress = meta.get("progress", {})
    return CheckpointInfo(
        path=path,
        created=meta.get("created", ""),
        corpus=meta.get("corpus", {}).get("name", ""),
        model=f"{config.get('layers', 2)}×{config.get('hidden', 512)}",
        params=meta.get("params", 0),
        vocab_size=config["vocab_size"],
        steps=progress.get("steps", 0),
        epochs=progress.get("epochs", 0),
        metrics=dict(meta.get("metrics") or {}),
        size_bytes=path.stat().st_size,
    )


@dataclass(frozen=True)
class Unreadable:
    """A file in the checkpoints folder that is not a checkpoint this version can load."""

    path: Path
    error: str

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(CHECKPOINT_SUFFIX)


def scan_checkpoints(folder: Path | None = None) -> tuple[list[CheckpointInfo], list[Unreadable]]:
    """Checkpoints in a folder (default: the user's), newest first, and the files that are
    not readable ones with why. One bad file never stops the listing."""
    folder = folder or checkpoints_dir()
    found: list[CheckpointInfo] = []
    bad: list[Unreadable] = []
    for path in sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}")) if folder.is_dir() else []:
        try:
            found.append(info(path))
        except (CheckpointError, OSError) as e:
            bad.append(Unreadable(path, str(e)))
    # ``created`` counts whole seconds: two saved within one second are told apart by the
    # file's own time (the runs view's order, and its snapshot, stayed a coin toss otherwise).
    return sorted(found, key=lambda c: (c.created, _modified_ns(c.path)), reverse=True), bad


def _modified_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def list_checkpoints(folder: Path | None = None) -> list[CheckpointInfo]:
    """Readable checkpoints in a folder (default: the user's), newest first."""
    return scan_checkpoints(folder)[0]


def save(session: Session, path: str | Path, include_optimizer: bool = True) -> Path:
    """Write a session to ``path`` atomically; returns the path."""
    import torch
    from safetensors.torch import save as safetensors_bytes

    path = Path(path)
    session.wait_for_ngram()  # a big text's n-gram may still be being counted
    with session.lock:
        version = session.version  # the weights written; training may move on meanwhile
        steps = session.progress.steps
        tensors, tied = _model_tensors(session.model)
        optimizer_meta = None
        if include_optimizer and session.optimizer_state:
            optimizer_meta = _add_optimizer_tensors(session.optimizer_state, tensors)
        tensors["vocab.counts"] = torch.as_tensor(session.vocab.counts, dtype=torch.int64)
        rare = session.vocab.rare
        tensors["vocab.rare_counts"] = torch.as_tensor(rare.counts, dtype=torch.int64)
        ngram_meta = _add_ngram_tensors(session, tensors)
        adapt_meta = _add_adapt_tensors(session, tensors)
        _refuse_non_finite(path, tensors)
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
            "rare_words": list(rare.words),
            "ngram": ngram_meta,
            "mix": session.mix.to_dict(),
            "adapt": adapt_meta,
        }
    data = safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(meta)})
    _write_atomically(path, data)
    with session.lock:
        session.mark_saved(path, version, steps)  # not a version taken after the snapshot
    return path


def _add_ngram_tensors(session: Session, tensors: dict) -> dict | None:
    """The n-gram's arrays as tensors; unsigned ones are stored bit for bit as signed ones
    of the same width (torch has no unsigned 32/64-bit tensors to save)."""
    import numpy as np
    import torch

    if session.ngram is None:
        return None
    dtypes = {}
    for name, array in session.ngram.to_arrays().items():
        array = np.ascontiguousarray(array)
        dtypes[name] = array.dtype.str
        if array.dtype.kind == "u":
            array = array.view(array.dtype.str.replace("u", "i"))
        tensors[NGRAM_PREFIX + name] = torch.from_numpy(array.copy())
    return {"order": session.ngram.order, "dtypes": dtypes, "text": session.ngram_text.value}


def _add_adapt_tensors(session: Session, tensors: dict) -> dict | None:
    """What the session learnt as it was typed to: the delta and the ids, with its settings."""
    adaptation = session.adaptation
    if adaptation is None:
        return None
    for name, tensor in adaptation.tensors().items():
        tensors[ADAPT_PREFIX + name] = tensor.detach().to("cpu", copy=True).contiguous()
    return {
        "config": adaptation.config.to_dict(),
        "enabled": adaptation.enabled,
        "words": adaptation.words,
    }


def _adaptation(meta: dict | None, tensors: dict, model: LanguageModel) -> Adaptation | None:
    """The saved adaptation, its delta checked against the model's parameters."""
    from lstm_tui.core.model.adaptation import Adaptation, AdaptConfig

    if not meta:
        return None
    saved = {
        k.removeprefix(ADAPT_PREFIX): v for k, v in tensors.items() if k.startswith(ADAPT_PREFIX)
    }
    shapes = {f"delta.{n}": tuple(p.shape) for n, p in model.named_parameters()}
    for name, tensor in saved.items():
        if name != "ids" and shapes.get(name) != tuple(tensor.shape):
            raise ValueError(f"learnt weights {name} do not fit the model")
    ids = saved.get("ids")
    vocab_size = model.config.vocab_size
    if ids is None or ids.ndim != 1 or ids.is_floating_point():
        raise ValueError("the learnt words are not a list of ids")
    if len(ids) and not 0 <= int(ids.min()) <= int(ids.max()) < vocab_size:
        raise ValueError("the learnt words are not ids of the vocabulary")
    adaptation = Adaptation.from_tensors(saved, AdaptConfig.from_dict(dict(meta["config"])))
    adaptation.enabled = bool(meta.get("enabled", True))
    return adaptation


def _ngram(meta: dict | None, tensors: dict) -> KneserNey | None:
    import numpy as np

    from lstm_tui.core.model.ngram import KneserNey

    if not meta:
        return None
    arrays = {}
    for name, dtype in dict(meta["dtypes"]).items():
        wanted = np.dtype(str(dtype))
        array = tensors[NGRAM_PREFIX + name].numpy()
        if array.dtype.itemsize != wanted.itemsize or wanted.kind not in "iuf":
            raise ValueError(f"n-gram array {name} does not hold {wanted}")
        arrays[name] = array.view(wanted)
    return KneserNey.from_arrays(arrays)


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


def _refuse_non_finite(path: Path, tensors: dict) -> None:
    """A NaN or infinite weight makes a checkpoint that no longer loads: never write one (so
    a good checkpoint at ``path`` is never replaced by it)."""
    import torch

    bad = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        what = "weights" if any(k.startswith("model.") for k in bad) else "optimizer state"
        raise CheckpointError(
            f"{path}: not saved: the {what} hold NaN or infinite values ({bad[0]}); "
            "anything already there is kept"
        )


TEMP_PREFIX = ".lstm-tui-"  # .lstm-tui-<pid>.<target name>.<random>.tmp
TEMP_SUFFIX = ".tmp"
STALE_SECONDS = 3600.0  # a temp file this old whose writer is gone is a leftover of a crash


def _temp_prefix(path: Path) -> str:
    return f"{TEMP_PREFIX}{os.getpid()}.{path.name}."


def check_target(path: str | Path, protect: tuple[Path, ...] = (), size_hint: int = 0) -> Path:
    """Refuse a save target that would do harm, before any work is spent on what to save.

    The target must be absent or a regular file, must not be one of ``protect`` (the corpus
    being trained on), and its folder must take a new file (tried with a real one) with
    ``size_hint`` bytes free. Leftover temp files of crashed saves are removed on the way.
    """
    path = Path(path)
    problem = _target_problem(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    for other in protect:
        try:
            if os.path.samefile(path, other):
                raise CheckpointError(
                    f"{path}: is the corpus being trained on; choose another --out"
                )
        except OSError:
            continue  # one of them does not exist: they are not the same file
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot save there: {e.strerror or e}") from None
    clean_stale_temp_files(folder)
    if size_hint:
        free = shutil.disk_usage(folder).free
        if free < size_hint:
            raise CheckpointError(
                f"{path}: not enough free space to save ({free:,} bytes free, "
                f"about {size_hint:,} needed)"
            )
    return path


@contextmanager
def writer_lock(path: str | Path) -> Iterator[Path]:
    """Hold the right to write checkpoint ``path`` for a whole run, or refuse at once.

    Two ``train --out S`` at once both trained and saved, and the later save silently
    replaced the earlier. An advisory ``fcntl`` lock on a sidecar file (the checkpoint itself
    is replaced by rename, so a lock on it would not survive a save) is taken before any work;
    the kernel drops it when the process ends, even by SIGKILL, so a crashed run never leaves
    the target locked. The sidecar is removed by its holder before the lock is let go; a
    process that opened it just before then finds, once it holds the lock, that the path now
    names another file (or none) and opens it again, so two runs never both hold it.
    """
    path = Path(path)
    lock_path = path.with_name(f".{path.name}.lock")
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise CheckpointError(f"{path}: cannot save there: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise CheckpointError(
                f"{path}: another lstm-tui run is writing it{by}; wait for it to end or "
                "choose another --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed it as we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # still held: nobody can take the name's lock in between
        os.close(fd)  # releases the lock


def saved_size(session: Session, with_optimizer: bool, ngram_tokens: int = 0) -> int:
    """About how many bytes ``save`` writes for this session, erring high.

    The free-space check before training used the weights alone; the n-gram
    (often the larger part on a big text, and counted again at the end of a run) was left
    out, so a full disk was found only when the trained model could not be saved.
    ``ngram_tokens``: the tokens the n-gram will have been counted from by the save (0: no
    n-gram); its bound is used, as the n-gram may still be being counted.
    """
    from lstm_tui.core.model.ngram import saved_bytes_bound

    weights = 4 * session.model.num_parameters()
    total = weights * (3 if with_optimizer else 1)  # AdamW keeps two slots a weight
    total += sum(len(w.encode()) + 4 for w in session.vocab.words) + 8 * len(session.vocab)
    if ngram_tokens:
        total += saved_bytes_bound(ngram_tokens, len(session.vocab), _ngram_order(session))
    # The JSON header: configs, metrics and one record per evaluation (a few hundred bytes).
    total += 64 * 1024 + 512 * (len(session.history) + 64)
    return total


def _ngram_order(session: Session) -> int:
    from lstm_tui.core.model.session import DEFAULT_NGRAM_ORDER

    return session.ngram.order if session.ngram is not None else DEFAULT_NGRAM_ORDER


def _target_problem(path: Path) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot save there: {e.strerror or e}"
    if stat.S_ISREG(mode):
        return None
    return f"is {kind_of(mode)}; a checkpoint replaces only a regular file"


def clean_stale_temp_files(folder: Path, now: float | None = None) -> list[Path]:
    """Remove temp files that a save killed mid-write left behind; returns them.

    Only this program's (by name), only old ones, and only when the process that wrote it
    is gone: a save in progress elsewhere is never touched.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        candidates = set(folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))
        # lstm-tui 0.1 named them .<target>.<random>.tmp, with no pid: age alone decides
        candidates |= set(folder.glob(f".*{CHECKPOINT_SUFFIX}.*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for temp in sorted(candidates):
        pid_text = temp.name[len(TEMP_PREFIX) :].partition(".")[0]
        try:
            info = temp.lstat()
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_SECONDS:
                continue
            ours = temp.name.startswith(TEMP_PREFIX)
            if ours and pid_text.isascii() and pid_text.isdigit() and _alive(int(pid_text)):
                continue
            temp.unlink()
            removed.append(temp)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid: leave its file alone
    except OSError:
        return True
    return True


def _write_atomically(path: Path, data: bytes) -> None:
    problem = _target_problem(path)
    if problem:  # os.replace would put the file in place of a device node or FIFO
        raise CheckpointError(f"{path}: {problem}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
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
    clean_stale_temp_files(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | Path, device: str | None = "cpu") -> Session:
    """A ``Session`` from a checkpoint, on ``device`` (weights always load to CPU first)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from lstm_tui.core.model.lstm import LanguageModel, ModelConfig, check_config
    from lstm_tui.core.model.mixture import MixWeights
    from lstm_tui.core.model.session import CorpusInfo, NgramText, Progress, Session
    from lstm_tui.core.text.vocab import RareWords, Vocabulary
    from lstm_tui.core.training.config import TrainConfig

    path = Path(path)
    meta = read_header(path)
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    try:
        config = ModelConfig.from_dict(meta["model_config"])
        check_config(config)
        rare = RareWords()
        if "rare_words" in meta:  # format 3 on
            rare = RareWords(meta["rare_words"], tensors["vocab.rare_counts"].tolist())
        vocab = Vocabulary(meta["vocab_words"], tensors["vocab.counts"].tolist(), rare)
        corpus = CorpusInfo(**meta.get("corpus", {}))
        train_config = TrainConfig.from_dict(meta.get("train_config", {}))
        progress = Progress(**meta.get("progress", {}))
        optimizer_state = _optimizer_state(meta.get("optimizer"), tensors)
        ngram = _ngram(meta.get("ngram"), tensors)
        # Older files do not say what their n-gram read: assume the held-out text too.
        ngram_text = NgramText((meta.get("ngram") or {}).get("text", NgramText.ALL.value))
        mix = MixWeights.from_dict(meta["mix"]) if ngram is not None else MixWeights.lstm_only()
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint (bad metadata: {e})") from None
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{path}: vocabulary has {len(vocab)} words but the model expects {config.vocab_size}"
        )
    if ngram is not None and ngram.vocab_size != config.vocab_size:
        raise CheckpointError(f"{path}: the n-gram's vocabulary does not match the model's")
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    _check_shapes(path, config, weights)
    model = LanguageModel(config)
    model.load_state_dict(weights, strict=False)  # shapes and names checked: cannot fail
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise CheckpointError(f"{path}: weights hold NaN or infinite values")
    if (vocab.counts < 0).any():
        raise CheckpointError(f"{path}: corrupt checkpoint (negative word counts)")
    _check_optimizer_tensors(path, optimizer_state, list(model.parameters()))
    try:
        adaptation = _adaptation(meta.get("adapt"), tensors, model)
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint (bad learnt text: {e})") from None
    session = Session(
        vocab=vocab,
        model=model,
        corpus=corpus,
        train_config=train_config,
        progress=progress,
        metrics=meta.get("metrics", {}),
        history=history.checked(meta.get("history")),  # none in older checkpoints
        optimizer_state=optimizer_state,
        ngram=ngram,
        ngram_text=ngram_text,
        mix=mix,
        adaptation=adaptation,
    )
    if device is not None:
        from lstm_tui.core.model.device import resolve_device

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

    from lstm_tui.core.model.lstm import LanguageModel

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


def _check_optimizer_tensors(path: Path, saved: dict | None, params: list) -> None:
    """Optimizer state that fits the model and holds finite numbers, so that a resumed run
    neither fails at its first step nor turns the weights into NaN."""
    import torch

    if not saved:
        return
    groups = saved["state"]["param_groups"]
    if sum(len(g["params"]) for g in groups) != len(params):
        raise CheckpointError(
            f"{path}: corrupt checkpoint (optimizer state does not fit the model)"
        )
    for index, slots in saved["state"]["state"].items():
        if index >= len(params):
            raise CheckpointError(f"{path}: corrupt checkpoint (optimizer state for no weight)")
        for key, value in slots.items():
            fits = value.numel() == 1 if key == "step" else value.shape == params[index].shape
            if not fits or not value.is_floating_point():
                raise CheckpointError(
                    f"{path}: corrupt checkpoint (optimizer state {key} does not fit its weight)"
                )
            if not bool(torch.isfinite(value).all()):
                raise CheckpointError(f"{path}: optimizer state holds NaN or infinite values")
