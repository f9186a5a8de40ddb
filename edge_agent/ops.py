"""Durable records of the store's writes, so a studio that lost its link learns what happened.

A writer started with `--id ID` (install, activate, rollback, prune) records
`ops/<ID>.json` before it starts ({"state": "running", "pid", ...}) and again
when it ends ("done" with its "result", or "failed" with its "failure"), each time
written atomically and fsynced. `outcome ID` reads the record back: a
"running" record whose process is gone is "interrupted", and no record at all
is "unknown" (the command never started) once no process carrying the id is
left on the device.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from edge_agent import fsutil
from edge_agent.errors import AgentError

OPS_DIR = "ops"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,79}$")
KEEP_RECORDS = 200
"""Records kept (newest first); older ones are removed when a new one starts."""

STARTING_GRACE_S = 1.0
"""How long `outcome` waits for the record of a command that may still be starting."""


def check_id(op_id: str) -> str:
    """Returns `op_id` if it can name a record file; raises AgentError(usage)."""
    if not ID_RE.match(op_id):
        raise AgentError(f"bad operation id {op_id!r} (8-80 letters, digits, '-' or '_')", "usage")
    return op_id


def _path(home: Path, op_id: str) -> Path:
    return home / OPS_DIR / f"{check_id(op_id)}.json"


def start(home: Path, op_id: str, op: str) -> None:
    """Records that this process starts `op` under `op_id`."""
    directory = home / OPS_DIR
    with fsutil.disk_errors(home):
        directory.mkdir(parents=True, exist_ok=True)
    _trim(directory)
    pid = os.getpid()
    record = {
        "id": op_id,
        "op": op,
        "state": "running",
        "pid": pid,
        "pid_start": fsutil.pid_start(pid),
        "started_at": fsutil.utc_now(),
    }
    fsutil.write_json_atomic(_path(home, op_id), record)


def finish(home: Path, op_id: str, result: Dict[str, Any]) -> None:
    """Records that the operation succeeded with `result`."""
    _end(home, op_id, {"state": "done", "result": result})


def fail(home: Path, op_id: str, error: Dict[str, Any]) -> None:
    """Records that the operation failed with `error` (the contract's error object),
    under "failure" (a top-level "error" would make the record read as a refusal)."""
    _end(home, op_id, {"state": "failed", "failure": error})


def _end(home: Path, op_id: str, fields: Dict[str, Any]) -> None:
    record = fsutil.read_json(_path(home, op_id), default=None) or {"id": op_id}
    record.update(fields, finished_at=fsutil.utc_now())
    fsutil.write_json_atomic(_path(home, op_id), record)


def read(home: Path, op_id: str) -> Dict[str, Any]:
    """Returns the record's state now: done, failed, running, interrupted or unknown."""
    try:
        record = fsutil.read_json(_path(home, op_id), default=None)
    except ValueError:
        record = None  # torn by a crash mid-write cannot happen (atomic), but be safe
    if not isinstance(record, dict):
        state = "running" if _carried_by_a_process(op_id) else "unknown"
        return {"id": op_id, "state": state}
    if record.get("state") == "running" and not fsutil.same_process(
        int(record.get("pid") or 0), record.get("pid_start")
    ):
        record["state"] = "interrupted"
    return record


def outcome(home: Path, op_id: str, wait_s: float) -> Dict[str, Any]:
    """Returns the record, waiting up to `wait_s` for a running operation to end."""
    deadline = time.monotonic() + max(wait_s, STARTING_GRACE_S)
    while True:
        record = read(home, op_id)
        if record["state"] != "running" or time.monotonic() >= deadline:
            return record
        time.sleep(0.1)


def _carried_by_a_process(op_id: str) -> bool:
    """True when a process other than this one (and not an `outcome` query) names `op_id`.

    The window between a command's start and its first record: its process
    already exists. Where /proc is missing, nothing can be said: False.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    needle = op_id.encode()
    mine = {os.getpid(), os.getppid()}
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"outcome" not in argv and any(needle in word for word in argv):
            return True
    return False


def _trim(directory: Path) -> None:
    def mtime(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    records: List[Path] = sorted(directory.glob("*.json"), key=mtime, reverse=True)
    for old in records[KEEP_RECORDS:]:
        try:
            old.unlink()
        except OSError:
            pass


def known(op_id: Optional[str]) -> Optional[str]:
    """Returns a checked id, or None when no id was given."""
    return None if op_id is None else check_id(op_id)
