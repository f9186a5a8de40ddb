"""What a deploy's health gate measured counts (issue 19): `deploy --bench` latency is in
`report`, in the Bench view's matrix and in its newest runs, as the Devices panel already
shows it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.tui.conftest import Recorder, table_rows, wait_for
from tfstudio.cli import main
from tfstudio.tui.app import StudioApp


def _deploy_with_bench(model: Path, capsys) -> dict:
    assert main(["deploy", str(model), "--to", "local", "--bench", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["bench"]["p50_ms"] > 0
    return result["bench"]


def test_report_counts_the_latency_a_deploy_measured(
    tiny_models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    model = tmp_path / "mlp.int8.tflite"
    shutil.copy(tiny_models["int8"], model)
    bench = _deploy_with_bench(model, capsys)
    assert main(["report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = [r for r in report["rows"] if r["device"] == "local"]
    assert row["variant"] == "mlp.int8.tflite"
    assert row["measured"] == "bench" and row["p50_ms"] == bench["p50_ms"]
    assert report["unmeasured_cells"] == 0
    assert not list(tmp_path.glob("*.lock"))  # no litter beside the model


async def test_the_bench_view_counts_it_too(
    app: StudioApp, recorder: Recorder, tiny_models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    model = tmp_path / "mlp.float32.tflite"
    shutil.copy(tiny_models["float32"], model)
    bench = _deploy_with_bench(model, capsys)
    async with app.run_test(size=(160, 48), message_hook=recorder) as pilot:
        await pilot.press("5")
        rows = await wait_for(pilot, lambda: table_rows(app, "#bench-table"), timeout=30)
        assert rows[0][:2] == ["local", "mlp.float32.tflite"]
        assert abs(float(rows[0][2]) - bench["p50_ms"]) < 6e-4
        await pilot.press("x")
        await wait_for(pilot, lambda: recorder.of("ReportRead"), timeout=60)
        await pilot.pause(0.2)
        (row,) = table_rows(app, "#bench-table")
        assert row[-1] != "not measured"  # measured, by the deploy's health gate
        assert f"{bench['p50_ms']:.3f}" in row
