"""Checkpoints: exact round trips, resumable training, and one clear line for every bad file,
including ones that carry a pickle payload (which must never run)."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import nan_weight
from safetensors.torch import save_file

from lstm_tui.core.errors import CheckpointError, UserError
from lstm_tui.core.model.lstm import LanguageModel
from lstm_tui.core.serving.predict import Predictor
from lstm_tui.core.store import checkpoint, paths
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.train import StepEvent, Trainer

PROMPTS = ["long ago , the ", "The Ca", "the zebra said ", "", "who is to bell the c"]


@pytest.fixture(scope="module")
def trained(fable: Corpus, make_session, tmp_path_factory: pytest.TempPathFactory):
    """A small model trained a little on the fable (with optimizer state), saved once."""
    session = make_session(fable, seed=3, hidden=48, embed=48)
    list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=8, lr=0.02, seed=3)).run())
    path = tmp_path_factory.mktemp("ckpt") / "fable-small.safetensors"
    assert checkpoint.save(session, path) == path
    return session, path


def rewrite(src: Path, dst: Path, edit_header=None, edit_meta=None) -> Path:
    """Copy a checkpoint, editing its safetensors header or our metadata inside it."""
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    if edit_meta:
        meta = json.loads(header["__metadata__"][checkpoint.METADATA_KEY])
        edit_meta(meta)
        header["__metadata__"][checkpoint.METADATA_KEY] = json.dumps(meta)
    if edit_header:
        edit_header(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    return dst


def refused(path: Path, *words: str) -> str:
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(path)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message, message
    return message


def test_round_trip_is_exact(trained) -> None:
    session, path = trained
    loaded = checkpoint.load(path, device=session.device.type)  # where it trained (cpu or cuda)
    original, again = session.model.state_dict(), loaded.model.state_dict()
    assert original.keys() == again.keys()
    for key in original:
        assert torch.equal(original[key], again[key]), key
    assert loaded.config == session.config and loaded.config.tied
    assert loaded.model.decoder.weight is loaded.model.embedding.weight  # tying survives
    assert loaded.vocab.words == session.vocab.words
    assert np.array_equal(loaded.vocab.counts, session.vocab.counts)
    assert loaded.train_config == session.train_config
    assert loaded.progress == session.progress
    assert loaded.metrics == session.metrics and loaded.metrics["window_accuracy"] > 0
    assert loaded.corpus == session.corpus
    assert loaded.source == path and loaded.is_saved
    assert session.is_saved and session.source == path
    # Identical weights, identical predictions.
    before, after = Predictor(session), Predictor(loaded)
    for prompt in PROMPTS:
        assert after.suggest(prompt) == before.suggest(prompt)
    assert after.continue_text("the cat", 8) == before.continue_text("the cat", 8)


def test_optimizer_state_is_restored(trained) -> None:
    session, path = trained
    loaded = checkpoint.load(path)
    saved, got = session.optimizer_state, loaded.optimizer_state
    assert got["kind"] == saved["kind"] == "adamw"
    assert got["lr_scale"] == pytest.approx(saved["lr_scale"])
    assert got["state"]["state"].keys() == saved["state"]["state"].keys()
    for index, slots in saved["state"]["state"].items():
        for key, value in slots.items():
            assert torch.equal(got["state"]["state"][index][key], value.cpu()), (index, key)


def _continue(session, fable: Corpus) -> list[float]:
    config = TrainConfig(epochs=4, lr=0.02, seed=4)
    events = Trainer(session, fable.train_ids, config=config, report_interval=0).run()
    return [e.loss for e in events if isinstance(e, StepEvent)]


def test_a_loaded_checkpoint_resumes_training_exactly(
    fable: Corpus, make_session, tmp_path: Path
) -> None:
    session = make_session(fable, seed=3)
    list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=6, lr=0.02)).run())
    full = checkpoint.save(session, tmp_path / "full.safetensors")
    light = checkpoint.save(session, tmp_path / "light.safetensors", include_optimizer=False)
    assert light.stat().st_size < full.stat().st_size

    resumed = checkpoint.load(full)
    without_optimizer = checkpoint.load(light)
    assert without_optimizer.optimizer_state is None
    from_file = _continue(resumed, fable)
    from_fresh_optimizer = _continue(without_optimizer, fable)
    in_memory = _continue(session, fable)  # the session that was saved, going on
    assert from_file == pytest.approx(in_memory, rel=1e-6)
    assert from_fresh_optimizer != pytest.approx(in_memory, rel=1e-6)
    assert resumed.progress.steps == session.progress.steps == 10
    assert resumed.progress.epochs == 10
    again = checkpoint.load(checkpoint.save(resumed, tmp_path / "again.safetensors"))
    assert again.progress.steps == 10 and again.optimizer_state is not None


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    raw = pickle.dumps({"weights": Payload()})
    pickle.loads(raw)  # the payload is real: unpickling it makes the marker ...
    assert marker.exists()
    marker.unlink()
    torch_file = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": Payload()}, torch_file)
    torch.load(torch_file, weights_only=False)  # ... and so does torch.load without the guard
    assert marker.exists()
    marker.unlink()

    candidates = {
        "torch.safetensors": torch_file.read_bytes(),
        "model.pt": torch_file.read_bytes(),
        "raw.safetensors": raw,
        "raw.pkl": raw,
    }
    for name, data in candidates.items():
        path = tmp_path / name
        path.write_bytes(data)
        refused(path, "not an lstm-tui checkpoint")
        with pytest.raises(CheckpointError):
            checkpoint.info(path)
    assert [c.path.name for c in checkpoint.list_checkpoints(tmp_path)] == []
    assert not marker.exists()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "noise.safetensors"
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    refused(path, "not an lstm-tui checkpoint")


def test_empty_missing_and_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    refused(empty, "too short")
    refused(tmp_path / "missing.safetensors", "no such checkpoint")
    refused(tmp_path, "is a folder, not a checkpoint file")


@pytest.mark.parametrize("keep", [0.999, 0.7, 0.3, 0.01])
def test_truncated(trained, tmp_path: Path, keep: float) -> None:
    _, path = trained
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: int(len(data) * keep)])
    message = refused(cut)
    assert "truncated" in message or "not an lstm-tui checkpoint" in message


def test_foreign_safetensors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(3, 3)}, plain)
    refused(plain, "no lstm-tui metadata")
    other = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, other, metadata={"format": "pt"})
    refused(other, "no lstm-tui metadata")


def test_corrupt_metadata(trained, tmp_path: Path) -> None:
    _, path = trained

    def garble(header):
        header["__metadata__"][checkpoint.METADATA_KEY] = "{not json"

    refused(rewrite(path, tmp_path / "a.safetensors", edit_header=garble), "corrupt")

    def other_format(meta):
        meta["format"] = "someone-else"

    refused(rewrite(path, tmp_path / "b.safetensors", edit_meta=other_format), "corrupt")

    def no_vocab(meta):
        del meta["vocab_words"]

    refused(rewrite(path, tmp_path / "c.safetensors", edit_meta=no_vocab), "corrupt")

    def wrong_types(meta):
        meta["corpus"] = 5

    odd = rewrite(path, tmp_path / "d.safetensors", edit_meta=wrong_types)
    refused(odd, "corrupt")
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.info(odd)


def test_a_newer_format_version(trained, tmp_path: Path) -> None:
    _, path = trained

    def future(meta):
        meta["format_version"] = 999

    message = refused(rewrite(path, tmp_path / "new.safetensors", edit_meta=future), "newer")
    assert "999" in message and "upgrade" in message


def test_weights_that_do_not_match_the_config(trained, tmp_path: Path) -> None:
    _, path = trained

    def narrower(meta):
        meta["model_config"]["hidden"] = 32

    refused(rewrite(path, tmp_path / "h.safetensors", edit_meta=narrower), "do not match")

    def deeper(meta):
        meta["model_config"]["layers"] = 2

    refused(rewrite(path, tmp_path / "l.safetensors", edit_meta=deeper), "do not match")

    def huge(meta):  # ~34 GB of float32 if it were built: refused from the shapes alone
        meta["model_config"].update(layers=16, hidden=8192, embed=8192)

    def built_for_real(self, config):
        if torch.get_default_device().type != "meta":
            raise AssertionError("a model of a config that does not match was built")
        real_init(self, config)

    real_init = LanguageModel.__init__
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LanguageModel, "__init__", built_for_real)
        refused(rewrite(path, tmp_path / "x.safetensors", edit_meta=huge), "do not match")
        refused(rewrite(path, tmp_path / "h2.safetensors", edit_meta=narrower), "do not match")

    def shorter_vocab(meta):
        meta["vocab_words"] = meta["vocab_words"][:-1]

    refused(rewrite(path, tmp_path / "v.safetensors", edit_meta=shorter_vocab))


def test_nan_weights(trained, tmp_path: Path) -> None:
    _, path = trained
    refused(nan_weight(path, tmp_path / "nan.safetensors"), "NaN")


def test_save_is_atomic(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = trained
    folder = tmp_path / "saves"
    path = checkpoint.save(session, folder / "model.safetensors")  # makes the folder
    good = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    for name in ("replace", "fsync"):
        with monkeypatch.context() as patch:
            patch.setattr(checkpoint.os, name, disk_full)
            with pytest.raises(CheckpointError) as caught:
                checkpoint.save(session, path)
        assert "cannot save" in str(caught.value) and "No space left" in str(caught.value)
        assert path.read_bytes() == good  # the previous file is intact ...
        assert os.listdir(folder) == ["model.safetensors"]  # ... and no temp file is left

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(session, path)
    assert path.read_bytes() == good and os.listdir(folder) == ["model.safetensors"]
    monkeypatch.undo()

    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()  # not mkstemp's private 0600
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.raises(CheckpointError, match="cannot save"):
        checkpoint.save(session, blocked / "model.safetensors")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_list_checkpoints_in_the_user_folder(trained, data_home: Path, tmp_path: Path) -> None:
    session, path = trained
    folder = paths.checkpoints_dir()
    assert folder.is_relative_to(data_home)
    assert checkpoint.list_checkpoints() == []  # no folder yet

    def older(meta):
        meta["created"] = "2001-01-01T00:00:00+00:00"

    folder.mkdir(parents=True)
    rewrite(path, folder / "old.safetensors", edit_meta=older)
    checkpoint.save(session, folder / "new.safetensors")
    (folder / "junk.safetensors").write_bytes(b"junk junk junk")
    (folder / "notes.txt").write_text("not a checkpoint")

    def odd(meta):
        meta["corpus"] = 5
        meta["progress"] = {"steps": "many"}

    rewrite(path, folder / "odd.safetensors", edit_meta=odd)
    found = checkpoint.list_checkpoints()
    assert [c.name for c in found][:2] == ["new", "old"]
    new = found[0]
    assert new.path == folder / "new.safetensors"
    assert new.corpus == "belling_the_cat.txt" and new.model == "1×48"
    assert new.vocab_size == 113 and new.params == session.model.num_parameters()
    assert new.steps == session.progress.steps and new.epochs == session.progress.epochs
    assert new.metrics == session.metrics
    assert new.size_bytes == (folder / "new.safetensors").stat().st_size
    assert paths.checkpoint_path("new") == folder / "new.safetensors"
    assert paths.checkpoint_path("new.safetensors") == folder / "new.safetensors"
    assert paths.checkpoint_path(str(path)) == path
    assert checkpoint.list_checkpoints(tmp_path / "nowhere") == []


def test_the_default_checkpoint_loads() -> None:
    path = paths.default_checkpoint()
    assert path.is_file() and path.name == "fable-seed.safetensors"
    info = checkpoint.info(path)
    assert (info.model, info.vocab_size, info.corpus) == ("2×512", 113, "belling_the_cat.txt")
    assert info.metrics["window_accuracy"] >= 0.952
    session = checkpoint.load(path, device="cpu")
    assert session.device == torch.device("cpu")
    assert session.model.num_parameters() == info.params
    assert session.summary() == "2×512 LSTM · 4.3M params"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_trained_on_a_gpu_loads_on_the_cpu(fable: Corpus, make_session, tmp_path) -> None:
    session = make_session(fable, device="cuda")
    list(Trainer(session, fable.train_ids, config=TrainConfig(epochs=3, device="cuda")).run())
    assert session.device.type == "cuda"
    loaded = checkpoint.load(checkpoint.save(session, tmp_path / "gpu.safetensors"), device="cpu")
    assert loaded.device == torch.device("cpu")
    for key, value in session.model.state_dict().items():
        assert torch.equal(value.cpu(), loaded.model.state_dict()[key])
    resumed = list(
        Trainer(loaded, fable.train_ids, config=TrainConfig(epochs=2, device="cpu")).run()
    )
    assert resumed[-1].reason == "finished"
