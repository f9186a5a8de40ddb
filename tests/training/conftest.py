"""Fixtures for the training tests: tfstudio's own client on the real Docker Engine.

The engine, its test images (`BUSYBOX`, `TF_IMAGE`), `docker_api`, the per-test
clean-up of this studio's containers and `workspace` are the session's
(tests/plugins/docker.py); `BUSYBOX` and `TF_IMAGE` are importable from here as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.plugins.docker import BUSYBOX, TF_IMAGE
from tfstudio.training.client import EngineClient, connect
from tfstudio.training.engines import local_engine
from tfstudio.training.jobspec import build_spec
from tfstudio.training.launch import LaunchResult, launch
from tfstudio.training.settings import training_settings

__all__ = ["BUSYBOX", "TF_IMAGE", "start", "tfstudio"]


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
