"""The UI's fleet features: the devices list filtered by a selector (labels and groups shown),
and a staged rollout from the deploy view (each wave's progress and verdict, a halted wave
resumed with `u` once the device is fixed), on loopback sshd devices."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import DataTable, Input, SelectionList

from tests.fleet.conftest import Lab
from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.fleet import registry
from tfstudio.fleet.registry import Device
from tfstudio.models.facts import inspect_model
from tfstudio.operations import StageStarted, TargetFinished
from tfstudio.tui.app import StudioApp


async def test_devices_view_shows_labels_and_filters_by_selector(
    app: StudioApp, recorder: Recorder
) -> None:
    for name, labels, groups in (
        ("cam-1", {"site": "lab"}, ("cams",)),
        ("cam-2", {"site": "roof"}, ("cams",)),
        ("gw-1", {"site": "lab"}, ()),
    ):
        registry.add_device(Device(name, host="127.0.0.1", labels=labels, groups=groups))
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await pilot.press("6")
        table = await wait_for(pilot, lambda: app.screen.query("#device-table").first())
        await wait_for(pilot, lambda: table.row_count == 4)
        rows = {r[0]: r for r in table_rows(app, "#device-table")}
        assert rows["cam-1"][-1] == "site=lab group:cams" and rows["local"][-1] == ""

        await pilot.press("slash")
        assert app.screen.query_one("#device-filter", Input).has_focus
        await pilot.press(*"site=lab,group:cams", "enter")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert [r[0] for r in table_rows(app, "#device-table")] == ["cam-1"]

        await pilot.press("slash", "ctrl+a", *"site=mars", "enter")
        await wait_for(pilot, lambda: table.row_count == 0)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")
        await wait_for(pilot, lambda: table.row_count == 4)


async def test_deploy_view_rolls_out_in_waves_and_resumes(
    app: StudioApp, recorder: Recorder, lab: Lab, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from tfstudio.cli import main

    lab.add("wave-a", python="old-device")
    lab.add("wave-b")
    assert main(["deploy", str(tiny_models["float32"]), "--to", "wave-a,wave-b"]) == 0
    model = tmp_path / "mlp.dynamic.tflite"  # runs on the new runtime only
    shutil.copy(tiny_models["dynamic"], model)
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await pilot.press("4")
        targets = await wait_for(pilot, lambda: app.screen.query(SelectionList).first())
        await wait_for(pilot, lambda: targets.option_count >= 3)
        targets.deselect_all()
        for name in ("wave-a", "wave-b"):
            targets.select(name)
        await pilot.click("#model-path")
        await pilot.press(*str(model))
        await pilot.click("#waves")
        await pilot.press(*"1,100%")
        # wave-b first: a seed of 0 orders these two that way (checked by the plan)
        assert app.studio.rollout_plan("wave-a,wave-b", "1,100%") == [["wave-b"], ["wave-a"]]
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: recorder.of("RolledOut"), timeout=180)
        await pilot.pause(0.2)
        halted = recorder.of("RolledOut")[0].result
        assert halted.state == "halted" and halted.halted["wave"] == 2
        events = [m.event for m in recorder.of("Progress")]
        waves = [e for e in events if e.target.startswith("wave ")]
        assert [e.stage.value for e in waves if isinstance(e, StageStarted)][:2] == [
            "deploy",
            "gate",
        ]
        verdicts = [(e.target, e.ok) for e in waves if isinstance(e, TargetFinished)]
        assert verdicts == [("wave 1", True), ("wave 2", False)]
        progress = app.screen.query_one("#deploy-progress")
        assert "failed" in progress.texts["wave 2"] and "preflight" in progress.texts["wave 2"]
        rows = {r[0]: r for r in table_rows(app, "#deploy-results")}
        assert rows["wave-b"][1] == "ok" and rows["wave-a"][1] == "refused"
        status = str(app.screen.query_one("#deploy-status").render())
        assert "halted" in status and "u: resume" in status

        registry.update_device("wave-a", python=str(lab.venvs["device"]))  # upgraded
        app.screen.query_one("#deploy-results", DataTable).focus()  # out of the form's inputs
        await pilot.press("u")
        await wait_for(pilot, lambda: len(recorder.of("RolledOut")) == 2, timeout=180)
        await pilot.pause(0.2)
        done = recorder.of("RolledOut")[1].result
        assert done.state == "done" and done.id == halted.id
        assert "done" in str(app.screen.query_one("#deploy-status").render())
        assert {r[1] for r in table_rows(app, "#deploy-results")} == {"ok"}
    sha = inspect_model(model).sha256
    assert all(d["active"] == sha for d in done.record["devices"].values())
