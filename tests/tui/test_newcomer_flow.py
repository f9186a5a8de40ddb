"""A newcomer inside the UI on the embedded default: demo (train + convert every mode),
deploy int8 to the built-in `local` device, bench it, export the numbers."""

from __future__ import annotations

import json

from textual.widgets import Select

from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.tui.app import StudioApp


async def test_demo_deploy_bench_export_on_the_local_device(
    app: StudioApp, recorder: Recorder, studio_home
) -> None:
    async with app.run_test(size=(120, 40), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: "press d" in str(table_rows(app, "#models")))
        await pilot.press("d")
        await wait_for(pilot, lambda: recorder.of("DemoFinished"), timeout=400)
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

        # Bench the active model; the row lands in the table and is exported.
        await pilot.press("5")
        await wait_for(pilot, lambda: app.screen.query("#bench-table"))
        await pilot.click("#runs")
        await pilot.press(*"20")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: recorder.of("Benched"), timeout=180)
        await wait_for(pilot, lambda: table_rows(app, "#bench-table"))
        (bench_row,) = table_rows(app, "#bench-table")
        assert bench_row[0] == "local" and bench_row[1] == "digits.int8.tflite"
        assert float(bench_row[2]) > 0
        await pilot.click("#bench-table")
        await pilot.press("e")
        await wait_for(pilot, lambda: list((studio_home / "exports").glob("bench-*.csv")))
        (exported,) = (studio_home / "exports").glob("bench-*.json")
        assert json.loads(exported.read_text())[0]["device"] == "local"
