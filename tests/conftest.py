"""Fixtures shared by every test area.

- Every test runs with TFSTUDIO_HOME in its own temp dir.
- `device_venvs` points at the device Python environments that
  scripts/prepare-test-env.sh builds (a current one and an "old device" one).
- The plugins in tests/plugins/ are registered here, once: the tiers (fast, full),
  the shared generated models (`tiny_models`, `mlp`, `recurrent`, from the on-disk
  model cache), the sshd devices and `lab`, and the Docker Engine (`docker_api`).
  No conftest imports another's fixtures: a session fixture exists once.
"""

from __future__ import annotations

import os
import signal
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

pytest_plugins = [
    "tests.plugins.tiers",
    "tests.plugins.models",
    "tests.plugins.devices",
    "tests.plugins.docker",
]


def pytest_configure(config: pytest.Config) -> None:
    # A run started with Ctrl-C ignored (nohup, `cmd &` in a script) would pass that on
    # to every CLI a test starts, and the tests that press Ctrl-C would see it ignored.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "tfstudio-home"
    home.mkdir()
    monkeypatch.setenv("TFSTUDIO_HOME", str(home))
    return home


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
