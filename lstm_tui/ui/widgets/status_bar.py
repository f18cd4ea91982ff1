"""The top line: corpus, model, device, which checkpoint the weights are, and what is running."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from lstm_tui.core import format as fmt
from lstm_tui.core.store.paths import CHECKPOINT_SUFFIX
from lstm_tui.core.text.safe_text import visible
from lstm_tui.ui.state import TrainState

if TYPE_CHECKING:
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.training.train import StepEvent


LEARNS_NOTE = "learns as you type"  # nothing learnt yet: the default, said when there is room


@dataclass(frozen=True)
class Status:
    corpus: str = ""
    corpus_tokens: int | None = None
    model: str = ""  # "2×512 LSTM · 4.3M params"
    device: str = ""
    saved: bool | None = None  # None: nothing loaded yet
    saved_as: str = ""  # the checkpoint's name, when the weights came from or went to one
    activity: str = "loading model…"
    learning: str = ""  # "learnt from 312 words you typed", "learning off"


def session_status(
    session: Session,
    corpus_name: str,
    state: TrainState,
    busy: bool,
    last_step: StepEvent | None,
) -> Status:
    """What the top line says about a loaded model."""
    if busy:
        activity = "loading…"
    elif state is TrainState.TRAINING:
        activity = (
            f"training {last_step.progress:.0%} · {fmt.eta(last_step.eta, last_step.eta_is_bound)}"
            if last_step
            else "training…"
        )
    elif state.running:
        activity = str(state)
    else:
        activity = "untrained · F5 to train" if session.progress.steps == 0 else ""
    source = session.source
    adaptation = session.adaptation
    if adaptation is not None and not adaptation.enabled:
        learning = "learning off"
    elif adaptation is not None and adaptation.words:
        learning = f"learnt from {adaptation.words:,} words you typed"
    else:
        learning = LEARNS_NOTE
    return Status(
        corpus=corpus_name,
        corpus_tokens=session.corpus.tokens or None,
        model=session.summary(),
        device=str(session.device),
        saved=session.is_saved,
        saved_as=source.name.removesuffix(CHECKPOINT_SUFFIX) if source else "",
        activity=activity,
        learning=learning,
    )


class StatusBar(Widget):
    """One line; drops the less important parts first when the terminal is narrow."""

    status: reactive[Status] = reactive(Status, layout=False)

    def update_status(self, **changes: object) -> None:
        # Status's field names, each with its own type: mypy cannot check **changes.
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]

    def render(self) -> Text:
        return fitted_status_line(self.status, self.size.width)


def fitted_status_line(s: Status, width: int) -> Text:
    """The status line in ``width`` columns. Left out first: the corpus's size, which
    checkpoint unsaved weights changed from, the default "learns as you type"; then the
    labels and the parameter count, the device, the corpus, and what was learnt from your
    typing. The name of a saved checkpoint and the activity stay (a cut at the end took the
    name: "✓ saved" alone; and "learnt from …" is news, where the default note is not)."""
    sized = replace(s, corpus_tokens=None)
    named = replace(sized, saved_as="") if s.saved is False else sized
    quiet = replace(named, learning="") if s.learning == LEARNS_NOTE else named
    short = replace(quiet, model=s.model.split(" · ")[0])
    for candidate in (s, sized, named, quiet, short):
        line = status_line(candidate, wide=True)
        if line.cell_len <= width:
            return line
    bare = replace(short, device="", corpus="")
    for candidate in (short, replace(short, device=""), bare, replace(bare, learning="")):
        line = status_line(candidate, wide=False)
        if line.cell_len <= width:
            return line
    return status_line(replace(bare, learning="", model=""), wide=False)


def status_line(s: Status, wide: bool) -> Text:
    """The segments that have something to say, one separator between each two.

    Names come from files (a corpus or checkpoint name recorded in a checkpoint): shown,
    never obeyed."""
    s = replace(s, corpus=visible(s.corpus), saved_as=visible(s.saved_as))
    segments: list[Text] = []
    if s.corpus:
        corpus = Text.assemble(("corpus ", "dim"), (s.corpus, "bold"))
        if s.corpus_tokens is not None and wide:
            corpus.append(f" ({s.corpus_tokens:,} tokens)", style="dim")
        segments.append(corpus)
    if s.model:
        model = s.model if wide else s.model.replace(" LSTM", "")
        segments.append(Text.assemble(("model " if wide else "", "dim"), (model, "bold")))
    if s.device:
        segments.append(Text.assemble(("device " if wide else "", "dim"), (s.device, "bold")))
    if s.saved is True:
        saved = Text("✓ saved", style="bold green")
        if s.saved_as:
            saved.append(f" ({s.saved_as})" if wide else f" {s.saved_as}", style="dim")
        segments.append(saved)
    elif s.saved is False:
        unsaved = Text("● unsaved", style="bold yellow")
        if s.saved_as and wide:
            unsaved.append(f" (changed since {s.saved_as})", style="dim")
        segments.append(unsaved)
    if s.learning:
        segments.append(Text(s.learning, style="dim" if s.learning == "learning off" else ""))
    if s.activity:
        segments.append(Text(s.activity, style="italic"))
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" lstm-tui ", style="bold reverse")
    text.append("  ")
    text.append_text(Text("  │  ", style="dim").join(segments))
    return text
