"""Forms and lists (issue 19): state that reads without colour, and dialogs usable at 80x24.

- a ticked box and an unticked one differ in plain text, in every view, and the
  device lists start alike (`local` ticked); the first Space in a list acts on
  the row its cursor shows;
- the device form at 80x24 shows every field, its error line and its buttons,
  scrolls to the focused field, and what is typed lands there; a device can be
  edited in place; installing the agent asks which runtime.
"""

from __future__ import annotations

from typing import Any

from textual.widget import Widget
from textual.widgets import Input

from tests.tui.conftest import wait_for
from tests.tui.screen_text import screen_text
from tfstudio.studio.types import Device
from tfstudio.tui.app import StudioApp


async def _view(pilot: Any, key: str, ready: str) -> Any:
    await pilot.press(key)
    screen = await wait_for(pilot, lambda: pilot.app.screen.query(ready) and pilot.app.screen)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return screen


def _line(text: str, word: str) -> str:
    """The first line of `text` where `word` is a whole cell (e.g. a list row's name)."""
    return next(line for line in text.splitlines() if f" {word} " in f"{line} ")


def seen(widget: Widget) -> bool:
    """True when the widget is drawn where the user can see it (not clipped, not
    scrolled away, not under something else)."""
    region = widget.region
    if not region.area:
        return False
    screen = widget.screen
    inside = screen.region.contains_region(region)
    try:
        top, _ = screen.get_widget_at(region.x + region.width // 2, region.y)
    except Exception:  # noqa: BLE001 - nothing there
        return False
    return inside and (top is widget or widget in top.ancestors)


async def test_ticked_and_unticked_read_differently_in_plain_text(app: StudioApp) -> None:
    app.studio.add_device(Device(name="cam1", host="192.0.2.10"))
    async with app.run_test(size=(100, 32)) as pilot:
        await _view(pilot, "3", "#mode-float32")
        text = screen_text(app)
        assert "X" in _line(text, "float32")  # ticked by default
        for mode in ("dynamic", "float16", "int8", "int16x8"):
            assert "X" not in _line(text, mode), text
        # The device lists of the three forms start alike: the built-in device ticked.
        for key, selector in (("4", "#targets"), ("5", "#bench-targets"), ("7", "#pipe-devices")):
            screen = await _view(pilot, key, selector)
            await wait_for(pilot, lambda s=screen, q=selector: s.query_one(q).option_count == 2)
            await pilot.pause()
            text = screen_text(app)
            assert "X" in _line(text, "local"), (key, text)
            assert "X" not in _line(text, "cam1"), (key, text)
            assert list(screen.query_one(selector).selected) == ["local"], key


async def test_the_first_space_in_a_list_acts_on_the_row_it_shows(app: StudioApp) -> None:
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await _view(pilot, "4", "#targets")
        targets = screen.query_one("#targets")
        await wait_for(pilot, lambda: targets.option_count == 1)
        targets.focus()
        await pilot.pause()
        assert targets.highlighted == 0  # the cursor shows on a row
        await pilot.press("space")
        assert list(targets.selected) == []  # that row, unticked
        assert "X" not in _line(screen_text(app), "local")
        # A refresh keeps the user's choice, even none (no `local` ticked behind their back).
        screen.refresh_view()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert list(targets.selected) == []


async def test_the_device_form_at_80x24_shows_each_field_where_you_type(
    app: StudioApp,
) -> None:
    from tfstudio.tui.modals.add_device import AddDeviceModal

    async with app.run_test(size=(80, 24)) as pilot:
        await _view(pilot, "6", "#device-table")
        await pilot.press("a")
        form = await wait_for(pilot, lambda: isinstance(app.screen, AddDeviceModal) and app.screen)
        await pilot.pause()
        assert seen(form.query_one("#add"))  # the button is on screen from the start
        for field, text in (
            ("name", "pi1"),
            ("host", "192.0.2.7"),
            ("port", "2200"),
            ("user", "pi"),
            ("key", ""),
            ("python", "python3.11"),
        ):
            widget = form.query_one(f"#add-{field}", Input)
            assert form.focused is widget, (field, form.focused)
            assert seen(widget), f"{field} is hidden at 80x24"
            await pilot.press(*text)
            assert widget.value == text
            await pilot.press("tab")
        assert seen(form.query_one("#add-error"))
        await pilot.click("#add")
        await wait_for(pilot, lambda: "pi1" in [d.name for d in app.studio.devices()])
    device = app.studio.device("pi1")
    assert (device.host, device.port, device.user, device.python) == (
        "192.0.2.7",
        2200,
        "pi",
        "python3.11",
    )


async def test_a_device_is_edited_in_place(app: StudioApp) -> None:
    from tfstudio.tui.modals.add_device import AddDeviceModal

    app.studio.add_device(Device(name="cam1", host="192.0.2.10", user="pi"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _view(pilot, "6", "#device-table")
        table = screen.query_one("#device-table")
        await wait_for(pilot, lambda: table.row_count == 2)
        table.move_cursor(row=1)
        await pilot.press("e")
        form = await wait_for(pilot, lambda: isinstance(app.screen, AddDeviceModal) and app.screen)
        assert form.query_one("#add-name", Input).value == "cam1"
        assert form.query_one("#add-name", Input).disabled  # the name stays
        assert form.query_one("#add-host", Input).value == "192.0.2.10"
        python = form.query_one("#add-python", Input)
        python.value = "/opt/venv/bin/python3"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.studio.device("cam1").python == "/opt/venv/bin/python3")
    device = app.studio.device("cam1")
    assert (device.host, device.user) == ("192.0.2.10", "pi")


async def test_installing_the_agent_asks_which_runtime(app: StudioApp) -> None:
    from tfstudio.tui.modals.choice import ChoiceModal

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _view(pilot, "6", "#device-table")
        await wait_for(pilot, lambda: screen.query_one("#device-table").row_count == 1)
        await pilot.press("i")
        dialog = await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal) and app.screen)
        text = screen_text(app)
        assert "ai-edge-litert" in text and "tflite-runtime" in text
        assert dialog.query_one("#choices").highlighted == 0  # the runtime it has
        await pilot.press("escape")
        assert not isinstance(app.screen, ChoiceModal)
        assert not screen.busy  # nothing installed
