"""Fixtures of the agent tests: run the agent as the studio does, as a subprocess.

`agent(...)` runs `python -m edge_agent --home HOME ... --json` (or the built
zipapp, or another Python such as a device venv's) and returns its exit code,
parsed JSON and stderr. Nothing in these tests imports the agent in-process to
drive it: every command is a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tests.helpers import model_cache, models

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """One finished agent process."""

    rc: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line, got: {self.stdout!r} / {self.stderr!r}"
        return json.loads(lines[0])


def agent_cmd(home: Path, *args: str, python: Any = None, pyz: Optional[Path] = None) -> list:
    """The argv that runs the agent on `home` with `args` (`python`: a path or an argv list)."""
    py = [str(p) for p in python] if isinstance(python, list) else [str(python or sys.executable)]
    head = [*py, str(pyz)] if pyz else [*py, "-m", "edge_agent"]
    return [*head, "--home", str(home), *args]


def agent_env(extra: Optional[dict] = None, pyz: Optional[Path] = None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if not pyz:
        env["PYTHONPATH"] = str(REPO)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra or {})
    return env


@pytest.fixture
def agent_home(tmp_path: Path) -> Path:
    return tmp_path / "agent-home"


@pytest.fixture
def agent(agent_home: Path) -> Callable[..., Run]:
    """Runs one agent command to completion: agent("install", path, python=..., env=...)."""

    def run(
        *args: str,
        home: Optional[Path] = None,
        python: Any = None,
        pyz: Optional[Path] = None,
        env: Optional[dict] = None,
        timeout: float = 120,
    ) -> Run:
        proc = subprocess.run(
            agent_cmd(home or agent_home, *args, python=python, pyz=pyz),
            capture_output=True,
            text=True,
            env=agent_env(env, pyz),
            timeout=timeout,
            cwd=str(REPO) if not pyz else "/",
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def agent_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zipapp built by the studio's own builder, world-readable."""
    from tfstudio.fleet.agent_bundle import build_agent_pyz

    out = tmp_path_factory.mktemp("pyz")
    return build_agent_pyz(out)


@pytest.fixture(scope="session")
def large_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~17 MB float32 MLP: big enough that one read of it, or a copy in memory, shows."""
    root, _ = model_cache.cached_copy(
        "large-model", build_large_model, tmp_path_factory.mktemp("large-model"), sources=[models]
    )
    return root / "mlp.large.tflite"


def build_large_model(out: Path) -> None:
    models.float_mlp(out / "mlp.large.tflite", [2048, 2048], 2)


@pytest.fixture
def served(agent, agent_home, tiny_models):
    """Starts a server on the float32 MLP; `served(*args)` returns it (stopped afterwards)."""
    from tests.agent.test_server import Server

    assert agent("install", str(tiny_models["float32"]), "--json").rc == 0
    servers: list = []

    def start(*args: str, token: str = "") -> Any:
        server = Server(agent_home, *args, token=token)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
