"""A conversion onto a full disk fails with one line and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

from tfstudio.atomic import TEMP_PREFIX


def test_disk_full_output_fails_cleanly(digits, small_tmpfs):
    out = small_tmpfs("64k")  # the float32 digits model is ~154 KiB
    proc = subprocess.run(
        [sys.executable, "-m", "tfstudio", "convert", str(digits.model), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("tfstudio: error: ")
    assert "No space left on device" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == []
    assert not [p for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]
