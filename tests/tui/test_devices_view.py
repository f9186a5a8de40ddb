"""The devices view against loopback sshd devices: host-key trust, key passphrases."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from tests.fleet.conftest import Lab
from tests.tui.conftest import Recorder, add_locked_device, wait_for
from tfstudio.errors import HostKeyError
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import get_device
from tfstudio.tui.app import StudioApp
from tfstudio.tui.modals.hostkey import HostKeyModal


async def _select_device(pilot, name: str) -> None:
    table = pilot.app.screen.query_one("#device-table", DataTable)
    await wait_for(pilot, lambda: table.row_count >= 2)
    keys = [str(k.value) for k in table.rows]
    table.focus()
    table.move_cursor(row=keys.index(name))
    await pilot.pause()


async def test_unknown_key_refused_then_trusted_via_the_dialog(
    app: StudioApp, recorder: Recorder, lab: Lab
) -> None:
    lab.add("newcam", trust=False, install=False)
    fp = lab.servers[0].host_fingerprint
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await pilot.press("6")
        await _select_device(pilot, "newcam")

        # A connection to an unknown key is refused with its fingerprint.
        await pilot.press("c")
        await wait_for(pilot, lambda: recorder.of("Checked"), timeout=60)
        (check,) = recorder.of("Checked")[0].result
        assert not check.reachable and fp in check.error

        # Trust: the dialog shows the fingerprint; refusing records nothing.
        await pilot.press("t")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, HostKeyModal) and app.screen)
        assert fp in str(modal.query_one("#hostkey-body", Static).render())
        await pilot.press("escape")
        await pilot.pause(0.2)
        with pytest.raises(HostKeyError):
            open_transport(get_device("newcam"))

        # Trust it this time: the key is recorded and a connection works.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyModal))
        await pilot.press("t")
        await wait_for(pilot, lambda: recorder.of("HostKeyTrusted"), timeout=60)
        assert recorder.names({"HostKeyScanned", "HostKeyTrusted"}) == [
            "HostKeyScanned",
            "HostKeyTrusted",
        ]
        assert recorder.of("HostKeyTrusted")[0].offer.fingerprint == fp
    with open_transport(get_device("newcam")) as transport:
        assert transport.run(["true"]).ok


async def test_encrypted_key_asks_for_its_passphrase_then_retries(
    app: StudioApp, recorder: Recorder, lab: Lab, tmp_path
) -> None:
    from textual.widgets import Input

    from tfstudio.tui.modals.passphrase import PassphraseModal

    key = add_locked_device(lab, "lockedcam", tmp_path).key
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await pilot.press("6")
        await _select_device(pilot, "lockedcam")
        await pilot.press("c")
        modal = await wait_for(
            pilot, lambda: isinstance(app.screen, PassphraseModal) and app.screen
        )
        assert modal.key_path == str(key)
        field = modal.query_one(Input)
        assert field.password  # masked
        await pilot.press(*"s3cret", "enter")
        await wait_for(pilot, lambda: len(recorder.of("Checked")) == 2, timeout=60)
        first, second = (m.result.outcome("lockedcam") for m in recorder.of("Checked"))
        assert not first.reachable and second.reachable
