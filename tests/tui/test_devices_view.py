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


async def test_live_metrics_of_a_served_device_and_the_fix_for_one_without(
    app: StudioApp, recorder: Recorder, lab: Lab, tiny_models, tmp_path, capsys
) -> None:
    """`l` follows the selected device's agent service through the SSH tunnel (issue 13's
    MetricsSession): predicts sent meanwhile show up; a device without the service shows
    its fix and is not polled again."""
    import os
    import signal

    import numpy as np

    from tests.helpers.sshd import processes_with
    from tfstudio.cli import main
    from tfstudio.studio import Studio

    device = lab.add("livecam")
    lab.add("quietcam")
    assert main(["deploy", str(tiny_models["float32"]), "--to", "livecam", "--json"]) == 0
    assert main(["agent", "serve", "livecam", "--enable", "--port", "0", "--json"]) == 0
    capsys.readouterr()
    try:
        async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
            await pilot.press("6")
            await _select_device(pilot, "livecam")
            await pilot.press("l")
            await wait_for(pilot, lambda: recorder.of("MetricsRead"), timeout=60)
            first = recorder.of("MetricsRead")[0].metrics
            assert first.ok and first.device == "livecam", first.error
            panel = app.screen.query_one("#device-metrics", Static)
            text = str(panel.render())
            assert "livecam" in text and "requests" in text and "mlp.float32.tflite" in text

            # Traffic meanwhile (a predict through the CLI) shows in a later scrape.
            x = tmp_path / "x.npy"
            np.save(x, np.zeros((1, 64), np.float32))
            assert main(["predict", "livecam", "--input", str(x), "--json"]) == 0
            await wait_for(
                pilot,
                lambda: any(m.metrics.predicts == 1 for m in recorder.of("MetricsRead")),
                timeout=30,
            )
            await pilot.pause(0.2)
            assert "predicts 1" in str(panel.render())

            # Another device stops the first; without a service, its fix shows.
            await _select_device(pilot, "quietcam")
            assert app.screen.live is None
            await pilot.press("l")
            await wait_for(
                pilot, lambda: any(not m.metrics.ok for m in recorder.of("MetricsRead")), 60
            )
            text = str(panel.render())
            assert "the agent's server is not running" in text
            assert "s in 6 Devices (select quietcam): serve the agent" in text
            assert app.screen.live is None  # not polled again until asked
    finally:
        main(["agent", "serve", "livecam", "--disable"])
        for pid in processes_with(device.agent_home):
            os.kill(pid, signal.SIGKILL)
    assert Studio().device("livecam").name == "livecam"
