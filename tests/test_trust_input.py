"""Issue 16, items 9 to 16: input from anywhere is checked at the door.

Each test names its item; each failed before its fix (a raw escape, a traceback, a hang, a
process left running, memory without bound, stale tokens, a silent wrong answer).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from hostile import rewrite
from test_cli import SMALL, assert_one_line_error, cli

from lstm_tui import cli as cli_module
from lstm_tui.core.errors import CorpusError
from lstm_tui.core.store import settings
from lstm_tui.core.text import token_cache
from lstm_tui.core.text.token_cache import load_corpus
from lstm_tui.core.text.vocab import MAX_VOCAB_WORDS, Vocabulary

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, make_text) -> tuple[Path, Path]:
    """A corpus and a small model trained on it (with optimizer state); batch 3."""
    folder = tmp_path_factory.mktemp("good")
    corpus = folder / "stories.txt"
    corpus.write_text(make_text(600), encoding="utf-8")
    out = folder / "good.safetensors"
    args = ["train", str(corpus), *SMALL, "--epochs", "1", "--batch-size", "3", "--out", str(out)]
    assert cli_module.main(args) == 0
    return corpus, out


def _edit(src: Path, dst: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    return rewrite(src, dst, edit_meta=edit)


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": str(REPO),
        **more,
    }


# -- 9: `history` printed a checkpoint's ESC and BEL raw ---------------------------------------


def test_history_shows_escapes_in_column_names_as_visible_stand_ins(capsys, good, tmp_path) -> None:
    def edit(meta: dict) -> None:
        meta["history"] = [{"step": 1, "\x1b]0;pwned\x07loss": 1.5, "bell\x07": 2}]

    path = _edit(good[1], tmp_path / "escapes.safetensors", edit)
    for fmt in ("csv", "json"):
        code, out, err = cli(capsys, "history", path, "--format", fmt)
        assert code == 0, err
        assert "\x1b" not in out and "\x07" not in out, out
        shown = out if fmt == "csv" else "".join(json.loads(out)[0])
        assert "␛]0;pwned␇loss" in shown  # shown, not obeyed


# -- 10: tracebacks ----------------------------------------------------------------------------


def test_mixture_weights_of_1e308_still_predict(capsys, good, tmp_path) -> None:
    def edit(meta: dict) -> None:
        meta["mix"] = {"lstm": 1e308, "ngram": 1e308, "cache": 1e308}

    path = _edit(good[1], tmp_path / "mix.safetensors", edit)
    code, out, err = cli(capsys, "predict", "the cat", "--checkpoint", path, "--json")
    assert code == 0, err
    suggestions = json.loads(out)["suggestions"]
    assert suggestions and all(0 < s["probability"] <= 1 for s in suggestions), suggestions


@pytest.mark.parametrize(
    ("name", "edit", "said"),
    [
        ("betas-x", lambda m: m["optimizer"]["param_groups"][0].update(betas="x"), "betas"),
        ("betas-3", lambda m: m["optimizer"]["param_groups"][0].update(betas=[0.9, 1, 2]), "betas"),
        ("lr-text", lambda m: m["optimizer"]["param_groups"][0].update(lr="fast"), "lr"),
        ("steps-1e30", lambda m: m["progress"].update(steps=10**30), "progress.steps"),
    ],
)
def test_resume_from_a_checkpoint_with_a_bad_optimizer_or_count(
    capsys, good, tmp_path, name, edit, said
) -> None:
    path = _edit(good[1], tmp_path / f"{name}.safetensors", edit)
    code, out, err = cli(capsys, "train", "--resume", path, "--epochs", "1", "--quiet")
    line = assert_one_line_error(code, out, err)
    assert said in line and "corrupt checkpoint" in line


def test_ngram_order_above_five_is_a_usage_error(capsys) -> None:
    code, out, err = cli(capsys, "train", "--ngram-order", "6", "--quiet")
    line = assert_one_line_error(code, out, err)
    assert "--ngram-order" in line and "at most 5" in line


def test_token_cache_with_ids_beyond_its_vocabulary_is_rebuilt(write_text, make_text) -> None:
    path = write_text(make_text(3_000), "cached.txt")
    first = load_corpus(path, cache=True)
    expected = np.array(first.corpus.ids)  # a copy: the entry is changed below
    folder = next(token_cache.cache_dir().iterdir())
    ids = np.load(folder / "ids.npy", mmap_mode="r+")
    ids[5] = len(first.corpus.vocab) + 7  # written by a broken or older build
    ids.flush()
    del ids
    again = load_corpus(path, cache=True)
    assert again.state is token_cache.CacheState.BUILT  # not a HIT on the broken entry
    assert int(np.max(again.corpus.ids)) < len(again.corpus.vocab)
    assert np.array_equal(np.asarray(again.corpus.ids), expected)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "99999"], "at most 65,535"),
        (["--host", "bad host!!"], "no such address"),
    ],
)
def test_serve_refuses_a_bad_port_or_host_in_one_line(capsys, args, said) -> None:
    pytest.importorskip("textual_serve")
    code, out, err = cli(capsys, "serve", *args)
    assert said in assert_one_line_error(code, out, err)


def test_serve_on_a_port_in_use_is_one_line(capsys) -> None:
    pytest.importorskip("textual_serve")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = cli(capsys, "serve", "--host", "127.0.0.1", "--port", str(port))
    assert "in use" in assert_one_line_error(code, out, err)


@pytest.mark.parametrize("kind", ["toml-array", "toml-table", "json"])
def test_settings_nested_100k_deep_are_a_warning_not_a_crash(tmp_path, kind) -> None:
    if kind == "json":
        path = tmp_path / "state.json"
        path.write_text('{"checkpoints": ' + "[" * 100_000 + "]" * 100_000 + "}")
        assert settings.read_state(path) == settings.State()
        return
    path = tmp_path / "config.toml"
    deep = "[" * 100_000 + "]" * 100_000 if kind == "toml-array" else "{a = " * 100_000 + "1"
    path.write_text(f"theme = {deep}" + ("}" * 100_000 if kind == "toml-table" else ""))
    found, problem = settings.read_settings(path)
    assert found == settings.Settings()
    assert problem and "nested too deeply" in problem and "\n" not in problem


# -- 11: hangs ---------------------------------------------------------------------------------


def test_state_and_config_that_are_fifos_are_not_waited_on(tmp_path) -> None:
    os.mkfifo(tmp_path / "state.json")
    os.mkfifo(tmp_path / "config.toml")
    script = (
        "import sys; from pathlib import Path; from lstm_tui.core.store import settings as s;"
        "d = Path(sys.argv[1]); print(s.read_state(d / 'state.json'));"
        "print(s.read_settings(d / 'config.toml')[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,  # before the fix: blocked forever opening the FIFO
        env=_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "State(checkpoints=[], corpora=[], last=None)" in done.stdout
    assert "FIFO" in done.stdout


def test_history_out_to_a_fifo_is_refused(capsys, good, tmp_path) -> None:
    fifo = tmp_path / "table.csv"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "lstm_tui", "history", str(good[1]), "--out", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,  # before the fix: blocked until a reader came
        env=_env(tmp_path),
    )
    assert done.returncode == 2 and "FIFO" in done.stderr, done.stderr


# -- 12: the multi-process launcher ------------------------------------------------------------


def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (the launcher and all it started)."""
    found = []
    needle = f"LSTM_TUI_TEST_MARK={mark}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(240)
