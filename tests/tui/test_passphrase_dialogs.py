"""One passphrase dialog per key: two reads that both found the key locked (the Jobs
view's board and a worker's after-fan-out question, in either order under load) ask
once, and the one answer opens the key for both."""

from __future__ import annotations

from tests.tui.conftest import wait_for
from tfstudio.studio.types import PassphraseRequired
from tfstudio.tui.app import StudioApp
from tfstudio.tui.modals.passphrase import PassphraseModal


def _dialogs(app: StudioApp) -> list[str]:
    return [s.key_path for s in app.screen_stack if isinstance(s, PassphraseModal)]


async def test_a_key_already_asked_for_is_not_asked_for_again(app: StudioApp) -> None:
    async with app.run_test(size=(100, 32)) as pilot:
        retried: list[str] = []
        app.report_failure(PassphraseRequired("gpubox", "/keys/lab"), lambda: retried.append("a"))
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseModal))
        app.report_failure(PassphraseRequired("a device", "/keys/lab"), lambda: retried.append("b"))
        app.report_failure(PassphraseRequired("a device", "/keys/other"), None)
        await pilot.pause(0.3)
        assert sorted(_dialogs(app)) == ["/keys/lab", "/keys/other"]
        await pilot.press("escape")  # skips /keys/other, the one on top
        await wait_for(pilot, lambda: _dialogs(app) == ["/keys/lab"])
        await pilot.press(*"s3cret", "enter")
        await wait_for(pilot, lambda: _dialogs(app) == [])
        assert app.studio.connector.knows("/keys/lab") and retried == ["a"]
