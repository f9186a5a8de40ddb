"""GPUs: a GPU request on an engine without NVIDIA runtime, NVML's honest "no GPU", verdicts.

This machine has no GPU, so only the CPU probe output is captured from the real
TensorFlow image (data/probe_tf2.21_cpu.txt). The GPU-usable and driver-mismatch
answers are handwritten and named `fake_*`: they feed the verdict function only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import BUSYBOX, tfstudio
from tfstudio.cli import main
from tfstudio.training.gpucheck import Verdict, parse_probe, verdict
from tfstudio.training.images import IMAGE_ID, ResolvedImage
from tfstudio.training.limits import parse_gpus
from tfstudio.training.nvml import GpuReading, GpuReport, read_gpus, summarise

DATA = Path(__file__).parent / "data"
IMAGE = ResolvedImage("tf:2.21.0", "sha256:abc", "sha256:abc", IMAGE_ID, (), False, {}, ())


def probe(name: str) -> dict:
    found = parse_probe((DATA / name).read_text())
    assert found is not None
    return found


def test_gpus_all_without_nvidia_runtime_is_one_line_with_the_fix(
    docker_api, workspace: Path
) -> None:
    proc = tfstudio(
        "train", "--image", BUSYBOX, "--gpus", "all", "--workspace", str(workspace), "--", "true"
    )
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "cannot give the container GPUs (--gpus all)" in line and "no NVIDIA runtime" in line
    assert "NVIDIA Container Toolkit" in line and "--gpus none" in line
    listed = tfstudio("jobs", "--json")
    assert json.loads(listed.stdout) == []  # the refused container was removed
    check = tfstudio("gpu-check", "--image", BUSYBOX, "--gpus", "1")
    assert check.returncode == 1 and "no NVIDIA runtime" in check.stderr
    assert docker_api.containers(all=True, filters={"label": "tfstudio.kind=gpu-check"}) == []


def test_nvml_says_no_gpu_and_never_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    report = read_gpus()
    assert not report.available and report.gpus == ()
    assert report.reason and "NVML" in report.reason
    assert main(["gpus", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["available"] is False and shown["gpus"] == [] and shown["reason"]
    assert main(["gpus"]) == 0
    assert capsys.readouterr().out.startswith("no GPU (")


def test_gpu_use_of_a_jobs_processes() -> None:
    gib = 1 << 30
    report = GpuReport(
        (
            GpuReading(0, "A100", "GPU-0", 87, 20 * gib, 40 * gib, ((4242, 3 * gib), (99, gib))),
            GpuReading(1, "A100", "GPU-1", 0, 0, 40 * gib, ()),
        ),
        "550.54",
        None,
    )
    assert summarise(report, {4242, 4243}) == "GPU0 87% 3.0/40.0 GiB"
    assert summarise(report, {7}) is None
    assert report.summary() == "2 GPU(s), driver 550.54: 0: A100, 1: A100"


def test_verdict_no_gpu_visible_from_the_real_cpu_image() -> None:
    result = verdict("local", IMAGE, parse_gpus("none"), probe("probe_tf2.21_cpu.txt"))
    assert result.verdict is Verdict.NO_GPU_VISIBLE
    assert result.message.startswith("no GPU visible to TensorFlow 2.21.0 (--gpus none)")
    assert "2048x2048 matmul on /CPU:0" in result.message and result.gflops
    assert "--gpus all" in result.hint
    asked = verdict("local", IMAGE, parse_gpus("all"), probe("probe_tf2.21_cpu.txt"))
    assert asked.verdict is Verdict.NO_GPU_VISIBLE and "CPU-only build" in asked.hint


def test_verdict_gpu_usable() -> None:
    result = verdict("gpubox", IMAGE, parse_gpus("all"), probe("fake_probe_gpu_usable.txt"))
    assert result.verdict is Verdict.GPU_USABLE
    assert "2 GPU(s) visible" in result.message and "on /GPU:0" in result.message
    assert "MirroredStrategy would use 2 replica(s)" in result.message
    assert result.gflops is not None and result.gflops > 10_000


def test_verdict_driver_runtime_mismatch() -> None:
    result = verdict("gpubox", IMAGE, parse_gpus("all"), probe("fake_probe_driver_mismatch.txt"))
    assert result.verdict is Verdict.DRIVER_MISMATCH
    assert "driver version is insufficient" in result.message
    assert "driver" in result.hint and "CUDA" in result.hint


def test_verdict_no_tensorflow() -> None:
    found = parse_probe(
        'TFSTUDIO-GPU-CHECK {"python": "3.12.1", "tensorflow": null, '
        '"import_error": "ModuleNotFoundError: No module named \'tensorflow\'"}'
    )
    assert found is not None
    result = verdict("local", IMAGE, parse_gpus("none"), found)
    assert result.verdict is Verdict.NO_TENSORFLOW and "No module named" in result.message
    assert parse_probe("no marker here") is None
