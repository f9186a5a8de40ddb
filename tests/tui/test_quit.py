"""`q` while an operation runs (issue 19): the app asks before quitting, and on yes
cancels the operation and shows it stop, then ends; `n` keeps it running. With
nothing running, `q` quits at once."""

from __future__ import annotations

from typing import Any

from tests.tui.conftest import Recorder, wait_for
from tests.tui.screen_text import screen_text
from tfstudio.tui.app import StudioApp
from tfstudio.tui.messages import ConvertRequest, ConvertRequested

MODES = ["float32", "dynamic", "float16", "int8", "int16x8"]


async def _converting(pilot: Any, recorder: Recorder, mlp: Any, out: str) -> Any:
    await pilot.press("3")
    screen = await wait_for(pilot, lambda: pilot.app.screen.query("#results") and pilot.app.screen)
    request = ConvertRequest(str(mlp.h5), out, MODES, str(mlp.rep_npz), None)
    screen.post_message(ConvertRequested(request))
    await wait_for(pilot, lambda: recorder.of("Progress"), timeout=60)
    return screen


async def test_q_during_an_operation_asks_then_cancels_it_and_shows_the_cancel(
    app: StudioApp, recorder: Recorder, mlp, tmp_path
) -> None:
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        screen = await _converting(pilot, recorder, mlp, str(tmp_path / "out"))
        await pilot.press("q")
        await wait_for(pilot, lambda: "an operation is running" in screen_text(app))
        text = screen_text(app)
        assert "convert (3 Convert)" in text and "Cancel and quit" in text
        assert app.is_running and not screen.token.cancelled  # asked, nothing done yet

        await pilot.press("n")  # keep it running
        await wait_for(pilot, lambda: "an operation is running" not in screen_text(app))
        assert app.is_running and screen.busy

        await pilot.press("q")
        await wait_for(pilot, lambda: "an operation is running" in screen_text(app))
        await pilot.press("y")
        assert screen.token.cancelled
        await wait_for(pilot, lambda: "cancelling convert" in screen_text(app), timeout=10)
        await wait_for(pilot, lambda: not app.is_running, timeout=300)
    assert not recorder.of("Converted")  # it stopped, it did not finish
    written = list((tmp_path / "out").glob("*.tflite"))
    assert len(written) < len(MODES)


async def test_q_with_nothing_running_quits_at_once(app: StudioApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: pilot.app.screen.query("#results"))
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=10)
