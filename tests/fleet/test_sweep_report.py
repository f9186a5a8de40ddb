"""Thread sweeps and real inputs on devices, the per-op answer, and the variant × device matrix."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.fleet.conftest import FAST_BENCH, Lab
from tests.helpers.digits import Digits
from tfstudio.cli import main
from tfstudio.measure import log


def test_sweep_gives_one_result_per_count_and_the_fastest(lab: Lab, digits: Digits, capsys):
    lab.add("sweep")
    argv = ["bench", str(digits.models["float32"]), "--on", "sweep,local", "--threads", "1,2,4",
            *FAST_BENCH]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    outcomes = json.loads(capsys.readouterr().out)
    for outcome in outcomes:
        runs = outcome["sweep"]
        assert [r["threads"] for r in runs] == [1, 2, 4]
        best = min(runs, key=lambda r: (r["p50_ms"], r["p99_ms"]))
        assert [r["threads"] for r in runs if r["fastest"]] == [best["threads"]]
        assert outcome["fastest_threads"] == best["threads"]
        assert all(r["method"]["threads"] == r["threads"] for r in runs)
    logged = [e for e in log.read(log.BENCH) if e["device"] == "sweep"]
    assert [e["threads"] for e in logged] == [1, 2, 4]
    assert len({e["sweep"] for e in logged}) == 1 and sum(bool(e["fastest"]) for e in logged) == 1
    assert all(e["model"] == "digits.float32.tflite" and e["method"]["runs"] == 5 for e in logged)

    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("sweep ", "local "))]
    assert len([r for r in rows if "digits.float32.tflite" in r]) == 6  # 2 devices x 3 counts
    assert sum("fastest" in r for r in rows) == 2
    assert "sweep: fastest with" in out and "local: fastest with" in out

    assert main(["deploy", str(digits.models["int8"]), "--to", "sweep", "--threads", "1,2"]) == 2
    assert "sweep with: tfstudio bench" in capsys.readouterr().err


def test_bench_on_real_inputs_sent_once(lab: Lab, digits: Digits, tmp_path: Path, capsys):
    device = lab.add("inputs")
    inputs = tmp_path / "real.npy"
    np.save(inputs, digits.x_test[:32])
    argv = ["bench", str(digits.models["int8"]), "--on", "inputs", "--input", str(inputs),
            *FAST_BENCH, "--json"]  # fmt: skip
    assert main(argv) == 0
    (first,) = json.loads(capsys.readouterr().out)
    method = first["method"]
    assert method["inputs"] == "file" and method["input_sets"] == 32 and method["inputs_rotated"]
    assert first["input_file"].startswith(device.remote("data"))
    assert main(argv) == 0
    (second,) = json.loads(capsys.readouterr().out)
    assert second["method"]["input_sha256"] == method["input_sha256"]
    assert second["input_file"] == first["input_file"]

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 5), np.float32))
    assert main(["bench", str(digits.models["int8"]), "--on", "inputs", "--input", str(bad),
                 *FAST_BENCH]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "has shape (3, 5)" in err and "Traceback" not in err


def test_per_op_timing_gets_its_honest_answer(lab: Lab, digits: Digits, capsys):
    lab.add("ops")
    argv = ["bench", str(digits.models["float32"]), "--on", "ops", "--profile-ops", *FAST_BENCH]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ops: per-op timing not available:" in out
    assert "benchmark_model" in out and "--enable_op_profiling" in out


def test_report_holds_every_measured_cell_and_marks_the_rest(
    lab: Lab, digits: Digits, capsys
) -> None:
    lab.add("r1")
    lab.add("r2", python="old-device")
    f32, int8, dyn = (str(digits.models[m]) for m in ("float32", "int8", "dynamic"))
    data = str(digits.eval_npz)
    assert main(["deploy", int8, "--to", "r1", "--json"]) == 0
    assert main(["bench", int8, "--on", "r1,r2", "--threads", "1,2", *FAST_BENCH, "--json"]) == 0
    assert main(["eval", int8, "--on", "r1", "--eval-data", data, "--json"]) == 0
    assert main(["bench", f32, "--on", "r2", *FAST_BENCH, "--json"]) == 0
    capsys.readouterr()

    assert main(["report", dyn, "--on", "r1,r2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["devices"] == ["r1", "r2"]
    names = [v["name"] for v in report["variants"]]
    assert names == ["digits.dynamic.tflite", "digits.int8.tflite", "digits.float32.tflite"]
    cells = {(r["variant"], r["device"]): r for r in report["rows"]}
    assert len(cells) == 6 and report["measured_cells"] == 3 and report["unmeasured_cells"] == 3

    full = cells[("digits.int8.tflite", "r1")]
    assert full["measured"] == "bench+eval" and full["deployed"] == "ok"
    assert full["threads"] in (1, 2) and full["p50_ms"] > 0 and full["p99_ms"] >= full["p50_ms"]
    assert full["init_ms"] > 0 and full["first_invoke_ms"] > 0 and full["rss_peak_mb"] > 0
    assert full["device_accuracy"] > 0.85 and full["host_accuracy"] == pytest.approx(
        full["device_accuracy"], abs=0.01
    )
    assert full["runtime"].startswith("ai-edge-litert") and full["measured_at"]
    assert full["size_bytes"] == digits.models["int8"].stat().st_size
    sweep = [e for e in log.read(log.BENCH) if e["device"] == "r1"]
    assert full["p50_ms"] == min(e["p50_ms"] for e in sweep)  # the sweep's fastest run

    old = cells[("digits.int8.tflite", "r2")]
    assert old["measured"] == "bench" and old["runtime"] == "tflite-runtime 2.14.0"
    assert old["device_accuracy"] is None and old["host_accuracy"] is not None
    assert cells[("digits.float32.tflite", "r2")]["measured"] == "bench"
    for key in [("digits.dynamic.tflite", "r1"), ("digits.dynamic.tflite", "r2"),
                ("digits.float32.tflite", "r1")]:  # fmt: skip
        row = cells[key]
        assert row["measured"] == "no" and row["p50_ms"] is None and row["device_accuracy"] is None

    assert main(["report", dyn, "--on", "r1,r2", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 6 and sum(r["measured"] == "no" for r in rows) == 3
    assert next(r for r in rows if r["variant"] == "digits.dynamic.tflite")["p50_ms"] == ""

    assert main(["report", dyn, "--on", "r1,r2", "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.count("*not measured*") == 3 and markdown.count("\n| digits.") == 6

    assert main(["report", dyn, "--on", "r1,r2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("not measured") == 3
    assert "3 measured, 3 not measured" in captured.err
