"""A conversion killed midway (SIGKILL, no cleanup possible) leaves no partial model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tfstudio.atomic import TEMP_PREFIX
from tfstudio.models.facts import inspect_model


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _kill_when(proc: subprocess.Popen, marker: str, timeout: float, workers: list) -> list[str]:
    """Reads stderr until a line contains `marker`, then SIGKILLs; returns the lines seen.

    `workers` receives the killed process's children (its conversion worker)."""
    seen: list[str] = []
    found = threading.Event()

    def reader() -> None:
        for line in proc.stderr:
            seen.append(line)
            if marker in line:
                workers.extend(_children(proc.pid))
                os.kill(proc.pid, signal.SIGKILL)
                found.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    if not found.wait(timeout):
        proc.kill()
        raise AssertionError(f"never saw {marker!r}; stderr was:\n{''.join(seen)}")
    proc.wait(timeout=30)
    return seen


def test_sigkill_during_int8_conversion_leaves_no_partial_file(digits, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfstudio", "convert", str(digits.model), "-o", str(out),
         "--quant", "all", "--rep-data", str(digits.rep)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    workers: list[int] = []
    _kill_when(proc, "converting int8 (4/5)", timeout=180, workers=workers)
    assert proc.returncode == -signal.SIGKILL
    # The conversion worker notices its studio is gone and ends too, mid-conversion.
    assert len(workers) == 1
    deadline = time.monotonic() + 10
    while Path(f"/proc/{workers[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{workers[0]}").exists()

    names = sorted(p.name for p in out.iterdir())
    finals = [n for n in names if not n.startswith(TEMP_PREFIX)]
    # The modes before int8 are complete, int8 and int16x8 have nothing at a final name.
    done = ("dynamic", "float16", "float32")
    assert finals == [f"digits.{mode}.{ext}" for mode in done for ext in ("json", "tflite")]
    for mode in ("float32", "dynamic", "float16"):
        facts = inspect_model(out / f"digits.{mode}.tflite")
        manifest = json.loads((out / f"digits.{mode}.json").read_text())
        assert manifest["model"]["sha256"] == facts.sha256


def test_next_conversion_sweeps_temp_files_of_dead_writers(digits, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f"{TEMP_PREFIX}{dead.pid}-abc123.part"
    stale.write_bytes(b"half a model")
    live = out / f"{TEMP_PREFIX}{os.getpid()}-def456.part"
    live.write_bytes(b"a writer still at work")

    proc = subprocess.run(
        [sys.executable, "-m", "tfstudio", "convert", str(digits.model), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert live.exists()
    assert (out / "digits.float32.tflite").exists()
