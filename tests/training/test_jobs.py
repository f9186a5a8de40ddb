"""Job lifecycle on the real engine with the busybox image: labels, limits, stop/kill, ownership."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.training.conftest import BUSYBOX, start, tfstudio
from tfstudio.cli import main
from tfstudio.operations import Event, Reporter, Stage, StageStarted
from tfstudio.training.client import EngineClient
from tfstudio.training.errors import JobError
from tfstudio.training.jobs import find_job, kill_job, list_jobs, remove_job, stop_job, wait_job
from tfstudio.training.jobspec import build_spec
from tfstudio.training.launch import LaunchResult, launch
from tfstudio.training.provenance import finalize, load
from tfstudio.training.settings import training_settings

FOREVER = ["sh", "-c", "echo ready; while :; do sleep 0.1; done"]


def test_launch_events_labels_and_limits_in_host_config(
    client: EngineClient, workspace: Path, docker_api
) -> None:
    events: list[Event] = []
    spec = build_spec(
        client.engine,
        training_settings(),
        FOREVER,
        image=BUSYBOX,
        workspace=str(workspace),
        cpus="0.5",
        memory="64m",
        shm_size="32m",
        env=["MODE=fast"],
        publish=["16006:6006"],
    )
    result = launch(client, spec, report=Reporter("train", "busybox", events.append))
    assert all(e.operation == "train" and e.target == "busybox" for e in events)
    stages = [e.stage for e in events if isinstance(e, StageStarted)]
    assert stages == [Stage.RESOLVE, Stage.CREATE, Stage.START, Stage.RUNNING]
    data = docker_api.inspect_container(result.job.container_id)
    host = data["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 << 20 and host["ShmSize"] == 32 << 20
    assert host["Init"] is True
    assert host["PortBindings"] == {"6006/tcp": [{"HostIp": "127.0.0.1", "HostPort": "16006"}]}
    assert [m["Destination"] for m in data["Mounts"]] == ["/workspace"]
    assert data["Mounts"][0]["Source"] == str(workspace)
    assert data["Config"]["WorkingDir"] == "/workspace"
    labels = data["Config"]["Labels"]
    studio = (Path(spec.workspace).parent / "tfstudio-home" / "studio-id").read_text().strip()
    assert labels["tfstudio.job"] == result.job.job_id and labels["tfstudio.studio"] == studio
    assert labels["tfstudio.image.ref"] == BUSYBOX
    assert "MODE=fast" in data["Config"]["Env"]
    record = load(result.job.job_id)
    assert record is not None and record.image["digest"] == result.image.id
    assert (
        record.image["digest_kind"] == "image_id"
        and "no registry digest" in record.image["digest_note"]
    )
    assert record.request["env_keys"] == ["MODE"]  # values are not recorded
    stopped = stop_job(client, result.job, timeout_s=5)
    final = finalize(client, stopped)
    assert final.host_config["NanoCpus"] == 500_000_000 and final.host_config["Memory"] == 64 << 20


def test_stop_is_graceful_then_exit_code_of_the_handler(
    client: EngineClient, workspace: Path
) -> None:
    result = start(
        client,
        workspace,
        ["sh", "-c", "trap 'echo bye; exit 3' TERM; echo ready; while :; do sleep 0.1; done"],
    )
    _wait_for_line(client, result, "ready")
    began = time.monotonic()
    job = stop_job(client, result.job, timeout_s=20)
    assert time.monotonic() - began < 10  # SIGTERM handled: no wait for the kill
    assert job.exit_code == 3 and job.exit_reason() == "exit 3"


def test_stop_kills_a_job_that_ignores_sigterm(client: EngineClient, workspace: Path) -> None:
    result = start(
        client, workspace, ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]
    )
    _wait_for_line(client, result, "ready")
    began = time.monotonic()
    job = stop_job(client, result.job, timeout_s=1)
    assert 0.9 < time.monotonic() - began < 15
    assert job.exit_code == 137 and "SIGKILL" in (job.exit_reason() or "")


def test_kill_and_exit_codes(client: EngineClient, workspace: Path) -> None:
    killed = kill_job(client, start(client, workspace, FOREVER).job)
    assert killed.exit_code == 137 and not killed.running
    with pytest.raises(JobError, match="not running"):
        kill_job(client, killed)
    ended = wait_job(client, start(client, workspace, ["sh", "-c", "exit 42"]).job, timeout_s=30)
    assert ended.exit_code == 42
    oom = start(
        client,
        workspace,
        ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
        memory="16m",
    )
    ended = wait_job(client, oom.job, timeout_s=60)
    assert ended.oom_killed and "out of memory" in (ended.exit_reason() or "")


def test_remove_refuses_a_running_job_and_keeps_provenance(
    client: EngineClient, workspace: Path, docker_api
) -> None:
    result = start(client, workspace, FOREVER, name="keep-me")
    with pytest.raises(JobError, match="still running"):
        remove_job(client, result.job)
    job = find_job(client, "keep-me")
    assert job.job_id == result.job.job_id and find_job(client, job.job_id[:6]).name == "keep-me"
    job = kill_job(client, job)
    finalize(client, job)
    remove_job(client, job)
    assert list_jobs(client) == []
    assert load(job.job_id) is not None and load(job.job_id).final  # type: ignore[union-attr]


def test_name_taken_is_one_line(client: EngineClient, workspace: Path) -> None:
    start(client, workspace, FOREVER, name="twin")
    with pytest.raises(JobError, match="already exists"):
        start(client, workspace, FOREVER, name="twin")
    assert len(list_jobs(client)) == 1  # the refused one left nothing behind


def test_foreign_containers_are_never_listed_or_touched(
    client: EngineClient, workspace: Path, docker_api, capsys: pytest.CaptureFixture[str]
) -> None:
    by_hand = docker_api.create_container(BUSYBOX, ["sleep", "300"], name=f"hand-{time.time_ns()}")
    other = docker_api.create_container(
        BUSYBOX,
        ["sleep", "300"],
        labels={
            "tfstudio.job": "0123456789ab",
            "tfstudio.studio": "another-studio",
            "tfstudio.kind": "job",
        },
    )
    try:
        for found in (by_hand, other):
            docker_api.start(found["Id"])
        ours = start(client, workspace, FOREVER)
        assert [j.job_id for j in list_jobs(client)] == [ours.job.job_id]
        hand_name = docker_api.inspect_container(by_hand["Id"])["Name"].lstrip("/")
        for target in (hand_name, by_hand["Id"][:12], other["Id"][:12], "0123456789ab"):
            with pytest.raises(JobError, match="no job"):
                find_job(client, target)
            assert main(["stop", target]) == 1
            assert main(["rm", "--force", target]) == 1
        err = capsys.readouterr().err
        assert "containers tfstudio did not start are never touched" in err
        for found in (by_hand, other):
            assert docker_api.inspect_container(found["Id"])["State"]["Running"]
    finally:
        for found in (by_hand, other):
            docker_api.remove_container(found["Id"], force=True)


def test_jobs_survive_a_restart_of_the_studio(workspace: Path, docker_api) -> None:
    """Detached in one process, listed, stopped and finalised by later ones."""
    proc = tfstudio(
        "train",
        "--detach",
        "--image",
        BUSYBOX,
        "--workspace",
        str(workspace),
        "--cpus",
        "0.25",
        "--",
        "sh",
        "-c",
        "mkdir -p exports/m && echo pb > exports/m/saved_model.pb; "
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
    )
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    assert len(job_id) == 12 and "tfstudio logs -f" in proc.stderr
    listed = tfstudio("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    [job] = json.loads(listed.stdout)
    assert job["job_id"] == job_id and job["state"] == "running"
    assert job["cpu_percent"] is not None and job["memory_bytes"] > 0
    assert job["gpu"] is None  # no GPU asked for: nothing claimed
    stopped = tfstudio("stop", job_id[:6])
    assert stopped.returncode == 0, stopped.stderr
    assert f"{job_id}" in stopped.stdout and "exit 0" in stopped.stdout
    shown = tfstudio("jobs", "show", job_id, "--json")
    record = json.loads(shown.stdout)["provenance"]
    assert record["final"] and record["exit_code"] == 0
    assert [e["path"] for e in record["exports"]] == ["exports/m"]
    removed = tfstudio("rm", job_id)
    assert removed.returncode == 0 and "provenance kept" in removed.stdout
    assert json.loads(tfstudio("jobs", "--json").stdout) == []


def test_exports_from_before_the_job_are_not_claimed(client: EngineClient, workspace: Path) -> None:
    old = workspace / "exports" / "old"
    old.mkdir(parents=True)
    (old / "saved_model.pb").write_bytes(b"old")
    time.sleep(0.05)
    result = start(
        client,
        workspace,
        [
            "sh",
            "-c",
            "mkdir -p exports/new && echo n > exports/new/"
            "saved_model.pb && echo k > exports/model.keras",
        ],
    )
    record = finalize(client, wait_job(client, result.job, timeout_s=30))
    assert [e["path"] for e in record.exports] == ["exports/model.keras", "exports/new"]
    assert [s["output_path"] for s in record.chain] == ["exports/new"]  # .keras is unreadable
    assert record.exports[0]["kind"] == "unreadable"


def _wait_for_line(client: EngineClient, result: LaunchResult, text: str) -> None:
    from tfstudio.training.logs import read_logs

    deadline = time.monotonic() + 30
    while text not in read_logs(client, result.job):
        assert time.monotonic() < deadline, f"no {text!r} in the log"
        time.sleep(0.05)
