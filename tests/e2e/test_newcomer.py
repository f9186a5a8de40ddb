"""The newcomer's path: `tfstudio demo` end to end, as printed, as JSON, and where it fails.

Two real runs per module, shared by the tests (each is the expensive part):
in this process (`--train-in process`, the table as printed) and in a
container of the locally built TensorFlow image (`--train-in container
--json`, provenance from the image digest to the device). Both deploy every
variant to the built-in `local` device through the real deploy path and bench
it there. A device that cannot run one variant (the tflite-runtime 2.14 venv
behind a real sshd) gets that refusal in the variant's row, not a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.sshd import SshdFactory
from tests.plugins.devices import Lab, lab_sshd
from tests.plugins.docker import BUSYBOX, TF_IMAGE

pytestmark = pytest.mark.usefixtures("tensorflow_child")  # the demo converts (tiers.py)

MODES = ["float32", "dynamic", "float16", "int8", "int16x8"]
STAGES = ["train", "export", "convert", "deploy", "bench"]
ROW_KEYS = {
    "mode", "status", "path", "size_bytes", "sha256", "accuracy", "p50_ms", "p99_ms",
    "min_runtime_version", "deployed", "failed_step", "error", "hint",
}  # fmt: skip


def _tfstudio(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TFSTUDIO_HOME": str(home), **env},
    )


@pytest.fixture(scope="module")
def process_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """`tfstudio demo --train-in process` in a home of its own: (home, the process)."""
    home = tmp_path_factory.mktemp("demo-process-home")
    return home, _tfstudio(home, "demo", "--train-in", "process")


@pytest.fixture(scope="module")
def container_run(tmp_path_factory: pytest.TempPathFactory, docker_api: Any) -> tuple[Path, Any]:
    """`tfstudio demo --train-in container --json` on the local engine: (home, the process)."""
    home = tmp_path_factory.mktemp("demo-container-home")
    (home / "tfstudio.toml").write_text(f'[training]\nimage = "{TF_IMAGE}"\n')
    return home, _tfstudio(home, "demo", "--train-in", "container", "--json")


def test_demo_prints_one_table_with_latency_per_mode(process_run: tuple[Path, Any]) -> None:
    home, proc = process_run
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("trained in this process (asked for with --train-in process)")
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("mode "))
    assert lines[header].split() == [
        "mode", "size", "accuracy", "p50", "ms", "p99", "ms", "min", "runtime", "result",
    ]  # fmt: skip
    rows = [line.split() for line in lines[header + 2 : header + 2 + len(MODES)]]
    assert [r[0] for r in rows] == MODES
    for r in rows:
        assert r[3].endswith("%") and float(r[3][:-1]) > 90, r  # accuracy
        assert 0 < float(r[4]) <= float(r[5]), r  # p50 <= p99
        assert r[-1] == "ok", r
    assert rows[MODES.index("dynamic")][6] == "2.17.0"  # FULLY_CONNECTED v12
    stages = next(line for line in lines if line.startswith("stages: "))
    for stage in STAGES:
        assert f"{stage} " in stages
    assert "total " in stages
    # Progress per stage on stderr, with each stage's time.
    for i, stage in enumerate(STAGES, start=1):
        assert f"[{i}/5] " in proc.stderr and f"      {stage} done in " in proc.stderr

    # The variants are on the device, the benches in the history `report` reads.
    report = _tfstudio(home, "report", "--json")
    assert report.returncode == 0, report.stderr
    measured = [r for r in json.loads(report.stdout)["rows"] if r["p50_ms"]]
    assert {r["variant"] for r in measured} == {f"digits.{m}.tflite" for m in MODES}
    assert {r["device"] for r in measured} == {"local"}
    manifest = json.loads((home / "demo" / "digits.int8.json").read_text())
    assert manifest["chain"][-1]["device"] == "local"


def test_demo_trains_in_the_tf_image_and_the_chain_joins(
    container_run: tuple[Path, Any], docker_api: Any
) -> None:
    home, proc = container_run
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    training = doc["training"]
    assert training["where"] == "container" and training["image"] == TF_IMAGE
    image_id = docker_api.inspect_image(TF_IMAGE)["Id"]
    assert training["image_digest"] == image_id
    assert training["test_accuracy"] > 0.9
    # image digest -> SavedModel hash -> every variant's source -> the device.
    record = json.loads(Path(training["provenance"]).read_text())
    [step] = record["chain"]
    assert step["image_digest"] == image_id
    assert step["output_sha256"] == training["saved_model_sha256"]
    for row in doc["rows"]:
        assert row["status"] == "ok" and row["deployed"] and row["p99_ms"] > 0, row
        manifest = json.loads(Path(row["path"]).with_suffix(".json").read_text())
        assert manifest["source"]["sha256"] == training["saved_model_sha256"]
        assert manifest["model"]["sha256"] == row["sha256"]
    # The job's container is gone once its provenance is stored.
    studio_id = (home / "studio-id").read_text().strip()
    assert not docker_api.containers(all=True, filters={"label": f"tfstudio.studio={studio_id}"})


def test_json_is_the_same_document_as_the_table(
    process_run: tuple[Path, Any], container_run: tuple[Path, Any]
) -> None:
    home, _ = process_run
    printed = json.loads(container_run[1].stdout)
    stored = json.loads((home / "demo" / "demo.json").read_text())
    for doc in (printed, stored):
        assert doc["ok"] is True and doc["device"] == "local"
        assert set(doc) == {
            "ok", "outdir", "device", "training", "float_accuracy", "tensorflow_version",
            "rows", "stages", "total_seconds",
        }  # fmt: skip
        assert [r["mode"] for r in doc["rows"]] == MODES
        assert all(set(r) == ROW_KEYS for r in doc["rows"])
        assert [s["name"] for s in doc["stages"]] == STAGES
        assert doc["total_seconds"] == pytest.approx(
            sum(s["seconds"] for s in doc["stages"]), abs=0.05
        )
    assert stored["training"]["where"] == "process"


def test_a_training_job_that_fails_is_one_line(tmp_path: Path, docker_api: Any) -> None:
    proc = _tfstudio(tmp_path, "demo", "--train-in", "container", "--image", BUSYBOX)
    assert proc.returncode == 1 and proc.stdout == ""
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("tfstudio: error:")]
    assert "the demo's training job" in line and "ended with exit code 127" in line
    assert "Traceback" not in proc.stderr


def test_container_training_without_an_engine_says_so(tmp_path: Path) -> None:
    proc = _tfstudio(
        tmp_path, "demo", "--train-in", "container", DOCKER_HOST="unix:///nonexistent.sock"
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("tfstudio: error:")]
    assert len(errors) == 1 and "Docker Engine 'local' is not reachable" in errors[0]


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshdFactory]:
    yield from lab_sshd("tfdm")


def test_a_variant_the_device_cannot_run_fails_in_its_row(
    process_run: tuple[Path, Any], sshd: SshdFactory, device_venvs: dict[str, Path]
) -> None:
    from tfstudio.studio import Studio
    from tfstudio.workflows.demo.pipeline import deliver
    from tfstudio.workflows.demo.report import DemoRow

    home, _ = process_run
    lab = Lab(sshd, [sshd.start("old")], [sshd.make_user("o")], dict(device_venvs))
    device = lab.add("old", python="old-device")  # tflite-runtime 2.14
    stored = json.loads((home / "demo" / "demo.json").read_text())
    rows = [
        DemoRow(r["mode"], Path(r["path"]), r["size_bytes"], r["sha256"], r["accuracy"],
                r["min_runtime_version"])
        for r in stored["rows"]
    ]  # fmt: skip
    done = {r.mode: r for r in deliver(Studio(), rows, device, bench_runs=20)}
    dynamic = done.pop("dynamic")
    assert dynamic.failed_step == "deploy" and not dynamic.deployed
    assert "2.17" in (dynamic.error or "") and "2.14" in (dynamic.error or "")
    assert dynamic.cells()[-1].startswith("deploy failed: ")
    assert dynamic.p50_ms is None
    for row in done.values():
        assert row.ok and row.deployed and (row.p50_ms or 0) > 0, row


def test_a_cancel_during_training_stops_the_demo_at_once(tmp_path: Path) -> None:
    from tfstudio.convert import supervisor
    from tfstudio.errors import CancelledError
    from tfstudio.operations import CancelToken, StageStarted
    from tfstudio.studio import Studio
    from tfstudio.workflows.demo.pipeline import DemoOptions, run_demo
    from tfstudio.workflows.demo.training import TrainIn

    token = CancelToken()
    seen: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, StageStarted) and event.operation == "demo":
            seen.append(event.target)
            if event.target == "train":
                token.cancel()  # as Esc in the UI does, from another thread

    with pytest.raises(CancelledError, match="training cancelled"):
        run_demo(
            Studio(),
            tmp_path / "demo",
            DemoOptions(TrainIn.PROCESS),
            on_event=on_event,
            cancel=token,
        )
    assert seen == ["train"]  # nothing after it: no export, conversion, deploy
    assert not (tmp_path / "demo" / "demo.json").exists()
    assert supervisor._SPARE == []  # the prestarted conversion child is gone too
