"""`server.json`: how a running `serve` tells others (status, info, the service) it is there.

Kept apart from the server itself so that reading it costs no numpy and no
runtime import, and read with `os` and `json` alone: `info` reads it (through
`servicestate`) on the agent's cold start, and must work on a device without
numpy or a runtime.
"""

from __future__ import annotations

import os

from edge_agent import layout
from edge_agent.liveness import pid_alive

TYPE_CHECKING = False  # typing is not imported at run time: `info` is the cold-start path
if TYPE_CHECKING:
    from typing import Any, Dict

SERVER_FILE = "server.json"


def server_status(home: Any) -> Dict[str, Any]:
    """Returns {"running", "pid", "host", "port", ...} from server.json and a liveness check.

    `home` is the agent home (a str or Path); an unreadable server.json reads as no server.
    """
    try:
        info = layout.read_json(os.path.join(str(home), SERVER_FILE))
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict):
        return {"running": False, "pid": None, "host": None, "port": None}
    try:
        pid = int(info.get("pid") or 0)
    except (TypeError, ValueError):
        pid = 0
    running = pid > 0 and _alive(pid)
    return {**info, "running": running}


def _alive(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    try:  # a recycled pid is not our server
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"serve" in handle.read()
    except OSError:
        return True
