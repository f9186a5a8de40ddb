"""Where tfstudio keeps its state, and its config file.

`TFSTUDIO_HOME` (an environment variable) wins; otherwise the platform's user
data dir from platformdirs. Config is `tfstudio.toml` in that directory, read
with tomllib. Everything else the studio stores (device registry, known_hosts,
deploy log, the local device) lives under the same home.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

HOME_ENV = "TFSTUDIO_HOME"
CONFIG_NAME = "tfstudio.toml"


def studio_home() -> Path:
    """Returns the studio's home directory (created if missing).

    Raises ConfigError when it exists but is not a directory.
    """
    env = os.environ.get(HOME_ENV)
    if env:
        home = Path(env).expanduser()
    else:
        import platformdirs

        home = Path(platformdirs.user_data_dir("tfstudio", appauthor=False))
    if home.exists() and not home.is_dir():
        raise ConfigError(f"{HOME_ENV} points at {home}, which is not a directory")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create tfstudio home {home}: {exc.strerror}") from exc
    return home


@dataclass(frozen=True)
class Config:
    """The parsed tfstudio.toml. Unknown tables are kept in `raw` for later features.

    Deadlines (seconds), so that no device can hang a fleet command:
    `[ssh] connect_timeout` (TCP + SSH handshake + auth), `command_timeout`
    (one agent command), `stall_timeout` (no byte moved and the connection
    not answering: "no progress for N s"); `[deploy] install_timeout`
    (verify + validate + store on the device), `lock_wait` (how long a deploy
    waits for another one holding the device), `reconnect_timeout` (how long
    a deploy tries to get a dropped link back to learn the device's state).
    """

    home: Path
    fanout: int = 8
    deploy_keep: int = 5
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 120.0
    stall_timeout_s: float = 30.0
    install_timeout_s: float = 300.0
    lock_wait_s: float = 60.0
    reconnect_timeout_s: float = 60.0
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """Returns one table of the config file ({} when absent)."""
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in {CONFIG_NAME} must be a table")
        return value


def load_config(home: Path | None = None) -> Config:
    """Reads tfstudio.toml from the home (defaults when the file is absent).

    Raises ConfigError for a file that is not valid TOML or has wrong types.
    """
    home = home or studio_home()
    path = home / CONFIG_NAME
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    defaults = Config(home=home)

    def number(table: str, key: str, default: float, kind: type = float) -> Any:
        value = raw.get(table, {}).get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and isinstance(value, float))
        ):
            what = "a whole number" if kind is int else "a number of seconds"
            raise ConfigError(f"{path}: [{table}] {key} must be {what}, not {_kind(value)}")
        return kind(value)

    for table in ("deploy", "ssh"):
        Config(home=home, raw=raw).section(table)  # a table, or one line saying it is not
    config = Config(
        home=home,
        fanout=number("deploy", "fanout", defaults.fanout, int),
        deploy_keep=number("deploy", "keep", defaults.deploy_keep, int),
        connect_timeout_s=number("ssh", "connect_timeout", defaults.connect_timeout_s),
        command_timeout_s=number("ssh", "command_timeout", defaults.command_timeout_s),
        stall_timeout_s=number("ssh", "stall_timeout", defaults.stall_timeout_s),
        install_timeout_s=number("deploy", "install_timeout", defaults.install_timeout_s),
        lock_wait_s=number("deploy", "lock_wait", defaults.lock_wait_s),
        reconnect_timeout_s=number("deploy", "reconnect_timeout", defaults.reconnect_timeout_s),
        raw=raw,
    )
    timeouts = {
        "[ssh] connect_timeout": config.connect_timeout_s,
        "[ssh] command_timeout": config.command_timeout_s,
        "[ssh] stall_timeout": config.stall_timeout_s,
        "[deploy] install_timeout": config.install_timeout_s,
        "[deploy] reconnect_timeout": config.reconnect_timeout_s,
    }
    for key, value in timeouts.items():
        if not value > 0:
            raise ConfigError(f"{path}: {key} must be a number of seconds above 0, not {value}")
    if config.lock_wait_s < 0 or config.fanout < 1 or config.deploy_keep < 1:
        raise ConfigError(f"{path}: [deploy] lock_wait must be >= 0, fanout and keep at least 1")
    return config


def _kind(value: Any) -> str:
    """Names a TOML value's type for a message, with the value when it is short."""
    names = {str: "a string", bool: "a boolean", list: "an array", dict: "a table"}
    name = names.get(type(value), f"a {type(value).__name__}")
    shown = repr(value)
    return f"{name} ({shown})" if len(shown) <= 40 else name
