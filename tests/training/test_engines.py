"""Engines: the registry, `engines check`, and one clear line for every engine that is not there."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.training.conftest import tfstudio
from tfstudio.cli import main
from tfstudio.errors import ConfigError
from tfstudio.training.client import connect
from tfstudio.training.enginecheck import check_engine
from tfstudio.training.engines import (
    Engine,
    add_engine,
    get_engine,
    list_engines,
    local_engine,
    remove_engine,
)
from tfstudio.training.errors import EngineError, EngineUnreachableError


def test_registry_add_list_remove(studio_home: Path) -> None:
    added = add_engine(Engine(name="gpu1", url="ssh://ml@gpu-box:2222", key="~/.ssh/id_gpu"))
    assert added.added_at and added.remote
    assert [e.name for e in list_engines()] == ["local", "gpu1"]
    assert get_engine("gpu1").ssh_parts() == ("ml", "gpu-box", 2222)
    with pytest.raises(EngineError, match="already exists"):
        add_engine(Engine(name="gpu1", url="ssh://other"))
    assert remove_engine("gpu1").name == "gpu1"
    with pytest.raises(EngineError, match="no engine named"):
        get_engine("gpu1")


@pytest.mark.parametrize(
    ("name", "url", "words"),
    [
        ("local", "ssh://a@b", "built-in"),
        ("../x", "ssh://a@b", "invalid engine name"),
        ("e1", "http://box:2375", "not unix://, tcp:// or ssh://"),
        ("e1", "tcp://box", "needs a port"),
        ("e1", "ssh://a:secret@box", "no passwords"),
        ("e1", "ssh://-oProxyCommand=x", "needs a host"),
        ("e1", "unix://relative.sock", "absolute path"),
    ],
)
def test_bad_engines_are_refused(name: str, url: str, words: str) -> None:
    with pytest.raises(EngineError) as info:
        add_engine(Engine(name=name, url=url))
    assert words in info.value.message


def test_engines_declared_in_the_config(studio_home: Path) -> None:
    (studio_home / "tfstudio.toml").write_text(
        '[training]\nengine = "box"\n[engines.box]\nurl = "tcp://10.0.0.5:2376"\n'
        'workspace = "/srv/work"\n'
    )
    engine = get_engine("box")
    assert engine.origin == "config" and engine.workspace == "/srv/work"
    with pytest.raises(EngineError, match="declared in tfstudio.toml"):
        add_engine(Engine(name="box", url="ssh://x@y"))
    (studio_home / "tfstudio.toml").write_text('[engines.box]\nurl = "ftp://x"\n')
    with pytest.raises(ConfigError, match=r"\[engines.box\]"):
        list_engines()


def test_local_engine_follows_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/other.sock")
    assert local_engine().url == "unix:///run/other.sock"
    monkeypatch.delenv("DOCKER_HOST")
    assert local_engine().url == "unix:///var/run/docker.sock"


def test_local_engine_check(docker_api: object) -> None:
    status = check_engine(local_engine())
    assert status.reachable and status.server_version
    assert status.nvidia_runtime is False  # this machine has no NVIDIA runtime
    assert status.gpus is not None and status.gpus.startswith("no GPU (")
    assert status.images is not None and status.images >= 2


@pytest.fixture
def refused_socket(tmp_path: Path) -> Path:
    """A unix socket file with nobody listening: what a stopped dockerd leaves behind."""
    path = tmp_path / "stopped.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return path


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that accepts connections and never answers: a hung engine."""
    path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_missing_socket_is_one_line_naming_the_engine(tmp_path: Path) -> None:
    engine = Engine(name="gone", url=f"unix://{tmp_path}/docker.sock")
    with pytest.raises(EngineUnreachableError) as info:
        connect(engine)
    message = info.value.message
    assert "'gone'" in message and str(tmp_path) in message and "not running" in message
    assert "dockerd" in (info.value.hint or "")


def test_stopped_engine_is_one_line(refused_socket: Path) -> None:
    with pytest.raises(EngineUnreachableError) as info:
        connect(Engine(name="stopped", url=f"unix://{refused_socket}"))
    assert "'stopped'" in info.value.message and "refused" in info.value.message


def test_hung_engine_times_out_with_one_line(silent_socket: Path) -> None:
    with pytest.raises(EngineUnreachableError) as info:
        connect(Engine(name="hung", url=f"unix://{silent_socket}"), connect_timeout=1)
    assert "'hung'" in info.value.message and "no answer within 1s" in info.value.message


def test_tcp_engine_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EngineUnreachableError) as info:
        connect(Engine(name="far", url=f"tcp://127.0.0.1:{port}"))
    assert f"tcp://127.0.0.1:{port}" in info.value.message
    assert "engines check far" in (info.value.hint or "")


def test_cli_with_a_stopped_engine_prints_one_line(refused_socket: Path, studio_home: Path) -> None:
    env = {"TFSTUDIO_HOME": str(studio_home), "DOCKER_HOST": f"unix://{refused_socket}"}
    for argv in (["jobs"], ["images"], ["train", "--image", "a:1.0", "--", "true"]):
        proc = tfstudio(*argv, env=env, timeout=60)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr
        assert (
            "Docker Engine 'local' is not reachable" in lines[0] and str(refused_socket) in lines[0]
        )


def test_cli_engines_check_reports_every_engine(
    refused_socket: Path, docker_api: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["engines", "add", "down", "--url", f"unix://{refused_socket}"]) == 0
    capsys.readouterr()
    assert main(["engines", "check", "--json"]) == 1
    out = capsys.readouterr()
    found = {e["name"]: e for e in json.loads(out.out)}
    assert found["local"]["reachable"] is True and found["local"]["nvidia_runtime"] is False
    assert found["down"]["reachable"] is False and "refused" in found["down"]["error"]
    assert "not reachable: down" in out.err
    assert main(["engines", "check", "local"]) == 0
    assert "local" in capsys.readouterr().out


def test_cli_engines_add_list_remove(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["engines", "add", "gpu1", "--url", "ssh://ml@gpu-box", "--workspace", "/srv/w"]) == 0
    )
    assert "engines trust gpu1" in capsys.readouterr().out
    assert main(["engines", "list", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["local"]["default"] is True and listed["gpu1"]["workspace"] == "/srv/w"
    assert main(["engines", "add", "x", "--url", "ssh://a@b", "--workspace", "rel"]) == 1
    assert "absolute" in capsys.readouterr().err
    assert main(["engines", "remove", "gpu1"]) == 0
    assert os.path.exists(Path(os.environ["TFSTUDIO_HOME"]) / "engines.json")
