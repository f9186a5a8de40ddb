"""DOCKER_HOST as the docker CLI parses it: defaults, ports and the forms it accepts.

A port of the CLI's `opts.ParseHost` (docker/cli `opts/hosts.go`), kept to the
letter because users set DOCKER_HOST for `docker` and expect tfstudio to reach
the same engine:
- empty: `unix:///var/run/docker.sock`, or `tcp://localhost:2376` when TLS is on;
- no scheme (`host:port`): tcp;
- `tcp://host` without a port: port 2375, with or without TLS (the man page
  says 2376 under TLS; the CLI, 20.10 to 28, uses 2375: the CLI wins);
- `tcp://:port`: localhost; `tcp://`: `tcp://localhost:2375`;
- `unix://`: the default socket; `ssh://` and `fd://` are passed through.

A named context's endpoint is not parsed this way: the CLI dials it as written.
"""

from __future__ import annotations

import re

DEFAULT_UNIX_SOCKET = "/var/run/docker.sock"
DEFAULT_SOCKET_URL = f"unix://{DEFAULT_UNIX_SOCKET}"
DEFAULT_HTTP_HOST = "localhost"
DEFAULT_HTTP_PORT = 2375
DEFAULT_TLS_PORT = 2376
DEFAULT_TLS_URL = f"tcp://{DEFAULT_HTTP_HOST}:{DEFAULT_TLS_PORT}"


class DockerHostError(ValueError):
    """DOCKER_HOST is not an address the docker CLI accepts (its own message)."""


def parse_docker_host(value: str, *, tls: bool) -> str:
    """Returns the address the docker CLI dials for DOCKER_HOST=`value`.

    `tls` is whether TLS is on (DOCKER_TLS_VERIFY or DOCKER_TLS): it only
    changes the default for an empty value. Raises DockerHostError with the
    CLI's wording for what the CLI refuses.
    """
    host = value.strip()
    if not host:
        return DEFAULT_TLS_URL if tls else DEFAULT_SOCKET_URL
    proto, sep, addr = host.partition("://")
    if not sep:
        proto, addr = "tcp", host
    if proto == "tcp":
        return _tcp(addr, host)
    if proto in ("unix", "npipe"):
        default = DEFAULT_UNIX_SOCKET if proto == "unix" else "//./pipe/docker_engine"
        rest = addr.removeprefix(f"{proto}://")
        if "://" in rest:
            raise DockerHostError(f"Invalid proto, expected {proto}: {rest}")
        return f"{proto}://{rest or default}"
    if proto in ("ssh", "fd"):
        return host
    raise DockerHostError(f"Invalid bind address format: {host}")


def _tcp(addr: str, whole: str) -> str:
    default = f"tcp://{DEFAULT_HTTP_HOST}:{DEFAULT_HTTP_PORT}"
    if addr in ("", "tcp://"):
        return default
    addr = addr.removeprefix("tcp://")
    if "://" in addr or not addr:
        raise DockerHostError(f"Invalid proto, expected tcp: {addr}")
    if addr.endswith("]:"):
        addr += str(DEFAULT_HTTP_PORT)
    split = re.match(r"^([^/?#]*)(.*)$", addr)
    authority, path = (split.group(1), split.group(2)) if split else (addr, "")
    hostport = authority.rpartition("@")[2]
    # Go's url.Parse: whatever follows the last ':' outside brackets must be digits.
    tail = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    if ":" in tail and not tail.rpartition(":")[2].isdigit() and tail.rpartition(":")[2]:
        raise DockerHostError(
            f'parse "tcp://{addr}": invalid port ":{tail.rpartition(":")[2]}" after host'
        )
    parts = _split_host_port(hostport) or _split_host_port(
        _join_host_port(hostport, str(DEFAULT_HTTP_PORT))
    )
    if parts is None:
        raise DockerHostError(f"Invalid bind address format: {whole.removeprefix('tcp://')}")
    host, port = parts
    return (
        f"tcp://{_join_host_port(host or DEFAULT_HTTP_HOST, port or str(DEFAULT_HTTP_PORT))}{path}"
    )


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: None where it returns an error."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not hostport[end + 1 :].startswith(":"):
            return None
        host, port = hostport[1:end], hostport[end + 2 :]
        return None if ":" in port or "[" in port or "]" in port else (host, port)
    if hostport.count(":") != 1 or "[" in hostport or "]" in hostport:
        return None
    host, _, port = hostport.partition(":")
    return host, port


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
