"""ProxyJump hops as ssh reads them: `[user@]host[:port]` (an IPv6 address in brackets)
or `ssh://[user@]host[:port]`, and a port as ssh accepts it."""

from __future__ import annotations

import re

from tfstudio.errors import ConfigError

_URI = re.compile(r"^ssh://(?:(?P<user>[^@/]*)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d*))?/?$")


def parse_hop(hop: str, host: str) -> tuple[str | None, str, int | None]:
    """Returns (user, host, port) of one ProxyJump hop: `[user@]host[:port]`, with an
    IPv6 address in brackets, or `ssh://[user@]host[:port]`. Raises ConfigError."""
    if hop.lower().startswith("ssh://"):
        match = _URI.match(hop)
        if not match:
            raise ConfigError(f"invalid ProxyJump hop {hop!r} for {host}")
        name = match.group("host").strip("[]")
        port_text = match.group("port")
        port = parse_port(port_text, host, what=f"ProxyJump hop {hop!r}") if port_text else None
        return match.group("user") or None, name, port
    user, at, rest = hop.rpartition("@")
    if at and not user:
        raise ConfigError(f"invalid ProxyJump hop {hop!r} for {host}: empty user")
    name, port_text = rest, ""
    if rest.startswith("["):
        name, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ConfigError(f"invalid ProxyJump hop {hop!r} for {host}")
        port_text = tail[1:]
    elif rest.count(":") == 1:
        name, _, port_text = rest.partition(":")
    if not name:
        raise ConfigError(f"invalid ProxyJump hop {hop!r} for {host}: no host")
    port = parse_port(port_text, host, what=f"ProxyJump hop {hop!r}") if port_text else None
    return (user or None), name, port


def parse_port(text: str | None, host: str, what: str = "Port") -> int:
    """Returns a port from 1 to 65535 (22 when `text` is None). Raises ConfigError."""
    if text is None:
        return 22
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if not 0 < value < 65536:
        raise ConfigError(
            f"bad {what} {text!r} for {host}",
            hint="a port is a number from 1 to 65535",
        )
    return value
