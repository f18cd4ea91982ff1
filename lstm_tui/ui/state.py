"""The app's states, as enums: what the training side is doing, what a load is for."""

from __future__ import annotations

from enum import Enum


class TrainState(str, Enum):
    """What the training side of the app is doing (a str, so it reads as its name)."""

    LOADING = "loading"  # no model yet, one is being loaded
    NONE = "none"  # no model, none coming: every load failed (the bundled one too)
    IDLE = "idle"
    STARTING = "starting"  # the run's thread reads the corpus and builds its trainer
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"  # asked to stop; ends after the step in progress

    def __str__(self) -> str:
        return self.value

    @property
    def running(self) -> bool:
        return self in _RUNNING


_RUNNING = frozenset(
    {TrainState.STARTING, TrainState.TRAINING, TrainState.PAUSED, TrainState.STOPPING}
)


class LoadKind(str, Enum):
    """What a load builds."""

    CHECKPOINT = "checkpoint"
    CORPUS = "corpus"  # a new vocabulary and untrained model for a text
    ARCHITECTURE = "architecture"  # a new shape, same vocabulary and text

    def __str__(self) -> str:
        return self.value


def action_allowed(action: str, state: TrainState, ready: bool, narrow: bool) -> bool | None:
    """Whether an app action can run now (Textual's ``check_action``).

    True: it can. Not possible now: False (dimmed in the footer) or, on a small terminal,
    None (left out of the footer to make room). ``ready``: a model is loaded, no load running.
    """
    off = False if narrow else None
    paused = state is TrainState.PAUSED
    if action == "pause":
        return False if paused else (True if state is TrainState.TRAINING else off)
    if action == "resume":
        return paused
    if action == "stop":
        return True if state.running and state is not TrainState.STOPPING else off
    if action == "train":
        return True if ready and (not state.running or paused) else off
    if action == "reset":
        return True if ready and not state.running else off
    if action in ("save", "hyperparams"):
        return True if ready else off
    return True
