"""A view's periodic read that fires while the app closes (no screen left on the stack)
does nothing: quitting from a view that polls never ends in a traceback."""

from __future__ import annotations

from textual._context import active_app

from tests.tui.conftest import wait_for
from tfstudio.tui.app import StudioApp


async def test_a_poll_tick_that_fires_as_the_app_closes_is_ignored(app: StudioApp) -> None:
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("6")  # Devices: it polls the live metrics of served devices
        screen = await wait_for(
            pilot, lambda: type(app.screen).__name__ == "DevicesScreen" and app.screen
        )
        ticks = [
            t._callback for t in screen._timers if getattr(t._callback, "__name__", "") == "tick"
        ]
        assert ticks, "the Devices view polls"
    # The app has closed: its screen stack is empty, as when a timer fires during shutdown.
    token = active_app.set(app)
    try:
        for tick in ticks:
            tick()
    finally:
        active_app.reset(token)
