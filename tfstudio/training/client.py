"""Connecting to a Docker Engine, and the boundary where Docker SDK errors become ours.

`connect(engine)` returns an `EngineClient`: the SDK's low-level `APIClient`
with the engine it talks to and the server version, already pinged, so that an
engine that is down fails here with one line naming it and its URL. Every
other module calls the engine inside `client.call("what it was doing")`, which
turns requests/docker/paramiko exceptions into `TfStudioError`s.

`docker` is imported only inside these functions: the CLI's start and
`--help` never load it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.extras import require
from tfstudio.training.engines import Engine
from tfstudio.training.errors import EngineError, EngineUnreachableError

_SDK_SSH_ADAPTER = "docker.transport.sshconn"
POOL_SIZE = 40
"""HTTP connections kept per engine: `list_jobs` asks up to 32 jobs at once."""
MIN_API_VERSION = "1.41"
"""Docker Engine 20.10: one-shot stats, DeviceRequests, `docker system dial-stdio`."""


def docker_sdk() -> Any:
    """Returns the `docker` module. Raises MissingExtraError without the `train` extra."""
    if "docker" not in sys.modules:
        # The SDK's package init imports its own ssh:// adapter and with it
        # paramiko (and invoke): about 0.2 s of every training command's start.
        # tfstudio never uses that adapter (ssh:// engines go through
        # `dialstdio` and the studio's trust store), so its import is skipped;
        # the SDK is written to run without it (paramiko is optional there).
        sys.modules.setdefault(_SDK_SSH_ADAPTER, None)  # type: ignore[arg-type]
    return require("docker", "train")


@dataclass
class EngineClient:
    """A live connection to one engine. Use as a context manager or call `close()`."""

    engine: Engine
    api: Any
    """docker.APIClient (low level; the SDK's models are not used)."""
    server_version: str
    api_version: str
    _on_close: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @contextlib.contextmanager
    def call(self, what: str) -> Iterator[None]:
        """Runs the block, translating engine errors into TfStudioErrors about `what`.

        docker.errors.NotFound passes through untouched so callers can treat a
        missing object as a fact rather than a failure.
        """
        docker = docker_sdk()
        try:
            yield
        except TfStudioError:
            raise
        except docker.errors.NotFound:
            raise
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise translate(exc, self.engine, what, timeout_s=self.api.timeout) from exc

    def close(self) -> None:
        """Closes the HTTP connections (and the SSH connection of an ssh:// engine)."""
        with contextlib.suppress(Exception):
            self.api.close()
        for closer in self._on_close:
            with contextlib.suppress(Exception):
                closer()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    engine: Engine,
    *,
    connect_timeout: float = 10.0,
    passphrase: Callable[[str], str | None] | None = None,
) -> EngineClient:
    """Returns a client for `engine` after a successful version request.

    Raises EngineUnreachableError (socket missing, refused, timed out, engine
    down), EngineError (answers but is too old or refuses; or the engine has a
    `problem`, raised before any connection is opened), HostKeyError and
    TransportError (ssh:// engines), MissingExtraError (no docker SDK).
    """
    if engine.problem:
        raise EngineError(engine.problem, hint=engine.problem_hint)
    docker = docker_sdk()
    closers: list[Callable[[], None]] = []
    if engine.scheme == "ssh":
        from tfstudio.training.dialstdio import DialStdioAdapter, open_ssh_transport

        transport = open_ssh_transport(
            engine, connect_timeout=connect_timeout, passphrase=passphrase
        )
        # A placeholder base URL: no request is made before the adapter is mounted.
        api = docker.APIClient(
            base_url="unix:///dev/null", version=MIN_API_VERSION, timeout=connect_timeout
        )
        api.mount("http+docker://ssh", DialStdioAdapter(transport, engine.timeout_s))
        # The SDK reads raw sockets of ssh:// connections as channels when the
        # base URL says ssh (attach and log streams).
        api.base_url = "http+docker://ssh"
        closers.append(transport.close)
    else:
        try:
            api = docker.APIClient(
                base_url=engine.url,
                version=MIN_API_VERSION,
                timeout=connect_timeout,
                tls=tls_config(engine),
                max_pool_size=POOL_SIZE,
            )
        except docker.errors.DockerException as exc:
            raise EngineError(f"engine {engine.name}: {exc}") from exc
        if engine.scheme == "tcp":
            from tfstudio.training.tlsadapter import pin

            pin(api, POOL_SIZE)
    client = EngineClient(engine, api, "", MIN_API_VERSION, closers)
    try:
        with client.call("connecting"):
            version = api.version(api_version=False)
    except EngineUnreachableError as exc:
        if engine.scheme == "ssh":
            from tfstudio.training.dialstdio import diagnose

            better = diagnose(transport, engine)
            client.close()
            raise (better or exc) from exc
        client.close()
        raise
    except BaseException:
        client.close()
        raise
    server_api = str(version.get("ApiVersion", MIN_API_VERSION))
    if _version_tuple(server_api) < _version_tuple(MIN_API_VERSION):
        client.close()
        raise EngineError(
            f"engine {engine.name} speaks Docker API {server_api}; tfstudio needs "
            f"{MIN_API_VERSION} (Docker Engine 20.10) or newer",
            hint="upgrade the engine",
        )
    # Talk the engine's own API version, as `version="auto"` would, and give
    # calls the engine's full timeout now that it has answered.
    api._version = server_api
    api.timeout = engine.timeout_s
    client.server_version = str(version.get("Version", "?"))
    client.api_version = server_api
    return client


