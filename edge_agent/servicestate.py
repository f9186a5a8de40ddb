"""What `info` says of the agent service: its state as its files and the kernel show it.

`devices check` shows the service from the agent's `info`, and `info` is the
agent's cold start (see `layout`), so this reads `service.json`,
`service-state.json` and `server.json` with `os` and `json`, asks the kernel
whether the supervisor still holds `service.lock`, and imports none of what
`service` needs to start or stop it (subprocess, secrets, datetime, the store).
"""

from __future__ import annotations

import os
import time

from edge_agent import layout
from edge_agent.liveness import flock_held
from edge_agent.serverfile import server_status

TYPE_CHECKING = False  # typing is not imported at run time: `info` is the cold-start path
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

SERVICE_FILE = "service.json"
STATE_FILE = "service-state.json"
LOCK_FILE = "service.lock"


def read_record(home: Any, name: str) -> Dict[str, Any]:
    """Returns the JSON object in the home's file `name`; {} when missing or unreadable."""
    try:
        value = layout.read_json(os.path.join(str(home), name))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def supervisor_running(home: Any) -> bool:
    """True while a supervisor holds service.lock (the kernel drops it when it dies)."""
    return flock_held(os.path.join(str(home), LOCK_FILE))


def epoch_of(stamp: Optional[str]) -> Optional[float]:
    """Returns the Unix time of an ISO-8601 UTC stamp as `fsutil.utc_now` writes it
    ("2026-11-26T10:20:30.123Z"), or None when it is not one.

    Done by hand (days from the civil date) because `datetime`, `calendar` and
    `time.strptime` each cost more to import than `info` may spend.
    """
    if not stamp or not stamp.endswith("Z"):
        return None
    date, _, clock = stamp[:-1].partition("T")
    try:
        year, month, day = (int(part) for part in date.split("-"))
        hours, minutes, seconds = clock.split(":")
        of_day = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return (era * 146097 + day_of_era - 719468) * 86400 + of_day


def age_s(stamp: Optional[str]) -> Optional[float]:
    """Returns the seconds since `stamp` (see `epoch_of`), never below 0; None without one."""
    then = epoch_of(stamp)
    return None if then is None else round(max(0.0, time.time() - then), 1)


def brief(home: Any) -> Dict[str, Any]:
    """Returns the service's state from its files alone (no systemctl): for `info`.

    {"enabled", "mode", "running", "port", "pid", "uptime_s", "restarts"}.
    """
    config = read_record(home, SERVICE_FILE)
    state = read_record(home, STATE_FILE)
    server = server_status(home)
    enabled = bool(config.get("enabled"))
    mode = config.get("mode")
    running = bool(server["running"]) and enabled
    if mode == "process":
        running = running and supervisor_running(home)
    return {
        "enabled": enabled,
        "mode": mode,
        "running": running,
        "port": server.get("port") if running else None,
        "pid": server.get("pid") if running else None,
        "uptime_s": age_s(server.get("started_at")) if running else None,
        "restarts": state.get("restarts", 0) if mode == "process" else None,
    }
