"""A newcomer inside the UI on the embedded default: the demo end to end (train, export,
convert every mode, deploy and bench each on the built-in `local` device) with its table,
then deploy int8 again from the deploy view, bench it, export the numbers."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Select

from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.tui.app import StudioApp


@pytest.mark.usefixtures("tensorflow_child", "tensorflow_runtime")  # trains here, converts
async def test_demo_deploy_bench_export_on_the_local_device(
    app: StudioApp, recorder: Recorder, studio_home
) -> None:
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: "press d" in str(table_rows(app, "#models")))
        await pilot.press("d")
        # Progress per stage in the side panel while it runs.
        await wait_for(pilot, lambda: "… train" in str(app.screen.query_one("#details").render()))
        await wait_for(pilot, lambda: recorder.of("DemoFinished"), timeout=400)
        # The result: the demo's table, one row per mode with its latency on `local`.
        await wait_for(
            pilot, lambda: app.screen.query("#demo-table") and table_rows(app, "#demo-table")
        )
        rows = table_rows(app, "#demo-table")
        assert [r[0] for r in rows] == ["float32", "dynamic", "float16", "int8", "int16x8"]
        assert all(r[-1] == "ok" and float(r[3]) > 0 and float(r[4]) > 0 for r in rows), rows
        # No engine here (DOCKER_HOST points nowhere): it trained in this process, and says why.
        training = str(app.screen.query_one("#demo-training").render())
        assert "trained in this process (no container: Docker Engine 'local'" in training
        stages = str(app.screen.query_one("#demo-stages").render())
        for stage in ("train", "export", "convert", "deploy", "bench", "total"):
            assert f"{stage} " in stages
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query("#demo-table"))
        await wait_for(pilot, lambda: len(table_rows(app, "#models")) == 5, timeout=60)
        modes = sorted(r[1] for r in table_rows(app, "#models"))
        assert modes == ["dynamic", "float16", "float32", "int16x8", "int8"]

        # The demo's variants are the convert view's results.
        await pilot.press("3")
        await wait_for(pilot, lambda: len(table_rows(app, "#results")) == 5)

        # Deploy: the int8 variant and `local` are preselected.
        await pilot.press("4")
        select = await wait_for(
            pilot, lambda: app.screen.query(Select) and app.screen.query_one("#variant", Select)
        )
        await wait_for(pilot, lambda: str(select.value).endswith("digits.int8.tflite"))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: recorder.of("Deployed"), timeout=180)
        await pilot.pause(0.2)
        (row,) = table_rows(app, "#deploy-results")
        assert row[:2] == ["local", "ok"] and float(row[4]) > 0

        # Bench the active model; its row joins the demo's (one per variant) and is exported.
        await pilot.press("5")
        await wait_for(pilot, lambda: app.screen.query("#bench-table"))
        await pilot.click("#runs")
        await pilot.press(*"20")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: recorder.of("Benched"), timeout=180)
        await wait_for(pilot, lambda: table_rows(app, "#bench-table"))
        bench_rows = table_rows(app, "#bench-table")
        assert {r[1] for r in bench_rows} == {f"digits.{m}.tflite" for m in modes}
        assert all(r[0] == "local" and float(r[2]) > 0 for r in bench_rows)
        assert len(recorder.of("Benched")) == 1
        await pilot.click("#bench-table")
        await pilot.press("e")
        await wait_for(pilot, lambda: list((studio_home / "exports").glob("bench-*.csv")))
        (exported,) = (studio_home / "exports").glob("bench-*.json")
        assert json.loads(exported.read_text())[0]["device"] == "local"
