"""The on-disk model cache of the tests (tests/helpers/model_cache.py), on a temp root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import model_cache


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(model_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(model_cache, "built", [])  # the session's own record stays as it was
    monkeypatch.setattr(model_cache, "used", [])
    return tmp_path / "cache"


def build_counted(folder: Path) -> None:
    """Writes a file and counts its calls in the environment's COUNT file."""
    (folder / "model.bin").write_bytes(b"\x01\x02")
    count = Path(os.environ["COUNT"])
    count.write_text(str(int(count.read_text() or 0) + 1) if count.exists() else "1")


def build_failing(folder: Path) -> None:
    (folder / "model.bin").write_bytes(b"half")
    raise RuntimeError("the builder failed")


def test_an_entry_is_built_once_and_copied_for_each_use(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNT", str(tmp_path / "count"))
    first, info = model_cache.cached_copy("m", build_counted, tmp_path / "a", params={"seed": 1})
    second, _ = model_cache.cached_copy("m", build_counted, tmp_path / "b", params={"seed": 1})
    assert (tmp_path / "count").read_text() == "1" and info == {}
    assert (first / "model.bin").read_bytes() == (second / "model.bin").read_bytes() == b"\x01\x02"
    assert sorted(p.name for p in first.iterdir()) == ["model.bin"]  # no key.json copied
    [entry] = [p for p in root.iterdir() if p.is_dir()]
    made_of = json.loads((entry / "key.json").read_text())
    assert made_of["params"] == {"seed": 1} and "def build_counted" in made_of["builder"]
    assert set(made_of["packages"]) >= {"keras", "numpy"}
    # Another seed is another entry.
    model_cache.cached("m", build_counted, params={"seed": 2})
    assert (tmp_path / "count").read_text() == "2"
    assert len([p for p in root.iterdir() if p.is_dir()]) == 2


def test_a_failed_build_leaves_no_entry_and_the_next_builds_again(root: Path) -> None:
    with pytest.raises(RuntimeError, match="the builder failed"):
        model_cache.cached("broken", build_failing)
    assert [p for p in root.iterdir() if p.is_dir()] == []
    with pytest.raises(RuntimeError):
        model_cache.cached("broken", build_failing)


BUILDER = """
import os, signal
from pathlib import Path

def build(folder: Path) -> None:
    (folder / "model.bin").write_bytes(b"half" if os.environ.get("KILL") else b"whole")
    if os.environ.get("KILL"):
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_build_leaves_no_entry_and_the_next_build_clears_what_it_left(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "killed_builder.py").write_text(BUILDER)
    code = (
        "import killed_builder\n"
        "from tests.helpers import model_cache\n"
        "model_cache.cached('killed', killed_builder.build)\n"
    )
    env = {
        **os.environ, model_cache.CACHE_ENV: str(root), "KILL": "1",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}",
    }  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, timeout=60)
    assert proc.returncode == -9
    left = [p.name for p in root.iterdir() if p.is_dir()]
    assert len(left) == 1 and left[0].startswith(".killed-")  # a staging folder, no entry

    monkeypatch.syspath_prepend(str(tmp_path))
    import killed_builder

    entry = model_cache.cached("killed", killed_builder.build)
    assert (entry / "model.bin").read_bytes() == b"whole"
    assert [p.name for p in root.iterdir() if p.is_dir()] == [entry.name]
