"""The agent as a service: `serve` kept running, bound to 127.0.0.1, across crashes.

Two ways to keep it up, chosen at `enable` (`--mode auto` picks the first that works):

- **systemd**: a user unit (`Restart=always`) where `systemctl --user` reaches a
  user manager; the status warns when the user does not linger.
- **process**: the agent's own supervisor, a detached process (new session,
  stdin from /dev/null, output to `logs/serve.log`) that holds
  `service.lock` with flock while it lives, records itself in `service.pid`,
  starts `serve`, and restarts it after a crash with a backoff (1 s doubling
  to 30 s, back to 1 s after a minute up). `serve` dies with its supervisor
  (PR_SET_PDEATHSIG), and the supervisor stops it on SIGTERM.

Files in the agent home: `service.json` (what was enabled), `service.env`
(the bearer token, mode 0600; the studio reads it over SSH), `service-state.json`
(the supervisor's pids, restarts and last exit), `service.lock`, `service.pid`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from edge_agent import fsutil, systemd
from edge_agent.bench import active_ref
from edge_agent.errors import AgentError
from edge_agent.serverfile import server_status
from edge_agent.servicestate import (  # noqa: F401 - brief and supervisor_running: this API
    LOCK_FILE,
    SERVICE_FILE,
    STATE_FILE,
    brief,
    supervisor_running,
)
from edge_agent.store import Store, utc_now

PID_FILE = "service.pid"
ENV_FILE = "service.env"
LOG_FILE = "serve.log"
TOKEN_ENV = "TFSTUDIO_AGENT_TOKEN"  # noqa: S105 - the variable's name, not a secret
DEFAULT_PORT = 8501
MODES = ("auto", "systemd", "process")

STOP_WAIT_S = 10.0
"""How long serve (or the supervisor) gets after SIGTERM before SIGKILL."""


def package_root() -> str:
    """Returns the sys.path entry that holds `edge_agent` (its directory, or the .pyz)."""
    return str(Path(__file__).resolve().parent.parent)


def serve_argv(home: Path, port: int) -> List[str]:
    """Returns the command that runs this agent's `serve` on `home` (with PYTHONPATH set)."""
    return [sys.executable, "-m", "edge_agent", f"--home={home}", "serve", f"--port={port}"]


def env_with_agent() -> Dict[str, str]:
    """Returns this environment with `edge_agent` importable (for the supervisor and serve)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root(), env.get("PYTHONPATH")) if p)
    return env


def read_token(home: Path) -> Optional[str]:
    """Returns the bearer token from service.env, or None."""
    try:
        text = (home / ENV_FILE).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(TOKEN_ENV + "="):
            return line.split("=", 1)[1].strip() or None
    return None


def _write_token(home: Path, token: Optional[str]) -> None:
    path = home / ENV_FILE
    if token is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{TOKEN_ENV}={token}\n")


def status(store: Store, with_token: bool = False) -> Dict[str, Any]:
    """Returns the service's full state: `brief` plus configuration, supervisor, last exit,
    systemd's view, the served model, and (with `with_token`) the bearer token."""
    home = store.home
    config = fsutil.read_json(home / SERVICE_FILE, default=None) or {}
    state = fsutil.read_json(home / STATE_FILE, default=None) or {}
    out = brief(home)
    server = server_status(home)
    out.update(
        {
            "server": {
                "running": bool(server["running"]),
                "port": server.get("port") if server["running"] else None,
                "pid": server.get("pid") if server["running"] else None,
                "token_required": bool(server.get("token_required")),
                "started_at": server.get("started_at"),
                "max_body_bytes": server.get("max_body_bytes") if server["running"] else None,
            },
            "configured_port": config.get("port"),
            "enabled_at": config.get("enabled_at"),
            "token_required": bool(config.get("token")),
            "supervisor_pid": state.get("supervisor_pid") if supervisor_running(home) else None,
            "last_exit": state.get("last_exit"),
            "last_exit_at": state.get("last_exit_at"),
            "last_error": state.get("last_error"),
            "log": str(home / "logs" / LOG_FILE),
            "active": active_ref(store),
            "hint": None,
        }
    )
    if config.get("mode") == "systemd":
        unit = str(config.get("unit"))
        out["unit"] = unit
        out["systemd_active"] = systemd.is_active(unit)
        linger = systemd.lingering()
        out["linger"] = linger
        if linger is False:
            out["hint"] = systemd.linger_hint()
    elif config.get("mode") == "process":
        out["hint"] = (
            "a supervised process does not come back after a reboot; with a user manager "
            "(systemctl --user) enable it with --mode systemd"
        )
    if out["enabled"] and not out["running"] and state.get("last_error"):
        out["hint"] = f"serve keeps failing: {state['last_error']} (log: {out['log']})"
    if with_token:
        out["token"] = read_token(home)
    return out


