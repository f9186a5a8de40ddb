"""The agent bundle (`tfstudio-agent.pyz`) carries the whole `edge_agent` package: every
module at any depth, with its bytecode, and runs from the zip as the device runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import edge_agent
from tfstudio.fleet.agent_bundle import agent_files, build_agent_bytes

PACKAGE = Path(edge_agent.__file__).resolve().parent


def _entries(data: bytes, tmp_path: Path) -> set[str]:
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes(data)
    with zipfile.ZipFile(pyz) as archive:
        return {n for n in archive.namelist() if not n.endswith("/")}


def _expected(files: list[str]) -> set[str]:
    sources = {f"edge_agent/{name}" for name in files}
    return {"__main__.py", *sources, *(name + "c" for name in sources)}


def test_the_bundle_holds_every_module_of_the_package(tmp_path: Path) -> None:
    files = agent_files()
    on_disk = sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert files == on_disk and "cli.py" in files
    assert _entries(build_agent_bytes(), tmp_path) == _expected(files)


def test_a_sub_package_travels_in_the_bundle_and_imports_from_it(tmp_path: Path) -> None:
    # A copy of the agent with a sub-package, as a later change could add one: the bundle
    # must carry it (a flat glob of edge_agent/*.py would drop it while `python -m
    # edge_agent` tests still pass).
    source = tmp_path / "edge_agent"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "extra").mkdir()
    (source / "extra" / "__init__.py").write_text("")
    (source / "extra" / "deep.py").write_text("ANSWER = 42\n")
    data = build_agent_bytes(source)
    assert {"edge_agent/extra/__init__.py", "edge_agent/extra/deep.py"} <= _entries(data, tmp_path)
    pyz = tmp_path / "with-extra.pyz"
    pyz.write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); "
         "from edge_agent.extra.deep import ANSWER; print(ANSWER)", str(pyz)],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "42"


def test_the_bundle_is_reproducible() -> None:
    assert build_agent_bytes() == build_agent_bytes()
