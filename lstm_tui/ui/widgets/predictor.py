"""The predictor: type with the model, chat-style.

Every keystroke asks the app (which asks a worker) for suggestions; what comes back is shown
as ghost text in the input (Tab or → accepts it, keeping the user's case) and as a row of
the top next words, each insertable with alt+1 … alt+5. The same answer scores the words
already typed, and the input tints them by surprise. Enter sends the line: the transcript
shows it, tinted the same way, unknown words marked, and the model's continuation under it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.events import Click, Key
from textual.geometry import Size
from textual.reactive import Reactive
from textual.suggester import SuggestionReady
from textual.widgets import Input, Static

from lstm_tui.core import format as fmt
from lstm_tui.core.text.safe_text import has_control, visible
from lstm_tui.ui.inference import TOP_K, InferenceService
from lstm_tui.ui.keys import ACCEPT_WORD
from lstm_tui.ui.messages import (
    ContinuationReady,
    PhraseReady,
    PredictorRefreshed,
    SuggestionsReady,
)
from lstm_tui.ui.widgets.inputs import InOrderInput
from lstm_tui.ui.widgets.line import Line

if TYPE_CHECKING:
    from lstm_tui.core.serving.predict import Continuation, Suggestions
    from lstm_tui.core.serving.surprisal import WordSurprise

WORD_CHOICES = (4, 8, 12, 16, 24, 32, 48, 64, 96)
TEMPERATURES = (0.0, 0.5, 0.8, 1.0, 1.3)  # 0 is greedy (guarded against loops)
DEFAULT_TEMPERATURE = 0.8
ATTACH_LEFT = frozenset(",.;:?!%)]}…'’”")


def mode_name(temperature: float) -> str:
    return "greedy" if temperature <= 0 else f"sampled, T={temperature:g}"


def insert_word(text: str, partial: str, word: str) -> str:
    """``text`` with its partial word replaced by ``word`` (keeping the user's case), then a space.

    Punctuation attaches to the word before it: ``"the cat "`` + ``.`` -> ``"the cat. "``.
    """
    stem = text[: len(text) - len(partial)] if partial else text
    if partial and word.lower().startswith(partial.lower()):
        word = partial + word[len(partial) :]
    if word and word[0] in ATTACH_LEFT and not partial:
        stem = stem.rstrip()
    elif stem and not stem[-1].isspace():
        stem += " "
    return stem + word + " "


def mark_unknown(line: str, unknown: list[str]) -> Text:
    """The user's line with words the vocabulary lacks underlined in red and flagged ``?``."""
    line, unknown = visible(line), [visible(w) for w in unknown]
    text = Text(line)
    for word in set(unknown):
        pattern = r"(?<![\w'’])" + re.escape(word) + r"(?![\w'’])"
        for match in re.finditer(pattern, line, flags=re.IGNORECASE):
            text.stylize("bold red underline", match.start(), match.end())
    if unknown:
        text.append(f"   ? not in the vocabulary: {', '.join(dict.fromkeys(unknown))}", "dim red")
    return text


# What alt+1 … alt+5 arrive as where the terminal sends ESC and the digit (tmux, xterm with
# metaSendsEscape): Textual reads ESC+digit as the macOS Option characters ¡ ™ £ ¢ ∞, which
# is also what Option+digit types on a Mac. In the predictor's input they pick suggestions.
OPTION_DIGITS = (
    "inverted_exclamation_mark",
    "trade_mark_sign",
    "pound_sign",
    "cent_sign",
    "infinity",
)


SURPRISE_STYLES = ("green", "yellow", "bold red1")  # expected, so-so, surprising


def surprise_style(bits: float) -> str:
    from lstm_tui.core.serving.surprisal import EXPECTED_BITS, SURPRISING_BITS

    band = 0 if bits < EXPECTED_BITS else 1 if bits < SURPRISING_BITS else 2
    return SURPRISE_STYLES[band]


def stylize_surprise(text: Text, words: Sequence[str], bits: Sequence[float | None]) -> None:
    """Tint each of ``words`` where it next occurs in ``text`` by its bits of surprise."""
    at, lowered = 0, text.plain.lower()
    for word, value in zip(words, bits, strict=False):
        word = visible(word).lower()
        start = lowered.find(word, at)
        if start < 0:
            continue
        at = start + len(word)
        if value is not None:
            text.stylize(surprise_style(value), start, at)


def surprise_legend(text: Text) -> Text:
    text.append("surprise: ", style="dim")
    for style, name in zip(SURPRISE_STYLES, ("expected", "so-so", "surprising"), strict=True):
        text.append("■ ", style=style)
        text.append(f"{name}  ", style="dim")
    return text


def info_line(n_words: int, mode: str, width: int) -> Text:
    """The keys under the input, and the surprise tints' legend where there is room for it:
    whole items only, never a legend cut mid-word."""
    keys = (("tab", "accept"), ("alt+N", "pick"), ("⏎", f"{n_words} words"), ("^r", mode))
    variants = ((True, keys), (False, keys), (False, keys[:1] + keys[2:]), (False, keys[:1]))
    for with_legend, shown in variants:
        info = Text(no_wrap=True, overflow="ellipsis")
        for key, what in shown:
            info.append(key, style="bold")
            info.append(f" {what}  ", style="dim")
        if with_legend:
            info.append("  ")
            surprise_legend(info)  # for the typed words' tints
        info.rstrip()
        if info.cell_len <= width:
            return info
    return info


def tint_surprise(line: str, surprise: list[WordSurprise] | None, unknown: list[str]) -> Text:
    """The sent line, each word tinted by how surprising the model found it, with a legend;
    words the vocabulary lacks underlined in red (``mark_unknown``)."""
    line = visible(line)  # typed or pasted: shown, never obeyed
    text = mark_unknown(line, unknown) if unknown else Text(line)
    if not surprise:
        return text
    stylize_surprise(text, [item.word for item in surprise], [item.bits for item in surprise])
    text.append("\n")
    return surprise_legend(text)


class SurpriseHighlighter(Highlighter):
    """Tints the words typed so far, live, by how surprising the model found each one.

    The scores come with each keystroke's suggestions (``Suggestions.surprise``): the words
    are matched in order, so a word being typed (not yet scored) stays plain.
    """

    def __init__(self) -> None:
        self.words: list[str] = []
        self.bits: list[float | None] = []

    def update(self, words: Sequence[str], bits: Sequence[float | None]) -> bool:
        """Take new scores; True if they differ from the ones shown."""
        new = (list(words), list(bits))
        changed = new != (self.words, self.bits)
        self.words, self.bits = new
        return changed

    def highlight(self, text: Text) -> None:
        stylize_surprise(text, self.words, self.bits)


class PromptInput(InOrderInput):
    """The predictor's input: Tab accepts, ↓/↑ choose a suggestion, alt+N inserts number N."""

    # Input sets its virtual size on every keystroke, and Widget declares that reactive with
    # layout=True: a layout pass over the whole screen per key, the slowest part of a
    # keystroke. The input's own size is fixed by CSS and its scrolling reads the virtual
    # size directly, so a repaint is all a keystroke needs.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    BINDINGS = [
        Binding(
            "tab",
            "accept",
            "Accept",
            show=False,  # the predictor's own legend says "tab accept"; the footer needs the room
            tooltip="Accept the ghost text, or the chosen suggestion",
            id="predictor.accept",
        ),
        ACCEPT_WORD,
        Binding(
            "enter",
            "submit",
            "Send",
            show=False,
            tooltip="Send the line; the model continues it",
            id="predictor.send",
        ),
        Binding(
            "down",
            "choose(1)",
            "Next suggestion",
            show=False,
            tooltip="Tab inserts it",
            id="predictor.next",
        ),
        Binding("up", "choose(-1)", "Previous suggestion", show=False, id="predictor.previous"),
        *(
            Binding(
                f"alt+{n},{OPTION_DIGITS[n - 1]}",
                f"pick({n - 1})",
                f"Insert suggestion {n}",
                show=False,
                key_display=f"alt+{n} (esc {n})",
                id=f"predictor.pick{n}",
            )
            for n in range(1, TOP_K + 1)
        ),
    ]

    def __init__(self, **kwargs: object) -> None:
        # Focus must not select the line: the next key would replace what was typed (F4).
        super().__init__(
            select_on_focus=False,
            highlighter=SurpriseHighlighter(),
            **kwargs,  # type: ignore[arg-type]  # Input's own keywords, passed through as given
        )

    def show_surprise(self, words: Sequence[str], bits: Sequence[float | None]) -> None:
        """Tint the typed words by these scores (``SurpriseHighlighter``)."""
        assert isinstance(self.highlighter, SurpriseHighlighter)
        if self.highlighter.update(words, bits):
            self.refresh()

    @property
    def pane(self) -> PredictorPane:
        return next(a for a in self.ancestors if isinstance(a, PredictorPane))

    async def _on_key(self, event: Key) -> None:
        # These keys carry a printable character, which Input would insert before any
        # binding saw it: take them first.
        if event.key in OPTION_DIGITS:
            event.stop()
            event.prevent_default()
            self.pane.pick(OPTION_DIGITS.index(event.key))
        # Textual then calls InOrderInput's handler: it runs the other bound keys in order.

    def action_accept(self) -> None:
        self.pane.accept()  # nothing to accept: Tab does nothing (the focus stays here)

    def action_accept_word(self) -> None:
        if not self.pane.accept_word():  # no ghost text: the Input's own ctrl+→
            self.action_cursor_right_word()

    def action_choose(self, step: int) -> None:
        self.pane.choose(step)

    def action_pick(self, index: int) -> None:
        self.pane.pick(index)


