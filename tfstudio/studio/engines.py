"""Engines for the facade (`Studio.training`): the `[training]` settings, the engine
registry, checks, host keys of ssh:// engines, this machine's GPUs, and one open
connection per engine.

`TrainingEngines` is the base of `TrainingImages` and `Training`: every training call
goes through its connections.

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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import TransportError
from tfstudio.operations import EventCallback, Stage, StageStarted, TargetFinished, Throttle
from tfstudio.studio.training_types import EngineReport
from tfstudio.training.engines import Engine, get_engine, list_engines
from tfstudio.training.errors import EngineError, EngineUnreachableError
from tfstudio.training.settings import TrainingSettings, training_settings

if TYPE_CHECKING:
    from tfstudio.config import Config
    from tfstudio.fleet.connector import Connector
    from tfstudio.fleet.hostkey_offer import HostKeyOffer
    from tfstudio.fleet.trust import TrustResult
    from tfstudio.training.client import EngineClient
    from tfstudio.training.dockercontext import DockerContext
    from tfstudio.training.nvml import GpuReport


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


class TrainingEngines:
    """Engines and their connections for `Studio.training`."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._pool = EnginePool(connector)
        self._gpus: GpuReport | None = None

    @property
    def connector(self) -> Connector:
        """The studio's connector (SSH keys and their passphrases)."""
        return self._connector

    @property
    def _config(self) -> Config:
        # The connector's, which `Studio.reload_config` replaces.
        return self._connector.config

    # -- settings and engines ------------------------------------------------

    def settings(self) -> TrainingSettings:
        """Returns the `[training]` defaults. Raises ConfigError."""
        return training_settings(self._config)

    def engine(self, name: str | None = None) -> Engine:
        """Returns engine `name` (default: `[training] engine`). Raises EngineError."""
        return get_engine(name or self.settings().engine, self._config)

    def engines(self) -> list[Engine]:
        """Returns `local`, then configured and registered engines. Raises ConfigError."""
        return list_engines(self._config)

    def docker_contexts(self) -> list[DockerContext]:
        """Returns the docker CLI's contexts as `docker context ls` lists them, the one
        `local` follows marked current (files only: nothing connects)."""
        from tfstudio.training.dockercontext import list_contexts

        return list_contexts()

    def docker_config_dir(self) -> Path:
        """Returns the docker CLI's config directory (DOCKER_CONFIG or ~/.docker)."""
        from tfstudio.training.dockercontext import config_dir

        return config_dir()

    def add_engine(self, engine: Engine, *, replace_existing: bool = False) -> Engine:
        """Validates and registers `engine`; returns it as stored. Raises EngineError."""
        from tfstudio.training.engines import add_engine

        self._pool.drop(engine.name)
        return add_engine(engine, replace_existing=replace_existing)

    def remove_engine(self, name: str) -> Engine:
        """Forgets a registered engine (never `local`). Raises EngineError."""
        from tfstudio.training.engines import remove_engine

        self._pool.drop(name)
        return remove_engine(name)

    def check_engines(
        self, names: Sequence[str] | None = None, *, on_event: EventCallback | None = None
    ) -> EngineReport:
        """Checks engines (default: all) in parallel: reachable, version, NVIDIA runtime, GPUs.

        An engine that cannot be reached is a status with its reason and fix,
        never an exception. Raises EngineError for an unknown name.
        """
        from tfstudio.training.enginecheck import check_engines

        engines = [self.engine(n) for n in names] if names else self.engines()
        emit = Throttle(on_event)
        for e in engines:
            emit(StageStarted("engines", e.name, Stage.CHECK, f"checking {e.url}"))
        statuses = check_engines(engines, connect_timeout=self._config.connect_timeout_s)
        for s in statuses:
            message = f"Docker {s.server_version}" if s.reachable else (s.error or "")
            emit(TargetFinished("engines", s.name, s.reachable, message, s.to_json()))
        return EngineReport(tuple(statuses))

    def scan_engine_key(self, name: str) -> HostKeyOffer:
        """Returns the host key an ssh:// engine offers (unknown/trusted/changed); records nothing.

        The same offer as a device's, in the same trust store. Raises
        EngineError (not ssh://), TransportError, HostKeyError.
        """
        from tfstudio.fleet import hostkey_offer

        return hostkey_offer.scan(
            self._engine_as_device(name), connect_timeout=self._config.connect_timeout_s
        )

    def record_engine_key(self, offer: HostKeyOffer, *, replace: bool = False) -> Path:
        """Records the engine key the user confirmed; returns the file. Raises HostKeyError."""
        from tfstudio.fleet import hostkey_offer

        self._pool.drop(offer.device)
        return hostkey_offer.record(offer, replace=replace)

    def trust_engine(
        self,
        name: str,
        *,
        fingerprint: str | None = None,
        confirm: Callable[[str], bool] | None = None,
        replace: bool = False,
    ) -> TrustResult:
        """Scans and records the host key of ssh:// engine `name` when `fingerprint`
        matches it or `confirm(text)` says yes (the CLI's prompt; the UI uses the two
        calls above with its dialog between them).

        Raises EngineError (not ssh://), TransportError, HostKeyError (worded for the
        engine), HostKeyChangedError.
        """
        from tfstudio.errors import HostKeyError
        from tfstudio.fleet.trust import trust_offer
        from tfstudio.training.dialstdio import engine_host_key_error

        try:
            result = trust_offer(
                self.scan_engine_key(name),
                fingerprint=fingerprint,
                confirm=confirm,
                replace=replace,
            )
        except HostKeyError as exc:
            raise engine_host_key_error(exc, name) from exc
        self._pool.drop(name)
        return result

    def gpus(self) -> GpuReport:
        """Returns NVML's view of this machine's GPUs, or an honest 'no GPU' with why."""
        from tfstudio.training.nvml import read_gpus

        if self._gpus is None or self._gpus.available:
            self._gpus = read_gpus()  # no GPU stays no GPU; a GPU's use changes
        return self._gpus

    # -- connections --------------------------------------------------------

    def close(self) -> None:
        """Closes every engine connection (a later call opens a fresh one)."""
        self._pool.close()

    @contextlib.contextmanager
    def _client(self, name: str | None) -> Iterator[EngineClient]:
        with self._pool.client(self.engine(name)) as client:
            yield client

    def _engine_as_device(self, name: str) -> Any:
        from tfstudio.fleet.registry import Device

        engine = self.engine(name)
        if engine.scheme != "ssh":
            raise EngineError(
                f"engine {engine.name} is {engine.scheme}://, not reached over SSH: "
                "there is no host key to trust"
            )
        user, host, port = engine.ssh_parts()
        return Device(
            name=engine.name, host=host, port=port, user=user, ssh_config=engine.ssh_config
        )
