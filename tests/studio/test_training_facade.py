"""`Studio.training` against the real Docker Engine: the one contract for training containers.

Jobs run in the busybox test image (scripts/docker-test-env.sh builds it);
each test has its own TFSTUDIO_HOME, so its own studio identity, and its
containers are removed after it (tests/training/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tests.training.conftest import BUSYBOX
from tfstudio.errors import TfStudioError
from tfstudio.fleet.hostkey_offer import TRUSTED, UNKNOWN
from tfstudio.operations import Event, StageStarted, TargetFinished
from tfstudio.studio import Studio
from tfstudio.studio.training_types import TrainRequest
from tfstudio.training.engines import Engine
from tfstudio.training.errors import (
    EngineError,
    GpuRequestError,
    JobError,
    TagPolicyError,
)
from tfstudio.training.gpucheck import Verdict
from tfstudio.training.launch import LaunchResult

FOREVER = "sh -c 'echo ready; trap \"echo bye; exit 0\" TERM; while :; do sleep 0.1; done'"
"""Prints a line, then runs until stopped; says goodbye on SIGTERM."""
NO_ENGINE = "unix:///nonexistent/tfstudio-test/docker.sock"


@pytest.fixture
def studio(docker_api: object) -> Iterator[Studio]:
    opened = Studio()
    yield opened
    opened.close()


def _run(studio: Studio, folder: Path, line: str, **words: object) -> LaunchResult:
    request = TrainRequest(line, image=BUSYBOX, workspace=str(folder), gpus="none")
    return studio.training.train(replace(request, **words))  # type: ignore[arg-type]


def test_train_speaks_the_one_contract_and_its_log_arrives_in_batches(
    studio: Studio, workspace: Path
) -> None:
    events: list[Event] = []
    request = TrainRequest(
        "sh -c 'for i in 1 2 3 4 5; do echo step $i; done; echo done > exports.txt'",
        image=BUSYBOX,
        workspace=str(workspace),
        gpus="none",
        memory="64m",
        name="facade-batch",
    )
    started = studio.training.train(request, on_event=events.append)
    stages = [e.stage.value for e in events if isinstance(e, StageStarted)]
    assert stages == ["connect", "resolve", "create", "start", "running"]
    (finished,) = [e for e in events if isinstance(e, TargetFinished)]
    assert finished.ok and finished.data["job"]["job_id"] == started.job.job_id
    assert started.job.name == "facade-batch"

    batches: list[list[str]] = []
    ended = threading.Event()
    stream = studio.training.follow(started.job, batches.append, on_end=lambda error: ended.set())
    assert ended.wait(30), "following did not end with the job"
    lines = [line for batch in batches for line in batch]
    assert lines == [f"step {i}" for i in range(1, 6)]
    assert len(batches) < len(lines) or len(lines) == 1, "lines were not batched"
    assert stream.done and stream.error is None

    outcome = studio.training.wait(started.job, timeout_s=30)
    assert outcome.job.exit_code == 0 and outcome.provenance is not None
    assert outcome.provenance.final and outcome.provenance.host_config["Memory"] == 64 << 20
    assert (workspace / "exports.txt").read_text() == "done\n"
    assert outcome.to_json()["job"]["exit_code"] == 0


def test_latest_and_untagged_images_are_refused_with_the_reason(
    studio: Studio, workspace: Path
) -> None:
    for ref, why in [
        ("tensorflow/tensorflow:latest", "'latest' moves to whatever was pushed last"),
        ("tensorflow/tensorflow", "no tag means 'latest'"),
        ("tensorflow/tensorflow:nightly", "names no version"),
    ]:
        with pytest.raises(TagPolicyError, match="refused for training") as info:
            studio.training.check_image(ref)
        assert why in info.value.message and "digest" in (info.value.hint or "")
        with pytest.raises(TagPolicyError):
            studio.training.train(TrainRequest("true", image=ref, workspace=str(workspace)))
    assert studio.training.check_image(BUSYBOX).pinned
    assert studio.training.jobs() == []  # nothing reached the engine


def test_stop_kill_and_remove_a_job_keep_its_provenance(studio: Studio, workspace: Path) -> None:
    training = studio.training
    first = _run(studio, workspace, FOREVER).job
    second = _run(studio, workspace, FOREVER).job
    assert {j.job_id for j in training.jobs() if j.running} == {first.job_id, second.job_id}

    stopped = training.stop(first, timeout_s=5)
    assert stopped.job.exit_code == 0 and "exit 0" in stopped.message
    assert stopped.provenance is not None and stopped.provenance.final
    assert "bye" in training.logs(first.job_id)

    killed = training.kill(second.job_id[:6])
    assert killed.job.exit_code == 137 and "SIGKILL" in killed.message
    with pytest.raises(JobError, match="not running"):
        training.kill(second)

    removed = training.remove(first)
    assert removed.message.endswith("removed")
    assert [j.job_id for j in training.jobs()] == [second.job_id]
    record = training.provenance(first.job_id)  # the container is gone, the record is not
    assert record.final and record.job_id == first.job_id
    with pytest.raises(JobError, match="no longer exists"):
        training.stop(first)
    with pytest.raises(JobError, match="no job"):
        training.stop(first.job_id)


def test_several_log_streams_stop_at_once_and_call_nothing_back(
    studio: Studio, workspace: Path
) -> None:
    jobs = [_run(studio, workspace, FOREVER).job for _ in range(3)]  # type: ignore[attr-defined]
    seen: dict[str, list[str]] = {j.job_id: [] for j in jobs}
    streams = [studio.training.follow(j, seen[j.job_id].extend) for j in jobs]
    deadline = time.monotonic() + 20
    while not all(seen.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(lines == ["ready"] for lines in seen.values())

    began = time.monotonic()
    for stream in streams:
        stream.stop()
    assert time.monotonic() - began < 0.5, "stop() waited for the reader"
    assert all(s.wait(5) for s in streams)
    assert all(lines == ["ready"] for lines in seen.values())
    assert all(j.running for j in studio.training.jobs(stats=False)), "stopping a log stops no job"


def test_a_down_engine_is_a_state_with_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    studio = Studio()
    board = studio.training.board()
    assert not board.reachable and board.jobs == ()
    assert f"not reachable at {NO_ENGINE}" in board.state
    assert "start dockerd" in (board.hint or "") and board.gpus and board.gpus.startswith("no GPU")
    (part,) = [p for p in studio.readiness() if p.part == "training"]
    assert not part.ok and part.fix == "install docker.io and start dockerd"
    assert f"Docker Engine not reachable (at {NO_ENGINE})" in part.line
    with pytest.raises(EngineError, match="not reachable"):
        studio.training.jobs()
    (status,) = studio.training.check_engines(["local"]).statuses
    assert not status.reachable and status.hint


def test_engines_are_checked_added_and_removed(studio: Studio) -> None:
    training = studio.training
    report = training.check_engines()
    local = report.status("local")
    assert report.ok and local.server_version and not local.nvidia_runtime
    assert local.gpus and local.gpus.startswith("no GPU")
    training.add_engine(Engine("gpu-box", "ssh://trainer@192.0.2.7:2222"))
    assert [e.name for e in training.engines()] == ["local", "gpu-box"]
    with pytest.raises(EngineError, match="not reached over SSH"):
        training.scan_engine_key("local")
    assert training.remove_engine("gpu-box").url == "ssh://trainer@192.0.2.7:2222"
    with pytest.raises(EngineError, match="no engine named"):
        training.engine("gpu-box")


def test_engine_host_key_is_trusted_in_two_calls(lab: Lab) -> None:
    studio = Studio()
    server = lab.servers[0]
    studio.training.add_engine(Engine("remote", f"ssh://{lab.users[0]}@127.0.0.1:{server.port}"))
    offer = studio.training.scan_engine_key("remote")
    assert offer.status == UNKNOWN and offer.fingerprint == server.host_fingerprint
    assert studio.training.scan_engine_key("remote").status == UNKNOWN  # scan records nothing
    studio.training.record_engine_key(offer)
    assert studio.training.scan_engine_key("remote").status == TRUSTED


def test_gpu_check_gives_a_verdict_and_refuses_gpus_without_nvidia(studio: Studio) -> None:
    events: list[Event] = []
    result = studio.training.gpu_check(BUSYBOX, "none", on_event=events.append)
    assert result.verdict is Verdict.NO_TENSORFLOW and "no TensorFlow" in result.message
    assert result.hint and result.to_json()["verdict"] == "no_tensorflow"
    assert [e.stage.value for e in events if isinstance(e, StageStarted)][:2] == [
        "connect",
        "resolve",
    ]
    with pytest.raises(GpuRequestError, match="no NVIDIA runtime") as info:
        studio.training.gpu_check(BUSYBOX, "all")
    assert "NVIDIA Container Toolkit" in (info.value.hint or "")


def test_build_image_reports_build_steps(studio: Studio, tmp_path: Path, docker_api) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo built > /marker\n")
    tag = f"tfstudio-test/facade-build:1.0.{time.time_ns() % 100000}"
    events: list[Event] = []
    try:
        result = studio.training.build_image(context, tag, on_event=events.append)
        assert result.tag == tag and result.bases[0]["ref"] == BUSYBOX
        assert "build" in {e.stage.value for e in events if isinstance(e, StageStarted)}
        assert any(i.tag == tag.split(":")[1] for i in studio.training.images())
    finally:
        try:
            docker_api.remove_image(tag, force=True)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001, S110 - the build may have failed before tagging
            pass


def test_bad_words_are_one_line_errors(studio: Studio, workspace: Path) -> None:
    for words, text in [
        ({"command": "sh -c 'unbalanced"}, "No closing quotation"),
        ({"memory": "lots"}, "is not a size"),
        ({"gpus": "some"}, "is not understood"),
        ({"workspace": str(workspace / "missing")}, "does not exist"),
    ]:
        with pytest.raises(TfStudioError, match=text):
            _run(studio, workspace, "true", **words)


def test_an_encrypted_engine_key_is_a_state_asked_between_two_reads(
    lab: Lab, tmp_path: Path
) -> None:
    import subprocess

    server = lab.servers[0]
    key = tmp_path / "engine_key"
    key.write_bytes(Path(lab.sshd.client_key).read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", "s3cret", "-f", str(key)], check=True)
    studio = Studio()  # no prompt: the UI's way
    url = f"ssh://{lab.users[0]}@127.0.0.1:{server.port}"
    studio.training.add_engine(Engine("locked", url, key=str(key)))
    studio.training.record_engine_key(studio.training.scan_engine_key("locked"))

    board = studio.training.board("locked")
    assert not board.reachable and board.needs_passphrase == str(key)
    assert not board.passphrase_wrong and "encrypted" in (board.error or "")
    studio.connector.remember(str(key), "nope")
    assert studio.training.board("locked").passphrase_wrong
    studio.connector.remember(str(key), "s3cret")
    board = studio.training.board("locked")
    # The key opens now; whatever the host says next is no longer about the key.
    assert board.needs_passphrase is None and "encrypted" not in (board.error or "")
    studio.close()
