"""Hostile files for the hardening tests: each generator writes into a folder it is given.

Checkpoints are made by editing a real one (its safetensors header or our JSON document in
it), so each differs from a good file in exactly one way.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

METADATA_KEY = "lstm_tui"
ESCAPES = ["\x1b[2J", "\x1b]0;pwned\x07", "\x1b[31mred", "bell\x07", "back\x08space"]


def split(path: Path) -> tuple[dict, bytes]:
    """A checkpoint's header (parsed) and the tensor bytes after it."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join(dst: Path, header_raw: bytes, body: bytes) -> Path:
    header_raw += b" " * (-len(header_raw) % 8)
    dst.write_bytes(struct.pack("<Q", len(header_raw)) + header_raw + body)
    return dst


def rewrite(
    src: Path,
    dst: Path,
    edit_header: Callable[[dict], object] | None = None,
    edit_meta: Callable[[dict], object] | None = None,
    meta_text: Callable[[str], str] | None = None,
) -> Path:
    """Copy a checkpoint, editing its header, our metadata, or our metadata's raw JSON text."""
    header, body = split(src)
    if edit_meta or meta_text:
        meta = json.loads(header["__metadata__"][METADATA_KEY])
        if edit_meta:
            edit_meta(meta)
        text = json.dumps(meta)
        header["__metadata__"][METADATA_KEY] = meta_text(text) if meta_text else text
    if edit_header:
        edit_header(header)
    return join(dst, json.dumps(header).encode(), body)


def with_header_text(src: Path, dst: Path, header_raw: bytes) -> Path:
    """The tensor bytes of ``src`` under any header text at all."""
    return join(dst, header_raw, split(src)[1])


def nan_weight(src: Path, dst: Path, prefix: str = "model.") -> Path:
    """A checkpoint whose first float32 weight (or optimizer slot, ``prefix="optim."``) is NaN,
    as a diverged run would write it."""
    header, body = split(src)
    name = next(
        k for k, v in header.items() if k.startswith(prefix) and v["dtype"] == "F32" and v["shape"]
    )
    start = header[name]["data_offsets"][0]
    body = body[:start] + struct.pack("<f", float("nan")) + body[start + 4 :]
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    dst.write_bytes(data[: 8 + n] + body)
    return dst


def escape_vocab(src: Path, dst: Path) -> Path:
    """The same model with terminal escape sequences as its most common words."""

    def edit(meta: dict) -> None:
        words = meta["vocab_words"]
        for i, word in enumerate(ESCAPES, start=1):
            words[i] = word
        meta["corpus"]["name"] = "\x1b]0;pwned\x07corpus"
        meta["corpus"]["path"] = None  # not found: the app names the corpus in a note

    return rewrite(src, dst, edit_meta=edit)


def _set(path: list[str], value: object) -> Callable[[dict], None]:
    def edit(meta: dict) -> None:
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def hostile_checkpoints(src: Path, folder: Path) -> dict[str, Path]:
    """One broken copy of ``src`` per way the issue found to crash a loader, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def put(name: str, **edits: object) -> None:
        out[name] = rewrite(src, folder / f"{name}.safetensors", **edits)  # type: ignore[arg-type]

    def number(path: list[str], text: str) -> dict:
        """``path`` set to a number that only JSON text can hold (1e400, Infinity)."""
        return {
            "edit_meta": _set(path, 987654321),
            "meta_text": lambda t: t.replace("987654321", text),
        }

    put("version-1e400", **number(["format_version"], "1e400"))
    put("steps-inf", **number(["progress", "steps"], "Infinity"))
    put("steps-1e400", **number(["progress", "steps"], "1e400"))
    put("seconds-nan", **number(["progress", "seconds"], "NaN"))

    def string_offsets(header: dict) -> None:
        name = next(k for k in header if k.startswith("model."))
        header[name]["data_offsets"] = ["0", header[name]["data_offsets"][1]]

    put("offsets-string", edit_header=string_offsets)

    def offsets_past_end(header: dict) -> None:
        name = next(k for k in header if k.startswith("model."))
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [begin + 10**12, end + 10**12]

    put("offsets-past-end", edit_header=offsets_past_end)

    def adaptive(cutoffs: object) -> Callable[[dict], None]:
        def edit(meta: dict) -> None:
            meta["model_config"].update(softmax="adaptive", cutoffs=cutoffs)

        return edit

    put("cutoffs-unsorted", edit_meta=adaptive([50, 10]))
    put("cutoffs-too-big", edit_meta=adaptive([10**9]))
    put("cutoffs-string", edit_meta=adaptive("12"))

    def slots_list(meta: dict) -> None:
        optimizer = meta["optimizer"] or {"kind": "adamw", "param_groups": []}
        meta["optimizer"] = {**optimizer, "slots": [["exp_avg"]]}

    put("slots-list", edit_meta=slots_list)
    put("train-config-list", edit_meta=_set(["train_config"], [1, 2]))
    put("seed-negative", edit_meta=_set(["train_config", "seed"], -1))
    put("corpus-path-dev-zero", edit_meta=_set(["corpus", "path"], "/dev/zero"))
    out["escape-vocab"] = escape_vocab(src, folder / "escape-vocab.safetensors")
    deep = b'{"__metadata__": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    name = "header-nested-200k"
    out[name] = with_header_text(src, folder / f"{name}.safetensors", deep)

    def deep_meta(header: dict) -> None:
        header["__metadata__"][METADATA_KEY] = "[" * 200_000 + "]" * 200_000

    put("meta-nested-200k", edit_header=deep_meta)
    out["nan-weight"] = nan_weight(src, folder / "nan-weight.safetensors")
    if any(k.startswith("optim.") for k in split(src)[0]):  # a file saved with its optimizer
        out["nan-optimizer"] = nan_weight(src, folder / "nan-optimizer.safetensors", "optim.")
    return out


def fifo(folder: Path, name: str = "pipe.txt") -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


def utf16(folder: Path, text: str, name: str = "utf16.txt", order: str = "utf-16") -> Path:
    """``text`` as a Windows editor saves "Unicode": UTF-16 with a byte order mark."""
    path = folder / name
    data = text.encode(order)
    if order != "utf-16":
        bom = b"\xff\xfe" if order.endswith("le") else b"\xfe\xff"
        data = bom + data
    path.write_bytes(data)
    return path
