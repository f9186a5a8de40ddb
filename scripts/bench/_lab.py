"""Shared set-up for the fleet benchmarks: loopback sshd servers as root, trusted.

Imports the test helper that starts real sshd processes; run the benchmarks
from the repository root with the studio venv (`.venv/bin/python scripts/bench/...`).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TFSTUDIO_HOME", tempfile.mkdtemp(prefix="tfstudio-bench-"))

import paramiko  # noqa: E402

from tests.helpers.sshd import SshdFactory, SshdServer  # noqa: E402
from tfstudio.transport import hostkeys  # noqa: E402


def trust(server: SshdServer) -> None:
    """Records the server's host key in the benchmark's TFSTUDIO_HOME."""
    key_type, data = server.host_pub_line.split()
    key = paramiko.PKey.from_type_string(key_type, base64.b64decode(data))
    hostkeys.record("127.0.0.1", server.port, key)


__all__ = ["REPO", "SshdFactory", "SshdServer", "trust"]


def make_mlp(path: Path, hidden: int) -> Path:
    """Converts a Keras MLP (64 -> hidden -> 10) to .tflite at `path`, quietly."""
    from tests.helpers.models import float_mlp

    return float_mlp(path, [hidden])


BIG_CACHE = Path(os.environ.get("TFSTUDIO_BENCH_CACHE", "/tmp/tfstudio-bench-models"))


def make_big_mlp(mb: int) -> Path:
    """Returns a float32 MLP of about `mb` MB (64 -> h -> h -> 10), converted once and cached.

    Two h x h-ish layers hold the weights, so the model is what a 200 MB model
    is to the runtime: one big flatbuffer whose load the runtime memory-maps.
    """
    import math

    path = BIG_CACHE / f"mlp_{mb}mb.tflite"
    if path.exists():
        return path
    BIG_CACHE.mkdir(parents=True, exist_ok=True)
    from tests.helpers.models import float_mlp

    hidden = int(math.sqrt(mb * (1 << 20) / 4))
    tmp = float_mlp(path.with_suffix(".part"), [hidden, hidden])
    os.replace(tmp, path)
    return path
