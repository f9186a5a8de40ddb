"""Eval data and real bench inputs on a device: pushed like models, kept by hash.

A file goes to `<agent home>/data/<sha256><suffix>` through the same
verified, resumable push as models (`fleet.push`: a `.partial` resumed from a
prefix the device hashes to ours), and is not sent again while the device
holds it. The agent checks the full sha256 before it uses the file
(`--sha256`); a copy that fails that check is removed and sent once more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tfstudio.digest import file_sha256
from tfstudio.fleet.push import TransferProgress, push
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport

DATA_DIR = "data"
"""The agent home's folder for data files (the agent's `inputs.DATA_DIR`)."""


@dataclass(frozen=True)
class DataOnDevice:
    """Where a data file lies on a device, and what putting it there cost."""

    remote_path: str
    sha256: str
    bytes_sent: int
    already_there: bool


def ensure_data(
    transport: Transport,
    device: Device,
    local: Path,
    sha256: str | None = None,
    *,
    progress: Callable[[TransferProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> DataOnDevice:
    """Puts `local` on the device under its hash unless it is there already.

    Raises TransportError, CancelledError (the partial stays for a resume).
    """
    sha = sha256 or file_sha256(local)
    suffix = "".join(s for s in local.suffixes[-1:] if s in (".npy", ".npz")) or ".npz"
    target = device.remote(DATA_DIR, f"{sha}{suffix}")
    size = local.stat().st_size
    if transport.stat_size(target) == size:
        return DataOnDevice(target, sha, 0, True)
    pushed = push(transport, local, device.remote(DATA_DIR), sha, progress=progress, cancel=cancel)
    transport.rename(pushed.remote_path, target)
    return DataOnDevice(target, sha, pushed.bytes_sent, False)


def forget(transport: Transport, placed: DataOnDevice) -> None:
    """Removes a device's copy that failed its hash check (the next push sends it whole)."""
    transport.remove(placed.remote_path)