CHIP_GAP = "  "  # between two suggestions on the row


class SuggestionRow(Line):
    """The row of next words; a click on one inserts it.

    Its two lines break between suggestions, never inside one: wrapped as plain text, a
    suggestion's number could end one line and its word start the next.
    """

    def __init__(self, text: Text | str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id)
        self._chips: list[Text] | None = None

    def show_chips(self, chips: list[Text]) -> None:
        """Show ``chips`` side by side, ``CHIP_GAP`` apart, each kept whole on one line."""
        row = Text(overflow="ellipsis")
        width = self.size.width or None  # before the first layout: one line, wrapped later
        used = 0
        for chip in chips:
            if used and width is not None and used + len(CHIP_GAP) + chip.cell_len > width:
                row.append("\n")
                used = 0
            elif used:
                row.append(CHIP_GAP)
                used += len(CHIP_GAP)
            row.append_text(chip)
            used += chip.cell_len
        self._chips = chips
        self.update(row)

    def on_resize(self) -> None:
        if self._chips is not None:
            self.show_chips(self._chips)

    def on_click(self, event: Click) -> None:
        chip = event.style.meta.get("chip")
        pane = next((a for a in self.ancestors if isinstance(a, PredictorPane)), None)
        if isinstance(chip, int) and pane is not None:
            pane.pick(chip)


