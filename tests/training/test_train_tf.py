"""A real training run in the local TensorFlow image, its provenance, its conversion; gpu-check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import BUSYBOX, TF_IMAGE, tfstudio
from tests.training.tfjob import prepare_workspace
from tfstudio.cli import main
from tfstudio.models.source import probe_source


@pytest.mark.slow
def test_train_in_the_tf_image_then_convert_the_export(
    workspace: Path, tmp_path: Path, docker_api, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_workspace(workspace)
    proc = tfstudio(
        "train",
        "--image",
        TF_IMAGE,
        "--gpus",
        "none",
        "--workspace",
        str(workspace),
        "--cpus",
        "2",
        "--memory",
        "2g",
        "--",
        "python",
        "train.py",
    )
    assert proc.returncode == 0, proc.stderr
    assert "final accuracy" in proc.stdout and "Epoch 4/4" in proc.stdout
    assert "exports/digits  saved_model" in proc.stderr
    saved_model = workspace / "exports" / "digits"
    assert (saved_model / "saved_model.pb").is_file()

    record_path = Path(proc.stderr.split("provenance: ")[1].split()[0])
    record = json.loads(record_path.read_text())
    image_id = docker_api.inspect_image(TF_IMAGE)["Id"]
    assert record["final"] and record["exit_code"] == 0
    assert record["image"]["ref"] == TF_IMAGE and record["image"]["digest"] == image_id
    assert record["image"]["digest_kind"] == "image_id"  # imported: no registry digest, says so
    assert record["command"] == ["python", "train.py"]
    assert record["host_config"]["NanoCpus"] == 2_000_000_000
    assert record["host_config"]["Memory"] == 2 << 30
    assert record["engine"]["name"] == "local" and record["started_at"] and record["finished_at"]
    [export] = record["exports"]
    assert export["path"] == "exports/digits" and export["kind"] == "saved_model"
    assert export["sha256"] == probe_source(saved_model).sha256
    [step] = record["chain"]
    assert step["step"] == "train" and step["image_digest"] == image_id
    assert step["output_sha256"] == export["sha256"]

    out = tmp_path / "converted"
    assert main(["convert", str(saved_model), "-o", str(out), "--quant", "float32"]) == 0
    manifest = json.loads((out / "digits.float32.json").read_text())
    assert manifest["source"]["sha256"] == export["sha256"]  # the chain joins here
    capsys.readouterr()
    assert main(["jobs", "which", str(out / "digits.float32.json")]) == 0
    found = capsys.readouterr().out
    assert record["job_id"] in found and image_id in found


@pytest.mark.slow
def test_gpu_check_without_gpus_says_so_and_times_the_cpu(docker_api) -> None:
    proc = tfstudio("gpu-check", "--image", TF_IMAGE, "--gpus", "none", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "no_gpu_visible" and result["gpus_visible"] == []
    assert result["tensorflow"] == "2.21.0" and result["device"] == "/CPU:0"
    assert result["matmul_seconds"] > 0 and result["gflops"] > 0
    assert result["replicas"] == 1 and result["built_with_cuda"] is False
    assert "no GPU visible" in result["message"] and "matmul on /CPU:0" in result["message"]


def test_gpu_check_on_an_image_without_tensorflow(docker_api) -> None:
    proc = tfstudio("gpu-check", "--image", BUSYBOX, "--gpus", "none", "--json")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["verdict"] == "no_tensorflow"
    assert "has no TensorFlow" in result["message"] and "no python3 or python" in result["message"]
