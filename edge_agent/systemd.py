"""The systemd side of the agent service: is a user manager there, and its unit file.

`systemctl --user` works only where the user has a running user manager
(a desktop session, or `loginctl enable-linger USER` for a headless device);
without linger the unit stops at logout and does not start at boot, which is
what `lingering()` lets the status warn about. Commands are run with a short
timeout and their failures returned as reasons, never raised.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

PROBE_TIMEOUT_S = 10.0


def run(argv: Sequence[str], timeout: float = PROBE_TIMEOUT_S) -> Dict[str, Any]:
    """Runs a command; returns {"ok", "out", "reason"} (reason: its first stderr line)."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        return {"ok": False, "out": "", "reason": f"{argv[0]} not found"}
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ok": False, "out": "", "reason": f"{argv[0]}: {exc}"}
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    reason = lines[0] if lines else f"exit code {proc.returncode}"
    return {"ok": proc.returncode == 0, "out": proc.stdout, "reason": reason}


def probe() -> Dict[str, Any]:
    """Returns {"available": bool, "reason"?: str, "linger"?: bool|None} for `systemctl --user`."""
    exe = shutil.which("systemctl")
    if exe is None:
        return {"available": False, "reason": "systemctl not found"}
    answer = run([exe, "--user", "show-environment"])
    if not answer["ok"]:
        return {"available": False, "reason": f"systemctl --user: {answer['reason']}"}
    return {"available": True, "linger": lingering()}


def lingering() -> Optional[bool]:
    """Returns whether the user's manager outlives their sessions (None when unknown)."""
    exe = shutil.which("loginctl")
    if exe is None:
        return None
    answer = run([exe, "show-user", getpass.getuser(), "--property=Linger", "--value"])
    value = answer["out"].strip()
    return {"yes": True, "no": False}.get(value) if answer["ok"] else None


def linger_hint() -> str:
    """Returns the fix for a user manager that stops at logout."""
    return (
        "without lingering the service stops when you log out and does not start at boot: "
        f"run `sudo loginctl enable-linger {getpass.getuser()}`"
    )


def unit_name(home: Path) -> str:
    """Returns the unit's name, unique per agent home (several homes may share a user)."""
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:10]
    return f"tfstudio-agent-{digest}.service"


def unit_dir() -> Path:
    """Returns the user's systemd unit directory ($XDG_CONFIG_HOME/systemd/user)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def _quote(word: str) -> str:
    """Quotes one ExecStart word the way systemd parses it (and escapes its specifiers)."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def unit_text(home: Path, argv: List[str], env_file: Path, pythonpath: str) -> str:
    """Returns the unit that runs `argv` (the agent's serve) and restarts it after a crash."""
    exec_start = " ".join(_quote(word) for word in argv)
    return "\n".join(
        [
            "[Unit]",
            f"Description=tfstudio edge agent: serve the active model of {home}",
            "After=network.target",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStart={exec_start}",
            f"Environment={_quote('PYTHONPATH=' + pythonpath)}",
            f"EnvironmentFile=-{env_file}",
            "Restart=always",
            "RestartSec=1",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def install(name: str, text: str) -> Dict[str, Any]:
    """Writes the unit, reloads the manager and enables + starts it; returns run()'s answer."""
    directory = unit_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    reload = run(["systemctl", "--user", "daemon-reload"])
    if not reload["ok"]:
        return reload
    return run(["systemctl", "--user", "enable", "--now", name], timeout=60)


def remove(name: str) -> Dict[str, Any]:
    """Disables and stops the unit, removes its file and reloads; returns run()'s answer."""
    answer = run(["systemctl", "--user", "disable", "--now", name], timeout=60)
    path = unit_dir() / name
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    run(["systemctl", "--user", "daemon-reload"])
    return answer


def is_active(name: str) -> bool:
    """True when systemd says the unit is active."""
    return bool(run(["systemctl", "--user", "is-active", "--quiet", name])["ok"])
