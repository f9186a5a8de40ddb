"""`tfstudio watch` as a user runs it, in real processes: a failing step, a half-written
export, a watcher killed mid-pipeline and restarted, an export already done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.pipeline.conftest import (
    FAST_BENCH,
    SmallModel,
    half_written,
    place,
    run_cli,
    tfstudio_cmd,
)


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _of(events: list[dict], step: str, status: str | None = None) -> list[dict]:
    return [e for e in events if e["step"] == step and status in (None, e["status"])]


@pytest.mark.usefixtures("tensorflow_child")  # the watcher converts the export
def test_a_failing_export_is_logged_the_watcher_goes_on_and_a_half_written_one_waits(
    workspace: Path, small_model: SmallModel, studio_home: Path
) -> None:
    # "broken" sorts first: its failure must not stop "good" after it.
    broken = place(small_model.saved_model, workspace, "broken")
    (broken / "saved_model.pb").write_bytes(b"not a protobuf at all")
    good = place(small_model.saved_model, workspace, "good")
    half = half_written(workspace, "half", small_model.saved_model)

    proc = run_cli("watch", str(workspace), "--settle", "0.3", "--once", "--json")
    assert proc.returncode == 1, proc.stderr  # one export had a failed step
    events = _events(proc.stdout)

    [failed] = _of(events, "convert", "failed")
    assert failed["path"] == str(broken) and failed["target"] == "float32"
    assert "\n" not in failed["message"] and "Traceback" not in failed["message"]
    assert failed["chain"]["saved_model"]["sha256"] == failed["export"]
    [converted] = _of(events, "convert", "ok")
    assert converted["path"] == str(good)
    assert Path(converted["data"]["path"]).name == "good.float32.tflite"
    assert converted["chain"]["variant"]["sha256"] == converted["data"]["sha256"]
    assert all(e["path"] != str(half) for e in events if e["export"])  # never touched
    [stopped] = _of(events, "watch", "stopped")
    assert stopped["data"]["unsettled"] == [str(half)]

    # The log holds the same events, and `pipeline log` shows the failure in one line.
    logged = (studio_home / "pipeline" / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in logged] == [e["step"] for e in events]
    shown = run_cli("pipeline", "log")
    assert shown.returncode == 0, shown.stderr
    assert "good/1" in shown.stdout and "float32" in shown.stdout
    [line] = [ln for ln in shown.stdout.splitlines() if ln.startswith("failed:")]
    assert "[broken/1] convert float32: failed" in line


@pytest.mark.usefixtures("tensorflow_child")  # the watcher converts the export
def test_a_watcher_killed_mid_deploy_resumes_there_and_a_done_export_is_skipped(
    workspace: Path, small_model: SmallModel, studio_home: Path
) -> None:
    model = place(small_model.saved_model, workspace, "digits", "3")
    argv = ["--quant", "dynamic", "--deploy-to", "local", "--bench", *FAST_BENCH]
    argv += ["--settle", "0.2", "--json"]
    watcher = subprocess.Popen(
        tfstudio_cmd("watch", str(workspace), *argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    seen: list[dict] = []
    try:
        assert watcher.stdout is not None
        deadline = time.monotonic() + 240
        for line in watcher.stdout:
            seen.append(json.loads(line))
            if seen[-1]["step"] == "deploy" and seen[-1]["status"] == "started":
                os.kill(watcher.pid, signal.SIGKILL)  # as a crash or an OOM kill would
                break
            assert time.monotonic() < deadline, seen
    finally:
        watcher.kill()
        watcher.wait(30)
        watcher.stdout.close()  # type: ignore[union-attr]
        watcher.stderr.close()  # type: ignore[union-attr]
    assert watcher.returncode == -signal.SIGKILL
    assert [e["status"] for e in _of(seen, "convert")] == ["started", "ok"]
    variant = Path(_of(seen, "convert", "ok")[0]["data"]["path"])

    # Restarted: the conversion is not redone, the deploy cut short is.
    again = run_cli("watch", str(workspace), *argv, "--once")
    assert again.returncode == 0, again.stderr
    events = _events(again.stdout)
    [started] = _of(events, "export", "started")
    assert started["message"] == "resuming (deploy:dynamic:local cut short)"
    assert _of(events, "convert") == []
    [deployed] = _of(events, "deploy", "ok")
    assert deployed["target"] == "local" and deployed["path"] == str(model)
    assert deployed["chain"]["variant"]["sha256"] == deployed["data"]["active"]
    assert deployed["data"]["bench"]["p99_ms"] > 0
    assert variant.is_file()

    # Once more: the export is done, so nothing runs.
    third = run_cli("watch", str(workspace), *argv, "--once")
    assert third.returncode == 0, third.stderr
    events = _events(third.stdout)
    [skipped] = _of(events, "export")
    assert skipped["status"] == "skipped" and "already done" in skipped["message"]
    assert _of(events, "deploy") == [] and _of(events, "convert") == []


def test_ctrl_c_stops_the_watcher_cleanly(workspace: Path, studio_home: Path) -> None:
    watcher = subprocess.Popen(
        tfstudio_cmd("watch", str(workspace), "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert watcher.stdout is not None
    first = json.loads(watcher.stdout.readline())
    assert (first["step"], first["status"]) == ("watch", "started")
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 130
    [last] = _events(out)
    assert (last["step"], last["status"]) == ("watch", "stopped")
    assert "Traceback" not in err and err.strip().startswith("stopping:")
    logged = [json.loads(x) for x in (studio_home / "pipeline" / "events.jsonl").open()]
    assert [x["status"] for x in logged] == ["started", "stopped"]