def test_workers_end_when_the_launcher_is_killed(tmp_path, fable_path) -> None:
    from lstm_tui.core.lifetime import usable_cores

    mark = uuid.uuid4().hex
    out = tmp_path / "run.safetensors"
    crowded = ["--oversubscribe"] if usable_cores() < 2 else []
    launcher = subprocess.Popen(
        [
            *(sys.executable, "-m", "lstm_tui", "train", str(fable_path), *SMALL),
            *("--processes", "2", *crowded, "--batch-size", "4"),
            *("--max-seconds", "300", "--out", str(out)),
        ],
        env=_env(tmp_path, LSTM_TUI_TEST_MARK=mark),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_marked(mark)) < 4 and time.monotonic() < deadline:  # launcher, torchrun, 2 ranks
        time.sleep(0.3)
    assert len(_marked(mark)) >= 4, "the ranks did not start"
    os.kill(launcher.pid, signal.SIGKILL)  # no cleanup runs in the launcher
    launcher.wait()
    deadline = time.monotonic() + 90
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.3)
    left = _marked(mark)
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} process(es) outlived the launcher"


def test_more_processes_than_cores_is_refused_on_the_cpu(capsys) -> None:
    from lstm_tui.core.lifetime import usable_cores

    n = usable_cores() + 1
    args = ("train", "--processes", str(n), "--batch-size", str(n), "--device", "cpu", "--quiet")
    code, out, err = cli(capsys, *args)
    line = assert_one_line_error(code, out, err)
    assert "--oversubscribe" in line and f"{n - 1} CPU cores" in line


# -- 13: memory bounded on any input -----------------------------------------------------------


