"""Two deploys to one device: the device lock lets one through; the other waits, then says who
holds the device. No deploy reports `ok` for a model that is not the one left active.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.fleet.conftest import Lab, listing
from tfstudio.deploy.options import DeployOptions, Status
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet.registry import get_device
from tfstudio.models.facts import inspect_model

SLOW_BENCH = ["--bench", "--runs", "5", "--warmup", "1", "--warmup-min-seconds", "0"]


def test_a_second_deploy_waits_then_names_the_deploy_holding_the_device(
    lab: Lab, tiny_models: dict[str, Path], studio_config, studio_home: Path
) -> None:
    studio_config("[deploy]\nlock_wait = 1\n")
    lab.add("shared", server=5)
    first, second = tiny_models["float32"], tiny_models["int8"]
    env = {**os.environ, "TFSTUDIO_HOME": str(studio_home), "PYTHONUNBUFFERED": "1"}

    def deploy(model: Path, *extra: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "tfstudio", "deploy", str(model), "--to", "shared"]
        return subprocess.Popen(
            [*argv, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    holder = deploy(first, *SLOW_BENCH, "--min-seconds", "6")
    # Wait until the first deploy is inside its health gate: it holds the device.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "measuring latency" not in holder.stderr.readline():
        pass
    started = time.monotonic()
    late = deploy(second, "--json")
    late_out, late_err = late.communicate(timeout=60)
    waited = time.monotonic() - started
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    (row,) = [line for line in out.splitlines() if line.startswith("shared ")]
    assert row.split()[1] == "ok"
    assert late.returncode == 1, (late_out, late_err, err)
    (lost,) = json.loads(late_out)
    assert lost["status"] == "failed" and lost["bytes_sent"] == 0
    assert "device busy: another deploy (pid " in lost["message"]
    assert ", started at 20" in lost["message"] and lost["message"].endswith("holds it")
    assert waited < 30
    assert listing(get_device("shared"))["active"] == inspect_model(first).sha256


def test_the_same_model_deployed_twice_at_once_is_ok_twice(lab: Lab, big_model: Path) -> None:
    device = lab.add("twice", server=6, user=1)
    facts = inspect_model(big_model)
    results: list = []
    barrier = threading.Barrier(2)

    def one() -> None:
        barrier.wait()
        results.append(deploy_one(big_model, facts, device, DeployOptions()))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [r.status for r in results] == [Status.OK, Status.OK], [r.message for r in results]
    assert sum(r.bytes_sent for r in results) == facts.size_bytes, "sent once, not twice"
    assert listing(device)["active"] == facts.sha256
