"""bench: benchmark_model-style phases and report, inputs by dtype, reports/bench.jsonl, status."""

from __future__ import annotations

import json

import numpy as np
import pytest

FAST = ["--runs", "20", "--min-seconds", "0.1", "--warmup", "2", "--warmup-min-seconds", "0.05"]
REPORT_KEYS = {
    "init_ms", "first_invoke_ms", "warmup_mean_ms", "mean_ms", "std_ms", "min_ms", "max_ms",
    "p50_ms", "p90_ms", "p99_ms", "p999_ms", "throughput_ips", "runs", "warmup_runs", "threads",
    "rss_peak_mb", "input_kind", "model", "runtime", "device", "timestamp", "op_profile",
}  # fmt: skip


@pytest.fixture
def installed(agent, tiny_models):
    run = agent("install", str(tiny_models["int8"]), "--name", "int8", "--json")
    assert run.rc == 0
    return run.json["sha256"]


def test_bench_active_model_report(agent, agent_home, installed):
    run = agent("bench", *FAST, "--threads", "2", "--json")
    assert run.rc == 0, run.stdout + run.stderr
    report = run.json
    assert REPORT_KEYS <= set(report)
    assert report["runs"] >= 20 and report["warmup_runs"] >= 2 and report["threads"] == 2
    assert report["min_ms"] <= report["p50_ms"] <= report["p90_ms"] <= report["p99_ms"]
    assert report["p99_ms"] <= report["p999_ms"] <= report["max_ms"]
    assert report["min_ms"] <= report["mean_ms"] <= report["max_ms"]
    assert report["init_ms"] > 0 and report["first_invoke_ms"] > 0
    assert report["model"]["sha256"] == installed and report["model"]["name"] == "int8"
    assert report["runtime"]["name"] == "ai-edge-litert"
    assert report["device"]["cpu_count"] >= 1
    assert report["input_kind"] == "random"
    assert report["op_profile"] is None
    lines = (agent_home / "reports" / "bench.jsonl").read_text().splitlines()
    assert json.loads(lines[-1]) == report


def test_min_seconds_extends_the_runs(agent, installed):
    run = agent("bench", "--runs", "5", "--min-seconds", "0.3", "--warmup", "1",
                "--warmup-min-seconds", "0", "--json")  # fmt: skip
    report = run.json
    # A tiny MLP runs in microseconds: 0.3 s of steady state is far more than 5 runs.
    assert report["runs"] > 100


def test_bench_a_file_model_with_zeros(agent, tiny_models):
    run = agent(
        "bench", "--model", str(tiny_models["float32"]), "--input", "zeros", *FAST, "--json"
    )
    assert run.rc == 0, run.stdout
    assert run.json["input_kind"] == "zeros"
    assert run.json["model"]["path"] == str(tiny_models["float32"])


def test_bench_npy_input_quantized_for_int8(agent, installed, tmp_path):
    good = tmp_path / "x.npy"
    np.save(good, np.random.default_rng(0).random((1, 64), dtype=np.float32))
    run = agent("bench", "--input", str(good), *FAST, "--json")
    assert run.rc == 0, run.stdout
    assert run.json["input_kind"] == "file"

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3), dtype=np.float32))
    run = agent("bench", "--input", str(bad), *FAST, "--json")
    assert run.rc == 1 and run.json["code"] == "bad_input"
    assert "(2, 3)" in run.json["error"] and "(1, 64)" in run.json["error"]

    junk = tmp_path / "junk.npy"
    junk.write_text("not numpy")
    run = agent("bench", "--input", str(junk), *FAST, "--json")
    assert run.rc == 1 and run.json["code"] == "bad_input"


def test_profile_ops_says_when_unavailable(agent, installed):
    report = agent("bench", "--profile-ops", *FAST, "--json").json
    profile = report["op_profile"]
    assert profile["available"] is False
    assert "ai-edge-litert" in profile["reason"]


def test_bench_unknown_model(agent, installed):
    run = agent("bench", "--model", "deadbeefdeadbeef", *FAST, "--json")
    assert run.rc == 1 and run.json["code"] == "not_found"


def test_status_shows_last_bench_and_no_server(agent, installed):
    assert agent("status", "--json").json["last_bench"] is None
    report = agent("bench", *FAST, "--json").json
    status = agent("status", "--json").json
    assert status["last_bench"] == report
    assert status["server"]["running"] is False
    assert status["active"]["sha256"] == installed


def test_nearest_rank_percentiles():
    from edge_agent.bench import percentile

    data = [float(x) for x in range(1, 101)]
    assert percentile(data, 50) == 50.0
    assert percentile(data, 90) == 90.0
    assert percentile(data, 99) == 99.0
    assert percentile(data, 99.9) == 100.0
    assert percentile([7.0], 50) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_bench_error_without_json_is_one_line(agent, installed, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5,), dtype=np.float32))
    run = agent("bench", "--input", str(bad), *FAST)
    assert run.rc == 1
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
