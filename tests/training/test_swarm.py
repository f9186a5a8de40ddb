"""Multi-worker jobs on a real swarm: this machine's dockerd as a one-node swarm manager.

`scripts/docker-test-env.sh` makes the test engine a swarm manager (`docker
swarm init --advertise-addr 127.0.0.1` when it is not one yet). Every test
removes the services and networks of its own studio afterwards, and waits
for the swarm to take their containers away, so nothing is left running.

The TensorFlow tests run a real MultiWorkerMirroredStrategy loop in two
workers (`tests/training/mwmsjob.py`); the others use busybox workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.training.conftest import BUSYBOX, TF_IMAGE, tfstudio
from tests.training.mwmsjob import losses, prepare_workspace, rates, replicas
from tests.training.test_logs import _read_until, _take_terminal
from tests.training.test_remote import engine_host, register  # noqa: F401 - a fixture
from tfstudio.cli import main
from tfstudio.errors import TfStudioError
from tfstudio.models.source import probe_source
from tfstudio.studio import Studio
from tfstudio.studio.training_types import TrainRequest
from tfstudio.training.labels import studio_id

LOOP = "trap 'echo term; exit 143' TERM; echo up; while :; do sleep 0.2; done"
"""A busybox worker that runs until it is stopped, and says so."""
GONE_S = 60.0


@pytest.fixture
def swarm(docker_api) -> Iterator[object]:
    """The local engine, a swarm manager; this test's services and networks are removed after."""
    info = docker_api.info()["Swarm"]
    if not info.get("ControlAvailable"):
        pytest.fail(
            "the test engine is not a swarm manager: run scripts/docker-test-env.sh "
            "(it runs docker swarm init --advertise-addr 127.0.0.1)"
        )
    yield docker_api
    remove_this_studios_groups(docker_api)


def remove_this_studios_groups(api) -> None:
    """Removes the test studio's services, waits until their containers are gone, then its
    networks (the containers' own cleanup fixture runs after this one)."""
    selector = {"label": f"tfstudio.studio={studio_id()}"}
    for service in api.services(filters=selector):
        api.remove_service(service["ID"])
    deadline = time.monotonic() + GONE_S
    while api.containers(all=True, filters=selector) and time.monotonic() < deadline:
        time.sleep(0.25)
    for network in api.networks(filters=selector):
        while True:
            try:
                api.remove_network(network["Id"])
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)


def worker_containers(api, *, running: bool = True, worker: int | None = None) -> list[dict]:
    labels = [f"tfstudio.studio={studio_id()}", "tfstudio.kind=worker"]
    if worker is not None:
        labels.append(f"tfstudio.worker={worker}")
    return api.containers(all=not running, filters={"label": labels})


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout:g}s"
        time.sleep(0.2)


def train_argv(workspace: Path, *words: str) -> list[str]:
    return [sys.executable, "-m", "tfstudio", "train", "--workers", "2", "--gpus", "none",
            "--workspace", str(workspace), *words]  # fmt: skip


# -- TensorFlow: MultiWorkerMirroredStrategy in two workers ------------------------


