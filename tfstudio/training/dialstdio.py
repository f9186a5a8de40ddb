"""ssh:// engines through the studio's own SSH connection: `docker system dial-stdio`.

The Docker SDK's built-in ssh:// support trusts only `~/.ssh/known_hosts` and
keys from `~/.ssh/config`. Instead, the studio opens its own host-key-checked
paramiko connection (`tfstudio.transport.ssh.SSHTransport`: the same trust store,
ssh config resolution, ProxyJump and passphrase handling as devices) and runs
`docker system dial-stdio` on a channel of it for every HTTP connection the SDK
wants. The channel is the socket: the remote docker CLI pipes it into the
engine's own socket.

Host-key errors are re-worded for engines: the trust command is
`tfstudio engines trust NAME --fingerprint SHA256:...`.
"""

from __future__ import annotations

import queue
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool

from tfstudio.errors import HostKeyError, TfStudioError
from tfstudio.training.errors import EngineUnreachableError

if TYPE_CHECKING:
    import paramiko

    from tfstudio.training.engines import Engine
    from tfstudio.transport.ssh import SSHTransport

DIAL_STDIO = ("docker", "system", "dial-stdio")
MAX_CHANNELS = 8
"""HTTP connections (channels) kept per engine; sshd's default MaxSessions is 10."""
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]+")


def open_ssh_transport(
    engine: Engine,
    *,
    connect_timeout: float | None = None,
    passphrase: Callable[[str], str | None] | None = None,
) -> SSHTransport:
    """Returns a verified, authenticated SSH connection to the engine's host.

    Raises HostKeyError (unknown or changed key, with the `engines trust`
    command), TransportError (unreachable, authentication) or ConfigError.
    """
    from tfstudio.transport.ssh import SSHTransport

    target = resolve_target(engine, connect_timeout=connect_timeout)
    try:
        return SSHTransport(target, device=engine.name, passphrase=passphrase)
    except HostKeyError as exc:
        raise engine_host_key_error(exc, engine.name) from exc


def resolve_target(engine: Engine, *, connect_timeout: float | None = None) -> Any:
    """Returns the engine's SSHTarget after `~/.ssh/config` (or its own ssh config)."""
    from tfstudio.transport import sshconfig

    user, host, port = engine.ssh_parts()
    return sshconfig.resolve(
        host,
        port=port,
        user=user,
        key=engine.key,
        connect_timeout=connect_timeout,
        config_path=Path(engine.ssh_config) if engine.ssh_config else None,
    )


def engine_host_key_error(exc: HostKeyError, engine: str) -> HostKeyError:
    """Returns `exc` with the hint rewritten to trust the key as an engine."""
    found = _FINGERPRINT.findall(exc.message)
    fp = found[0] if found else "SHA256:..."
    command = f"tfstudio engines trust {shlex.quote(engine)} --fingerprint {fp}"
    if "CHANGED" in exc.message:
        hint = (
            "if the engine host was really re-installed, verify the new fingerprint out of "
            f"band, then run: {command} --replace"
        )
    else:
        hint = f"check the fingerprint out of band, then run: {command}"
    return HostKeyError(exc.message, hint=hint)


class DialStdioConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is a channel running `docker system dial-stdio`."""

    def __init__(self, open_channel: Callable[[], paramiko.Channel], timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._open_channel = open_channel
        self._channel_timeout = timeout

    def connect(self) -> None:
        chan = self._open_channel()
        chan.settimeout(self._channel_timeout)
        self.sock = chan  # a paramiko channel quacks like a socket


class DialStdioPool(urllib3.connectionpool.HTTPConnectionPool):
    """A pool of dial-stdio connections over one SSH transport."""

    def __init__(self, open_channel: Callable[[], paramiko.Channel], timeout: float) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=MAX_CHANNELS)
        self._open_channel = open_channel
        self._channel_timeout = timeout

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        return DialStdioConnection(self._open_channel, self._channel_timeout)

    def _get_conn(self, timeout: float | None = None) -> urllib3.connection.HTTPConnection:
        # urllib3 checks a reused connection with select() on its fileno(); a
        # paramiko channel makes a new pipe pair for each fileno() call, which
        # exhausts file descriptors (the Docker SDK's own ssh pool skips the
        # check for the same reason). The channel's own flags say it instead.
        conn = None
        if self.pool is None:
            raise urllib3.exceptions.ClosedPoolError(self, "Pool is closed.")
        try:
            conn = self.pool.get(block=False)
        except queue.Empty:
            pass
        chan = getattr(conn, "sock", None)
        if conn is not None and chan is not None and (chan.closed or chan.eof_received):
            conn.close()
            conn = None
        return conn or self._new_conn()


class DialStdioAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter that sends every request through dial-stdio channels."""

    def __init__(self, transport: SSHTransport, timeout: float) -> None:
        self._transport = transport
        self._pool = DialStdioPool(self._open, timeout)
        super().__init__()

    def _open(self) -> paramiko.Channel:
        return self._transport.open_stream(list(DIAL_STDIO))

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> urllib3.connectionpool.HTTPConnectionPool:
        """Returns the one pool (requests >= 2.32 asks through this)."""
        return self._pool

    def get_connection(
        self, url: Any, proxies: Any = None
    ) -> urllib3.connectionpool.HTTPConnectionPool:
        """Returns the one pool (older requests)."""
        return self._pool

    def close(self) -> None:
        """Closes the pooled channels and the SSH connection."""
        self._pool.close()
        super().close()
        self._transport.close()


def diagnose(transport: SSHTransport, engine: Engine) -> TfStudioError | None:
    """Returns why `docker system dial-stdio` cannot work on the engine's host, or None.

    Runs `docker version` there once (only after a failure) and words its answer:
    no docker CLI, no permission on the socket, or no engine running.
    """
    host = engine.host_label()
    try:
        result = transport.run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=30)
    except TfStudioError as exc:
        return exc
    if result.ok:
        return None
    text = (result.stderr or result.stdout).strip()
    lowered = text.lower()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "no output")[:300]
    where = f"Docker Engine '{engine.name}' is not reachable through {engine.url}"
    if result.exit_code == 127 or "not found" in lowered:
        return EngineUnreachableError(
            f"{where}: {host} has no docker CLI ({first})",
            hint=f"install the docker CLI on {host} (Debian: apt-get install docker.io)",
        )
    if "permission denied" in lowered:
        return EngineUnreachableError(
            f"{where}: permission denied on the engine's socket on {host}",
            hint=f"add the SSH user to the 'docker' group on {host}",
        )
    return EngineUnreachableError(
        f"{where}: the engine on {host} does not answer ({first})",
        hint=f"start dockerd on {host}",
    )
