"""Fixtures for the UI tests: the app on a real Studio, and a Pilot helper.

The device servers, users and `lab`, the models to convert (`mlp`, `recurrent`) and
the Docker Engine (`docker_api`, the per-test clean-up of containers) are the
session's, from tests/plugins/ (registered once in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tfstudio.studio import Studio
from tfstudio.tui.app import StudioApp, make_app


def add_locked_device(the_lab: Any, name: str, folder: Path, passphrase: str = "s3cret") -> Any:
    """Registers `name` on the lab's first server with an encrypted copy of the lab's
    client key (so connecting needs `passphrase`); returns the Device."""
    import subprocess
    from dataclasses import replace

    from tfstudio.fleet.registry import add_device, remove_device

    device = the_lab.add(name, install=False)
    key = folder / f"{name}_key"
    key.write_bytes(Path(the_lab.sshd.client_key).read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", passphrase, "-f", str(key)], check=True)
    remove_device(name)
    return add_device(replace(device, key=str(key)))


NO_DOCKER = "unix:///nonexistent/docker.sock"
"""An engine address that cannot answer: screens read the same with or without dockerd."""


@pytest.fixture
def app(studio_home: Path, monkeypatch: pytest.MonkeyPatch) -> StudioApp:
    """The app on a Studio over this test's TFSTUDIO_HOME."""
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    return make_app(Studio())


@pytest.fixture
def docker_app(
    studio_home: Path, docker_api: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StudioApp]:
    """The app on a Studio whose training engine is the real local dockerd (`docker_api`:
    the engine and the test images are there); this test's containers are removed after
    it (tests/plugins/docker.py)."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    app = make_app(Studio())
    yield app
    app.studio.close()


class Recorder:
    """A `message_hook` that keeps every message's class name (and the message)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def __call__(self, message: Any) -> None:
        self.messages.append(message)

    def names(self, wanted: set[str]) -> list[str]:
        """The class names of the messages in `wanted`, in order, repeats collapsed."""
        out: list[str] = []
        for m in self.messages:
            name = type(m).__name__
            if name in wanted and (not out or out[-1] != name):
                out.append(name)
        return out

    def of(self, name: str) -> list[Any]:
        """The messages of class `name`."""
        return [m for m in self.messages if type(m).__name__ == name]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Lets the app run until `condition()` is truthy; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.1)
    await asyncio.sleep(0)
    pytest.fail(
        f"timed out after {timeout:g}s waiting for {condition}; the screen then:\n"
        + _screen_now(pilot.app)
    )


def _screen_now(app: Any) -> str:
    from tests.tui.screen_text import screen_text

    try:
        return f"{type(app.screen).__name__}\n{screen_text(app)}"
    except Exception as exc:  # noqa: BLE001 - a failure message must not fail itself
        return f"(not readable: {exc!r})"


def table_rows(app: StudioApp, selector: str) -> list[list[str]]:
    """The rows of a DataTable on the current screen, as plain strings."""
    from textual.widgets import DataTable

    table = app.screen.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
