"""Verified, resumable upload of a model into a device's `inbox/` (or `scratch/`).

The upload goes to `<dir>/<sha256>.partial`. A partial left by an interrupted
transfer is resumed from its size once the device's hash of that prefix
matches ours; otherwise it is restarted. The agent verifies the full sha256 on
`install`, so a bad resume can never activate a wrong model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.digest import file_sha256
from tfstudio.errors import CancelledError
from tfstudio.operations import CancelToken, TransferProgress
from tfstudio.transport.base import Transport


@dataclass(frozen=True)
class PushResult:
    """What a push did: where the file is, bytes sent and where it resumed."""

    remote_path: str
    total: int
    bytes_sent: int
    resumed_from: int

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a dict."""
        return {
            "remote_path": self.remote_path,
            "total": self.total,
            "bytes_sent": self.bytes_sent,
            "resumed_from": self.resumed_from,
        }


class Meter:
    """Turns (done, total) ticks into TransferProgress with a rate and an ETA."""

    def __init__(self, start_offset: int = 0) -> None:
        self._start = time.monotonic()
        self._offset = start_offset

    def tick(self, done: int, total: int) -> TransferProgress:
        """Returns the progress at `done` bytes (the rate counts only this session's bytes)."""
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = (done - self._offset) / elapsed
        eta = (total - done) / rate if rate > 0 else None
        return TransferProgress(done, total, rate, eta)


def push(
    transport: Transport,
    local: Path,
    remote_dir: str,
    sha256: str,
    *,
    progress: Callable[[TransferProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> PushResult:
    """Uploads `local` to `remote_dir/<sha256>.partial`, resuming a verified prefix.

    Returns the PushResult. Raises TransportError, or CancelledError when
    `cancel` is set (the partial file stays for a later resume).
    """
    total = local.stat().st_size
    partial = f"{remote_dir}/{sha256}.partial"
    offset = 0
    existing = transport.stat_size(partial)
    if existing and existing <= total:
        # Resume only a prefix that is byte-for-byte ours (one round trip).
        if transport.sha256_prefix(partial, existing) == file_sha256(local, existing):
            offset = existing
    if offset == total:
        return PushResult(partial, total, 0, offset)
    meter = Meter(offset)

    def on_progress(done: int, size: int) -> None:
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"{transport.name}: upload cancelled at {done} bytes")
        if progress is not None:
            progress(meter.tick(done, size))

    sent = transport.put(local, partial, offset=offset, progress=on_progress)
    return PushResult(partial, total, sent, offset)
