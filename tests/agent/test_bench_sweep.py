"""bench: thread sweeps in one process, real input files cycled through, and each run's method."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from tests.agent.test_bench import FAST


def test_sweep_reports_one_run_per_count_and_marks_the_fastest(agent, agent_home, tiny_models):
    run = agent("bench", "--model", str(tiny_models["float32"]), *FAST, "--threads", "1,2,4,2",
                "--json")  # fmt: skip
    assert run.rc == 0, run.stdout + run.stderr
    sweep = run.json
    assert [r["threads"] for r in sweep["sweep"]] == [1, 2, 4]  # duplicates dropped
    fastest = [r for r in sweep["sweep"] if r["fastest"]]
    assert len(fastest) == 1 and fastest[0]["threads"] == sweep["fastest_threads"]
    assert fastest[0]["p50_ms"] == min(r["p50_ms"] for r in sweep["sweep"])
    assert sweep["by"] == "p50_ms"
    for report in sweep["sweep"]:
        assert report["method"]["threads"] == report["threads"]
        assert report["method"]["runs"] == 20 and report["method"]["inputs"] == "random"
        assert report["rss_peak_mb"] > 0
    lines = (agent_home / "reports" / "bench.jsonl").read_text().splitlines()
    assert [json.loads(line)["threads"] for line in lines[-3:]] == [1, 2, 4]
    human = agent("bench", "--model", str(tiny_models["float32"]), *FAST, "--threads", "1,2")
    assert human.rc == 0 and human.stdout.count("threads=") == 2 and "* threads=" in human.stdout


def test_bad_thread_counts_are_usage_errors(agent, tiny_models):
    for bad in ("0", "1,x", ","):
        run = agent("bench", "--model", str(tiny_models["float32"]), "--threads", bad, "--json")
        assert run.rc == 2 and run.json["code"] == "usage", bad


def test_real_inputs_are_cycled_and_verified(agent, tiny_models, tmp_path):
    x = np.random.default_rng(5).random((12, 64), dtype=np.float32)
    path = tmp_path / "inputs.npz"
    np.savez(path, x=x, y=np.zeros(12, np.int64))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    run = agent("bench", "--model", str(tiny_models["int8"]), *FAST, "--input", str(path),
                "--input-sha256", sha, "--json")  # fmt: skip
    assert run.rc == 0, run.stdout + run.stderr
    method = run.json["method"]
    assert method["inputs"] == "file" and method["input_sets"] == 12
    assert method["inputs_rotated"] is True and method["input_sha256"] == sha
    assert run.json["input_file"] == str(path)

    refused = agent("bench", "--model", str(tiny_models["int8"]), *FAST, "--input", str(path),
                    "--input-sha256", "f" * 64, "--json")  # fmt: skip
    assert refused.rc == 1 and refused.json["code"] == "sha256_mismatch"
