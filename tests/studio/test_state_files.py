"""The studio's own files in TFSTUDIO_HOME never lose what they hold.

Real CLI processes on a real home: a corrupt `studio-id` or `model_dirs.json` is
refused in one line naming the file and left as it was; a line of a log that is
not UTF-8 is skipped with a warning naming file and line, and the rest is read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc.stdout
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "content", [b"", b"3f2a9c", b"3f2a9c01\n", b"\xff\xfe\x00garbage", b"not an id at all"]
)
def test_a_corrupt_studio_id_is_refused_and_kept(studio_home: Path, content: bytes) -> None:
    studio_home.mkdir(parents=True, exist_ok=True)
    path = studio_home / "studio-id"
    path.write_bytes(content)
    proc = run("jobs", "--json")
    line = one_error_line(proc)
    assert str(path) in line and "corrupt" in line, line
    assert "docker ps -a" in line  # where the identity can be found again
    assert path.read_bytes() == content, "the identity was overwritten"


def test_a_missing_studio_id_is_made_once(studio_home: Path) -> None:
    assert run("jobs", "--json").returncode == 0
    made = (studio_home / "studio-id").read_text()
    assert run("jobs", "--json").returncode == 0
    assert (studio_home / "studio-id").read_text() == made


@pytest.mark.parametrize(
    "content", [b'["/tmp/a", "/tmp/b"', b'{"dirs": []}', b"\xff\xfe[]", b"[1, 2]"]
)
def test_a_corrupt_model_catalogue_list_is_refused_and_kept(
    studio_home: Path, tmp_path: Path, content: bytes
) -> None:
    studio_home.mkdir(parents=True, exist_ok=True)
    path = studio_home / "model_dirs.json"
    path.write_bytes(content)
    from tfstudio.errors import StateFileError
    from tfstudio.studio import Studio

    with pytest.raises(StateFileError) as refused:
        Studio().models()  # the catalogue the UI shows
    assert str(path) in refused.value.message and "corrupt" in refused.value.message
    # A conversion is refused before any work, so it cannot replace the list either.
    source = tmp_path / "sm"
    (source / "variables").mkdir(parents=True)
    (source / "saved_model.pb").write_bytes(b"x")
    line = one_error_line(run("convert", str(source), "-o", str(tmp_path / "out")))
    assert str(path) in line, line
    assert path.read_bytes() == content
    assert not (tmp_path / "out").exists()


def _bench_line(device: str, p50: float) -> str:
    return json.dumps(
        {
            "time": "2026-12-01T10:00:00+00:00",
            "device": device,
            "model": "m.tflite",
            "model_sha256": "ab" * 32,
            "ok": True,
            "latency_ms": {"p50": p50, "p90": p50, "p99": p50},
        }
    )


def test_non_utf8_lines_in_the_logs_are_skipped_with_a_warning(studio_home: Path) -> None:
    studio_home.mkdir(parents=True, exist_ok=True)
    bench = studio_home / "bench.jsonl"
    bench.write_bytes(
        (_bench_line("local", 1.0) + "\n").encode()
        + b"\xff\xfe\xfd broken \x80\n"
        + (_bench_line("local", 2.0) + "\n").encode()
    )
    proc = run("report", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"tfstudio: warning: {bench}, line 2: not UTF-8 text; skipped" in proc.stderr

    deploys = studio_home / "deploys.jsonl"
    deploys.write_bytes(b'{"device": "local", "ok": true}\n\xc3\x28\n')
    from tfstudio.errors import StateFileWarning
    from tfstudio.studio import Studio

    with pytest.warns(StateFileWarning, match=r"deploys.jsonl, line 2: not UTF-8 text"):
        summaries = Studio().device_summaries()  # what the UI's dashboard reads
    assert [s.name for s in summaries] == ["local"]
    pipeline = studio_home / "pipeline"
    pipeline.mkdir()
    (pipeline / "events.jsonl").write_bytes(
        b'{"step": "watch", "status": "started"}\n\xe2\x82\n{"chain": 5, "data": "x"}\n'
    )
    proc = run("pipeline", "log", "--events")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "events.jsonl, line 2: not UTF-8 text; skipped" in proc.stderr
    assert "watch: started" in proc.stdout
