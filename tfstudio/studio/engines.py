"""One open connection per Docker Engine, kept for the facade (`Studio.training`).

A front end that refreshes its job list every few seconds should not
reconnect each time (for an ssh:// engine that is an SSH handshake).
`EnginePool` keeps one `EngineClient` per engine, opened through the studio's
connector, so an encrypted key of an ssh:// engine is a `PassphraseRequired`
the front end asks about between two calls, as for devices. A connection that
fails (the engine went away, the SSH link dropped) is dropped, and the next
call opens a fresh one. One client serves several threads at once: the SDK
keeps a pool of HTTP connections under it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tfstudio.errors import TransportError
from tfstudio.training.errors import EngineUnreachableError

if TYPE_CHECKING:
    from tfstudio.fleet.connector import Connector
    from tfstudio.training.client import EngineClient
    from tfstudio.training.engines import Engine


class EnginePool:
    """Open engine connections by engine name; thread-safe."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._clients: dict[str, EngineClient] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def client(self, engine: Engine) -> Iterator[EngineClient]:
        """Yields a connected client of `engine`, opening one when none is kept.

        Raises what `tfstudio.training.client.connect` raises, and
        PassphraseRequired; a block that raises EngineUnreachableError or
        TransportError drops the connection.
        """
        with self._lock:
            client = self._clients.get(engine.name)
        if client is None or client.engine != engine:
            client = self._open(engine)  # outside the lock: an SSH handshake is slow
            with self._lock:
                current = self._clients.get(engine.name)
                if current is not None and current.engine == engine:
                    client.close()  # another thread opened one first
                    client = current
                else:
                    self._clients[engine.name] = client
                    if current is not None:
                        current.close()  # the engine's address changed
        try:
            yield client
        except (EngineUnreachableError, TransportError):
            self.drop(engine.name, client)
            raise

    def drop(self, name: str, client: EngineClient | None = None) -> None:
        """Closes and forgets the connection to `name` (only if it is `client`, when given)."""
        with self._lock:
            current = self._clients.get(name)
            if current is None or (client is not None and current is not client):
                return
            del self._clients[name]
        current.close()

    def close(self) -> None:
        """Closes every connection (a later call opens a fresh one)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _open(self, engine: Engine) -> EngineClient:
        from tfstudio.training.client import connect

        timeout = self._connector.config.connect_timeout_s
        return self._connector.open_with(
            engine.name,
            lambda passphrase: connect(engine, connect_timeout=timeout, passphrase=passphrase),
        )
