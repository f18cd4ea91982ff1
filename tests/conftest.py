"""Shared fixtures: user data redirected to tmp folders, the fable, small trained sessions."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from lstm_tui.core.store import paths

# pytest imports readline, and readline, finding no terminal, writes COLUMNS=80 and LINES=24
# into the C environment (not into os.environ, so it cannot be seen there). Every program a
# test starts inherits them: the app in a 120×40 tmux pane then lays itself out for 80×24,
# as shutil.get_terminal_size reads those variables first.
os.unsetenv("COLUMNS")
os.unsetenv("LINES")

# Words for synthetic corpora: a small grammar, so a model can learn something from them.
_SUBJECTS = ["the cat", "a mouse", "the old mouse", "the mice", "a young mouse", "the enemy"]
_VERBS = ["saw", "said", "heard", "found", "chased", "watched", "met", "fled from"]
_OBJECTS = ["the bell", "a ribbon", "the neck", "the council", "her approach", "the cat"]
_TAILS = [".", ", and then it slept .", "in the night .", "with great care .", "? no ."]


def synthetic_text(n_tokens: int, seed: int = 0, extra_words: int = 0) -> str:
    """Deterministic sentences of at least ``n_tokens`` tokens, ``extra_words`` rare words in."""
    rng = random.Random(seed)
    words: list[str] = []
    rare = [f"word{i}" for i in range(extra_words)]
    while len(words) < n_tokens:
        sentence = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
        if rare:
            sentence += f" {rare.pop()}"
        words.extend(f"{sentence} {rng.choice(_TAILS)}".split())
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """In-process training runs on one thread, as the CLI does on a busy machine: two
    threads on two shared cores can run many times slower (core/runtime.py)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _session_data_home(tmp_path_factory: pytest.TempPathFactory):
    """Before any fixture of wider scope runs: user data goes to a tmp folder, never home."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-session")))
    patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache-session")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own empty user data folder (``XDG_DATA_HOME``)."""
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own empty user cache folder (``XDG_CACHE_HOME``): the token cache."""
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def make_text() -> Callable[..., str]:
    """``make_text(n_tokens, seed=0, extra_words=0)``: a synthetic corpus of sentences."""
    return synthetic_text


@pytest.fixture(scope="session")
def fable_path() -> Path:
    return paths.default_corpus()


@pytest.fixture(scope="session")
def fable_text(fable_path: Path) -> str:
    return fable_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def fable(fable_path: Path):
    from lstm_tui.core.text.corpus import Corpus

    return Corpus.from_file(fable_path)


@pytest.fixture(scope="session")
def default_session():
    """The shipped fable model (2×512). Read-only: tests must not train or change it."""
    from lstm_tui.core.store import checkpoint

    return checkpoint.load(paths.default_checkpoint())


@pytest.fixture(scope="session")
def make_session() -> Callable:
    """A fresh, seeded, small model for a corpus (1×32 unless told otherwise)."""
    import torch

    from lstm_tui.core.model.session import Session
    from lstm_tui.core.training.config import TrainConfig

    def make(corpus, seed: int = 1, preset: str = "seed-1layer", **overrides):
        settings = {"hidden": 32, "embed": 32, **overrides}
        train = {k: settings.pop(k) for k in list(settings) if k in TrainConfig.__annotations__}
        torch.manual_seed(seed)
        return Session.new(corpus, preset, TrainConfig(seed=seed, **train), **settings)

    return make


@pytest.fixture(scope="session")
def write_text(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Write text (or bytes) to a fresh file and return its path."""
    folder = tmp_path_factory.mktemp("texts")
    counter = iter(range(1_000_000))

    def write(content: str | bytes, name: str | None = None) -> Path:
        path = folder / (name or f"text{next(counter)}.txt")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write
