"""Fixtures for the fleet tests. The sshd servers, device users and the `Lab` that wires
them are the session's (tests/plugins/devices.py, shared with the UI and facade tests);
`Lab` and `server_key` are importable from here as before.

The models are generated once per machine (tests/helpers/model_cache.py).
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import digits as digits_helper
from tests.helpers import model_cache, models, tflite_modes
from tests.helpers.digits import Digits
from tests.helpers.sshd import processes_with
from tests.plugins.devices import Lab, server_key
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device

__all__ = ["FAST_BENCH", "Lab", "listing", "server_key"]


def build_big_model(out: Path) -> None:
    models.float_mlp(out / "mlp.big.tflite", [1024, 1024], 1)


@pytest.fixture(scope="session")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~4 MB float32 MLP, big enough for a push to span several 1 MiB blocks."""
    root, _ = model_cache.cached_copy(
        "big-model", build_big_model, tmp_path_factory.mktemp("big-model"), sources=[models]
    )
    return root / "mlp.big.tflite"


FAST_BENCH = ["--runs", "5", "--warmup", "1", "--min-seconds", "0", "--warmup-min-seconds", "0"]
"""CLI bench options that keep a bench well under a second."""


def listing(device: Device) -> dict:
    """The agent's `list` answer on `device`, over a fresh connection."""
    with open_transport(device) as transport:
        return AgentClient(device, transport).call("list")


@pytest.fixture
def studio_config(studio_home: Path) -> Callable[[str], Path]:
    """Writes tfstudio.toml into this test's TFSTUDIO_HOME (small timeouts keep tests fast)."""

    def write(text: str) -> Path:
        path = studio_home / "tfstudio.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    """A trained digits MLP in four TFLite modes, with its 450-sample eval data."""
    root, info = model_cache.cached_copy(
        "digits-mlp", digits_helper.build_digits, tmp_path_factory.mktemp("digits"),
        sources=[digits_helper, tflite_modes], packages=["scikit-learn"],
    )  # fmt: skip
    return digits_helper.load_digits(root, info["keras_accuracy"])


def stop_service(device: Device) -> None:
    """Disables the device's service and kills whatever of its agent still runs."""
    from tfstudio.cli import main

    main(["agent", "serve", device.name, "--disable"])
    for pid in processes_with(device.agent_home):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def served(lab: Lab, tiny_models: dict[str, Path], capsys) -> Iterator[tuple[Device, dict]]:
    """An sshd device with the float MLP active and its service running on a free port."""
    device = lab.add("tele")
    from tfstudio.cli import main

    assert main(["deploy", str(tiny_models["float32"]), "--to", "tele", "--json"]) == 0
    capsys.readouterr()
    assert main(["agent", "serve", "tele", "--enable", "--port", "0", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    yield device, state
    stop_service(device)


@pytest.fixture
def device_tmpfs(lab: Lab) -> Iterator[Callable[[int, int], Path]]:
    """Mounts a tmpfs of N bytes owned by device user `user` in a place that user can reach."""
    mounts: list[Path] = []

    def mount(size: int, user: int) -> Path:
        root = Path(tempfile.mkdtemp(prefix="tfstudio-devfs-"))
        root.chmod(0o755)
        entry = pwd.getpwnam(lab.users[user])
        opts = f"size={size},uid={entry.pw_uid},gid={entry.pw_gid},mode=0755"
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(root)], check=True)
        mounts.append(root)
        return root

    yield mount
    for root in mounts:
        subprocess.run(["umount", "-l", str(root)], check=False)
        root.rmdir()