def test_a_2_gib_file_of_nuls_is_refused_without_reading_it(tmp_path) -> None:
    path = tmp_path / "zeros.txt"
    with path.open("wb") as f:
        f.truncate(2 << 30)  # sparse: costs no disk
    # Under a 1 GiB address-space limit: reading the file whole (as before) cannot succeed.
    script = (
        "import resource, sys;"
        f"resource.setrlimit(resource.RLIMIT_AS, ({1 << 30}, {1 << 30}));"
        "from lstm_tui.core.text.token_cache import load_corpus;"
        "from lstm_tui.core.errors import CorpusError\n"
        "try:\n    load_corpus(sys.argv[1], max_bytes=4 << 30)\n"
        "except CorpusError as e:\n    print(e)"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "looks binary (a NUL byte at offset 0)" in done.stdout
    assert time.monotonic() - started < 60


def test_a_vocabulary_past_the_cap_is_refused_with_what_to_do() -> None:
    words = [f"w{i}" for i in range(MAX_VOCAB_WORDS + 10)]
    with pytest.raises(CorpusError) as caught:
        Vocabulary.from_counts(words, np.ones(len(words), np.int64), min_count=1)
    assert "--max-vocab" in str(caught.value) and "--min-count" in str(caught.value)
    vocab, _ = Vocabulary.from_counts(words, np.ones(len(words), np.int64), 1, 1_000)
    assert len(vocab) == 1_000  # told how many: no refusal


def test_counting_distinct_words_stops_at_the_cap(write_text, monkeypatch) -> None:
    path = write_text(" ".join(f"word{i}" for i in range(5_000)) + "\n", "distinct.txt")
    monkeypatch.setattr(token_cache, "MAX_DISTINCT_WORDS", 1_000)
    with pytest.raises(CorpusError, match="more than 1,000 distinct words"):
        load_corpus(path, cache=True, min_count=1)


# -- 15: a token cache keyed on size and mtime reused stale tokens -----------------------------


def test_an_edit_in_the_middle_with_size_and_mtime_put_back_is_seen(tmp_path, make_text) -> None:
    path = tmp_path / "big.txt"
    text = make_text(520_000)  # over 2 MiB: the old key hashed only 1 MiB at each end
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > 2 << 20
    first = load_corpus(path, cache=True, min_count=1)
    before = os.stat(path)
    middle = len(text) // 2
    at = text.index(" the cat ", middle)
    edited = text[:at] + " THE CAT " + text[at + len(" the cat ") :]  # same size
    path.write_text(edited, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    again = load_corpus(path, cache=True, min_count=1)
    assert again.state is token_cache.CacheState.BUILT
    # lowercased, so the words are the same: but the text changed, so it was read again
    assert np.array_equal(np.asarray(again.corpus.ids), np.asarray(first.corpus.ids))


# -- 16: smaller -------------------------------------------------------------------------------


def test_out_dot_is_refused_not_saved_nameless(capsys) -> None:
    code, out, err = cli(capsys, "train", *SMALL, "--epochs", "1", "--out", ".")
    assert "give the checkpoint a name" in assert_one_line_error(code, out, err)


def test_resume_by_name_with_processes_finds_the_checkpoint(capsys, good, data_home) -> None:
    from lstm_tui.core.store.paths import checkpoints_dir

    checkpoints_dir().mkdir(parents=True, exist_ok=True)
    (checkpoints_dir() / "mine.safetensors").write_bytes(good[1].read_bytes())
    code, out, err = cli(capsys, "train", "--resume", "mine", "--processes", "2", "--quiet")
    line = assert_one_line_error(code, out, err)
    # It read the saved batch (3) by name, which 2 processes cannot share equally.
    assert "batch of 3 streams" in line, line


def test_json_is_printed_when_a_run_is_stopped(tmp_path, fable_path) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "lstm_tui", "train", str(fable_path), *SMALL[:-1]),
            *("--max-seconds", "120", "--json", "--out", str(tmp_path / "m")),
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert SMALL[-1] == "--quiet"  # left out: the "training …" line says the run has begun
    assert process.stderr is not None
    assert process.stderr.readline().startswith("training "), "the run did not start"
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stop_reason"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert Path(summary["checkpoint"]).is_file()


def test_a_mistyped_subcommand_is_said_as_one(capsys) -> None:
    code, out, err = cli(capsys, "trian")
    assert "did you mean 'train'" in assert_one_line_error(code, out, err)
    # With its arguments too (they read as "unrecognized arguments: story.txt" before).
    code, out, err = cli(capsys, "trian", "story.txt", "--max-seconds", "60")
    assert "did you mean 'train'" in assert_one_line_error(code, out, err)


def test_a_file_named_like_a_subcommand_still_opens_as_a_text(tmp_path, monkeypatch) -> None:
    from lstm_tui.cli import _refuse_mistyped_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "trian").write_text("a text\n")
    _refuse_mistyped_command("trian")  # a file: no complaint
