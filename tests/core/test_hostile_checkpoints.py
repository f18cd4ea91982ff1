"""Checkpoints from anywhere: every malformed one is one CheckpointError line in every reader,
listing never stops on one, saves never replace what they must not, and a hypothesis fuzz of
header and metadata mutations lets nothing else escape."""

from __future__ import annotations

import json
import math
import os
import stat
import time
from pathlib import Path

import pytest
import torch
from hostile import ESCAPES, hostile_checkpoints, rewrite, split, with_header_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core.errors import CheckpointError
from lstm_tui.core.store import checkpoint
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import Trainer


@pytest.fixture(scope="module")
def small(fable, make_session, tmp_path_factory: pytest.TempPathFactory):
    """A tiny model trained one epoch (so it has optimizer state), saved once."""
    session = make_session(fable, seed=5, hidden=16, embed=16)
    list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=1, seed=5)).run())
    path = tmp_path_factory.mktemp("small") / "small.safetensors"
    checkpoint.save(session, path)
    return session, path


@pytest.fixture(scope="module")
def hostile(small, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile_checkpoints(small[1], tmp_path_factory.mktemp("hostile"))


READABLE = {"escape-vocab", "corpus-path-dev-zero"}  # well-formed; harmful only if misused
TENSOR_DATA = {
    "nan-weight",
    "nan-optimizer",
}  # the header is fine: only loading the tensors finds it


def test_every_hostile_checkpoint_is_one_line_in_every_reader(hostile) -> None:
    for name, path in hostile.items():
        if name in READABLE:
            checkpoint.info(path)
            checkpoint.load(path)
            continue
        readers = (checkpoint.read_header, checkpoint.info, checkpoint.load)
        for read in readers[2:] if name in TENSOR_DATA else readers:
            with pytest.raises(CheckpointError) as caught:
                read(path)
            message = str(caught.value)
            assert "\n" not in message and str(path) in message, (name, message)


def test_what_the_schema_says_about_each(hostile) -> None:
    def why(name: str) -> str:
        with pytest.raises(CheckpointError) as caught:
            checkpoint.info(hostile[name])
        return str(caught.value)

    assert "format_version" in why("version-1e400")
    assert "progress.steps" in why("steps-inf") and "progress.steps" in why("steps-1e400")
    assert "progress.seconds" in why("seconds-nan")
    assert "data_offsets" in why("offsets-string")
    assert "truncated" in why("offsets-past-end")
    assert "cutoffs" in why("cutoffs-unsorted") and "cutoffs" in why("cutoffs-too-big")
    assert "cutoffs must be a list" in why("cutoffs-string")
    assert "optimizer.slots must be an object" in why("slots-list")
    assert "train_config must be an object" in why("train-config-list")
    assert "train_config.seed" in why("seed-negative")
    assert "not an lstm-tui checkpoint" in why("header-nested-200k")
    assert "metadata cannot be read" in why("meta-nested-200k")
    with pytest.raises(CheckpointError, match="optimizer state holds NaN"):
        checkpoint.load(hostile["nan-optimizer"])


def test_escape_words_load_unchanged(hostile) -> None:
    """Words are data: they load as they are; showing them is the printer's job (visible)."""
    session = checkpoint.load(hostile["escape-vocab"])
    assert session.vocab.words[1 : 1 + len(ESCAPES)] == ESCAPES


def test_listing_shows_unreadable_files_and_never_stops(small, hostile, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in hostile.values():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "good.safetensors").write_bytes(small[1].read_bytes())
    os.mkfifo(folder / "fifo.safetensors")
    (folder / "folder.safetensors").mkdir()
    found, bad = checkpoint.scan_checkpoints(folder)
    assert {c.name for c in found} == {"good", *READABLE, *TENSOR_DATA}
    unreadable = {u.name: u.error for u in bad}
    assert set(unreadable) == (set(hostile) - READABLE - TENSOR_DATA) | {"fifo", "folder"}
    assert "FIFO" in unreadable["fifo"] and "folder" in unreadable["folder"]
    assert [c.name for c in checkpoint.list_checkpoints(folder)] == [c.name for c in found]


def test_a_fifo_or_device_is_named_for_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(CheckpointError, match="FIFO"):
        checkpoint.load(fifo)
    with pytest.raises(CheckpointError, match="is a device, not a checkpoint file"):
        checkpoint.load("/dev/zero")
    assert time.monotonic() - started < 5


# -- saves that cannot hurt -------------------------------------------------------------------


def test_save_refuses_non_finite_weights_and_keeps_the_good_file(small, tmp_path: Path) -> None:
    _, src = small
    target = tmp_path / "model.safetensors"
    target.write_bytes(src.read_bytes())
    broken = checkpoint.load(src)
    with torch.no_grad():
        broken.model.lstm.weight_hh_l0[0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        checkpoint.save(broken, target)
    assert target.read_bytes() == src.read_bytes()
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_save_never_replaces_a_device_fifo_or_folder(small, tmp_path: Path) -> None:
    session, _ = small
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    targets = [fifo, folder]
    node = tmp_path / "null.safetensors"  # a device node of our own, never the real /dev/null
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        targets.append(node)
    except PermissionError:  # not root: a FIFO and a folder make the same point
        pass
    for target in targets:
        with pytest.raises(CheckpointError, match="replaces only a regular file"):
            checkpoint.save(session, target)
        with pytest.raises(CheckpointError, match="replaces only a regular file"):
            checkpoint.check_target(target)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and folder.is_dir()
    if node.exists():
        assert stat.S_ISCHR(os.stat(node).st_mode)


def test_check_target_refuses_the_corpus_and_an_unwritable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat")
    link = tmp_path / "same.safetensors"
    os.link(corpus, link)  # another name, the same file
    for target in (corpus, link):
        with pytest.raises(CheckpointError, match="is the corpus"):
            checkpoint.check_target(target, protect=(corpus,))
    assert checkpoint.check_target(tmp_path / "new" / "m.safetensors", (corpus,)).parent.is_dir()
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.raises(CheckpointError, match="cannot save there"):
        checkpoint.check_target(blocked / "m.safetensors")

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", read_only)
    with pytest.raises(CheckpointError, match="Read-only"):
        checkpoint.check_target(tmp_path / "m.safetensors")
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="not enough free space"):
        checkpoint.check_target(tmp_path / "m.safetensors", size_hint=1 << 62)


def test_stale_temp_files_of_dead_writers_are_removed(small, tmp_path: Path) -> None:
    session, _ = small
    old = time.time() - 2 * checkpoint.STALE_SECONDS
    dead_pid = 2**22 + 12345  # above Linux's pid_max default: no such process
    stale = tmp_path / f".lstm-tui-{dead_pid}.m.safetensors.abc123.tmp"
    mine = tmp_path / f".lstm-tui-{os.getpid()}.m.safetensors.def456.tmp"  # a live writer
    fresh = tmp_path / f".lstm-tui-{dead_pid}.m.safetensors.ghi789.tmp"  # may be in use
    other = tmp_path / ".someone-else.tmp"
    first_release = tmp_path / ".m.safetensors.k2j4h5.tmp"  # lstm-tui 0.1's name: no pid
    for path in (stale, mine, fresh, other, first_release):
        path.write_bytes(b"x" * 100)
    for path in (stale, mine, other, first_release):
        os.utime(path, (old, old))
    checkpoint.save(session, tmp_path / "m.safetensors")
    assert not stale.exists() and not first_release.exists()
    assert mine.exists() and fresh.exists() and other.exists()


# -- fuzz -------------------------------------------------------------------------------------

EDGES = [math.inf, -math.inf, math.nan, 1e300, -1, 0, 2**64, 2**31, -(2**63), True, "", "x", [], {}]
leaves = (
    st.sampled_from(EDGES)
    | st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = leaves | st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document, as a path of keys and indexes."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:4]):  # the first few words/dims are enough
            found += _paths(value, (*prefix, i))
    return found


def _put(node: object, path: tuple, value: object) -> object:
    if not path:
        return value
    *parents, last = path
    for key in parents:
        node = node[key]  # type: ignore[index]
    node[last] = value  # type: ignore[index]
    return None


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzz_header_and_metadata(small, tmp_path: Path, data: st.DataObject) -> None:
    _, src = small
    header, _ = split(src)
    meta = json.loads(header["__metadata__"][checkpoint.METADATA_KEY])
    target = tmp_path / "fuzz.safetensors"
    how = data.draw(st.sampled_from(["meta"] * 3 + ["header"] * 2 + ["meta-text", "header-text"]))
    if how in ("meta", "header"):
        document = meta if how == "meta" else header
        for _ in range(data.draw(st.integers(1, 3))):
            places = [p for p in _paths(document) if p and p[:1] != ("__metadata__",)]
            place = data.draw(st.sampled_from(places))
            if data.draw(st.booleans()):
                parent = document
                for key in place[:-1]:
                    parent = parent[key]
                del parent[place[-1]]  # a missing field
            else:
                _put(document, place, data.draw(json_values))
        meta_copy = meta

        def edit_meta(m: dict) -> None:
            m.clear()
            m.update(meta_copy)

        def edit_header(h: dict) -> None:
            kept = h["__metadata__"]
            h.clear()
            h.update(header)
            h["__metadata__"] = kept

        rewrite(src, target, edit_header=edit_header, edit_meta=edit_meta)
    else:
        raw = json.dumps(meta) if how == "meta-text" else json.dumps(header)
        at = data.draw(st.integers(0, len(raw) - 1))
        junk = data.draw(st.text(min_size=0, max_size=4))
        raw = raw[:at] + junk + raw[at + data.draw(st.integers(0, 4)) :]
        if how == "meta-text":
            rewrite(
                src,
                target,
                edit_header=lambda h: h["__metadata__"].__setitem__(checkpoint.METADATA_KEY, raw),
            )
        else:
            with_header_text(src, target, raw.encode("utf-8", "surrogatepass"))
    try:
        checkpoint.list_checkpoints(tmp_path)
        checkpoint.load(target)
    except CheckpointError as e:
        assert "\n" not in str(e)