@pytest.mark.slow
def test_two_workers_train_in_lockstep_and_the_chiefs_export_converts(
    swarm, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_workspace(workspace)
    argv = ["--image", TF_IMAGE, "--cpus", "1", "--memory", "2g", "--shm-size", "256m"]
    proc = tfstudio(*train_argv(workspace, *argv)[3:], "--", "python", "mwms_train.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert replicas(lines) == {0: 2, 1: 2}, proc.stdout[-2000:]
    steps = losses(lines)
    assert sorted(steps) == [0, 1] and len(steps[0]) == 30
    assert steps[0] == steps[1]  # lockstep: the same loss at every step on both workers
    assert float(steps[0][29]) < float(steps[0][0])
    assert set(rates(lines)) == {0, 1}
    assert "[w0] worker 0: exported exports/mwms" in lines
    assert "ended: exit 0" in proc.stderr and "w1 on " in proc.stderr

    record = json.loads(Path(proc.stderr.split("provenance: ")[1].split()[0]).read_text())
    image_id = swarm.inspect_image(TF_IMAGE)["Id"]
    assert record["final"] and record["exit_code"] == 0 and record["state"] == "exited"
    assert record["image"]["digest"] == image_id and record["image"]["service_image"] == image_id
    assert record["group"]["workers"] == 2 and record["group"]["failure"] is None
    hostname = swarm.info()["Name"]
    assert [(w["index"], w["node"], w["exit_code"]) for w in record["workers"]] == [
        (0, hostname, 0),
        (1, hostname, 0),
    ]
    assert record["host_config"]["NanoCpus"] == 1_000_000_000
    assert record["host_config"]["Memory"] == 2 << 30
    assert record["host_config"]["ShmSize"] == 256 << 20
    [export] = record["exports"]
    saved_model = workspace / "exports" / "mwms"
    assert export["path"] == "exports/mwms" and export["sha256"] == probe_source(saved_model).sha256
    [step] = record["chain"]
    assert step["job"] == record["job_id"] and step["image_digest"] == image_id

    # `watch` joins a new SavedModel to the job that exported it the same way.
    from tfstudio.workflows.pipeline.chain import training_link

    link = training_link(Studio(), saved_model, export["sha256"])
    assert link is not None and link["job"] == record["job_id"] and link["exit_code"] == 0
    assert link["image_digest"] == image_id

    out = tmp_path / "converted"
    assert main(["convert", str(saved_model), "-o", str(out), "--quant", "float32"]) == 0
    manifest = json.loads((out / "mwms.float32.json").read_text())
    assert manifest["source"]["sha256"] == export["sha256"]
    capsys.readouterr()
    assert main(["jobs", "which", str(out / "mwms.float32.json")]) == 0
    assert record["job_id"] in capsys.readouterr().out


@pytest.mark.slow
def test_a_killed_worker_fails_the_group_and_the_other_is_stopped(swarm, workspace: Path) -> None:
    prepare_workspace(workspace, steps=100_000)
    argv = train_argv(workspace, "--image", TF_IMAGE, "-e", "PAUSE=0.05")
    proc = subprocess.Popen(
        [*argv, "--", "python", "mwms_train.py"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        seen = set()
        for line in proc.stdout:
            if line.startswith(("[w0] step 3 ", "[w1] step 3 ")):
                seen.add(line[:4])
            if len(seen) == 2:
                break
        assert len(seen) == 2, "both workers train"
        [victim] = worker_containers(swarm, worker=1)
        swarm.kill(victim["Id"])
        killed = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 30, f"the group took {took:.1f}s to fail"
    assert proc.returncode == 137, err
    assert "worker 1 failed on" in err and "killed (SIGKILL, exit 137)" in err
    assert worker_containers(swarm) == []  # nothing is left running
    [job] = Studio().training.jobs()
    assert job.state == "failed" and all(w.ended for w in job.workers)
    [w0_line] = [line for line in err.splitlines() if line.strip().startswith("w0 on ")]
    w0, w1 = job.workers
    # The survivor is stopped by the group's rule, unless it saw its peer die and ended on
    # its own first (a loaded engine answers the group's poll later than that): either
    # way the line says which, and worker 1 stays the cause.
    if "by tfstudio (group)" not in w0_line:
        assert w0.failed and (w0.changed_ns or 0) >= (w1.changed_ns or 0), err
        assert f": {w0.reason()}" in w0_line and "by tfstudio" not in w0_line, err
    record = Studio().training.provenance(job)
    assert record.final and record.group["failure"] == job.failure


@pytest.mark.slow
def test_the_same_two_worker_job_through_an_ssh_engine(
    engine_host,  # noqa: F811 - the fixture imported above
    swarm,
    workspace: Path,
    tmp_path: Path,
    studio_home: Path,
) -> None:
    register(engine_host)
    prepare_workspace(workspace, steps=10)
    proc = tfstudio(
        *train_argv(workspace, "--engine", "gpubox", "--image", TF_IMAGE)[3:],
        "--",
        "python",
        "mwms_train.py",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert replicas(lines) == {0: 2, 1: 2}
    steps = losses(lines)
    assert len(steps[0]) == 10 and steps[0] == steps[1]
    record = json.loads(Path(proc.stderr.split("provenance: ")[1].split()[0]).read_text())
    assert record["engine"]["name"] == "gpubox" and record["engine"]["remote"] is True
    assert [w["exit_code"] for w in record["workers"]] == [0, 0]
    [export] = record["exports"]
    # Read from the chief's container through the engine, kept here for convert.
    local_copy = Path(export["local_path"])
    assert local_copy == studio_home / "jobs" / record["job_id"] / "exports" / "mwms"
    assert export["sha256"] == probe_source(local_copy).sha256
    assert main(["convert", str(local_copy), "-o", str(tmp_path / "c"), "--quant", "float32"]) == 0


# -- busybox workers: the group's life on the swarm ------------------------------------


def test_a_detached_group_is_listed_logged_guarded_and_removed(
    swarm, workspace: Path, studio_home: Path
) -> None:
    proc = tfstudio(*train_argv(workspace, "--image", BUSYBOX, "-d", "--json")[3:], "--",
                    "sh", "-c", LOOP)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    started = json.loads(proc.stdout)
    job_id = started["job"]["job_id"]
    assert [w["service"] for w in started["job"]["workers"]] == [
        f"tfstudio-{job_id}-w0",
        f"tfstudio-{job_id}-w1",
    ]
    until(lambda: len(worker_containers(swarm)) == 2, 60, "both workers run")
    listed = json.loads(tfstudio("jobs", "--json").stdout)
    [row] = listed
    assert row["job_id"] == job_id and row["state"] == "running" and len(row["workers"]) == 2
    logs = until(lambda: _both_up(tfstudio("logs", job_id).stdout), 30, "both workers log")
    assert "[w0] up" in logs and "[w1] up" in logs

    # No tfstudio process is attached now: the guard `train -d` started stops worker 0.
    [victim] = worker_containers(swarm, worker=1)
    swarm.kill(victim["Id"])
    killed = time.monotonic()
    until(lambda: worker_containers(swarm) == [], 30, "the guard stops the other worker")
    assert time.monotonic() - killed < 30
    guard = studio_home / "jobs" / job_id / "guard.log"
    until(lambda: guard.exists() and "worker 1 failed" in guard.read_text(), 30, "the guard ends")
    shown = tfstudio("jobs", "show", job_id)
    assert "worker 1 failed on" in shown.stdout and "killed (SIGKILL, exit 137)" in shown.stdout
    assert "w0  node" in shown.stdout and "by tfstudio (group)" in shown.stdout

    removed = tfstudio("rm", job_id)
    assert removed.returncode == 0, removed.stderr
    assert swarm.services(filters={"label": f"tfstudio.job={job_id}"}) == []
    gone = until(
        lambda: not swarm.networks(filters={"label": f"tfstudio.job={job_id}"}), 20, "no network"
    )
    assert gone
    assert json.loads((studio_home / "jobs" / job_id / "provenance.json").read_text())["final"]


def _both_up(text: str) -> str:
    return text if "[w0] up" in text and "[w1] up" in text else ""


def test_stop_and_kill_act_on_the_whole_group(swarm, workspace: Path) -> None:
    training = Studio().training
    request = TrainRequest(
        ["sh", "-c", LOOP], image=BUSYBOX, gpus="none", workspace=str(workspace), workers=3
    )
    for action in ("stop", "kill"):
        job = training.train_group(request, guard=False).job
        until(lambda: training.job(job.job_id).state == "running", 60, "three workers run")
        outcome = getattr(training, action)(job.job_id)
        ended = outcome.job
        code, by = (143, "stop") if action == "stop" else (137, "kill")
        assert ended.state == "exited" and ended.exit_code == code and ended.failure is None
        assert [(w.exit_code, w.stopped_by) for w in ended.workers] == [(code, by)] * 3
        assert outcome.provenance is not None and outcome.provenance.final
        assert outcome.provenance.exit_code == code
        assert worker_containers(swarm) == [], f"{action}: the engine still lists them"
        training.remove(job.job_id)
    assert training.jobs() == []


@pytest.mark.parametrize("answer", ["y", "n"])
def test_ctrl_c_asks_once_for_the_whole_group(swarm, workspace: Path, answer: str) -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*train_argv(workspace, "--image", BUSYBOX), "--", "sh", "-c", LOOP],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    os.close(slave)
    try:
        seen = _read_until(master, "[w1] up")
        seen += _read_until(master, "[w0] up") if "[w0] up" not in seen else ""
        os.write(master, b"\x03")
        seen += _read_until(master, "workers?")
        os.write(master, f"{answer}\n".encode())
        seen += _read_until(master, "provenance:" if answer == "y" else "keeps running")
        code = proc.wait(60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    assert seen.count("stop job") == 1 and "all 2 workers?" in seen
    [job] = Studio().training.jobs()
    if answer == "y":
        assert code == 143 and job.state == "exited" and worker_containers(swarm) == []
        assert "w0 on" in seen and "w1 on" in seen
    else:
        assert code == 130 and job.running and "a guard process" in seen


def test_what_a_one_node_swarm_without_gpus_refuses(swarm, workspace: Path) -> None:
    training = Studio().training
    base = {"image": BUSYBOX, "workspace": str(workspace), "workers": 2}
    with pytest.raises(TfStudioError) as info:
        training.train_group(TrainRequest(["true"], gpus="1", **base), guard=False)
    assert "offers no GPUs" in info.value.message
    assert "node-generic-resources" in (info.value.hint or "")
    with pytest.raises(TfStudioError) as info:
        training.train_group(TrainRequest(["true"], gpus="all", **base), guard=False)
    assert "by count" in info.value.message
    assert swarm.services(filters={"label": f"tfstudio.studio={studio_id()}"}) == []


def test_engines_check_says_the_engine_is_a_swarm_manager(swarm) -> None:
    proc = tfstudio("engines", "check", "local", "--json")
    assert proc.returncode == 0, proc.stderr
    [status] = json.loads(proc.stdout)
    assert status["swarm_manager"] is True and status["swarm_nodes_ready"] == 1
    assert status["swarm"] == "manager, 1/1 node(s) ready" and status["swarm_hint"] is None
    table = tfstudio("engines", "check", "local")
    assert "manager, 1/1 node(s) ready" in table.stdout
