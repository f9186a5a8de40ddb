"""What the studio remembers between sessions: bench results and device checks.

Each kind is a JSON-lines file in TFSTUDIO_HOME (`bench.jsonl`, `checks.jsonl`),
appended under a lock, so that the UI shows the same numbers after a restart
and a script can read them. A line cut by a crash is skipped on read.
`append_jsonl`/`read_jsonl` are meant to be the studio's one JSON-lines log
helper (the deploy log can use them too).
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home
from tfstudio.errors import OutputError
from tfstudio.statefile import text_lines

BENCH = "bench"
CHECKS = "checks"


def log_path(kind: str) -> Path:
    """Returns the file that holds entries of `kind`."""
    return studio_home() / f"{kind}.jsonl"


def now_iso() -> str:
    """Returns the current UTC time as ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_jsonl(path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Appends `entry` (with a `time` added when absent) as one line of `path`, under a
    lock; returns what was written. Raises OutputError when the file cannot be written.
    """
    record = {"time": now_iso(), **entry}
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)
            handle.flush()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
    return record


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Returns the JSON objects of `path`, oldest first (a line cut by a crash is skipped;
    a line that is not UTF-8 text is skipped with a StateFileWarning naming it).

    Raises OutputError when the file exists but cannot be read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from exc
    out = []
    for _number, line in text_lines(data, path):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def append(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Appends an entry of `kind`; returns it. Raises OutputError."""
    return append_jsonl(log_path(kind), entry)


def read(kind: str, device: str | None = None) -> list[dict[str, Any]]:
    """Returns the entries of `kind` (only `device`'s when given), oldest first."""
    entries = read_jsonl(log_path(kind))
    return [e for e in entries if device is None or e.get("device") == device]


def latest_by_device(kind: str) -> dict[str, dict[str, Any]]:
    """Returns the newest entry of `kind` per device."""
    found: dict[str, dict[str, Any]] = {}
    for entry in read(kind):
        name = entry.get("device")
        if isinstance(name, str):
            found[name] = entry
    return found
