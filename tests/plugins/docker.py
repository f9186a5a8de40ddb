"""The real Docker Engine and the images built for the tests: one client per session.

`scripts/prepare-test-env.sh` (via docker-test-env.sh) installs docker.io, starts
dockerd and builds two images locally, cached by tag: a tiny busybox image and a
real TensorFlow CPU image. `docker_api` fails (never skips) when they are missing,
naming the fix. Every fixture that needs the engine depends on `docker_api`, which
puts its tests in the full tier (tests/plugins/tiers.py).

Every test has its own TFSTUDIO_HOME and so its own studio identity: after each
test that used the engine, the containers carrying that identity are removed, so
tests never see each other's jobs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory for one test."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path
