"""Fixtures for the training tests: the real Docker Engine and the images built for it.

`scripts/prepare-test-env.sh` (via docker-test-env.sh) installs docker.io,
starts dockerd and builds two images locally, cached by tag: a tiny busybox
image and a real TensorFlow CPU image. A test fails (never skips) when they
are missing, naming the fix.

Every test has its own TFSTUDIO_HOME and so its own studio identity: after
each test, the containers carrying that identity are removed, so tests never
see each other's jobs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tfstudio.training.client import EngineClient, connect
from tfstudio.training.engines import local_engine
from tfstudio.training.jobspec import build_spec
from tfstudio.training.launch import LaunchResult, launch
from tfstudio.training.settings import training_settings

BUSYBOX = os.environ.get("TFSTUDIO_TEST_BUSYBOX_IMAGE", "tfstudio-test/busybox:1.35.0")
TF_IMAGE = os.environ.get("TFSTUDIO_TEST_TF_IMAGE", "tfstudio-local/tensorflow:2.21.0-cpu")
PREPARE = "run scripts/prepare-test-env.sh (it starts dockerd and builds the test images)"


@pytest.fixture(scope="session")
def docker_api() -> Iterator[object]:
    """A low-level Docker SDK client on the local engine, for checks behind tfstudio's back."""
    import docker

    try:
        api = docker.APIClient(version="auto", timeout=120)
    except docker.errors.DockerException as exc:
        pytest.fail(f"the local Docker Engine does not answer ({exc}): {PREPARE}")
    for image in (BUSYBOX, TF_IMAGE):
        try:
            api.inspect_image(image)
        except docker.errors.NotFound:
            pytest.fail(f"test image {image} is missing: {PREPARE}")
    yield api
    api.close()


@pytest.fixture(autouse=True)
def _remove_this_studios_containers(
    studio_home: Path, request: pytest.FixtureRequest
) -> Iterator[None]:
    yield
    if "docker_api" not in request.fixturenames:
        return
    api = request.getfixturevalue("docker_api")
    path = studio_home / "studio-id"
    if not path.exists():
        return
    studio = path.read_text().strip()
    for found in api.containers(all=True, filters={"label": f"tfstudio.studio={studio}"}):
        api.remove_container(found["Id"], force=True)


@pytest.fixture
def client(docker_api: object) -> Iterator[EngineClient]:
    """tfstudio's own client on the local engine."""
    with connect(local_engine()) as opened:
        yield opened


def start(client: EngineClient, workspace: Path, command: list[str], **words: str) -> LaunchResult:
    """Launches `command` in the busybox image through the core, as a TUI worker would."""
    spec = build_spec(
        client.engine,
        training_settings(),
        command,
        image=BUSYBOX,
        workspace=str(workspace),
        gpus="none",
        **words,
    )
    return launch(client, spec)


DOCKER_VARIABLES = (
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_TLS",
    "DOCKER_CERT_PATH",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
)


@pytest.fixture
def docker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean docker CLI setup: HOME in a temp dir, no DOCKER_* variables.

    Returns the (empty, existing) ~/.docker directory.
    """
    for name in DOCKER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home / ".docker"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory for one test."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path


def tfstudio(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Runs the real CLI in a fresh process (a 'restart' of the studio) and returns it."""
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **kwargs,  # type: ignore[arg-type]
    )