def tls_config(engine: Engine) -> Any:
    """Returns the SDK's TLSConfig for a TLS engine, False for any other.

    As the docker CLI: with verification, the CA file is the only trust root
    (the system's roots without one); without, the CA is not used; a client
    certificate is sent when both its files are given. Raises EngineError for
    a TLS file that does not exist.
    """
    if not engine.tls:
        return False
    docker = docker_sdk()
    for what, path in (("CA", engine.tls_ca), ("certificate", engine.tls_cert)):
        if path and not os.path.isfile(path):
            raise EngineError(f"engine {engine.name}: TLS {what} file {path} does not exist")
    if engine.tls_key and not os.path.isfile(engine.tls_key):
        raise EngineError(f"engine {engine.name}: TLS key file {engine.tls_key} does not exist")
    if bool(engine.tls_cert) != bool(engine.tls_key):
        raise EngineError(
            f"engine {engine.name}: a client certificate needs both its certificate and key files",
            hint=f"re-add it: tfstudio engines add {engine.name} --tls-cert FILE --tls-key FILE",
        )
    client_cert = (engine.tls_cert, engine.tls_key) if engine.tls_cert else None
    try:
        return docker.tls.TLSConfig(
            ca_cert=engine.tls_ca if engine.verify else None,
            client_cert=client_cert,
            verify=engine.verify,
        )
    except docker.errors.DockerException as exc:
        raise EngineError(f"engine {engine.name}: {exc}") from exc


def translate(
    exc: BaseException, engine: Engine, what: str, *, timeout_s: float | None = None
) -> TfStudioError:
    """Returns the one-line TfStudioError for an exception raised by the SDK or its transport.

    `timeout_s` is the request timeout in force, for the message of a timeout.
    """
    import requests

    docker = docker_sdk()
    if isinstance(exc, TfStudioError):
        return exc
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return unreachable(exc, engine, timeout_s)
    if isinstance(exc, docker.errors.APIError):
        detail = (
            str(exc.explanation or exc).strip().splitlines()[0] if exc.explanation else str(exc)
        )
        return EngineError(f"engine {engine.name}: {what} failed: {detail}")
    if isinstance(exc, docker.errors.DockerException):
        return EngineError(f"engine {engine.name}: {what} failed: {exc}")
    if isinstance(exc, (OSError, EOFError)):
        return unreachable(exc, engine, timeout_s)
    return EngineError(f"engine {engine.name}: {what} failed: {type(exc).__name__}: {exc}")


def unreachable(
    exc: BaseException, engine: Engine, timeout_s: float | None = None
) -> EngineUnreachableError:
    """Returns the error for an engine whose socket or address does not answer, with why."""
    import requests

    where = f"Docker Engine '{engine.name}' is not reachable at {engine.url}"
    cause = _root_cause(exc)
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(cause, TimeoutError):
        reason = f"no answer within {timeout_s or engine.timeout_s:g}s"
    elif isinstance(cause, FileNotFoundError) or getattr(cause, "errno", None) == errno.ENOENT:
        reason = "no socket there (the engine is not running)"
    elif isinstance(cause, ConnectionRefusedError):
        reason = "connection refused (the engine is stopped)"
    elif isinstance(cause, ssl.SSLError) or "SSL" in type(cause).__name__:
        detail = getattr(cause, "reason", None) or str(cause).strip() or type(cause).__name__
        client = "no client certificate" if not engine.tls_cert else f"client {engine.tls_cert}"
        return EngineUnreachableError(
            f"{where}: the TLS handshake failed ({detail}; {client})",
            hint="check the CA and client certificate (DOCKER_CERT_PATH, ~/.docker or the "
            "context's TLS files); see: tfstudio engines list",
        )
    elif (
        engine.scheme == "tcp"
        and not engine.tls
        and (
            isinstance(cause, (ConnectionResetError, ConnectionAbortedError))
            or "RemoteDisconnected" in type(cause).__name__
        )
    ):
        tls_hint = (
            "an engine that speaks TLS only drops plain HTTP: set DOCKER_TLS_VERIFY=1 with its "
            "certificates (or use a context with TLS)"
        )
        return EngineUnreachableError(
            f"{where}: the engine closed the connection without answering", hint=tls_hint
        )
    elif isinstance(cause, PermissionError):
        reason = "permission denied on the socket"
        return EngineUnreachableError(
            f"{where}: {reason}",
            hint="add your user to the 'docker' group (then log in again), or run as root",
        )
    elif engine.scheme == "ssh":
        reason = "the engine host's docker CLI closed the connection"
        return EngineUnreachableError(
            f"{where}: {reason}",
            hint=f"run: tfstudio engines check {engine.name} (it asks the host's docker CLI why)",
        )
    else:
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if engine.remote:
        host = engine.host_label()
        hint = f"is dockerd running on {host}? check: tfstudio engines check {engine.name}"
    else:
        hint = (
            "start dockerd (systemctl start docker), or install docker.io; or use another engine "
            "(--engine NAME)"
        )
    return EngineUnreachableError(f"{where}: {reason}", hint=hint)


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        nested = current.__cause__ or current.__context__
        if nested is None and current.args and isinstance(current.args[0], BaseException):
            nested = current.args[0]
        reason = getattr(current, "reason", None)
        if nested is None and isinstance(reason, BaseException):
            nested = reason
        if nested is None:
            break
        current = nested
    return current


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)
