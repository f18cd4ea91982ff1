"""TensorBoard logs of a run, read back by the ``tensorboard`` package's own reader."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from lstm_tui.cli import main
from lstm_tui.core.store import checkpoint

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package (test extra) reads the event files back",
)

SMALL = ["--preset", "seed-1layer", "--hidden", "32", "--embed", "32", "--quiet", "--threads", "1"]


def cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_run(folder: Path):
    (run,) = [p for p in folder.glob("*/*") if p.is_dir()]  # <name>/<time>
    reader = event_accumulator.EventAccumulator(
        str(run), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    )
    reader.Reload()
    return reader


def scalars(reader, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in reader.Scalars(tag)}


def texts(reader, tag: str) -> dict[int, str]:
    return {e.step: e.tensor_proto.string_val[0].decode() for e in reader.Tensors(tag)}


def test_a_fable_run_logs_scalars_and_sample_text_at_each_evaluation(
    capsys, tmp_path: Path
) -> None:
    out = tmp_path / "fable.safetensors"
    code, _, err = cli(capsys, "train", *SMALL, "--epochs", "12", "--out", out)
    assert code == 0, err
    reader = read_run(tmp_path / "runs")  # next to the checkpoint by default
    records = checkpoint.load(out).history
    eval_steps = [r["step"] for r in records]
    assert eval_steps and eval_steps[-1] == 12
    window = scalars(reader, "eval/window_accuracy")
    assert sorted(window) == eval_steps
    for record in records:
        assert window[record["step"]] == pytest.approx(record["window_accuracy"], rel=1e-6)
    samples = texts(reader, "sample/text_summary")
    assert sorted(samples) == eval_steps  # one sample at each evaluation
    assert all(s.startswith("long ago, the → ") and len(s) > 20 for s in samples.values())
    steps = sorted(scalars(reader, "train/loss"))
    assert steps[-1] == 12 and steps == sorted(scalars(reader, "train/grad_norm"))
    assert all(v > 0 for v in scalars(reader, "train/lr").values())
    assert all(v > 0 for v in scalars(reader, "train/tokens_per_second").values())
    assert texts(reader, "result/text_summary")[12].startswith("finished")


def test_a_run_with_held_out_text_logs_every_part_of_the_mixture(
    capsys, tmp_path: Path, write_text, make_text
) -> None:
    corpus = write_text(make_text(4000), "mixed.txt")
    logs = tmp_path / "logs"
    out = tmp_path / "mixed.safetensors"
    code, _, err = cli(capsys, "train", corpus, *SMALL, "--epochs", "2", "--out", out,
                       "--logdir", logs)  # fmt: skip
    assert code == 0, err
    assert not (tmp_path / "runs").exists()  # --logdir, not next to the checkpoint
    assert [p.name for p in logs.iterdir()] == ["mixed"]
    reader = read_run(logs)
    tags = set(reader.Tags()["scalars"])
    for tag in ("eval/val_perplexity", "eval/val_accuracy", "perplexity/mixture",
                "perplexity/lstm", "perplexity/ngram", "mix/lstm", "mix/ngram"):  # fmt: skip
        assert tag in tags, tag
    records = checkpoint.load(out).history
    mixture = scalars(reader, "perplexity/mixture")
    for record in records:
        assert mixture[record["step"]] == pytest.approx(record["mixture_perplexity"], rel=1e-6)
        assert scalars(reader, "mix/lstm")[record["step"]] == pytest.approx(
            record["mix_lstm"], abs=1e-4
        )  # the run's last figures are re-measured (and the weights refitted) at its last step
    assert set(texts(reader, "sample/text_summary")) >= {r["step"] for r in records}
    # Keystrokes saved (measured where there is held-out text) reach TensorBoard too.
    ksr = scalars(reader, "eval/ksr")
    assert ksr and all(r.get("ksr") is not None for r in records)
    for record in records:
        assert ksr[record["step"]] == pytest.approx(record["ksr"], rel=1e-6)


def test_no_log_writes_no_events(capsys, tmp_path: Path) -> None:
    out = tmp_path / "quiet.safetensors"
    code, _, err = cli(capsys, "train", *SMALL, "--epochs", "2", "--out", out, "--no-log")
    assert code == 0, err
    assert not (tmp_path / "runs").exists()


def test_history_of_two_checkpoints_is_one_table_with_a_run_column(capsys, tmp_path: Path) -> None:
    for name, epochs in (("a", "6"), ("b", "12")):
        out = tmp_path / f"{name}.safetensors"
        code, _, err = cli(capsys, "train", *SMALL, "--epochs", epochs, "--out", out, "--no-log")
        assert code == 0, err
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    code, text, err = cli(capsys, "history", a, b, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.startswith("run,step,epoch,")
    expected = [("a", r["step"]) for r in checkpoint.read_history(a)]
    expected += [("b", r["step"]) for r in checkpoint.read_history(b)]
    assert [(r["run"], int(r["step"])) for r in rows] == expected
    code, text, err = cli(capsys, "history", a, b, "--format", "json")
    assert code == 0 and {r["run"] for r in __import__("json").loads(text)} == {"a", "b"}
