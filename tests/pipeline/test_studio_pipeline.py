"""The watch pipeline's control (`tfstudio.workflows.pipeline.control.Pipeline`): the
watcher switched on and off in the background, its events, and
the Pipeline view in the terminal UI showing them live."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import SelectionList

from tests.helpers.sshd import free_port
from tests.pipeline.conftest import SmallModel, half_written, place
from tests.tui.conftest import NO_DOCKER, table_rows, wait_for
from tfstudio.errors import DeviceError, UsageError
from tfstudio.studio import Studio
from tfstudio.workflows.pipeline.control import Pipeline
from tfstudio.workflows.pipeline.events import PipelineEvent
from tfstudio.workflows.pipeline.settings import PipelineSettings


def _wait(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_pipeline_starts_and_stops_in_the_background_with_its_events(
    workspace: Path, small_model: SmallModel, studio_home: Path
) -> None:
    studio = Studio()
    pipeline = Pipeline(studio)
    with pytest.raises(DeviceError):  # an unknown device fails before anything starts
        pipeline.start(PipelineSettings(root=workspace, deploy_to=("nope",)))
    assert not pipeline.running
    with pytest.raises(UsageError, match="is not a directory"):
        pipeline.start(PipelineSettings(root=workspace / "missing"))

    seen: list[PipelineEvent] = []
    pipeline.start(PipelineSettings(root=workspace, settle_s=0.2), on_event=seen.append)
    try:
        assert pipeline.running
        with pytest.raises(UsageError, match="already running"):
            pipeline.start(PipelineSettings(root=workspace))
        half_written(workspace, "half", small_model.saved_model)
        _wait(lambda: seen and seen[0].step == "watch")
        time.sleep(0.6)  # several looks at the half-written export: it is never taken
    finally:
        assert pipeline.stop(30)
    assert not pipeline.running
    assert [(e.step, e.status) for e in seen] == [("watch", "started"), ("watch", "stopped")]
    assert pipeline.recent() == seen
    assert [(e.step, e.status) for e in pipeline.log()] == [
        ("watch", "started"),
        ("watch", "stopped"),
    ]
    studio.close()


@pytest.mark.usefixtures("tensorflow_child")  # the watcher converts the export
async def test_the_pipeline_view_switches_it_on_and_shows_events_live(
    workspace: Path, small_model: SmallModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfstudio.fleet.registry import Device, add_device
    from tfstudio.tui.app import make_app

    # A device nobody answers for: its deploy fails in one line, the others go on.
    add_device(Device(name="gone", host="127.0.0.1", port=free_port(), user="nobody"))
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    app = make_app(Studio())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("7")
        await pilot.press("ctrl+r")  # no folder yet: one message, nothing starts
        await pilot.pause(0.2)
        assert "name the folder to watch" in [n.message for n in app._notifications]
        assert not app.pipeline.running
        await pilot.click("#pipe-dir")
        await pilot.press(*str(workspace))
        await pilot.click("#pipe-settle")
        await pilot.press(*"0.2")
        await wait_for(pilot, lambda: table_rows_of(app, "#pipe-devices") == 2, timeout=10)
        devices = app.screen.query_one("#pipe-devices", SelectionList)
        devices.select_all()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.pipeline.running, timeout=10)
        status = app.screen.query_one("#pipe-status").render()
        assert f"watching {workspace}" in str(status)

        place(small_model.saved_model, workspace, "digits", "1")

        def outcome() -> list[str] | None:
            rows = table_rows(app, "#pipe-events")
            return next((r for r in rows if r[2] == "export" and r[4] != "started"), None)

        await wait_for(pilot, outcome, timeout=240)
        rows = table_rows(app, "#pipe-events")
        steps = [(r[1], r[2], r[3], r[4]) for r in rows]
        assert ("digits/1", "convert", "float32", "ok") in steps
        assert ("digits/1", "deploy", "local", "ok") in steps
        [failed] = [r for r in rows if r[2:4] == ["deploy", "gone"] and r[4] != "started"]
        assert "failed" in failed[4] and failed[5].startswith("gone:")  # red, one line
        await wait_for(pilot, lambda: len(table_rows(app, "#pipe-chains")) == 2, timeout=10)
        chains = table_rows(app, "#pipe-chains")
        assert sorted((r[0], r[3], r[5], r[6]) for r in chains) == [
            ("digits/1", "float32", "gone", "failed"),
            ("digits/1", "float32", "local", "ok"),
        ]

        await pilot.press("ctrl+r")  # off again
        await wait_for(pilot, lambda: not app.pipeline.running, timeout=30)
        await wait_for(
            pilot, lambda: "pipeline off" in str(app.screen.query_one("#pipe-status").render())
        )
        assert table_rows(app, "#pipe-events")[-1][2:5] == ["watch", "", "stopped"]


def table_rows_of(app: object, selector: str) -> int:
    """How many options a SelectionList on the current screen offers."""
    return app.screen.query_one(selector, SelectionList).option_count  # type: ignore[attr-defined]
