"""The built-in `local` device (a real agent subprocess): progress, provenance, cancel."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from tfstudio.cli import main
from tfstudio.deploy.options import DeployOptions, Status
from tfstudio.deploy.run import deploy_many
from tfstudio.errors import DeviceError
from tfstudio.fleet import deploylog
from tfstudio.fleet.registry import list_devices, local_device, remove_device
from tfstudio.models.facts import inspect_model


def test_local_always_exists_and_cannot_be_removed(capsys) -> None:
    assert [d.name for d in list_devices()] == ["local"]
    with pytest.raises(DeviceError):
        remove_device("local")
    assert main(["devices", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["kind"] == "local"


def test_deploy_prints_progress_and_links_the_convert_manifest(
    tiny_models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    model = tmp_path / "m.tflite"
    shutil.copy(tiny_models["float16"], model)
    manifest = tmp_path / "m.json"
    sha = inspect_model(model).sha256
    convert_step = {"step": "convert", "output_sha256": sha}
    manifest.write_text(
        json.dumps({"model": {"sha256": sha}, "source": "saved_model/", "chain": [convert_step]})
    )
    assert main(["deploy", str(model), "--to", "local"]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err and "ETA" in captured.err and "/s" in captured.err
    assert "local" in captured.out and "ok" in captured.out
    (entry,) = deploylog.read("local")
    assert entry["sha256"] == inspect_model(model).sha256
    assert (
        entry["provenance"]["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    )
    assert entry["provenance"]["source"] == "saved_model/"
    chain = json.loads(manifest.read_text())["chain"]
    assert [step["step"] for step in chain] == ["convert", "deploy"]
    assert chain[1]["device"] == "local" and chain[1]["active"] == sha


def test_cancelled_deploy_sends_nothing(tiny_models: dict[str, Path]) -> None:
    cancel = threading.Event()
    cancel.set()
    model = tiny_models["float32"]
    (result,) = deploy_many(
        model, inspect_model(model), [local_device()], DeployOptions(), cancel=cancel
    )
    assert result.status is Status.CANCELLED and result.bytes_sent == 0
    assert not (Path(local_device().agent_home) / "models").exists() or not any(
        (Path(local_device().agent_home) / "models").iterdir()
    )
