"""The bench view's variants × devices matrix (issue 13's report) against real benches."""

from __future__ import annotations

from pathlib import Path

from tests.fleet.conftest import Lab
from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.measure.bench import BenchSettings
from tfstudio.studio import Studio
from tfstudio.tui.app import StudioApp

FAST = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


async def test_x_shows_the_matrix_with_what_was_never_measured(
    app: StudioApp, recorder: Recorder, lab: Lab, tiny_models: dict[str, Path]
) -> None:
    lab.add("spare", install=False)  # registered, never benched: an unmeasured column
    studio = Studio()
    (row,) = studio.bench(studio.resolve("local"), tiny_models["int8"], FAST)
    assert row.ok
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: table_rows(app, "#bench-table"))
        assert table_rows(app, "#bench-table")[0][:2] == ["local", "mlp.int8.tflite"]

        await pilot.press("x")
        await wait_for(pilot, lambda: recorder.of("ReportRead"), timeout=60)
        await pilot.pause(0.2)
        rows = {(r[0], r[1]): r for r in table_rows(app, "#bench-table")}
        measured = rows[("mlp.int8.tflite", "local")]
        assert abs(float(measured[5]) - row.value("p50_ms")) < 6e-4  # p50_ms, 3 decimals
        assert rows[("mlp.int8.tflite", "spare")][-1] == "not measured"
        status = str(app.screen.query_one("#bench-status").render())
        assert "1 measured" in status and "not measured" in status

        await pilot.press("x")  # back to the newest runs
        await pilot.pause(0.2)
        assert table_rows(app, "#bench-table")[0][:2] == ["local", "mlp.int8.tflite"]
