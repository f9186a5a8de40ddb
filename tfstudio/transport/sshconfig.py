"""Resolve a device's SSH target through `~/.ssh/config` (paramiko does not do it itself).

Applied options: HostName, User, Port, IdentityFile, ProxyJump and
ConnectTimeout. Values given explicitly (the device registry, the CLI) win over
the config file, as on OpenSSH's command line. ProxyJump may name a chain
(`a,b`) of aliases or `user@host:port` specs; each hop is resolved again
through the same config.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.errors import ConfigError

DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_JUMPS = 8
"""A ProxyJump chain longer than this is treated as a loop in the config."""


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to connect, after the ssh config has been applied."""

    alias: str
    hostname: str
    port: int = 22
    user: str = field(default_factory=getpass.getuser)
    identity_files: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    jump: SSHTarget | None = None

    def describe(self) -> str:
        """Returns `user@host:port` (with ` via JUMP` when jumping)."""
        text = f"{self.user}@{self.hostname}:{self.port}"
        return f"{text} via {self.jump.describe()}" if self.jump else text


def default_ssh_config() -> Path:
    """Returns the path of the user's ssh config (`~/.ssh/config`)."""
    return Path.home() / ".ssh" / "config"


def resolve(
    host: str,
    *,
    port: int | None = None,
    user: str | None = None,
    key: str | None = None,
    connect_timeout: float | None = None,
    config_path: Path | None = None,
    _depth: int = 0,
) -> SSHTarget:
    """Returns the SSHTarget for `host` (an alias or a hostname).

    Raises ConfigError for an unreadable config, a bad Port or a ProxyJump loop.
    """
    import paramiko

    if _depth > MAX_JUMPS:
        raise ConfigError(f"ProxyJump chain for {host} is longer than {MAX_JUMPS} hops")
    path = config_path or default_ssh_config()
    options: dict[str, Any] = {}
    if path.is_file():
        try:
            options = dict(paramiko.SSHConfig.from_path(str(path)).lookup(host))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise ConfigError(f"cannot read ssh config {path}: {exc}") from exc
    hostname = str(options.get("hostname", host))
    try:
        real_port = port or int(str(options.get("port", 22)))
        timeout = connect_timeout or float(str(options.get("connecttimeout", 0)) or 0)
    except ValueError as exc:
        raise ConfigError(f"{path}: bad Port or ConnectTimeout for {host}: {exc}") from exc
    identities: list[str] = [key] if key else []
    for ident in options.get("identityfile", []) or []:
        identities.append(os.path.expanduser(str(ident)))
    jump = None
    proxy = options.get("proxyjump")
    if proxy and str(proxy).lower() != "none":
        jump = _resolve_jump(str(proxy), path, _depth)
    return SSHTarget(
        alias=host,
        hostname=hostname,
        port=real_port,
        user=user or str(options.get("user") or getpass.getuser()),
        identity_files=tuple(identities),
        connect_timeout=timeout or DEFAULT_CONNECT_TIMEOUT,
        jump=jump,
    )


def _resolve_jump(spec: str, config_path: Path, depth: int) -> SSHTarget:
    # `a,b` means: reach b through a. The last hop is the one next to the target.
    hops = [h.strip() for h in spec.split(",") if h.strip()]
    target: SSHTarget | None = None
    for hop in hops:
        user, _, rest = hop.rpartition("@")
        host, port_text = rest, ""
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            port_text = tail[1:] if tail.startswith(":") else ""
        elif rest.count(":") == 1:
            host, _, port_text = rest.partition(":")
        port = _jump_port(port_text, hop, config_path) if port_text else None
        resolved = resolve(
            host, port=port, user=user or None, config_path=config_path, _depth=depth + 1
        )
        if target is not None and resolved.jump is None:
            resolved = _with_jump(resolved, target)
        target = resolved
    if target is None:
        raise ConfigError(f"empty ProxyJump {spec!r}")
    return target


def _jump_port(text: str, hop: str, config_path: Path) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ConfigError(
            f"bad ProxyJump port {text!r} in {hop!r} ({config_path})",
            hint="write the jump host as [user@]host[:port] with a port from 1 to 65535",
        )
    return port


def _with_jump(target: SSHTarget, jump: SSHTarget) -> SSHTarget:
    return SSHTarget(
        target.alias,
        target.hostname,
        target.port,
        target.user,
        target.identity_files,
        target.connect_timeout,
        jump,
    )
