"""`tfstudio watch` and the state it keeps: an unreadable log line, linked weights, a linked
export, two watchers on one folder. Real CLI processes and a real SavedModel."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.pipeline.conftest import SmallModel, place, run_cli, tfstudio_cmd


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _of(events: list[dict], step: str, status: str | None = None) -> list[dict]:
    return [e for e in events if e["step"] == step and status in (None, e["status"])]


def test_an_unreadable_log_line_is_skipped_and_the_watcher_works(
    workspace: Path, small_model: SmallModel, studio_home: Path
) -> None:
    log = studio_home / "pipeline" / "events.jsonl"
    log.parent.mkdir(parents=True)
    log.write_bytes(b'{"step": "watch", "status": "started"}\n\xff\xfe\x80\n{"chain": 5}\n')
    place(small_model.saved_model, workspace, "digits")
    proc = run_cli("watch", str(workspace), "--settle", "0.2", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"tfstudio: warning: {log}, line 2: not UTF-8 text; skipped" in proc.stderr
    events = _events(proc.stdout)
    assert len(_of(events, "convert", "ok")) == 1
    [stopped] = _of(events, "watch", "stopped")
    assert stopped["data"]["processed"] == 1


def _two_exports(where: Path) -> tuple[Path, Path]:
    """One small Keras model exported twice, with other weights the second time (the same
    graph, so either variables/ fits either saved_model.pb)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.export(str(where / "a"), verbose=False)
    for weight in model.weights:
        weight.assign(np.asarray(weight) + 0.5)
    model.export(str(where / "b"), verbose=False)
    return where / "a", where / "b"


@pytest.mark.usefixtures("tensorflow_child", "tensorflow_runtime")  # exports with Keras, converts
def test_weights_behind_a_link_are_hashed_and_a_linked_export_is_reported(
    workspace: Path, small_model: SmallModel, tmp_path: Path
) -> None:
    first_export, second_export = _two_exports(tmp_path / "exports")
    weights = tmp_path / "weights"
    shutil.copytree(first_export / "variables", weights)
    export = workspace / "exports" / "digits" / "1"
    export.mkdir(parents=True)
    shutil.copy(first_export / "saved_model.pb", export / "saved_model.pb")
    (export / "variables").symlink_to(weights)
    elsewhere = tmp_path / "elsewhere" / "1"
    shutil.copytree(small_model.saved_model, elsewhere)
    (workspace / "exports" / "linked").symlink_to(elsewhere.parent)

    first = run_cli("watch", str(workspace), "--settle", "0.2", "--once", "--json")
    assert first.returncode == 0, first.stderr
    events = _events(first.stdout)
    [converted] = _of(events, "convert", "ok")
    manifest = json.loads(Path(converted["data"]["path"]).with_suffix(".json").read_text())
    assert manifest["source"]["sha256_covers"] == (
        "every file's path and content, symbolic links followed"
    )
    [linked] = [e for e in _of(events, "export", "skipped") if "symbolic link" in e["message"]]
    assert linked["path"] == str(workspace / "exports" / "linked")
    assert str(elsewhere.parent) in linked["message"]

    # New weights behind the same link: a new export, not "same content hash".
    for item in weights.iterdir():
        item.unlink()
    for item in (second_export / "variables").iterdir():
        shutil.copy(item, weights / item.name)
    second = run_cli("watch", str(workspace), "--settle", "0.2", "--once", "--json")
    assert second.returncode == 0, [e["message"] for e in _events(second.stdout)]
    events = _events(second.stdout)
    assert not [e for e in _of(events, "export", "skipped") if "same content" in e["message"]]
    [again] = _of(events, "convert", "ok")
    assert again["export"] != converted["export"]


def test_one_watcher_per_folder_and_home(workspace: Path, tmp_path: Path) -> None:
    first = subprocess.Popen(
        tfstudio_cmd("watch", str(workspace), "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert first.stdout is not None
        started = json.loads(first.stdout.readline())
        assert (started["step"], started["status"]) == ("watch", "started")
        second = run_cli("watch", str(workspace), "--once", "--json")
        assert second.returncode == 1
        error = json.loads(second.stdout)["error"]
        assert f"already watches {workspace}" in error and f"pid {first.pid}" in error
        assert "Traceback" not in second.stderr
        # Through another path to the same folder: the same watcher.
        alias = tmp_path / "alias"
        alias.symlink_to(workspace)
        assert run_cli("watch", str(alias), "--once").returncode == 1
        # Another folder of the same home is fine.
        other = tmp_path / "other"
        other.mkdir()
        assert run_cli("watch", str(other), "--once", "--settle", "0").returncode == 0
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert run_cli("watch", str(workspace), "--once", "--settle", "0").returncode == 0
    # A watcher killed outright leaves no lock behind (the kernel drops it).
    killed = subprocess.Popen(
        tfstudio_cmd("watch", str(workspace), "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert killed.stdout is not None and "started" in killed.stdout.readline()
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert run_cli("watch", str(workspace), "--once", "--settle", "0").returncode == 0
