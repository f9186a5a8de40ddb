"""A remote engine: the same dockerd, reached over a loopback sshd as a user in the docker group.

The studio opens its own host-key-checked SSH connection and runs `docker
system dial-stdio` on it, so the engine's host key goes through the same
trust store as devices: unknown is refused, then trusted by fingerprint.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.sshd import SSHD, SshdFactory, SshdServer
from tests.training.conftest import BUSYBOX, TF_IMAGE, tfstudio
from tests.training.tfjob import prepare_workspace
from tfstudio.cli import main
from tfstudio.errors import HostKeyError
from tfstudio.models.source import probe_source
from tfstudio.studio import Studio
from tfstudio.training.client import connect
from tfstudio.training.engines import Engine, add_engine, get_engine
from tfstudio.training.errors import EngineUnreachableError, WorkspaceError
from tfstudio.training.jobs import list_jobs
from tfstudio.training.jobspec import build_spec
from tfstudio.training.launch import launch
from tfstudio.training.logs import LogFollower
from tfstudio.training.settings import training_settings


@pytest.fixture(scope="module")
def engine_host() -> Iterator[tuple[SshdFactory, SshdServer, str, str]]:
    """(factory, sshd, user in the docker group, user outside it)."""
    if not Path(SSHD).exists():
        pytest.fail(f"{SSHD} is missing: apt-get install openssh-server (.ci/run does)")
    factory = SshdFactory(prefix="tfeng")
    try:
        server = factory.start("engine-host")
        member = factory.make_user("d")
        subprocess.run(["usermod", "-aG", "docker", member], check=True)
        outsider = factory.make_user("o")
        yield factory, server, member, outsider
    finally:
        factory.close()


def register(
    engine_host, name: str = "gpubox", *, outsider: bool = False, trust: bool = True
) -> Engine:
    factory, server, member, other = engine_host
    user = other if outsider else member
    engine = add_engine(
        Engine(name=name, url=f"ssh://{user}@127.0.0.1:{server.port}", key=str(factory.client_key))
    )
    if trust:
        Studio().training.trust_engine(engine.name, fingerprint=server.host_fingerprint)
    return engine


def test_unknown_engine_key_is_refused_then_trusted_by_fingerprint(
    engine_host, docker_api, capsys: pytest.CaptureFixture[str]
) -> None:
    _factory, server, _member, _other = engine_host
    engine = register(engine_host, trust=False)
    fp = server.host_fingerprint
    with pytest.raises(HostKeyError) as info:
        connect(engine)
    assert fp in info.value.message and "unknown" in info.value.message
    assert f"tfstudio engines trust gpubox --fingerprint {fp}" in (info.value.hint or "")
    assert main(["jobs", "--engine", "gpubox"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "engines trust gpubox" in err
    offer = Studio().training.scan_engine_key(engine.name)
    assert offer.fingerprint == fp and offer.status == "unknown"
    assert main(["engines", "trust", "gpubox", "--fingerprint", "SHA256:wrong"]) == 1
    assert "nothing recorded" in capsys.readouterr().err
    assert main(["engines", "trust", "gpubox", "--fingerprint", fp]) == 0
    assert f"trusted [127.0.0.1]:{server.port} ssh-ed25519 {fp}" in capsys.readouterr().out
    assert Studio().training.scan_engine_key(engine.name).status == "trusted"
    assert main(["engines", "check", "gpubox", "--json"]) == 0
    [status] = json.loads(capsys.readouterr().out)
    assert status["reachable"] and status["server_version"]
    assert status["gpus"].startswith("unknown")  # NVML here says nothing about that host


def test_a_user_outside_the_docker_group_gets_the_reason(engine_host, docker_api) -> None:
    engine = register(engine_host, "nogroup", outsider=True)
    with pytest.raises(EngineUnreachableError) as info:
        connect(engine)
    assert "permission denied" in info.value.message and "127.0.0.1" in info.value.message
    assert "docker' group" in (info.value.hint or "")


def test_remote_workspace_is_a_path_on_the_engine_host(engine_host, docker_api, tmp_path) -> None:
    engine = register(engine_host)
    missing = tmp_path / "not-on-that-host"
    spec = build_spec(engine, training_settings(), ["true"], image=BUSYBOX, workspace=str(missing))
    with connect(engine) as client:
        with pytest.raises(WorkspaceError) as info:
            launch(client, spec)
        assert list_jobs(client) == []
    message = info.value.message
    assert str(missing) in message and "does not exist on 127.0.0.1" in message
    assert "a remote engine's workspace is a path on that host" in message


def test_follow_and_cancel_logs_over_ssh(engine_host, docker_api, workspace: Path) -> None:
    engine = register(engine_host)
    spec = build_spec(
        engine,
        training_settings(),
        ["sh", "-c", "echo ready; while :; do sleep 0.1; done"],
        image=BUSYBOX,
        workspace=str(workspace),
    )
    with connect(engine) as client:
        job = launch(client, spec).job
        seen = threading.Event()
        follower = LogFollower(client, job, lambda line: seen.set()).start()
        assert seen.wait(30)
        began = time.monotonic()
        follower.stop()
        assert follower.done and time.monotonic() - began < 3
        [listed] = list_jobs(client)
        assert listed.job_id == job.job_id and listed.running


@pytest.mark.slow
def test_train_through_the_ssh_engine_then_convert(
    engine_host, docker_api, workspace: Path, tmp_path: Path, studio_home: Path
) -> None:
    register(engine_host)
    prepare_workspace(workspace)
    proc = tfstudio(
        "train",
        "--engine",
        "gpubox",
        "--image",
        TF_IMAGE,
        "--gpus",
        "none",
        "--workspace",
        str(workspace),
        "--",
        "python",
        "train.py",
    )
    assert proc.returncode == 0, proc.stderr
    assert "final accuracy" in proc.stdout
    assert "is a path on 127.0.0.1 (engine gpubox), not on this machine" in proc.stderr
    record = json.loads(Path(proc.stderr.split("provenance: ")[1].split()[0]).read_text())
    assert record["engine"]["name"] == "gpubox" and record["engine"]["remote"] is True
    assert record["image"]["digest"] == docker_api.inspect_image(TF_IMAGE)["Id"]
    [export] = record["exports"]
    # Read through the engine and kept here, so it converts on this machine.
    local_copy = Path(export["local_path"])
    assert local_copy == studio_home / "jobs" / record["job_id"] / "exports" / "digits"
    assert export["sha256"] == probe_source(local_copy).sha256
    assert export["sha256"] == probe_source(workspace / "exports" / "digits").sha256
    out = tmp_path / "converted"
    assert main(["convert", str(local_copy), "-o", str(out), "--quant", "float32"]) == 0
    manifest = json.loads((out / "digits.float32.json").read_text())
    assert manifest["source"]["sha256"] == export["sha256"]
    assert os.path.getsize(out / "digits.float32.tflite") > 0
    assert get_engine("gpubox").remote


def test_ssh_config_alias_reaches_the_engine(engine_host, docker_api, tmp_path: Path) -> None:
    factory, server, member, _other = engine_host
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host gpu-alias\n  HostName 127.0.0.1\n  Port {server.port}\n  User {member}\n"
        f"  IdentityFile {factory.client_key}\n"
    )
    engine = add_engine(Engine(name="aliased", url="ssh://gpu-alias", ssh_config=str(config)))
    Studio().training.trust_engine(engine.name, fingerprint=server.host_fingerprint)
    with connect(engine) as client:
        assert client.server_version and client.engine.host_label() == "gpu-alias"
