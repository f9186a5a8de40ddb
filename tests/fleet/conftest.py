"""Fixtures for the fleet tests. The sshd servers, device users and the `Lab` that wires
them are the session's (tests/plugins/devices.py, shared with the UI and facade tests);
`Lab` and `server_key` are importable from here as before.

The models are generated once per machine (tests/helpers/model_cache.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import digits as digits_helper
from tests.helpers import model_cache, models, tflite_modes
from tests.helpers.digits import Digits
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
