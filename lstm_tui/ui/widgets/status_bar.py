"""The top line: corpus, model, device, whether the weights are saved, and what is running."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from lstm_tui.core.safe_text import visible


@dataclass(frozen=True)
class Status:
    corpus: str = ""
    corpus_tokens: int | None = None
    model: str = ""  # "2×512 LSTM · 4.3M params"
    device: str = ""
    saved: bool | None = None  # None: nothing loaded yet
    saved_as: str = ""  # the checkpoint's name, when saved
    activity: str = "loading model…"


class StatusBar(Widget):
    """One line; drops the less important parts first when the terminal is narrow."""

    status: reactive[Status] = reactive(Status, layout=False)

    def update_status(self, **changes: object) -> None:
        # Names come from files (a corpus name recorded in a checkpoint): shown, never obeyed.
        shown = {k: visible(v) if isinstance(v, str) else v for k, v in changes.items()}
        self.status = replace(self.status, **shown)  # type: ignore[arg-type]

    def render(self) -> Text:
        s = self.status
        wide = self.size.width >= 110
        sep = ("  │  ", "dim")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" lstm-tui ", style="bold reverse")
        text.append("  ")
        if s.corpus:
            text.append("corpus ", style="dim")
            text.append(s.corpus, style="bold")
            if s.corpus_tokens is not None and wide:
                text.append(f" ({s.corpus_tokens:,} tokens)", style="dim")
            text.append(*sep)
        if s.model:
            model = s.model if wide else s.model.replace(" LSTM", "")
            text.append("model " if wide else "", style="dim")
            text.append(model, style="bold")
            text.append(*sep)
        if s.device:
            text.append("device " if wide else "", style="dim")
            text.append(s.device, style="bold")
            text.append(*sep)
        if s.saved is True:
            text.append("✓ saved", style="bold green")
            if s.saved_as and wide:
                text.append(f" ({s.saved_as})", style="dim")
        elif s.saved is False:
            text.append("● unsaved", style="bold yellow")
        if s.activity:
            text.append(*sep)
            text.append(s.activity, style="italic")
        return text
