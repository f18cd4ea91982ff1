"""Training on many processes: a 2-process gloo DDP step is the single-process step on the same
global batch, and `train --processes 2` stops every rank together and saves one checkpoint."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from conftest import synthetic_text

from lstm_tui.core.model.session import Session
from lstm_tui.core.store import checkpoint
from lstm_tui.core.text.corpus import Corpus
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.core.training.distributed import Distributed
from lstm_tui.core.training.train import Trainer

CONFIG = TrainConfig(seed=3, batch_size=4, bptt=10, device="cpu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_step(dist: Distributed | None) -> dict:
    """The first training step's inputs, loss and gradients, in this process."""
    torch.set_num_threads(1)
    corpus = Corpus.from_text(synthetic_text(2_000))
    torch.manual_seed(CONFIG.seed)
    session = Session.new(corpus, "seed-1layer", CONFIG, hidden=24, embed=24)
    # fp32: the equality below is to 1e-6, which bf16 arithmetic does not keep
    trainer = Trainer(session, corpus.train_ids, None, CONFIG, dist=dist, precision="fp32")
    x, y = trainer._stream_batches(np.random.default_rng(CONFIG.seed))[0]
    step = trainer._train_step()  # held: DDP's hooks live as long as its module
    loss, _, _ = step(x, y, None, True)
    loss.backward()
    grads = [p.grad.detach().clone() for p in session.model.parameters()]
    return {"x": x, "loss": loss.detach(), "grads": grads}


def _rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    dist = Distributed.from_env("cpu")
    try:
        torch.save(first_step(dist), Path(out) / f"rank{rank}.pt")
    finally:
        dist.close()


def test_two_gloo_ranks_take_the_single_process_step(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    single = first_step(None)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    # Stream b of the global batch goes to rank b % 2.
    for r, got in enumerate(ranks):
        assert torch.equal(got["x"], single["x"][r::2])
    # The mean of the ranks' losses is the loss on the whole batch (equal shares).
    mean_loss = (ranks[0]["loss"] + ranks[1]["loss"]) / 2
    assert mean_loss.item() == pytest.approx(single["loss"].item(), abs=1e-6)
    # After DDP's all-reduce every rank holds the whole batch's gradient.
    for got in ranks:
        for a, b in zip(got["grads"], single["grads"], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    return subprocess.run(
        [sys.executable, "-m", "lstm_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_train_on_two_processes_stops_together_and_saves_once(tmp_path: Path, write_text) -> None:
    corpus = write_text(synthetic_text(3_000))
    out = tmp_path / "run" / "model.safetensors"
    common = ("--preset", "seed-1layer", "--hidden", "32", "--embed", "32", "--device", "cpu")
    done = run_cli(
        "train", str(corpus), "--processes", "2", "--max-seconds", "5", "--epochs", "100000",
        "--batch-size", "8", "--out", str(out), "--json", "--quiet", *common,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone writes the summary
    summary = lines[0]
    assert summary["world_size"] == 2 and summary["stop_reason"] == "time"
    assert summary["steps"] > 0 and summary["checkpoint"] == str(out)
    # One checkpoint, nothing half-written beside it, and one TensorBoard run (rank 0 logs).
    assert sorted(p.name for p in out.parent.iterdir() if p.is_file()) == ["model.safetensors"]
    assert len(list((out.parent / "runs").glob("*/*"))) == 1
    session = checkpoint.load(out)
    assert session.progress.steps == summary["steps"]
    assert session.train_config.batch_size == 8  # the global batch: resumable anywhere

    # The same checkpoint resumes on one process.
    resumed = run_cli(
        "train", "--resume", str(out), "--max-seconds", "1", "--json", "--quiet",
        "--device", "cpu",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.splitlines()[-1])["world_size"] == 1
    assert checkpoint.load(out).progress.steps > summary["steps"]


def test_a_batch_the_processes_cannot_share_or_bad_text_is_one_clear_line(write_text) -> None:
    corpus = write_text(synthetic_text(500))
    done = run_cli("train", str(corpus), "--processes", "3", "--batch-size", "8", "--quiet")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "batch of 8 streams cannot be shared equally by 3 processes" in done.stderr
    # Bad text is found before any process starts: one line, not one per rank.
    short = write_text("two words\n")
    done = run_cli("train", str(short), "--processes", "2", "--batch-size", "8", "--quiet")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "only 2 tokens" in done.stderr


def test_ctrl_c_stops_every_rank_and_rank_0_saves(tmp_path: Path, write_text) -> None:
    corpus = write_text(synthetic_text(3_000))
    out = tmp_path / "model.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    command = [
        sys.executable, "-m", "lstm_tui", "train", str(corpus), "--processes", "2",
        "--epochs", "100000", "--preset", "seed-1layer", "--hidden", "32", "--embed", "32",
        "--device", "cpu", "--out", str(out),
    ]  # fmt: skip
    # A session of its own, as a terminal's foreground job: Ctrl-C goes to every process in it.
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        assert process.stderr is not None
        lines = []
        while not any("tok/s" in line for line in lines):  # a step's progress: all are training
            line = process.stderr.readline()
            assert line, "".join(lines)[-3000:]
            lines.append(line)
        os.killpg(process.pid, signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait(timeout=90) == 130, rest[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "interrupted; the model so far is saved to" in rest
    assert "Traceback" not in rest
    assert checkpoint.load(out).progress.steps > 0


def test_precision_bf16_only_where_the_hardware_computes_in_it(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstm_tui.cli import main
    from lstm_tui.core.errors import ConfigError
    from lstm_tui.core.model import device
    from lstm_tui.core.model.device import resolve_precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)  # AMX or AVX-512 BF16
    assert resolve_precision("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu) is None and resolve_precision("fp32", cpu) is None
    with pytest.raises(ConfigError, match="bf16 training needs a GPU or CPU"):
        resolve_precision("bf16", cpu)
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("fp8", cpu)
    assert main(["train", "--precision", "bf16", "--device", "cpu", "--epochs", "1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
