"""Ctrl-C ends a conversion at once, and no conversion leaves scratch files behind.

Each run gets its own TMPDIR, so what the studio and its conversion worker leave
there (export folders, TensorFlow's `__autograph_generated_file*.py`) is seen.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tfstudio.atomic import TEMP_PREFIX

EXIT_S = 2.0
"""How soon a Ctrl-C'd conversion must have exited, worker included."""


def _start(args: list[str], tmpdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.Popen(
        [sys.executable, "-m", "tfstudio", "convert", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 300) -> list[str]:
    """Reads stderr until a line holds `marker`; returns the lines, and keeps draining."""
    seen: list[str] = []
    found = threading.Event()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if marker in line:
                found.set()
        found.set()

    threading.Thread(target=reader, daemon=True).start()
    if not found.wait(timeout) or not any(marker in line for line in seen):
        proc.kill()
        raise AssertionError(f"never saw {marker!r}; stderr was:\n{''.join(seen)}")
    return seen


def _workers(pid: int) -> list[int]:
    """The conversion workers: processes started by `pid` (in their own session)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _leftovers(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir())


def _worker_started(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not _workers(proc.pid):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError("no conversion worker started")
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["loading", "converting int8"])
def test_ctrl_c_ends_the_conversion_and_its_worker_within_2_s(edge_models, tmp_path, when):
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    proc = _start(
        [str(edge_models["slow_to_convert"]), "-o", str(out), "--quant", "int8",
         "--rep-data", str(edge_models["data"] / "image.npy")],
        tmpdir,
    )  # fmt: skip
    if when == "loading":
        _worker_started(proc)  # it imports TensorFlow and loads the model for seconds
        seen: list[str] = []
        threading.Thread(target=lambda: seen.extend(proc.stderr or []), daemon=True).start()
    else:
        seen = _wait_for(proc, when)
    time.sleep(1.0)  # the worker is well inside the step now
    workers = _workers(proc.pid)
    assert len(workers) == 1, workers
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    took = time.monotonic() - sent
    assert took < EXIT_S, f"exited {took:.1f} s after Ctrl-C"
    assert _gone(workers[0], 0.5), "the conversion worker outlived the studio"
    assert proc.returncode == 130
    time.sleep(0.2)  # the reader thread has the last line
    errors = [line for line in seen if line.startswith("tfstudio: error:")]
    assert len(errors) == 1 and "Traceback" not in "".join(seen)
    assert [p for p in out.iterdir() if not p.name.startswith(TEMP_PREFIX)] == []
    assert _leftovers(tmpdir) == []


def test_a_killed_studio_leaves_no_scratch_and_stale_scratch_is_swept(mlp, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # A killed run of an older studio: a scratch folder of a process that is gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmpdir / f"tfstudio-convert-{dead.pid}-abc123"
    (stale / "export-1" / "mlp").mkdir(parents=True)
    (stale / "__autograph_generated_fileabc.py").write_text("# generated")
    old = tmpdir / "tfstudio-convert-k3j4l5m6"  # no owner in its name: swept when old
    old.mkdir()
    os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))

    proc = _start([str(mlp.h5), "-o", str(tmp_path / "out"), "--quant", "float32,dynamic"],
                  tmpdir)  # fmt: skip
    _wait_for(proc, "converting dynamic")
    assert not stale.exists() and not old.exists()
    workers = _workers(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    assert workers and all(_gone(pid, 10) for pid in workers)
    # The worker, finding its studio gone, removed its own scratch (the Keras export
    # and TensorFlow's generated files) before it ended.
    assert _leftovers(tmpdir) == []


def test_a_finished_conversion_leaves_no_scratch(mlp, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = _start([str(mlp.h5), "-o", str(tmp_path / "out")], tmpdir)
    _wait_for(proc, "wrote")
    assert proc.wait(timeout=120) == 0
    assert _leftovers(tmpdir) == []


STUDIO_THAT_WAITS = """
import sys, time
from pathlib import Path
from tfstudio.convert.job import ConvertOptions
from tfstudio.convert.supervisor import ConversionWorker
from tfstudio.models.source import probe_source

worker = ConversionWorker(probe_source(sys.argv[1]), None, None, ConvertOptions())
worker.prepare()  # the Keras export is in the scratch folder now
print(worker.pid, flush=True)
time.sleep(600)  # idle between requests, until killed
"""


def test_a_studio_killed_while_its_worker_is_idle_leaves_no_scratch(mlp, tmp_path):
    """The worker reads the end of its connection at once and leaves: it removes the
    scratch on its way out too, not only its parent-watch thread (every 0.5 s)."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    for attempt in range(3):
        studio = subprocess.Popen(
            [sys.executable, "-c", STUDIO_THAT_WAITS, str(mlp.h5)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(tmpdir)},
        )
        assert studio.stdout is not None
        worker = int(studio.stdout.readline())
        assert [p.name for p in tmpdir.iterdir() if p.name.startswith("tfstudio-convert-")]
        studio.kill()
        studio.wait(timeout=30)
        assert _gone(worker, 10), "the worker outlived its studio"
        assert _leftovers(tmpdir) == [], f"attempt {attempt}"