def enable(
    store: Store, port: int = DEFAULT_PORT, mode: str = "auto", token: bool = True,
    wait_s: float = 30.0,
) -> Dict[str, Any]:  # fmt: skip
    """Starts serve as a service (or leaves one with the same settings running).

    Returns `status` plus "changed". Raises AgentError: usage (bad port or mode,
    systemd asked for but unavailable), locked (a hand-started serve runs),
    service_failed (it did not come up within `wait_s`).
    """
    if mode not in MODES:
        raise AgentError(f"unknown --mode {mode!r}; use {', '.join(MODES)}", "usage")
    if not 0 <= port < 65536:
        raise AgentError(f"invalid --port {port}", "usage")
    store.ensure()
    home = store.home
    config: Dict[str, Any] = fsutil.read_json(home / SERVICE_FILE, default=None) or {}
    probe = systemd.probe() if mode != "process" else {"available": False, "reason": "not asked"}
    if mode == "systemd" and not probe["available"]:
        raise AgentError(
            f"systemd --user is not available here ({probe['reason']})",
            "usage",
            hint="use --mode process: the agent supervises serve itself",
        )
    chosen = "systemd" if probe["available"] else "process"
    same = (
        config.get("enabled")
        and config.get("mode") == chosen
        and config.get("port") == port
        and bool(config.get("token")) == token
    )
    current = brief(home)
    if same and current["running"]:
        return {**status(store), "changed": False, "systemd": probe}
    if config.get("enabled"):
        disable(store)
    server = server_status(home)
    if server["running"]:
        raise AgentError(
            f"a serve started by hand runs for this home (pid {server['pid']}, port "
            f"{server['port']})",
            "locked",
            hint=f"stop it first: kill {server['pid']}",
        )
    _write_token(home, secrets.token_hex(24) if token else None)
    config = {
        "enabled": True,
        "mode": chosen,
        "port": port,
        "token": token,
        "enabled_at": utc_now(),
    }
    if chosen == "systemd":
        config["unit"] = systemd.unit_name(home)
    fsutil.write_json_atomic(home / SERVICE_FILE, config)
    fsutil.write_json_atomic(home / STATE_FILE, {"restarts": 0})
    if chosen == "systemd":
        text = systemd.unit_text(home, serve_argv(home, port), home / ENV_FILE, package_root())
        answer = systemd.install(config["unit"], text)
        if not answer["ok"]:
            _forget(home)
            raise AgentError(
                f"systemctl --user could not start the unit: {answer['reason']}",
                "service_failed",
            )
    else:
        _spawn_supervisor(home)
    return {**_wait_up(store, wait_s), "changed": True, "systemd": probe}


def _spawn_supervisor(home: Path) -> None:
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / LOG_FILE, "ab") as log:
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "edge_agent", f"--home={home}", "service", "supervise"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env_with_agent(),
            cwd=str(home),
            start_new_session=True,  # no SIGHUP when the SSH session that started it ends
        )


def _wait_up(store: Store, wait_s: float) -> Dict[str, Any]:
    """Waits until serve answers for the service; returns status. Raises service_failed."""
    deadline = time.monotonic() + wait_s
    while True:
        current = status(store)
        if current["running"]:
            return current
        if time.monotonic() >= deadline:
            why = current.get("last_error") or "no answer"
            raise AgentError(
                f"the service was enabled but serve is not up after {wait_s:g} s: {why}",
                "service_failed",
                hint=f"see {current['log']}; then: service disable",
            )
        time.sleep(0.1)


def _forget(home: Path) -> None:
    for name in (SERVICE_FILE, ENV_FILE):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


def disable(store: Store) -> Dict[str, Any]:
    """Stops the service and removes what `enable` set up; returns {"enabled": false, "stopped"}.

    A home with no service answers stopped=false (nothing to do).
    """
    home = store.home
    config = fsutil.read_json(home / SERVICE_FILE, default=None) or {}
    stopped = False
    if config.get("mode") == "systemd" and config.get("unit"):
        systemd.remove(str(config["unit"]))
        stopped = True
    stopped = _stop_supervisor(home) or stopped
    _forget(home)
    return {"enabled": False, "stopped": stopped, "mode": config.get("mode")}


def _stop_supervisor(home: Path) -> bool:
    """Ends the supervisor (SIGTERM, then SIGKILL after STOP_WAIT_S); True if one ran."""
    if not supervisor_running(home):
        return False
    record = fsutil.read_json(home / PID_FILE, default=None) or {}
    pid = int(record.get("pid") or 0)
    if not fsutil.same_process(pid, record.get("pid_start")):
        return False
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while supervisor_running(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    if supervisor_running(home):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # its serve follows (PR_SET_PDEATHSIG)
        while supervisor_running(home):
            time.sleep(0.05)
    # The lock goes when the supervisor closes it, a moment before the process has
    # finished exiting: "stopped" must mean that no process of the service is left.
    start = record.get("pid_start")
    deadline = time.monotonic() + STOP_WAIT_S
    while _still_running(pid, start) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def _still_running(pid: int, start: Any) -> bool:
    """True while `pid` is the recorded process and not yet a zombie."""
    if not fsutil.same_process(pid, start):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        return stat[stat.rindex(b")") + 2 :].split()[0] != b"Z"
    except (OSError, ValueError, IndexError):
        return True  # no /proc: trust the signal probe