class PredictorPane(Vertical):
    BORDER_TITLE = "Predictor"
    BINDINGS = [
        Binding(
            "ctrl+r",
            "cycle_mode",
            "Mode",
            show=False,
            tooltip="Greedy or sampled continuations",
            id="predictor.mode",
        ),
        Binding("ctrl+up", "more_words", "More words", show=False, id="predictor.more"),
        Binding("ctrl+down", "fewer_words", "Fewer words", show=False, id="predictor.fewer"),
        Binding("ctrl+l", "clear_transcript", "Clear", show=False, id="predictor.clear"),
    ]

    def __init__(
        self, inference: InferenceService, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.inference = inference
        self.n_words = 24
        self.temperature = DEFAULT_TEMPERATURE  # sampled: greedy text loops and reads flat
        self.suggestions: Suggestions | None = None
        self.suggestions_for: str | None = None  # the input value the shown row belongs to
        self.ghost: str | None = None  # the value the ghost completion (or phrase) would give
        self._carried: str | None = None  # a phrase's ghost, kept while it is taken word by word
        self.phrase_for: str | None = None  # the input value the last phrase answer was for
        self._carrying: str | None = None  # the input value ``ghost`` was carried over to
        self.chosen: int | None = None  # the suggestion ↓/↑ chose: Tab inserts it
        self.ready = False
        self._requests = 0
        self._pending: dict[int, Static] = {}  # model bubbles waiting for their answer
        self._user_bubbles: dict[int, tuple[Static, str]] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="transcript"):
            yield Static(
                Text(
                    "Type a few words. Suggestions follow every keystroke; Enter asks the "
                    "model to continue your line.",
                    style="dim",
                ),
                classes="bubble hint",
            )
        yield SuggestionRow("", id="suggestions")
        yield PromptInput(placeholder="loading model…", id="prompt", disabled=True)
        yield Line("", id="predictor-info")

    def on_mount(self) -> None:
        self._show_info()

    # -- called by the app ----------------------------------------------------------------

    def set_ready(self, ready: bool, waiting_for: str = "loading model…") -> None:
        self.ready = ready
        prompt = self.query_one(PromptInput)
        prompt.disabled = not ready
        prompt.placeholder = "type here…" if ready else waiting_for
        if ready:
            self.suggestions = None
            self.suggestions_for = None
            self.inference.suggest(prompt.value, self, keystroke=False)

    def focus_input(self) -> None:
        prompt = self.query_one(PromptInput)
        if not prompt.disabled:
            prompt.focus()

    # -- answers from the inference service -------------------------------------------------

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        if self.inference.current(message.generation):
            self.show_suggestions(message.text, message.suggestions)

    def on_continuation_ready(self, message: ContinuationReady) -> None:
        if self.inference.current(message.generation):
            self.show_continuation(
                message.request, message.continuation, message.error, message.surprise
            )
        else:
            self.show_continuation(message.request, None, "the model changed")

    def on_phrase_ready(self, message: PhraseReady) -> None:
        """A phrase for the text typed: the ghost text offers it (Tab takes it all)."""
        prompt = self.query_one(PromptInput)
        if not self.inference.current(message.generation):
            return
        self.phrase_for = message.text
        if message.phrase is None:
            return
        if message.text != prompt.value or self.suggestions_for != message.text:
            return
        ghost = message.text + message.phrase.text
        if has_control(ghost):  # no ESC into the input
            return
        completion = self.suggestions.completion if self.suggestions is not None else None
        if completion is not None and not message.phrase.text.startswith(completion.suffix):
            return  # the row completes the word otherwise (a rare word): the ghost agrees
        self.ghost = ghost
        prompt.post_message(SuggestionReady(message.text, ghost))

    def on_predictor_refreshed(self, message: PredictorRefreshed) -> None:
        if self.ready and self.inference.current(message.generation):
            self.inference.suggest(self.query_one(PromptInput).value, self, keystroke=False)

    def show_suggestions(self, text: str, suggestions: Suggestions) -> bool:
        """Show suggestions if they are for what the input holds now; True if shown."""
        prompt = self.query_one(PromptInput)
        if text != prompt.value:
            return False
        self.suggestions = suggestions
        self.suggestions_for = text
        self.chosen = None
        ghost = self._ghost_for(text, suggestions)
        kept = self.ghost if self._carrying == text else None
        if kept is not None and (ghost is None or kept.startswith(ghost)):
            ghost = kept  # the rest of a phrase being taken word by word stays offered
        self._carrying = None  # (fresher weights' answer for the same text: theirs counts)
        self.ghost = ghost
        prompt.show_surprise(suggestions.tokens, suggestions.surprise)
        # Always: no ghost for these suggestions clears the one shown for older ones.
        prompt.post_message(SuggestionReady(text, self.ghost or ""))
        self._show_row()
        return True

    def _show_row(self) -> None:
        if self.suggestions is not None:
            chips = self._suggestion_chips(self.suggestions, self.chosen)
            self.query_one("#suggestions", SuggestionRow).show_chips(chips)

    def show_continuation(
        self,
        request: int,
        continuation: Continuation | None,
        error: str | None,
        surprise: list[WordSurprise] | None = None,
    ) -> None:
        bubble = self._pending.pop(request, None)
        entry = self._user_bubbles.pop(request, None)
        if bubble is None:
            return
        if entry is not None and continuation is not None:
            user, line = entry
            user.update(tint_surprise(line, surprise, continuation.unknown))
        if continuation is None:
            bubble.update(Text(f"(no answer: {visible(str(error))})", style="red"))
            return
        text = Text()
        text.append("… ", style="dim")
        text.append(visible(continuation.text))
        bubble.update(text)
        bubble.remove_class("pending")
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    # -- ghost text and suggestions -------------------------------------------------------

    @staticmethod
    def _ghost_for(text: str, suggestions: Suggestions) -> str | None:
        ghost = PredictorPane._raw_ghost(text, suggestions)
        return None if ghost is None or has_control(ghost) else ghost  # no ESC into the input

    @staticmethod
    def _raw_ghost(text: str, suggestions: Suggestions) -> str | None:
        if suggestions.completion is not None:
            return text + suggestions.completion.suffix
        if text and text[-1].isspace() and suggestions.next_words and not suggestions.partial:
            word = suggestions.next_words[0].word
            if word[0] in ATTACH_LEFT:
                return None  # punctuation after a space would read wrong; use alt+1 instead
            return text + word
        return None

    @staticmethod
    def _suggestion_chips(suggestions: Suggestions, chosen: int | None = None) -> list[Text]:
        """The row's pieces, each kept whole on a line: a suggestion with its number and odds
        (two lines: five words with their odds fit in 56 columns), then unknown words."""
        chips: list[Text] = []
        if not suggestions.next_words:
            partial = visible(suggestions.partial)
            what = f"no word starts with “{partial}”" if partial else ""
            chips.append(Text(what or "no suggestions", style="dim"))
        for n, item in enumerate(suggestions.next_words, start=1):
            chip = Style(meta={"chip": n - 1})  # a click on any part of it picks it
            word = Style(bold=True, underline=n - 1 == chosen, reverse=n - 1 == chosen)
            piece = Text()
            piece.append(f" {n} ", style=Style(reverse=True, bold=True) + chip)
            piece.append(f" {visible(item.word)} ", style=word + chip)
            piece.append(fmt.prob(item.prob), style=Style(dim=True) + chip)
            chips.append(piece)
        if suggestions.unknown:
            piece = Text("unknown: ", style="dim red")
            piece.append(visible(", ".join(dict.fromkeys(suggestions.unknown))), style="red")
            chips.append(piece)
        return chips

    def choose(self, step: int) -> None:
        """Move the choice along the suggestion row (↓ ↑); Tab then inserts it."""
        prompt = self.query_one(PromptInput)
        if self.suggestions is None or self.suggestions_for != prompt.value:
            return
        count = len(self.suggestions.next_words)
        if not count:
            return
        at = -1 if self.chosen is None else self.chosen
        self.chosen = min(count - 1, max(0, at + step))
        self._show_row()

    def accept(self) -> bool:
        """Insert the chosen suggestion, else take the ghost completion; False if neither."""
        if self.chosen is not None:
            return self.pick(self.chosen)
        prompt = self.query_one(PromptInput)
        # The ghost is cleared at every change of the input, so one still here is for it.
        if self.ghost is None or not self.ghost.startswith(prompt.value):
            return False
        if prompt.cursor_position != len(prompt.value):
            return False
        prompt.value = self.ghost
        prompt.cursor_position = len(prompt.value)
        self.ghost = None
        return True

    def accept_word(self) -> bool:
        """Take the ghost text's next word (ctrl+→); the rest stays offered. False if none."""
        prompt = self.query_one(PromptInput)
        ghost = self.ghost
        if ghost is None or not ghost.startswith(prompt.value) or len(ghost) == len(prompt.value):
            return False
        if prompt.cursor_position != len(prompt.value):
            return False
        word = re.match(r"\s*\S+", ghost[len(prompt.value) :])
        if word is None:
            return False
        taken = prompt.value + word.group()
        self._carried = ghost if len(taken) < len(ghost) else None
        prompt.value = taken
        prompt.cursor_position = len(taken)
        return True

    def pick(self, index: int) -> bool:
        """Insert suggestion ``index`` (0-based); False (and a bell) if there is none."""
        prompt = self.query_one(PromptInput)
        words = self.suggestions.next_words if self.suggestions is not None else []
        if self.suggestions is None or self.suggestions_for != prompt.value or index >= len(words):
            self.app.bell()
            return False
        word = visible(words[index].word)  # a control character is never typed for the user
        prompt.value = insert_word(prompt.value, self.suggestions.partial, word)
        prompt.cursor_position = len(prompt.value)
        prompt.focus()
        return True

    @on(Input.Changed, "#prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        event.stop()
        carried, self._carried = self._carried, None
        self.ghost = None
        self._carrying = None
        if carried is not None and carried.startswith(event.value) and carried != event.value:
            self.ghost = carried  # the rest of a phrase taken word by word: still offered
            self._carrying = event.value
            event.input.post_message(SuggestionReady(event.value, carried))
        self.chosen = None
        if self.ready:
            self.inference.suggest(event.value, self)

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.ready:
            return
        line = event.value
        self._requests += 1
        request = self._requests
        transcript = self.query_one("#transcript", VerticalScroll)
        for hint in transcript.query(".hint"):
            hint.remove()
        user = Static(
            Text(visible(line))
            if line
            else Text("(nothing: the model starts from scratch)", "dim"),
            classes="bubble user",
        )
        user.border_title = "you"
        answer = Static(Text("…", style="dim"), classes="bubble model pending")
        answer.border_title = f"model · {self.n_words} words · {mode_name(self.temperature)}"
        self._pending[request] = answer
        self._user_bubbles[request] = (user, line)
        transcript.mount_all([user, answer])
        transcript.scroll_end(animate=False)
        event.input.value = ""
        self.inference.continue_text(line, request, self.n_words, self.temperature, self)
        if line.strip():
            self.inference.learn(line, self.app)  # after the answer: it never waits for this

    # -- continuation settings ------------------------------------------------------------

    def _show_info(self) -> None:
        line = self.query_one("#predictor-info", Line)
        line.update(info_line(self.n_words, mode_name(self.temperature), line.size.width or 80))

    def on_resize(self) -> None:
        self._show_info()  # the legend is fitted to the width

    def action_cycle_mode(self) -> None:
        i = TEMPERATURES.index(self.temperature) if self.temperature in TEMPERATURES else 0
        self.temperature = TEMPERATURES[(i + 1) % len(TEMPERATURES)]
        self._show_info()  # the info line says it: no notification to cover the input

    def action_more_words(self) -> None:
        bigger = [n for n in WORD_CHOICES if n > self.n_words]
        self.n_words = bigger[0] if bigger else self.n_words
        self._show_info()

    def action_fewer_words(self) -> None:
        smaller = [n for n in WORD_CHOICES if n < self.n_words]
        self.n_words = smaller[-1] if smaller else self.n_words
        self._show_info()

    def action_clear_transcript(self) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.remove_children()
        self._pending.clear()
        self._user_bubbles.clear()
