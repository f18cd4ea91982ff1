"""Arrows point one way: the core never imports the UI, and its light modules never torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lstm_tui.core

CORE = Path(lstm_tui.core.__file__).parent
MODULES = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
LIGHT = [
    "errors",
    "tokenize",
    "vocab",
    "corpus",
    "paths",
    "config",
    "checkpoint",
    "checkpoint_schema",
    "files",
    "safe_text",
]


def imported_after(modules: list[str]) -> set[str]:
    code = (
        "import json, sys\n"
        + "".join(f"import lstm_tui.core.{m}\n" for m in modules)
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout))


def test_every_core_module_is_listed() -> None:
    assert {"train", "predict", "checkpoint", "model", "session", "metrics"} <= set(MODULES)


def test_the_core_never_imports_textual() -> None:
    loaded = imported_after(MODULES)
    assert {f"lstm_tui.core.{m}" for m in MODULES} <= loaded
    assert "textual" not in loaded
    assert not any(m.startswith(("textual", "lstm_tui.ui")) for m in loaded)


def test_the_light_modules_do_not_import_torch() -> None:
    loaded = imported_after(LIGHT)
    assert "torch" not in loaded and "safetensors" not in loaded
    assert "numpy" in loaded  # corpus ids are numpy arrays


def test_reading_a_checkpoint_header_needs_no_torch() -> None:
    from lstm_tui.core import paths

    code = (
        "import sys\n"
        "from lstm_tui.core import checkpoint\n"
        f"info = checkpoint.info({str(paths.default_checkpoint())!r})\n"
        "assert info.vocab_size == 113, info\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
