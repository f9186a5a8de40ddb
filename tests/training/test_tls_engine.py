"""A TLS-only engine on loopback: the real Docker Engine behind a front that speaks TLS only.

`TlsFront` (tests/helpers/tlsfront.py) listens on 127.0.0.1, requires a client
certificate signed by the test CA (as dockerd `--tlsverify`), and pumps bytes
to /var/run/docker.sock; a plain-HTTP request is recorded and dropped unanswered.
The main engine is only a client's backend here: nothing of it is changed.

With DOCKER_HOST/DOCKER_TLS_VERIFY and the certificates in ~/.docker (a temp
HOME) `tfstudio engines check`, `images` and a real `train` of the busybox
image pass through TLS, as the docker CLI does. Without certificates tfstudio
refuses in one line and the front sees no connection at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.tlscerts import CertAuthority, write_docker_dir
from tests.helpers.tlsfront import PLAIN, TLS, TLS_FAILED, TlsFront
from tests.training.conftest import BUSYBOX, tfstudio
from tests.training.dockercli import docker_clis, run_cli

# A CA bundle that does not know the test CA: requests would let it replace the
# engine's ca.pem (REQUESTS_CA_BUNDLE wins over a session's CA file).
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture
def ca() -> CertAuthority:
    return CertAuthority()


@pytest.fixture
def tls_engine(docker_api: object, ca: CertAuthority, tmp_path: Path) -> Iterator[TlsFront]:
    """The local engine behind a TLS-only front that requires client certificates."""
    folder = tmp_path / "engine-tls"
    folder.mkdir()
    ca.server().write(folder / "server-cert.pem", folder / "server-key.pem")
    ca.write_ca(folder / "ca.pem")
    with TlsFront(
        folder / "server-cert.pem",
        folder / "server-key.pem",
        folder / "ca.pem",
        backend="/var/run/docker.sock",
        require_client_cert=True,
    ) as front:
        yield front


@pytest.fixture
def tls_env(docker_home: Path, tls_engine: TlsFront) -> dict[str, str]:
    """What a user exports for a TLS engine; certificates are put in `docker_home` by tests."""
    return {
        "HOME": str(docker_home.parent),
        "DOCKER_HOST": tls_engine.url,
        "DOCKER_TLS_VERIFY": "1",
        "REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE,
        "CURL_CA_BUNDLE": SYSTEM_BUNDLE,
    }


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_check_images_and_a_job_through_tls(
    docker_home: Path,
    ca: CertAuthority,
    tls_engine: TlsFront,
    tls_env: dict[str, str],
    workspace: Path,
) -> None:
    write_docker_dir(docker_home, ca, ca.client("studio"))

    check = tfstudio("engines", "check", "local", "--json", env=tls_env, timeout=120)
    assert check.returncode == 0, check.stderr
    [status] = json.loads(check.stdout)
    assert status["reachable"] and status["url"] == tls_engine.url

    listed = tfstudio("engines", "list", "--json", env=tls_env, timeout=60)
    [local] = [e for e in json.loads(listed.stdout) if e["name"] == "local"]
    assert local["tls"] is True and local["tls_verify"] is True
    assert local["tls_ca"] == str(docker_home / "ca.pem") and local["source"] == "DOCKER_HOST"

    images = tfstudio("images", "--json", env=tls_env, timeout=120)
    assert images.returncode == 0, images.stderr
    repository, tag = BUSYBOX.rsplit(":", 1)
    assert {"repository": repository, "tag": tag}.items() <= next(
        i for i in json.loads(images.stdout) if i["repository"] == repository
    ).items()

    train = tfstudio(
        "train",
        "--image",
        BUSYBOX,
        "--gpus",
        "none",
        "--workspace",
        str(workspace),
        "--",
        "sh",
        "-c",
        "echo through-tls > out.txt; echo done",
        env=tls_env,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr
    assert (workspace / "out.txt").read_text().strip() == "through-tls"
    assert "done" in train.stdout

    tls_engine.settle()
    seen = {(e.kind, e.client_cn) for e in tls_engine.events}
    assert seen == {(TLS, "studio")}, tls_engine.events  # every connection, and nothing plain


def test_the_docker_cli_uses_the_same_tls_engine(
    docker_home: Path, ca: CertAuthority, tls_engine: TlsFront, tls_env: dict[str, str]
) -> None:
    """The front is a TLS engine the real CLI accepts too (and the CLI sends its cert)."""
    write_docker_dir(docker_home, ca, ca.client("cli"))
    for cli in docker_clis():
        proc = run_cli(cli, tls_env, "version", "--format", "{{.Server.Version}}")
        assert proc.returncode == 0, proc.stderr
    tls_engine.settle()
    assert {(e.kind, e.client_cn) for e in tls_engine.events} == {(TLS, "cli")}


def test_without_certificates_it_refuses_before_connecting(
    tls_engine: TlsFront, tls_env: dict[str, str], docker_home: Path, workspace: Path
) -> None:
    train = ["train", "--image", BUSYBOX, "--workspace", str(workspace), "--", "true"]
    for argv in (["images"], ["jobs"], train):
        proc = tfstudio(*argv, env=tls_env, timeout=60)
        assert proc.returncode == 1
        line = _one_line(proc.stderr)
        assert str(docker_home / "ca.pem") in line and "DOCKER_TLS_VERIFY" in line
        assert "never falls back to plain HTTP" in line
    check = tfstudio("engines", "check", "local", "--json", env=tls_env, timeout=60)
    [status] = json.loads(check.stdout)
    assert not status["reachable"] and "ca.pem" in status["error"]
    # The docker CLI refuses the same way.
    for cli in docker_clis():
        proc = run_cli(cli, tls_env, "version")
        assert proc.returncode != 0 and "ca.pem" in proc.stderr
    tls_engine.settle()
    assert tls_engine.events == []  # not one connection: nothing went out in plain text


def test_a_missing_client_certificate_fails_the_handshake_not_over_to_http(
    docker_home: Path, ca: CertAuthority, tls_engine: TlsFront, tls_env: dict[str, str]
) -> None:
    write_docker_dir(docker_home, ca, None)  # ca.pem only: the CLI goes on without a cert
    proc = tfstudio("images", env=tls_env, timeout=60)
    assert proc.returncode == 1
    line = _one_line(proc.stderr)
    assert "TLS handshake failed" in line and "no client certificate" in line
    tls_engine.settle()
    assert tls_engine.kinds() == {TLS_FAILED}


def test_plain_http_is_what_the_tls_engine_drops(
    tls_engine: TlsFront, tls_env: dict[str, str]
) -> None:
    """Without DOCKER_TLS_VERIFY the user asked for plain HTTP (as with the CLI): the
    engine drops it, and tfstudio says what the engine probably wants."""
    env = {**tls_env, "DOCKER_TLS_VERIFY": ""}
    proc = tfstudio("images", env=env, timeout=60)
    assert proc.returncode == 1
    line = _one_line(proc.stderr)
    assert "closed the connection" in line and "DOCKER_TLS_VERIFY=1" in line
    tls_engine.settle()
    assert tls_engine.kinds() == {PLAIN}
    assert os.environ.get("DOCKER_TLS_VERIFY") is None  # the tests' own environment is clean
