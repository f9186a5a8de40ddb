"""No key traps (issue 19): whatever has the focus in whichever view, Escape then a view
key, `?` or `q` does what it says; no view opens (or comes back) with the focus in
a text field; Escape leaves a field; Enter in a form's field submits it."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input

from tests.tui.conftest import wait_for
from tfstudio.tui.app import StudioApp
from tfstudio.tui.screens.base import StudioScreen
from tfstudio.tui.screens.help import HelpScreen

SIZES = [(80, 24), (100, 32)]
SCREENS = {
    "dashboard": "DashboardScreen",
    "jobs": "JobsScreen",
    "convert": "ConvertScreen",
    "deploy": "DeployScreen",
    "bench": "BenchScreen",
    "devices": "DevicesScreen",
    "pipeline": "PipelineScreen",
}
"""Each view and its screen class."""
KEYS = {str(i): view for i, view in enumerate(SCREENS, 1)}
OWN_KEY = {view: key for key, view in KEYS.items()}


def _shows(app: StudioApp, view: str) -> bool:
    return type(app.screen).__name__ == SCREENS[view]


async def _show(pilot: Any, view: str) -> StudioScreen:
    app = pilot.app
    app.action_go(view)
    screen = await wait_for(
        pilot, lambda: _shows(app, view) and app.screen.is_mounted and app.screen, timeout=30
    )
    await pilot.pause()
    return screen


def _texts(screen: StudioScreen) -> dict[str, str]:
    return {str(w.id): w.value for w in screen.query(Input)}


def _resolves(screen: StudioScreen, key: str, action: str) -> bool:
    """True when `key` pressed now reaches the app's `action` (Textual's dispatch: the
    focused widget takes the keys it consumes, then the bindings from it upwards)."""
    focused = screen.focused
    if focused is not None and focused.check_consume_key(key, key):
        return False
    bound = screen.active_bindings.get(key)
    return bound is not None and bound.binding.action == action


@pytest.mark.usefixtures("slow_scenario")  # every widget of every view: a minute
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_escape_then_any_view_key_help_or_quit_works_from_every_widget(
    app: StudioApp, size: tuple[int, int]
) -> None:
    """For every focusable widget of every view: focus it, Escape, then every view key,
    `?` and `q` resolve to the app's go, help and quit from there (Textual's dispatch,
    nothing typed), and one of them is pressed for real, in turn from widget to widget:
    `?` opens the help, `q` asks to quit, the view's own key and another view's switch."""
    quits: list[str] = []
    others = [key for key in KEYS]
    pressed: set[str] = set()
    async with app.run_test(size=size) as pilot:
        app.exit = lambda *a, **k: quits.append("quit")  # type: ignore[method-assign]
        walked = 0
        for view in SCREENS:
            screen = await _show(pilot, view)
            await app.workers.wait_for_complete()
            await pilot.pause()
            count = len(list(screen.focus_chain))
            assert count, view
            for index in range(count):
                other = others[walked % len(others)]
                if KEYS[other] == view:
                    other = others[(walked + 1) % len(others)]
                key = ["?", "q", OWN_KEY[view], other][walked % 4]
                screen = await _show(pilot, view)
                widget = list(screen.focus_chain)[index]
                widget.focus()
                await pilot.pause()
                before = _texts(screen)
                where = f"{view}: {widget!r}, key {key!r}"
                await pilot.press("escape")
                for digit, target in KEYS.items():
                    assert _resolves(screen, digit, f"go('{target}')"), f"{where} {digit}"
                assert _resolves(screen, "question_mark", "help"), where
                assert _resolves(screen, "q", "quit"), where
                await pilot.press(key)
                await pilot.pause()
                assert _texts(screen) == before, f"typed into a field ({where})"
                pressed.add(key)
                if key in KEYS:
                    assert _shows(app, KEYS[key]), where
                elif key == "?":
                    assert isinstance(app.screen, HelpScreen), where
                    await pilot.press("escape")
                else:
                    assert quits == ["quit"], where
                    quits.clear()
                walked += 1
        del app.exit
    assert walked >= 40  # every focusable widget of the seven views
    assert pressed == {*KEYS, "?", "q"}


async def test_no_view_opens_or_comes_back_with_the_focus_in_a_text_field(
    app: StudioApp,
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        for view in SCREENS:
            screen = await _show(pilot, view)
            assert not isinstance(screen.focused, Input), view
            fields = [w for w in screen.focus_chain if isinstance(w, Input)]
            if not fields:
                continue
            fields[0].focus()
            await pilot.press("1")  # typed: a field keeps its keys
            assert fields[0].value.endswith("1")
            await _show(pilot, "dashboard")
            screen = await _show(pilot, view)
            assert not isinstance(screen.focused, Input), f"{view} came back in a field"
            await pilot.press("2")
            assert _shows(app, "jobs"), view  # a view key, not a typed 2


async def test_escape_leaves_a_field_and_only_then_cancels(app: StudioApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _show(pilot, "convert")
        source = screen.query_one("#source", Input)
        source.focus()
        await pilot.press(*"abc", "escape")
        assert screen.focused is not source and not isinstance(screen.focused, Input)
        assert source.value == "abc"
        await pilot.press("3", "?")
        assert source.value == "abc" and isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize(
    ("view", "field", "button"),
    [
        ("convert", "#eval", "#convert"),
        ("deploy", "#max-p99", "#deploy"),
        ("bench", "#runs", "#bench"),
        ("pipeline", "#pipe-settle", "#pipe-toggle"),
    ],
)
async def test_enter_in_a_forms_last_field_submits(
    app: StudioApp, view: str, field: str, button: str
) -> None:
    """The forms' checks answer (a notification saying what is missing, or the
    operation starts): Enter in the last field is the form's action."""
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await _show(pilot, view)
        await app.workers.wait_for_complete()
        if view == "bench":
            screen.query_one("#bench-targets").deselect_all()
        if view == "deploy":
            screen.query_one("#targets").deselect_all()
        before = len(app._notifications)
        screen.query_one(field, Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert len(app._notifications) > before, "Enter did nothing"
