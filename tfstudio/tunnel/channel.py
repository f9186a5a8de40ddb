"""HTTP/1.1 to the agent's server on a device's loopback, through the device's Transport.

The stream is a `direct-tcpip` channel of the SSH connection the studio
already holds (`SSHTransport.open_forward`), or a TCP socket for the built-in
`local` device. One keep-alive connection serves many requests (a `--watch`
loop, the UI's devices pane); a dropped one is reopened once for a request
that may be repeated. Every failure is a TransportError in one line.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from tfstudio.errors import TfStudioError, TransportError
from tfstudio.transport.base import Transport

DEFAULT_TIMEOUT_S = 30.0


def open_stream(transport: Transport, port: int, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """Returns a socket-like stream to 127.0.0.1:`port` on the device of `transport`.

    Raises TransportError when nothing listens there or the connection cannot
    carry a tunnel.
    """
    from tfstudio.transport.local import LocalTransport

    if isinstance(transport, LocalTransport):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as exc:
            raise TransportError(
                f"{transport.name}: nothing accepts connections on 127.0.0.1:{port} "
                f"({exc.strerror or exc})"
            ) from exc
    opener = getattr(transport, "open_forward", None)
    if opener is None:
        raise TransportError(f"{transport.name}: this connection cannot carry a tunnel")
    stream = opener(port, timeout=timeout)
    stream.settimeout(timeout)
    return stream


class _TunnelConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket is the tunnel's stream."""

    def __init__(self, transport: Transport, port: int, timeout: float) -> None:
        super().__init__("127.0.0.1", port, timeout=timeout)
        self._transport = transport

    def connect(self) -> None:
        self.sock = open_stream(self._transport, int(self.port or 0), float(self.timeout or 30))


@dataclass(frozen=True)
class HTTPAnswer:
    """One answer of the agent's server, with the round trip it took."""

    status: int
    content_type: str
    body: bytes
    elapsed_ms: float
    headers: dict[str, str] = field(default_factory=dict)
    """The answer's headers, names in lowercase."""

    def json(self) -> Any:
        """Returns the body parsed as JSON. Raises TransportError when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise TransportError(f"the agent's server sent no JSON (HTTP {self.status})") from exc

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")


class LoopbackHTTP:
    """A keep-alive HTTP client of one device's agent server. Not thread-safe: one per worker."""

    def __init__(
        self,
        transport: Transport,
        port: int,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.transport = transport
        self.port = port
        self.token = token
        self.timeout = timeout
        self._conn: _TunnelConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> HTTPAnswer:
        """Sends one request and returns the answer (any status).

        A GET on a connection that dropped is sent once more on a new one.
        Raises TransportError when the device or its server cannot be reached.
        """
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                return self._once(method, path, body)
            except TfStudioError:
                self.close()
                raise
            except Exception as exc:  # noqa: BLE001 - socket, http.client and paramiko errors
                self.close()
                if attempt + 1 < attempts and self._may_retry(exc):
                    continue
                raise TransportError(
                    f"{self.transport.name}: {method} {path} to the agent's server on "
                    f"127.0.0.1:{self.port} failed: {exc or type(exc).__name__}"
                ) from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _may_retry(exc: Exception) -> bool:
        # A kept-alive connection the server closed shows up as one of these.
        return isinstance(
            exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, EOFError)
        )

    def _once(self, method: str, path: str, body: bytes | None) -> HTTPAnswer:
        if self._conn is None:
            self._conn = _TunnelConnection(self.transport, self.port, self.timeout)
        headers = {"Accept": "application/json, text/plain"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        started = time.perf_counter()
        try:
            self._conn.request(method, path, body=body, headers=headers)
        except Exception:
            if body is None:
                raise
            # A server that refuses a body (413, 401) answers before reading it and then
            # closes: its answer is waiting, and says more than "Socket is closed".
            try:
                response = self._conn.getresponse()
            except Exception:  # noqa: BLE001 - no answer after all: the send's error stands
                response = None
            if response is None:
                raise
        else:
            response = self._conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.will_close:
            self.close()
        return HTTPAnswer(
            response.status,
            response.getheader("Content-Type", "") or "",
            data,
            elapsed,
            {key.lower(): value for key, value in response.getheaders()},
        )

    def close(self) -> None:
        """Closes the stream (a later request opens a new one)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110 - closing a dead stream must not raise
                pass
            self._conn = None


def refusal(answer: HTTPAnswer, device: str) -> TransportError:
    """Returns the one-line error for a non-2xx answer of the agent's server."""
    try:
        detail = str(answer.json().get("error") or "")
    except (TransportError, AttributeError):
        lines = answer.text.strip().splitlines()
        detail = lines[0] if lines else ""
    hint = None
    if answer.status == 401:
        hint = (
            "the server wants a token this studio does not know: run it as a service "
            f"(tfstudio agent serve {device} --enable)"
        )
    elif answer.status == 413:
        hint = "send fewer instances per request (tfstudio predict checks the size first)"
    elif "no model" in detail:
        hint = f"deploy a model first: tfstudio deploy MODEL --to {device}"
    text = f"{device}: the agent's server answered HTTP {answer.status}"
    return TransportError(text + (f": {detail}" if detail else ""), hint=hint)
