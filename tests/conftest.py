"""Fixtures shared by every test area.

- Every test runs with TFSTUDIO_HOME in its own temp dir.
- `tiny_models` converts a small Keras MLP with TensorFlow directly (once per
  session) into float32, dynamic-range, float16 and int8 `.tflite` files; the
  agent and fleet tests use them without depending on the convert core.
- `serving_models` converts the small models of the TF Serving tests (two outputs,
  string inputs, the named inputs of TF Serving's REST examples), once per session.
- `device_venvs` points at the device Python environments that
  scripts/prepare-test-env.sh builds (a current one and an "old device" one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The agents the tests start on this machine (the `local` device, agent tests) keep a warm
# runtime per agent home; every test has its own home, so let theirs leave soon.
os.environ.setdefault("TFSTUDIO_AGENT_WARM_IDLE_S", "15")
VENVS = Path(os.environ.get("TFSTUDIO_TEST_VENVS", "/opt/tfstudio-test/venvs"))


@pytest.fixture(autouse=True)
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "tfstudio-home"
    home.mkdir()
    monkeypatch.setenv("TFSTUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """MLP (64 → 32 → 10, softmax) as .tflite in four modes: {mode: path}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(16):
            yield [rng.random((1, 64), dtype=np.float32)]

    from tests.helpers.tflite_modes import convert_modes

    return convert_modes(model, rep, tmp_path_factory.mktemp("tiny-models"), "mlp")


@pytest.fixture(scope="session")
def serving_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{name: path} of tests/helpers/serving_models.py's models."""
    from tests.helpers.serving_models import build_serving_models

    return build_serving_models(tmp_path_factory.mktemp("serving-models"))


@pytest.fixture(scope="session")
def device_venvs() -> dict[str, Path]:
    """{'device': python, 'old-device': python} built by scripts/prepare-test-env.sh."""
    found = {name: VENVS / name / "bin" / "python" for name in ("device", "old-device")}
    missing = [str(p) for p in found.values() if not p.exists()]
    if missing:
        pytest.fail(f"device venvs missing ({', '.join(missing)}): run scripts/prepare-test-env.sh")
    return found


@pytest.fixture(scope="session")
def studio_python() -> str:
    """The interpreter running the tests (the studio's venv)."""
    return sys.executable


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts real tmpfs filesystems of a given size ("24k") for disk-full tests."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        mnt = tmp_path / f"tmpfs-{len(mounts)}-{size}"
        mnt.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.fail(f"disk-full tests need root to mount a tmpfs: {proc.stderr.strip()}")
        mounts.append(mnt)
        return mnt

    yield mount
    for mnt in mounts:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
