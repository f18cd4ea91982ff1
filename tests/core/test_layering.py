"""Arrows point one way: the core never imports the UI, and its light modules never torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lstm_tui.core

CORE = Path(lstm_tui.core.__file__).parent
# Every module of the core, dotted below lstm_tui.core: "jobs", "text.vocab", ...
MODULES = sorted(
    ".".join(p.relative_to(CORE).with_suffix("").parts)
    for p in CORE.rglob("*.py")
    if p.stem != "__init__"
)
PARTS = ("text", "model", "training", "serving", "store")
# The parts that never load torch: text and what lives on disk, and the two settings modules
# the CLI reads before it decides whether torch is needed at all.
LIGHT = [m for m in MODULES if m.startswith(("text.", "store."))] + [
    "errors",
    "training.config",
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
    assert {"training.train", "serving.predict", "store.checkpoint", "model.lstm"} <= set(MODULES)
    assert {m.split(".")[0] for m in MODULES if "." in m} == set(PARTS)


def test_the_core_never_imports_textual() -> None:
    loaded = imported_after(MODULES)
    assert {f"lstm_tui.core.{m}" for m in MODULES} <= loaded
    assert "textual" not in loaded
    assert not any(m.startswith(("textual", "lstm_tui.ui", "lstm_tui.cli")) for m in loaded)


def test_text_and_store_do_not_import_torch() -> None:
    loaded = imported_after(LIGHT)
    assert "torch" not in loaded and "safetensors" not in loaded
    assert "numpy" in loaded  # corpus ids are numpy arrays


def test_text_never_imports_the_other_parts_but_store() -> None:
    loaded = imported_after([m for m in MODULES if m.startswith("text.")])
    others = {f"lstm_tui.core.{p}" for p in ("model", "training", "serving")}
    assert not {m for m in loaded if m.rsplit(".", 1)[0] in others or m in others}


def test_reading_a_checkpoint_header_needs_no_torch() -> None:
    from lstm_tui.core.store import paths

    code = (
        "import sys\n"
        "from lstm_tui.core.store import checkpoint\n"
        f"info = checkpoint.info({str(paths.default_checkpoint())!r})\n"
        "assert info.vocab_size == 113, info\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
