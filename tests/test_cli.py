"""The ``lstm-tui`` command: exit codes, one-line errors, ``--json`` shapes, train/resume/list,
predict/chat/eval, run in-process through ``main()`` and a few times as the real console script."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstm_tui.cli import main
from lstm_tui.core.model.lstm import LanguageModel
from lstm_tui.core.store import checkpoint, paths
from lstm_tui.core.text.tokenize import tokenize

SMALL = ["--preset", "seed-1layer", "--hidden", "32", "--embed", "32", "--quiet"]
TRAIN_KEYS = {
    "epochs",
    "steps",
    "seconds",
    "tokens_per_second",
    "train_loss",
    "window_accuracy",
    "full_accuracy",
    "val_perplexity",
    "checkpoint",
}
ANSWER_KEYS = {"input", "suggestions", "completion", "phrase", "continuation", "unknown", "ms"}


def strict_json(line: str):
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def cli(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors, --help, --version: as the script exits
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def last_json(out: str) -> dict:
    return strict_json(out.strip().splitlines()[-1])


def assert_one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lstm-tui") and "error" in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def corpus_1200(tmp_path_factory: pytest.TempPathFactory, make_text) -> Path:
    path = tmp_path_factory.mktemp("cli") / "stories.txt"
    path.write_text(make_text(1_200), encoding="utf-8")
    return path


@pytest.fixture
def junk_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x80\x04\x95 not a checkpoint at all " * 10)
    return path


# -- train ------------------------------------------------------------------------------------


def test_train_seed_preset_reaches_the_tutorials_accuracy(capsys, data_home: Path) -> None:
    args = ["train", "--preset", "seed", "--target-accuracy", "0.952", "--json", "--quiet"]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    summary = last_json(out)
    assert set(summary) >= TRAIN_KEYS
    assert summary["window_accuracy"] >= 0.952
    assert summary["stop_reason"] == "target"
    assert summary["val_perplexity"] is None  # the fable is too short to hold text out
    assert summary["seconds"] < 120 and summary["epochs"] >= 1  # ~45 steps, ~5 s on 2 CPU cores
    assert summary["seconds"] > 0 and summary["tokens_per_second"] > 0
    assert 0 < summary["train_loss"] < 2 and summary["full_accuracy"] >= 0.9
    saved = Path(summary["checkpoint"])
    assert saved == paths.checkpoints_dir() / "belling_the_cat.safetensors"
    assert saved.is_relative_to(data_home)
    info = checkpoint.info(saved)
    assert info.metrics["window_accuracy"] == summary["window_accuracy"]
    assert info.steps == summary["steps"] and info.model == "2×512"


def test_train_with_a_validation_split(capsys, corpus_1200: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "stories.safetensors"
    code, out, err = cli(
        capsys, "train", corpus_1200, *SMALL, "--epochs", "2", "--out", out_path, "--json"
    )
    assert code == 0, err
    summary = last_json(out)
    assert set(summary) >= TRAIN_KEYS
    assert isinstance(summary["val_perplexity"], float)
    assert 1 < summary["val_perplexity"] < 200 and math.isfinite(summary["val_perplexity"])
    assert summary["epochs"] == 2 and summary["stop_reason"] == "finished"
    assert summary["checkpoint"] == str(out_path) and out_path.is_file()
    # The mixture with the n-gram: fitted weights, and each part's figures.
    assert 0 < summary["best_epoch"] <= 2
    assert sum(summary["mix"].values()) == pytest.approx(1.0)
    parts = summary["components"]
    assert set(parts) == {"lstm", "ngram", "mixture"}
    assert parts["mixture"]["perplexity"] <= min(p["perplexity"] for p in parts.values()) + 1e-6
    assert parts["lstm"]["perplexity"] == pytest.approx(summary["val_perplexity"])

    code, out, err = cli(capsys, "eval", corpus_1200, "--checkpoint", out_path, "--json")
    assert code == 0, err
    result = strict_json(out)
    assert result["mix"] == pytest.approx(summary["mix"])
    assert result["perplexity"] == pytest.approx(result["components"]["mixture"]["perplexity"])
    for figures in result["components"].values():
        assert 0 <= figures["top1"] <= figures["top3"] <= 1

    off = tmp_path / "off.safetensors"
    code, out, err = cli(
        capsys, "train", corpus_1200, *SMALL, "--epochs", "1", "--mix", "off", "--out", off,
        "--json",
    )  # fmt: skip
    assert code == 0, err
    assert last_json(out)["mix"] is None and checkpoint.load(off).ngram is None
    code, _, err = cli(capsys, "train", corpus_1200, *SMALL, "--mix", "2")
    assert code == 2 and "mix must be" in err


def test_train_shows_progress_on_stderr_only(capsys, tmp_path: Path) -> None:
    args = ["train", "--preset", "seed-1layer", "--hidden", "32", "--embed", "32"]
    code, out, err = cli(capsys, *args, "--epochs", "3", "--out", tmp_path / "m.safetensors")
    assert code == 0
    assert out == ""  # no --json: nothing on stdout
    assert "training 1×32 LSTM" in err and "belling_the_cat.txt" in err
    assert "trained 3 epochs; saved" in err and "Traceback" not in err


def test_same_seed_same_result(capsys, tmp_path: Path) -> None:
    def run(seed: int, name: str) -> dict:
        out_path = tmp_path / f"{name}.safetensors"
        args = [*SMALL, "--epochs", "4", "--seed", str(seed), "--out", out_path, "--json"]
        code, out, err = cli(capsys, "train", *args)
        assert code == 0, err
        return last_json(out)

    first, second, other = run(7, "a"), run(7, "b"), run(8, "c")
    assert first["train_loss"] == second["train_loss"]
    assert first["window_accuracy"] == second["window_accuracy"]
    a = checkpoint.load(first["checkpoint"]).model.state_dict()
    b = checkpoint.load(second["checkpoint"]).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert other["train_loss"] != first["train_loss"]


def test_resume_continues(capsys, corpus_1200: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "resumable.safetensors"
    # Batch 8: a few steps an epoch. (At batch 32 an epoch of this text is one step, and
    # a model that starts from the words' frequencies barely moves its validation figure.)
    code, out, _ = cli(
        capsys, "train", corpus_1200, *SMALL, "--epochs", "2", "--lr", "0.02",
        "--batch-size", "8", "--out", out_path,
    )  # fmt: skip
    assert code == 0
    first = checkpoint.info(out_path)
    assert first.epochs == 2
    code, out, err = cli(
        capsys, "train", "--resume", out_path, "--epochs", "2", "--json", "--quiet"
    )
    assert code == 0, err
    summary = last_json(out)
    second = checkpoint.info(out_path)  # saved back over the file it resumed
    assert summary["epochs"] == 2 and summary["checkpoint"] == str(out_path)
    assert second.epochs == 4 and second.steps == first.steps + summary["steps"]
    assert summary["train_loss"] < first.metrics["train_loss"]
    assert second.metrics["val_perplexity"] < first.metrics["val_perplexity"]


def test_resume_from_another_folder(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fable_text: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "fable.txt").write_text(fable_text, encoding="utf-8")
    monkeypatch.chdir(work)
    code, _, err = cli(
        capsys, "train", "fable.txt", *SMALL, "--epochs", "1", "--out", "m.safetensors"
    )
    assert code == 0, err
    monkeypatch.chdir(tmp_path)  # the relative corpus path must still lead to the text
    code, _, err = cli(capsys, "train", "--resume", work / "m.safetensors", "--epochs", "1")
    assert code == 0, err
    assert checkpoint.info(work / "m.safetensors").epochs == 2


def test_interrupted_training_saves_and_exits_130(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = LanguageModel.loss
    calls = []

    def loss_then_ctrl_c(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_loss(self, *args, **kwargs)

    monkeypatch.setattr(LanguageModel, "loss", loss_then_ctrl_c)
    out_path = tmp_path / "interrupted.safetensors"
    code, _, err = cli(capsys, "train", *SMALL, "--epochs", "50", "--out", out_path)
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"lstm-tui: interrupted; the model so far is saved to {out_path}"
    ]
    assert checkpoint.info(out_path).steps == 3


def test_divergence_is_a_clear_error(capsys, tmp_path: Path) -> None:
    out_path = tmp_path / "diverged.safetensors"
    args = [*SMALL, "--lr", "1e6", "--clip", "0", "--optimizer", "sgd", "--out", out_path]
    code, out, err = cli(capsys, "train", *args)
    line = assert_one_line_error(code, out, err)
    assert "NaN or infinite" in line and str(out_path) in line
    loaded = checkpoint.load(out_path)  # the saved weights are finite (else this would refuse)
    assert all(bool(torch.isfinite(p).all()) for p in loaded.model.parameters())


# -- user errors: exit 2, one line on stderr, no traceback ---------------------------------


def test_user_errors(capsys, tmp_path: Path, junk_checkpoint: Path, write_text) -> None:
    binary = write_text(b"\x00\x01\x02binary", name="data.bin")
    tiny = write_text("the cat .")
    missing = tmp_path / "missing.txt"
    cases = [
        (["train", missing], "no such file"),
        (["train", binary], "binary"),
        (["train", tiny], "at least 4"),
        (["train", tmp_path], "folder"),
        (["train", "--preset", "huge"], "unknown preset"),
        (["train", "--lr", "abc"], "expected a number"),
        (["train", "--lr", "-1"], "lr must be"),
        (["train", "--lr", "nan"], "finite"),
        (["train", "--epochs", "0"], "at least 1"),
        (["train", "--dropout", "1.5"], "dropout"),
        (["train", "--target-accuracy", "2"], "target accuracy"),
        (["train", "--optimizer", "rmsprop"], "invalid choice"),
        (["train", "--device", "tpu"], "unknown device"),
        (["train", "--min-count", "1000"], "at least one word"),
        (["train", "--val-fraction", "1.5"], "validation fraction"),
        (["train", "--val-fraction", "1"], "validation fraction"),
        (["train", "--resume", junk_checkpoint], "not an lstm-tui checkpoint"),
        (["train", "--bogus-flag"], "unrecognized arguments"),
        (["predict", "the cat", "--checkpoint", junk_checkpoint], "not an lstm-tui checkpoint"),
        (["predict", "the cat", "--checkpoint", "no-such-model"], "no such checkpoint"),
        (["predict", "the cat", "--top-k", "0"], "at least 1"),
        (["predict", "the cat", "--temperature", "hot"], "expected a number"),
        (["predict"], "required"),
        (["chat", "--checkpoint", junk_checkpoint], "not an lstm-tui checkpoint"),
        (["eval", missing], "no such file"),
        (["eval", binary], "binary"),
        (["eval", tmp_path / "x.txt", "--checkpoint", junk_checkpoint], "checkpoint"),
        ([str(missing)], "no such file"),  # the app is not even started
    ]
    for args, words in cases:
        line = assert_one_line_error(*cli(capsys, *args))
        assert words in line, (args, line)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_on_a_machine_without_it(capsys) -> None:
    for args in (["train", "--device", "cuda"], ["predict", "the cat", "--device", "cuda"]):
        line = assert_one_line_error(*cli(capsys, *args))
        assert "cuda" in line and "not available" in line


# -- predict, chat, eval ----------------------------------------------------------------------


def test_predict_json(capsys) -> None:
    code, out, err = cli(
        capsys, "predict", "long ago , the", "--json", "--words", "6", "--temperature", "0"
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    answer = strict_json(lines[0])
    assert set(answer) == ANSWER_KEYS
    assert answer["input"] == "long ago , the"
    assert len(answer["suggestions"]) == 5
    assert all(set(s) == {"word", "probability"} for s in answer["suggestions"])
    assert answer["suggestions"][0]["word"] == "mice"
    probs = [s["probability"] for s in answer["suggestions"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert answer["continuation"].startswith("mice had a general council")
    assert answer["unknown"] == [] and answer["ms"] >= 0

    code, out, _ = cli(capsys, "predict", "The zebra and the Ca", "--json", "--top-k", "2")
    answer = strict_json(out)
    assert answer["completion"] == "Cat" and len(answer["suggestions"]) == 2
    assert "zebra" in answer["unknown"]
    assert answer["continuation"] is None  # --words 0 by default


def test_predict_json_has_the_phrase(capsys) -> None:
    # The fable model is sure of how this goes on: the phrase completes "mi" and goes on.
    code, out, err = cli(capsys, "predict", "long ago, the mi", "--json")
    assert code == 0, err
    answer = strict_json(out)
    assert answer["completion"] == "mice"
    assert answer["phrase"].startswith("mice had a")
    assert len(answer["phrase"].split()) >= 3
    # Where the model is unsure, no phrase: "the" is followed by many words in the fable.
    code, out, err = cli(capsys, "predict", "the ", "--json")
    assert code == 0 and strict_json(out)["phrase"] is None


def test_predict_plain(capsys) -> None:
    code, out, err = cli(capsys, "predict", "long ago , the", "--words", "3", "--temperature", "0")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split("\t")[0] == "mice" and float(lines[0].split("\t")[1]) > 0.5
    assert len(lines) == 6 and lines[-1] == "mice had a"
    code, out, err = cli(capsys, "predict", "the zebra")
    assert code == 0 and "not in the vocabulary: zebra" in err


def test_chat_json_answers_each_line(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = "long ago , the\nThe Ca\n\nthe zebra said\n"
    code, out, err = cli(
        capsys, "chat", "--json", "--words", "4", stdin=stdin, monkeypatch=monkeypatch
    )
    assert code == 0, err
    answers = [strict_json(line) for line in out.strip().splitlines()]
    assert [a["input"] for a in answers] == ["long ago , the", "The Ca", "", "the zebra said"]
    for a in answers:
        assert set(a) == ANSWER_KEYS
        assert all(set(s) == {"word", "probability"} for s in a["suggestions"])
        assert len(a["continuation"].split()) >= 3 and a["ms"] >= 0
    assert answers[0]["suggestions"][0]["word"] == "mice"
    assert answers[1]["completion"] == "Cat"
    assert answers[3]["unknown"] == ["zebra"]


def test_chat_plain_one_line_per_line_until_eof(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = "long ago\nwho is to bell\nthe zebra\n"
    code, out, err = cli(
        capsys, "chat", "--words", "5", "--temperature", "0", stdin=stdin, monkeypatch=monkeypatch
    )
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0] == "long ago, the mice had a"
    assert lines[1].startswith("who is to bell the cat")
    assert lines[2].startswith("the zebra")  # then 5 words of the model's, whatever they are
    assert len(tokenize(lines[2], lowercase=False)) == 2 + 5
    assert "not in the vocabulary: zebra" in err
    code, out, _ = cli(capsys, "chat", stdin="", monkeypatch=monkeypatch)
    assert code == 0 and out == ""


def test_eval_json(capsys, fable_path: Path, write_text) -> None:
    code, out, err = cli(capsys, "eval", fable_path, "--json")
    assert code == 0, err
    result = strict_json(out)
    assert {"perplexity", "top1", "top3", "oov_rate"} <= set(result)
    assert result["tokens"] == 204 and result["oov_rate"] == 0.0
    assert result["top1"] >= 0.9 and result["top3"] >= result["top1"]
    assert 1 <= result["perplexity"] < 2

    other = write_text("The cat saw a zebra and the mice ran off to the hills .")
    code, out, _ = cli(capsys, "eval", other, "--json")
    result = strict_json(out)
    assert 0 < result["oov_rate"] < 1 and result["perplexity"] > 1

    tiny = write_text("the cat .")  # too short for a 3-word window: still valid JSON
    code, out, err = cli(capsys, "eval", tiny, "--json")
    assert code == 0, err
    result = strict_json(out)
    assert result["tokens"] == 3 and result["window_accuracy"] is None

    code, out, _ = cli(capsys, "eval", fable_path)
    assert code == 0 and "perplexity" in out and "204 tokens" in out
    code, out, _ = cli(capsys, "eval", tiny)
    assert code == 0 and "window accuracy —" in out


def test_eval_needs_two_tokens(capsys, write_text) -> None:
    line = assert_one_line_error(*cli(capsys, "eval", write_text("cat")))
    assert "at least 2 tokens" in line


def test_list(capsys, tmp_path: Path) -> None:
    code, out, err = cli(capsys, "list")
    assert code == 0 and out == "" and "no checkpoints in" in err
    code, out, _ = cli(capsys, "list", "--json")
    assert code == 0 and strict_json(out) == []

    code, _, _ = cli(capsys, "train", *SMALL, "--epochs", "2")
    assert code == 0
    code, out, _ = cli(capsys, "list", "--json")
    [entry] = strict_json(out)
    assert entry["name"] == "belling_the_cat" and entry["steps"] == 2
    assert Path(entry["path"]) == paths.checkpoints_dir() / "belling_the_cat.safetensors"
    code, out, _ = cli(capsys, "list")
    assert out.startswith("belling_the_cat\t") and "1×32" in out
    code, out, err = cli(capsys, "predict", "the", "--checkpoint", "belling_the_cat", "--json")
    assert code == 0, err
    assert strict_json(out)["suggestions"]


# -- the real console script ------------------------------------------------------------------


def console_script() -> str:
    script = Path(sys.executable).parent / "lstm-tui"
    assert script.is_file(), "the package is not installed in this environment"
    return str(script)


def run_script(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [console_script(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ.copy(),
    )


def test_console_script_predict_and_chat_through_a_pipe() -> None:
    done = run_script("predict", "long ago , the", "--json")
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)["suggestions"][0]["word"] == "mice"
    done = run_script("chat", "--json", "--words", "3", stdin="the cat\nlong ago\n")
    assert done.returncode == 0, done.stderr
    assert [strict_json(line)["input"] for line in done.stdout.splitlines()] == [
        "the cat",
        "long ago",
    ]


def test_console_script_user_error_is_one_line(tmp_path: Path) -> None:
    done = run_script("train", str(tmp_path / "missing.txt"))
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"lstm-tui: error: {tmp_path / 'missing.txt'}: no such file"
    ]


# -- names, threads, the final line ---------------------------------------------------------


def test_a_name_means_the_same_checkpoint_in_every_command(
    capsys, data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out NAME saves into the checkpoints folder (as `list` shows); --resume NAME and
    --checkpoint NAME both find it there, from any working folder."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "train", *SMALL, "--epochs", "2", "--out", "mine", "--json")
    assert code == 0, err
    saved = paths.checkpoints_dir() / "mine.safetensors"
    assert last_json(out)["checkpoint"] == str(saved) and saved.is_file()
    assert not (tmp_path / "mine").exists()
    code, out, err = cli(capsys, "list")
    assert code == 0 and out.startswith("mine\t"), (out, err)
    code, out, err = cli(capsys, "train", "--resume", "mine", "--epochs", "1", "--json", "--quiet")
    assert code == 0, err
    assert last_json(out)["checkpoint"] == str(saved)
    assert checkpoint.info(saved).epochs == 3
    code, out, err = cli(capsys, "predict", "the mice", "--checkpoint", "mine", "--json")
    assert code == 0, err


def test_threads_are_chosen_or_taken_from_the_command_line(capsys, tmp_path: Path) -> None:
    args = [*SMALL, "--epochs", "1", "--device", "cpu", "--json", "--out", tmp_path / "t"]
    code, out, err = cli(capsys, "train", *args, "--threads", "1")
    assert code == 0, err
    assert last_json(out)["threads"] == 1 and torch.get_num_threads() == 1
    code, out, err = cli(capsys, "train", *args)
    from lstm_tui.core.runtime import usable_cores

    assert code == 0, err
    assert 1 <= last_json(out)["threads"] <= usable_cores()
    code, out, err = cli(capsys, "train", *args, "--threads", "0")
    assert_one_line_error(code, out, err)


def test_the_progress_line_never_shows_a_negative_eta(tmp_path: Path) -> None:
    from lstm_tui.cli.progress import ProgressBar
    from lstm_tui.core import format as fmt
    from lstm_tui.core.training.train import StepEvent

    stream = io.StringIO()
    bar = ProgressBar(stream)
    event = StepEvent(
        step=10, epoch=1, epoch_progress=1.0, progress=1.0, loss=1.0, accuracy=0.5,
        tokens_per_second=100.0, elapsed=2.0, eta=-1.2, lr=0.01,
    )  # fmt: skip
    bar.step(event)
    assert "ETA 00:00" in stream.getvalue() and "-1:59:59" not in stream.getvalue()
    assert fmt.duration(-1.2) == "00:00" and fmt.duration(None) == "--:--"
    assert " ep 1 step 10 " in stream.getvalue()  # the first epoch is done, as the JSON says
    early = StepEvent(**{**event.__dict__, "epoch_progress": 0.45, "progress": 0.45})
    bar._last_draw = 0.0
    bar.step(early)
    assert " ep 0.4 step 10 " in stream.getvalue()


def test_history_is_kept_in_the_checkpoint_and_exported(capsys, tmp_path: Path) -> None:
    out_path = tmp_path / "h.safetensors"
    code, out, err = cli(capsys, "train", *SMALL, "--epochs", "12", "--out", out_path, "--json")
    assert code == 0, err
    summary = last_json(out)
    records = checkpoint.load(out_path).history
    assert records and records[-1]["step"] == summary["steps"]
    assert records[-1]["window_accuracy"] == summary["window_accuracy"]
    assert [r["step"] for r in records] == sorted(r["step"] for r in records)
    code, out, err = cli(capsys, "history", out_path)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("step,epoch,train_loss,train_accuracy") and len(lines) == 1 + len(
        records
    )
    code, out, err = cli(capsys, "history", out_path, "--format", "json")
    assert code == 0 and strict_json(out) == records
    code, out, err = cli(capsys, "history", tmp_path / "nothing.safetensors")
    assert_one_line_error(code, out, err)


def test_a_checkpoint_without_history_still_loads(tmp_path: Path) -> None:
    session = checkpoint.load(paths.default_checkpoint())  # written before history was kept
    assert session.history == []
    saved = checkpoint.save(session, tmp_path / "copy.safetensors")
    assert checkpoint.load(saved).history == []
