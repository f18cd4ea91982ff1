"""Issue 16 in the app. Item 17: every dialog's fields and buttons can be reached on a small
terminal; item 16: a misspelt binding id in ``[keys]`` is said.

At 120×40 the F9 form hid Apply and Cancel; at 80×24 its epochs, seconds, seed and device
fields and the Load dialog's buttons were below the screen's edge, with no way to scroll to
them. Each dialog is driven with Tab as a user would, and each control, once focused, must be
the widget actually drawn at its own centre (not clipped away, not under the edge).
"""

from __future__ import annotations

import asyncio

import pytest
from textual.widget import Widget
from textual.widgets import Button, Input, Select

from lstm_tui.core.store import paths
from lstm_tui.ui.app import LstmApp
from lstm_tui.ui.screens.files import LoadScreen
from lstm_tui.ui.screens.hyperparams import HyperparamsScreen

from .conftest import toasts, wait_for, wait_ready


def _shown(widget: Widget) -> bool:
    """Whether the widget is on screen where it is: the compositor finds it at its centre."""
    region = widget.region
    if not region.area:
        return False
    screen = widget.screen
    if not screen.region.contains_region(region):
        return False
    try:
        found, _ = screen.get_widget_at(*region.center)
    except Exception:  # nothing there: off the screen
        return False
    return found is widget or widget in found.ancestors_with_self


async def _tab_through(pilot, screen_type: type, controls: set[str]) -> dict[str, bool]:
    """Tab around the dialog once; for each control met, whether it was shown when focused."""
    seen: dict[str, bool] = {}
    for _ in range(40):
        focused = pilot.app.focused
        assert isinstance(pilot.app.screen, screen_type)
        if focused is not None and focused.id in controls:
            await pilot.pause()
            seen[focused.id] = seen.get(focused.id, False) or _shown(focused)
        await pilot.press("tab")
        await pilot.pause()
    return seen


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_the_hyperparameters_form_can_be_scrolled_to_every_field(size) -> None:
    asyncio.run(_hyperparameters(size))


async def _hyperparameters(size: tuple[int, int]) -> None:
    app = LstmApp(fresh=True)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, HyperparamsScreen), "the form")
        controls = {
            w.id
            for w in app.screen.query("Input, Select, Button")
            if isinstance(w, (Input, Select, Button)) and w.id
        }
        assert {"field-epochs", "field-seconds", "field-seed", "field-device"} <= controls
        assert {"apply", "cancel"} <= controls
        seen = await _tab_through(pilot, HyperparamsScreen, controls)
        hidden = sorted(c for c in controls if not seen.get(c))
        assert not hidden, f"at {size[0]}×{size[1]} never shown when focused: {hidden}"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_the_load_dialog_buttons_can_be_reached(size) -> None:
    asyncio.run(_load(size))


async def _load(size: tuple[int, int]) -> None:
    # A full table (it grows to 16 rows): files that are not checkpoints are listed too,
    # as unreadable, and cost nothing to make.
    folder = paths.checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(20):
        (folder / f"not-a-model-{i:02}.safetensors").write_bytes(b"x")
    app = LstmApp(fresh=True)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadScreen), "the load dialog")
        seen = await _tab_through(pilot, LoadScreen, {"load", "cancel"})
        assert seen.get("load") and seen.get("cancel"), f"at {size[0]}×{size[1]}: {seen}"


# -- 16: a key name in [keys] that no binding has was silently ignored -------------------------


def test_an_unknown_binding_id_in_keys_is_a_warning(user_data) -> None:
    from lstm_tui.core.store.settings import config_path

    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('[keys]\ntrian = "f10"\ntrain = "f5,ctrl+t"\n', encoding="utf-8")
    asyncio.run(_unknown_key())


async def _unknown_key() -> None:
    app = LstmApp(fresh=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: any("trian" in t for t in toasts(app)), "the warning")
        (shown,) = [t for t in toasts(app) if "trian" in t]
        assert "no binding called 'trian'" in shown and "'train'" not in shown
