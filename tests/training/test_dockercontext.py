"""The `local` engine is the docker CLI's engine: DOCKER_HOST, TLS variables and contexts.

These tests fix the rules on their own (no docker CLI needed);
test_dockercli_oracle.py checks the same rules against the real CLI.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.tlscerts import CertAuthority, write_docker_dir
from tfstudio.cli import main
from tfstudio.training.client import connect
from tfstudio.training.dockerhost import DockerHostError, parse_docker_host
from tfstudio.training.engines import local_engine
from tfstudio.training.errors import EngineError


def write_context(
    docker_dir: Path,
    name: str,
    host: str,
    *,
    skip_tls_verify: bool = False,
    tls: dict[str, bytes] | None = None,
) -> None:
    """Writes a context into the store the way `docker context create` does."""
    ident = hashlib.sha256(name.encode()).hexdigest()
    meta = docker_dir / "contexts" / "meta" / ident
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_tls_verify}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    if tls:
        folder = docker_dir / "contexts" / "tls" / ident / "docker"
        folder.mkdir(parents=True)
        for file, data in tls.items():
            (folder / file).write_bytes(data)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP port on loopback that records what each connection sends, and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                seen.append(conn.recv(64))
            except OSError:
                seen.append(b"")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def test_tls_verify_uses_the_certificates_in_dot_docker(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = CertAuthority()
    write_docker_dir(docker_home, ca, ca.client("me"))
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    engine = local_engine()
    assert engine.tls and engine.verify and engine.problem is None
    assert engine.tls_ca == str(docker_home / "ca.pem")
    assert (engine.tls_cert, engine.tls_key) == (
        str(docker_home / "cert.pem"),
        str(docker_home / "key.pem"),
    )
    assert engine.to_json()["tls"] is True and engine.source == "DOCKER_HOST"


def test_tls_verify_without_certificates_refuses_before_connecting(
    docker_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    listener: tuple[int, list[bytes]],
) -> None:
    port, seen = listener
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    with pytest.raises(EngineError) as info:
        connect(local_engine(), connect_timeout=2)
    assert str(docker_home / "ca.pem") in info.value.message
    assert "DOCKER_TLS_VERIFY" in info.value.message and "\n" not in info.value.message
    assert "DOCKER_CERT_PATH" in (info.value.hint or "")
    assert seen == []  # not one byte went out, plain or otherwise


def test_cert_path_names_the_folder_and_tls_variables_follow_the_cli(
    docker_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = CertAuthority()
    certs = write_docker_dir(tmp_path / "certs", ca, ca.client("me"))
    monkeypatch.setenv("DOCKER_HOST", "tcp://box:2376")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
    assert not local_engine().tls  # DOCKER_CERT_PATH alone does not turn TLS on
    assert "DOCKER_CERT_PATH is set but DOCKER_TLS_VERIFY is not: plain HTTP" in (
        local_engine().source
    )
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "0")  # any non-empty value: verify
    engine = local_engine()
    assert engine.tls and engine.verify and engine.tls_ca == str(certs / "ca.pem")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "")
    monkeypatch.setenv("DOCKER_TLS", "1")  # TLS without verification
    engine = local_engine()
    assert engine.tls and not engine.verify


def test_a_port_is_defaulted_as_the_cli_does(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1")
    assert local_engine().url == "tcp://127.0.0.1:2375" and local_engine().problem is None
    write_docker_dir(docker_home, CertAuthority(), None)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert local_engine().url == "tcp://127.0.0.1:2375"  # the CLI keeps 2375 under TLS
    monkeypatch.delenv("DOCKER_HOST")
    assert local_engine().url == "tcp://localhost:2376"


@pytest.mark.parametrize(
    ("value", "tls", "expected"),
    [
        ("", False, "unix:///var/run/docker.sock"),
        ("", True, "tcp://localhost:2376"),
        ("  tcp://h:1  ", False, "tcp://h:1"),
        ("h:7", False, "tcp://h:7"),
        ("tcp://", False, "tcp://localhost:2375"),
        ("tcp://:7", True, "tcp://localhost:7"),
        ("tcp://h:", False, "tcp://h:2375"),
        ("tcp://[::1]:5", False, "tcp://[::1]:5"),
        ("tcp://::1", False, "tcp://[::1]:2375"),
        ("unix://", False, "unix:///var/run/docker.sock"),
        ("unix:///x.sock", True, "unix:///x.sock"),
        ("ssh://me@box:22", False, "ssh://me@box:22"),
    ],
)
def test_parse_docker_host(value: str, tls: bool, expected: str) -> None:
    assert parse_docker_host(value, tls=tls) == expected


@pytest.mark.parametrize("value", ["tcp://[::1]", "http://h:1", "tcp://h:abc", "tcp://a://b"])
def test_parse_docker_host_refuses_what_the_cli_refuses(value: str) -> None:
    with pytest.raises(DockerHostError):
        parse_docker_host(value, tls=False)


def test_docker_context_and_context_use(docker_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = CertAuthority()
    client = ca.client("ctx")
    write_context(docker_home, "remote", "tcp://10.0.0.5:2376", tls={"ca.pem": ca.cert_pem})
    write_context(
        docker_home,
        "secure",
        "tcp://10.0.0.6:2376",
        tls={"ca.pem": ca.cert_pem, "cert.pem": client.cert, "key.pem": client.key},
    )
    write_context(docker_home, "box", "ssh://ml@gpu-box")
    (docker_home / "config.json").write_text('{"auths": {}, "currentContext": "box"}')
    engine = local_engine()
    assert engine.url == "ssh://ml@gpu-box" and engine.source == "context box (docker context use)"
    monkeypatch.setenv("DOCKER_CONTEXT", "secure")
    engine = local_engine()
    assert (
        engine.url == "tcp://10.0.0.6:2376" and engine.source == "context secure (DOCKER_CONTEXT)"
    )
    assert engine.tls and engine.verify and engine.tls_ca and engine.tls_ca.endswith("/ca.pem")
    assert engine.tls_key and "contexts/tls" in engine.tls_key
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "")  # a context ignores the TLS variables
    monkeypatch.setenv("DOCKER_CONTEXT", "remote")
    engine = local_engine()
    assert engine.tls and engine.verify and engine.tls_cert is None
    # DOCKER_HOST beats any context, as for `docker` (`docker context ls` warns).
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/other.sock")
    assert local_engine().url == "unix:///run/other.sock"
    assert (
        local_engine().source
        == "DOCKER_HOST; DOCKER_HOST overrides context remote (DOCKER_CONTEXT)"
    )


def test_an_unknown_context_is_refused_in_one_line(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (docker_home / "config.json").write_text('{"currentContext": "ghost"}')
    engine = local_engine()
    assert engine.problem and "'ghost'" in engine.problem
    with pytest.raises(EngineError) as info:
        connect(engine)
    assert "docker context use default" in (info.value.hint or "")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert local_engine().url == "unix:///var/run/docker.sock"


def test_a_context_without_a_port_is_refused(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_context(docker_home, "noport", "tcp://127.0.0.1")
    monkeypatch.setenv("DOCKER_CONTEXT", "noport")
    engine = local_engine()
    assert engine.problem and "needs a port" in engine.problem
    assert "context noport" in engine.problem


def test_engines_list_shows_where_local_points_and_the_contexts(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = CertAuthority()
    write_context(docker_home, "remote", "tcp://10.0.0.5:2376", tls={"ca.pem": ca.cert_pem})
    write_context(docker_home, "box", "ssh://ml@gpu-box")
    (docker_home / "config.json").write_text('{"currentContext": "remote"}')
    assert main(["engines", "list"]) == 0
    out = capsys.readouterr().out
    assert (
        "local is tcp://10.0.0.5:2376 (TLS, verified, no client certificate), "
        "from context remote (docker context use)" in out
    )
    assert f"docker contexts in {docker_home}" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[-3:]}
    assert rows["remote"] == ["*", "tcp://10.0.0.5:2376", "verify"]
    assert rows["box"] == ["ssh://ml@gpu-box", "-"]
    assert rows["default"] == ["unix:///var/run/docker.sock", "-"]

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert main(["engines", "list", "--json"]) == 0
    [local] = json.loads(capsys.readouterr().out)
    assert local["url"] == "tcp://127.0.0.1:2375" and local["tls"] is False
    assert (
        local["source"] == "DOCKER_HOST; DOCKER_HOST overrides context remote (docker context use)"
    )
    contexts = {c["name"]: c for c in local["docker_contexts"]}
    assert contexts["default"]["current"] and not contexts["remote"]["current"]
    assert contexts["remote"]["tls"] == "verify" and contexts["remote"]["ca"].endswith("ca.pem")


def test_engines_list_says_why_local_cannot_be_used(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert main(["engines", "list"]) == 0
    out = capsys.readouterr().out
    assert "local cannot be used: DOCKER_TLS_VERIFY is set but the CA certificate " in out
    assert "docker contexts" not in out  # only `default`: no table
    assert main(["engines", "check", "local"]) == 1
    assert "ca.pem" in capsys.readouterr().err


def test_readiness_names_what_the_cli_setup_lacks(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfstudio.studio import Studio

    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    (part,) = [p for p in Studio().readiness() if p.part == "training"]
    assert not part.ok and part.state == "misconfigured"
    assert "ca.pem" in part.detail and "DOCKER_CERT_PATH" in (part.fix or "")
