"""The deploy view: to the built-in `local` device and to a loopback sshd device,
with per-device progress and the latency row of the health gate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from textual.widgets import SelectionList

from tests.fleet.conftest import Lab
from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.operations import StageStarted, TargetFinished, TransferTick
from tfstudio.tui.app import StudioApp


async def _deploy(pilot: Any, model: Path, devices: list[str]) -> None:
    await pilot.press("4")
    targets = await wait_for(
        pilot,
        lambda: (
            pilot.app.screen.query(SelectionList).first()
            if pilot.app.screen.query(SelectionList)
            else None
        ),
    )
    await wait_for(pilot, lambda: targets.option_count >= len(devices))
    targets.deselect_all()
    for name in devices:
        targets.select(name)
    await pilot.click("#model-path")
    await pilot.press(*str(model))
    await pilot.press("ctrl+r")


async def test_deploy_to_local_shows_progress_and_latency(
    app: StudioApp, recorder: Recorder, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "mlp.int8.tflite"
    shutil.copy(tiny_models["int8"], model)
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await _deploy(pilot, model, ["local"])
        await wait_for(pilot, lambda: recorder.of("Deployed"), timeout=180)
        await pilot.pause(0.2)
        assert recorder.names({"DeployRequested", "Progress", "Deployed"}) == [
            "DeployRequested",
            "Progress",
            "Deployed",
        ]
        events = [m.event for m in recorder.of("Progress")]
        stages = [e.stage.value for e in events if isinstance(e, StageStarted)]
        assert (
            stages[:3] == ["connect", "lock", "preflight"]
            and "push" in stages
            and "bench" in stages
        )
        ticks = [e for e in events if isinstance(e, TransferTick)]
        assert ticks and ticks[-1].done == ticks[-1].total == model.stat().st_size
        (finished,) = [e for e in events if isinstance(e, TargetFinished)]
        assert finished.ok and finished.target == "local"

        (row,) = table_rows(app, "#deploy-results")
        device, result, _sent, p50, p99, _detail = row
        assert (device, result) == ("local", "ok")
        assert float(p50) > 0 and float(p99) >= float(p50)
        progress = app.screen.query_one("#deploy-progress")
        assert "local" in progress.texts and "active" in progress.texts["local"]


async def test_deploy_to_an_ssh_device_and_local_at_once(
    app: StudioApp, recorder: Recorder, lab: Lab, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    lab.add("cam1")
    model = tmp_path / "mlp.float16.tflite"
    shutil.copy(tiny_models["float16"], model)
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await _deploy(pilot, model, ["cam1", "local"])
        await wait_for(pilot, lambda: recorder.of("Deployed"), timeout=180)
        await pilot.pause(0.2)
        rows = {r[0]: r for r in table_rows(app, "#deploy-results")}
        assert set(rows) == {"cam1", "local"}
        assert rows["cam1"][1] == "ok" and float(rows["cam1"][4]) > 0
        ticked = {
            m.event.target for m in recorder.of("Progress") if isinstance(m.event, TransferTick)
        }
        assert ticked == {"cam1", "local"}


async def test_refused_device_explains_why_before_any_push(
    app: StudioApp, recorder: Recorder, lab: Lab, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    lab.add("oldcam", python="old-device")
    model = tmp_path / "mlp.dynamic.tflite"
    shutil.copy(tiny_models["dynamic"], model)
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await _deploy(pilot, model, ["oldcam"])
        await wait_for(pilot, lambda: recorder.of("Deployed"), timeout=180)
        await pilot.pause(0.2)
        (row,) = table_rows(app, "#deploy-results")
        assert row[1] == "refused" and "2.17.0" in row[5]
        assert not [m for m in recorder.of("Progress") if isinstance(m.event, TransferTick)]
