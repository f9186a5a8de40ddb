"""What every view shows around its content (issue 19): the views with their keys on
top (the current one marked without colour), and `? Help` and `q Quit` in the footer
at 80 and 100 columns, whatever the view adds; dialogs show their own keys."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.conftest import wait_for
from tests.tui.screen_text import screen_text
from tfstudio.tui.app import StudioApp

TITLES = ["1 Dashboard", "2 Jobs", "3 Convert", "4 Deploy", "5 Bench", "6 Devices", "7 Pipeline"]


@pytest.mark.parametrize("size", [(80, 24), (100, 32)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_view_shows_the_view_keys_and_help_and_quit(
    app: StudioApp, size: tuple[int, int]
) -> None:
    async with app.run_test(size=size) as pilot:
        for key, title in zip("1234567", TITLES, strict=True):
            await pilot.press(key)
            await wait_for(pilot, lambda t=title: f"[{t}]" in screen_text(app).splitlines()[0])
            # A shown view's footer is composed a moment after its header (longer on a
            # loaded machine): wait for it, then read both.
            await wait_for(pilot, lambda: "q Quit" in screen_text(app).splitlines()[-1], 30)
            lines = screen_text(app).splitlines()
            for other in TITLES:
                assert other in lines[0], (title, lines[0])
            assert "? Help" in lines[-1] and "q Quit" in lines[-1], (title, lines[-1])


async def test_a_dialog_shows_its_own_keys_not_the_views(app: StudioApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: "[6 Devices]" in screen_text(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: "Add a device" in screen_text(app))
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "esc Cancel" in footer
        assert "Check" not in footer and "q Quit" not in footer


async def test_a_view_in_the_bar_is_a_click_away(app: StudioApp) -> None:
    async with app.run_test(size=(100, 32)) as pilot:
        first = screen_text(app).splitlines()[0]
        await pilot.click(offset=(first.index("5 Bench") + 2, 0))
        await wait_for(pilot, lambda: "[5 Bench]" in screen_text(app).splitlines()[0])
        assert type(app.screen).__name__ == "BenchScreen"
        _: Any = None


async def test_the_footer_says_what_escape_does(app: StudioApp) -> None:
    """In a field Escape leaves it (the footer says so); on a table, with nothing
    running, Escape does nothing and the footer offers neither."""
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "[3 Convert]" in screen_text(app).splitlines()[0])
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "Leave field" not in footer and "esc Cancel" not in footer, footer
        await pilot.press("tab")
        await wait_for(pilot, lambda: "esc Leave field" in screen_text(app).splitlines()[-1])
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Leave field" not in screen_text(app).splitlines()[-1])
        assert type(app.screen.focused).__name__ == "DataTable"
