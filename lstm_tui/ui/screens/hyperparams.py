"""The hyperparameters form: model shape and training settings, checked by the core.

Opened only once a model is loaded (torch is imported by then), so the checks can use the
core's own validators: the same messages as the command line gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from lstm_tui.core.errors import ConfigError, UserError
from lstm_tui.core.training.config import TrainConfig
from lstm_tui.ui.screens.dialog import DialogScreen
from lstm_tui.ui.widgets.inputs import InOrderInput
from lstm_tui.ui.widgets.key_button import key_button

if TYPE_CHECKING:
    from lstm_tui.core.model.lstm import ModelConfig

PRESET_NAMES = ("seed", "seed-1layer", "default", "large")
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
# The form's field for a ``TrainConfig`` field a ``ConfigError`` names (others are the same).
FORM_FIELDS = {
    "batch_size": "batch",
    "bptt": "bptt",
    "epochs": "epochs",
    "lr": "lr",
    "max_seconds": "seconds",
}


@dataclass(frozen=True)
class Hyperparams:
    preset: str
    layers: int
    hidden: int
    embed: int
    dropout: float
    train: TrainConfig

    def architecture(self) -> tuple[int, int, int, float]:
        return (self.layers, self.hidden, self.embed, self.dropout)


class FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _required(value: int | None) -> int:
    """A whole number that may not be blank: ``_whole`` without ``allow_blank`` gives one."""
    assert value is not None
    return value


def _whole(
    field: str, text: str, blank: int | None = None, allow_blank: bool = False
) -> int | None:
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        if allow_blank:
            return blank
        raise FieldError(field, f"{field}: enter a whole number")
    try:
        return int(text)
    except ValueError:
        raise FieldError(field, f"{field}: {text!r} is not a whole number") from None


def _real(field: str, text: str) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise FieldError(field, f"{field}: {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FieldError(field, f"{field}: must be a finite number")
    return value


def _seconds(text: str) -> float | None:
    """A time budget in seconds, or None (blank: no budget)."""
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    value = _real("seconds", text)
    if value <= 0:
        raise FieldError("seconds", "seconds: a time budget must be more than 0")
    return value


def parse_form(
    values: dict[str, str], preset: str, device: str, base: TrainConfig | None = None
) -> Hyperparams:
    """Check every field (with the core's validators); ``FieldError`` names the bad one."""
    from lstm_tui.core.model.device import resolve_device
    from lstm_tui.core.model.lstm import check_config, make_config

    layers = _whole("layers", values["layers"])
    hidden = _whole("hidden", values["hidden"])
    embed = _whole("embed", values["embed"])
    dropout = _real("dropout", values["dropout"])
    assert layers is not None and hidden is not None and embed is not None
    try:
        check_config(
            make_config(2, preset, layers=layers, hidden=hidden, embed=embed, dropout=dropout)
        )
    except ConfigError as e:
        raise FieldError(e.field or "layers", str(e)) from None
    train = replace(
        base or TrainConfig(),
        lr=_real("lr", values["lr"]),
        batch_size=_required(_whole("batch", values["batch"])),
        bptt=_required(_whole("bptt", values["bptt"])),
        epochs=_whole("epochs", values["epochs"], allow_blank=True),
        max_seconds=_seconds(values.get("seconds", "")),
        seed=_whole("seed", values["seed"], allow_blank=True),
        device=device,
    )
    try:
        train.check()
    except ConfigError as e:
        field = FORM_FIELDS.get(e.field or "", "lr")
        raise FieldError(field, str(e).replace("batch_size", "batch", 1)) from None
    try:
        resolve_device(device)
    except ConfigError as e:
        raise FieldError("device", str(e)) from None
    return Hyperparams(preset, layers, hidden, embed, dropout, train)


class HyperparamsScreen(DialogScreen[Hyperparams | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply", priority=True),
    ]

    FIELDS = (
        ("layers", "LSTM layers"),
        ("hidden", "hidden units"),
        ("embed", "embedding size"),
        ("dropout", "dropout (0 ≤ d < 1)"),
        ("lr", "learning rate"),
        ("batch", "batch (parallel streams)"),
        ("bptt", "bptt (tokens per chunk)"),
        ("epochs", "epochs (blank: auto)"),
        ("seconds", "seconds (blank: no limit)"),
        ("seed", "seed (blank: random)"),
    )

    def __init__(
        self,
        config: ModelConfig,
        preset: str,
        train: TrainConfig,
        training: bool,
        train_tokens: int | None = None,
    ) -> None:
        super().__init__()
        self.train_tokens = train_tokens  # the training text's length, when known
        self.model_config = config
        self.preset = preset
        self.train = train
        self.training = training

    def _initial(self) -> dict[str, str]:
        c, t = self.model_config, self.train
        return {
            "layers": str(c.layers),
            "hidden": str(c.hidden),
            "embed": str(c.embed),
            "dropout": f"{c.dropout:g}",
            "lr": f"{t.lr:g}",
            "batch": str(t.batch_size),
            "bptt": str(t.bptt),
            "epochs": "" if t.epochs is None else str(t.epochs),
            "seconds": "" if t.max_seconds is None else f"{t.max_seconds:g}",
            "seed": "" if t.seed is None else str(t.seed),
        }

    def compose(self) -> ComposeResult:
        values = self._initial()
        with Vertical(classes="dialog hyperparams"):
            yield Label("Hyperparameters", classes="dialog-title")
            with Grid(id="form-grid"):
                yield Label("preset", classes="form-label")
                yield Select(
                    [(name, name) for name in PRESET_NAMES],
                    value=self.preset if self.preset in PRESET_NAMES else "seed",
                    allow_blank=False,
                    id="field-preset",
                    compact=True,
                )
                for key, label in self.FIELDS:
                    yield Label(label, classes="form-label")
                    yield InOrderInput(values[key], id=f"field-{key}", compact=True)
                yield Label("device", classes="form-label")
                yield Select(
                    [(name, name) for name in DEVICE_NAMES],
                    value=self.train.device if self.train.device in DEVICE_NAMES else "auto",
                    allow_blank=False,
                    id="field-device",
                    compact=True,
                )
            yield Static(
                "Changing layers, hidden, embed or dropout starts a new, untrained model. "
                "Training settings apply to the next run."
                + (
                    " A run is going on: stop it first to change the model."
                    if self.training
                    else ""
                ),
                classes="dialog-note",
            )
            yield Static("", id="form-effective", classes="dialog-note")
            yield Static("", id="form-error", markup=False)  # it quotes what was typed
            with Horizontal(classes="dialog-buttons"):
                yield key_button("Apply", "ctrl+s", variant="primary", id="apply")
                yield key_button("Cancel", "esc", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#field-layers", Input).focus()
        self._show_effective()

    @on(Input.Changed, "#field-batch")
    @on(Input.Changed, "#field-bptt")
    def _show_effective(self) -> None:
        """What a run on this corpus will use: a small text shrinks batch and bptt."""
        from lstm_tui.core.training.train import fit_to_corpus

        note = self.query_one("#form-effective", Static)
        if not self.train_tokens:
            note.update("")
            return
        try:
            batch = int(self.query_one("#field-batch", Input).value.replace(",", ""))
            bptt = int(self.query_one("#field-bptt", Input).value.replace(",", ""))
            used = fit_to_corpus(self.train_tokens, max(1, batch), max(1, bptt))
        except (ValueError, UserError):
            note.update("")
            return
        note.update(
            f"On this text ({self.train_tokens:,} training tokens) a run uses batch {used[0]} "
            f"× bptt {used[1]}."
        )

    @on(Select.Changed, "#field-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        from lstm_tui.core.model.lstm import PRESETS

        preset = PRESETS.get(str(event.value))
        if preset is None or str(event.value) == self.preset:
            return
        self.preset = str(event.value)
        for key in ("layers", "hidden", "embed", "dropout"):
            self.query_one(f"#field-{key}", Input).value = f"{preset[key]:g}"

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_apply(self) -> None:
        values = {key: self.query_one(f"#field-{key}", Input).value for key, _ in self.FIELDS}
        preset = str(self.query_one("#field-preset", Select).value)
        device = str(self.query_one("#field-device", Select).value)
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        try:
            result = parse_form(values, preset, device, self.train)
        except FieldError as e:
            self.query_one("#form-error", Static).update(f"✗ {e}")
            field = self.query_one(f"#field-{e.field}")
            field.add_class("-invalid")
            field.focus()
            return
        self.dismiss(result)
