"""`server.json`: how a running `serve` tells others (status, info, the service) it is there.

Kept apart from the server itself so that reading it costs no numpy and no
runtime import (`info` must work on a device without either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from edge_agent import fsutil

SERVER_FILE = "server.json"


def server_status(home: Path) -> Dict[str, Any]:
    """Returns {"running", "pid", "host", "port", ...} from server.json and a liveness check."""
    info = fsutil.read_json(home / SERVER_FILE, default=None)
    if not isinstance(info, dict):
        return {"running": False, "pid": None, "host": None, "port": None}
    pid = int(info.get("pid") or 0)
    running = pid > 0 and _alive(pid)
    return {**info, "running": running}


def _alive(pid: int) -> bool:
    if not fsutil.pid_alive(pid):
        return False
    try:  # a recycled pid is not our server
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"serve" in handle.read()
    except OSError:
        return True
