"""`serve`: a small stdlib HTTP server for the active model that answers as TF Serving does.

    GET  /v1/models/NAME[/versions/N|/labels/L]             status
    GET  /v1/models/NAME[/versions/N|/labels/L]/metadata    signatures, provenance
    POST /v1/models/NAME[/versions/N|/labels/L]:predict     {"instances": ...} or {"inputs": ...}
    GET  /metrics                                           Prometheus text

NAME is the model's deployed name or `default`; versions are the store's install
numbers; labels `stable` and `previous` (see `serving_api` for paths, names and
versions, `predict` for the request and answer). A predict answer is TF
Serving's body; its headers `X-Model-Version` and `X-Model-Sha256` say which
model gave it.

It binds to 127.0.0.1 unless told otherwise, and refuses any other address
without a token; with a token every request needs `Authorization: Bearer`.
Bad requests get 400 with {"error"}; nothing a client sends can stop it.
`<home>/server.json` (removed on exit) tells `status` it runs.

Nobody without the token costs it memory: the token is checked before a byte
of body is read (also before `100 Continue`), a `Content-Length` over the
limit is refused with 413 unread, at most `max_inflight` requests run at once,
and what they hold together stays within a memory budget (`membudget`; others
wait briefly, then get 503). Nobody without the token can hold its capacity
either (`httpguard`): a request's head must arrive within `header_timeout_s`
of its first byte, however slowly it trickles, and connections that have not
shown the token leave room for those that have.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from edge_agent import fsutil, serverfile
from edge_agent.errors import AgentError
from edge_agent.httpguard import Connections, DeadlineReader
from edge_agent.membudget import (
    BudgetBusy,
    BudgetTooBig,
    MemoryBudget,
    Reservation,
    return_freed_memory,
)
from edge_agent.metrics import Metrics
from edge_agent.predict import GENERAL_BYTES_PER_BODY_BYTE, Body
from edge_agent.serving_api import ApiError, Route, answer_get, answer_post, route
from edge_agent.store import Store, utc_now
from edge_agent.watcher import ModelHolder, Reloader, load_model, log

NO_MODEL = "no model is active on this device"

LINGER_S = 2.0
"""After refusing a request whose body was not read, how long the server drains
(and discards) what the client still sends, so the refusal reaches it instead
of a connection reset."""


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server."""

    max_body_bytes: int = 4 * 1024 * 1024
    """A predict body above this is refused with 413 before it is read (a 224x224x3
    float image is about 1.5 MB of JSON)."""
    max_inflight: int = 8
    """Requests whose bodies are held and run at once."""
    inflight_wait_s: float = 5.0
    """How long a request waits for an in-flight slot (or its memory) before it gets 503."""
    max_connections: int = 512
    """Open connections (one thread each); beyond it a connection gets 503 and is closed."""
    reserved_connections: int = 64
    """Slots that only connections which showed the token (or, without one, sent a whole
    request head) may take: a flood of silent connections cannot fill them."""
    idle_timeout_s: float = 30.0
    """A connection waiting for its next request is closed after this long."""
    header_timeout_s: float = 10.0
    """A request's head must be complete this long after its first byte (slowloris)."""
    min_body_rate_bps: int = 64 * 1024
    """A body must arrive at least this fast: its deadline is header_timeout_s + length / rate."""
    backlog: int = 1024
    """The listen queue: bursts of hundreds of clients wait here instead of being reset."""

    @property
    def memory_budget_bytes(self) -> int:
        """What requests may hold together: 4 x each in-flight body, and at least what the
        general decoder needs for one largest body."""
        per_body = max(4 * self.max_inflight, GENERAL_BYTES_PER_BODY_BYTE + 2)
        return max(per_body * self.max_body_bytes, 1 << 20)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.request_queue_size = app.limits.backlog
        self.connections = Connections(app.limits.max_connections, app.limits.reserved_connections)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.admit(request):
            # No thread for it: one short answer from the accept loop, then close.
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                body = b'{"error": "server busy: too many connections"}\n'
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
            self.shutdown_request(request)
            self.app.metrics.observe_request("other", 503)
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (or was closed to make room) is no news: one traceback
        # per such client would flood a device's log, and fill a pipe nobody reads.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        log(f"a request from {client_address[0]} failed: {type(error).__name__}: {error}")

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.leave(request)


class App:
    """What request threads share: the model holder, metrics, the token and the limits."""

    def __init__(self, store: Store, token: Optional[str], limits: Optional[Limits] = None) -> None:
        self.store = store
        self.token = token
        self.limits = limits or Limits()
        self.inflight = threading.BoundedSemaphore(self.limits.max_inflight)
        self.budget = MemoryBudget(self.limits.memory_budget_bytes, self.limits.inflight_wait_s)
        self.holder = ModelHolder()
        self.metrics = Metrics()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: a client's request loop reuses its connection
    server_version = "tfstudio-agent"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus
    # the client's delayed ACK would add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        return  # one line per request would swamp a device's log

    def setup(self) -> None:
        super().setup()
        limits = self.server.app.limits
        self.reader = DeadlineReader(self.connection, limits.idle_timeout_s)
        self.rfile = io.BufferedReader(self.reader, 1 << 16)

    def handle_one_request(self) -> None:
        self.reader.arm(self.server.app.limits.header_timeout_s)
        super().handle_one_request()

    def _send(
        self,
        code: int,
        body: Any,
        endpoint: str,
        content_type: str = "",
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        # allow_nan=False: a JSON answer is valid JSON for every client (predict
        # already turns non-finite outputs into null).
        if isinstance(body, list):  # an answer already written as text chunks
            chunks: List[bytes] = body
        elif isinstance(body, str):
            chunks = [body.encode()]
        else:
            chunks = [(json.dumps(body, allow_nan=False) + "\n").encode()]
        self.send_response(code)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        if code == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        if code == 503:
            self.send_header("Retry-After", "1")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
        self.server.app.metrics.observe_request(endpoint, code)

    def _refuse_unread(self, code: int, message: str, endpoint: str) -> None:
        """Answers a request whose body stays unread, then closes after a short linger."""
        self.close_connection = True  # the unread body would poison keep-alive
        self._send(code, {"error": message}, endpoint)
        self.wfile.flush()
        _linger(self.connection)

    def _token_ok(self) -> bool:
        token = self.server.app.token
        given = self.headers.get("Authorization", "")
        ok = not token or (
            given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())
        )
        if ok:
            self.server.connections.prove(self.connection)
        return ok

    def _authorized(self, endpoint: str) -> bool:
        if self._token_ok():
            return True
        self.close_connection = True  # a refused client keeps no slot
        self._send(401, {"error": "missing or wrong bearer token"}, endpoint)
        return False

    def _body_length(self) -> Optional[int]:
        """Returns the declared body length when it is acceptable, else answers and returns None."""
        endpoint = self._post_endpoint()
        if not self._token_ok():
            self._refuse_unread(401, "missing or wrong bearer token", endpoint)
            return None
        declared = self.headers.get("Content-Length")
        if declared is None:
            self._refuse_unread(411, "a Content-Length header is required", endpoint)
            return None
        try:
            length = int(declared)
        except ValueError:
            length = -1
        limit = self.server.app.limits.max_body_bytes
        if length < 0:
            self._refuse_unread(400, f"bad Content-Length {declared!r}", endpoint)
            return None
        if length > limit:
            self._refuse_unread(
                413, f"the body is {length} bytes; this server takes at most {limit}", endpoint
            )
            return None
        return length

    def _route(self) -> Tuple[Optional[Route], Optional[ApiError]]:
        """The request's API route (None outside /v1/), or the error of a malformed one."""
        try:
            return route(self.command, self.path.split("?", 1)[0].rstrip("/")), None
        except ApiError as exc:
            return None, exc

    def _post_endpoint(self) -> str:
        found, _ = self._route()
        return found.endpoint if found else "other"

    def handle_expect_100(self) -> bool:
        # A client that asks before sending its body learns of a refusal first.
        if self.command == "POST" and self._body_length() is None:
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        path = self.path.split("?", 1)[0].rstrip("/")
        app = self.server.app
        found, error = self._route()
        endpoint = "metrics" if path == "/metrics" else found.endpoint if found else "other"
        if not self._authorized(endpoint):
            return
        model = app.holder.current
        if endpoint == "metrics":
            page = app.metrics.render(
                model.sha256 if model else None, model.name if model else None
            )
            self._send(200, page, endpoint, "text/plain; version=0.0.4; charset=utf-8")
        elif error is not None:
            self._send(error.status, {"error": error.message}, endpoint)
        elif found is None:
            self._send(404, {"error": f"no such endpoint: GET {path}"}, endpoint)
        elif model is None:
            self._send(503, {"error": NO_MODEL}, endpoint)
        else:
            try:
                body, headers = answer_get(found, app.store, model, app.holder.failed)
            except ApiError as exc:
                self._send(exc.status, {"error": exc.message}, endpoint)
                return
            self._send(200, body, endpoint, headers=headers)

    def do_POST(self) -> None:  # noqa: N802
        app = self.server.app
        endpoint = self._post_endpoint()
        length = self._body_length()
        if length is None:
            return
        if not app.inflight.acquire(timeout=app.limits.inflight_wait_s):
            self._refuse_unread(
                503,
                f"server busy: {app.limits.max_inflight} requests in flight; retry shortly",
                endpoint,
            )
            return
        try:
            self._held_predict(length, endpoint)
        finally:
            app.inflight.release()

    def _held_predict(self, length: int, endpoint: str) -> None:
        """Reads and answers the body within the memory budget (in an in-flight slot)."""
        app = self.server.app
        try:
            reservation = app.budget.reserve(length)
        except BudgetTooBig as exc:
            self._refuse_unread(413, _too_big(exc), endpoint)
            return
        except BudgetBusy:
            self._refuse_unread(503, "server busy: its memory is in use; retry shortly", endpoint)
            return
        try:
            self.reader.extend(
                app.limits.header_timeout_s + length / max(1, app.limits.min_body_rate_bps)
            )
            raw = self.rfile.read(length)
            if len(raw) < length:
                self.close_connection = True  # the client left mid-body
                return
            self._predict(Body(raw), endpoint, reservation)
        finally:
            reservation.release()

    def _predict(self, body: Body, endpoint: str, reservation: Reservation) -> None:
        app = self.server.app
        found, error = self._route()
        if error is not None:
            self._send(error.status, {"error": error.message}, endpoint)
            return
        if found is None:
            path = self.path.split("?", 1)[0]
            self._send(404, {"error": f"no such endpoint: POST {path}"}, endpoint)
            return
        loaded = app.holder.current  # one reference for the whole request
        if loaded is None:
            self._send(503, {"error": NO_MODEL}, endpoint)
            return
        started = time.perf_counter()
        try:
            text, headers, instances = answer_post(
                found, body, app.store, loaded, reservation, app.metrics.observe_invoke
            )
        except ApiError as exc:
            self._send(exc.status, {"error": exc.message}, endpoint)
            return
        except BudgetTooBig as exc:
            self._send(413, {"error": _too_big(exc)}, endpoint)
            return
        except BudgetBusy:
            self._send(503, {"error": "server busy: its memory is in use; retry shortly"}, endpoint)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the runtime refusing a tensor
            self._send(500, {"error": f"invoke failed: {exc}"}, endpoint)
            return
        app.metrics.observe_predict(time.perf_counter() - started, instances)
        self._send(200, text, endpoint, headers=headers)


def _too_big(exc: BudgetTooBig) -> str:
    mib = 1024 * 1024
    return (
        f"this request would take {exc.wanted / mib:.0f} MiB to decode and answer; the "
        f"server's memory budget is {exc.total / mib:.0f} MiB: send fewer examples per "
        "request, or plain arrays of numbers"
    )


def _linger(conn: socket.socket) -> None:
    """Stops sending, then reads and discards the client's leftovers for up to LINGER_S.

    Closing a socket with unread input makes the kernel send a reset, which can
    destroy the answer before the client reads it.
    """
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            conn.settimeout(left)
            if not conn.recv(1 << 16):
                return


def server_status(store: Store) -> Dict[str, Any]:
    """Returns {"running", "pid", "host", "port", ...} of the home's server (see serverfile)."""
    return serverfile.server_status(store.home)


def serve(
    store: Store,
    host: str = "127.0.0.1",
    port: int = 8501,
    token: Optional[str] = None,
    json_lines: bool = False,
    limits: Optional[Limits] = None,
) -> None:
    """Serves until SIGTERM/SIGINT. Raises AgentError(usage) for an unsafe or busy address
    or unusable limits."""
    limits = limits or Limits()
    if (
        limits.max_body_bytes < 1
        or limits.max_inflight < 1
        or limits.max_connections < 2
        or limits.inflight_wait_s < 0
        or limits.header_timeout_s <= 0
    ):
        raise AgentError(
            "--max-body-bytes and --max-inflight must be at least 1, --max-connections at "
            "least 2, --inflight-wait >= 0 and --header-timeout > 0",
            "usage",
        )
    if not is_loopback(host) and not token:
        raise AgentError(
            f"refusing to serve on {host} without a token: anyone on the network could "
            "use the model",
            "usage",
            hint="pass --token TOKEN (or set TFSTUDIO_AGENT_TOKEN), or bind to 127.0.0.1",
        )
    store.ensure()
    existing = server_status(store)
    if existing["running"] and existing.get("pid") != os.getpid():
        raise AgentError(
            f"a server already runs for this home (pid {existing['pid']}, port {existing['port']})",
            "locked",
            hint="stop it first",
        )
    return_freed_memory()
    app = App(store, token, limits)
    sha = store.active_sha()
    if sha is not None:
        app.holder.current = load_model(store, sha)
    try:
        httpd = _Server((host, port), app)
    except OSError as exc:
        raise AgentError(f"cannot listen on {host}:{port}: {exc.strerror}", "usage") from None
    reloader = Reloader(store, app.holder, app.metrics)
    reloader.start()
    bound_port = int(httpd.server_address[1])
    info = {
        "pid": os.getpid(),
        "host": host,
        "port": bound_port,
        "started_at": utc_now(),
        "token_required": bool(token),
        "watch": reloader.mode,
        "max_body_bytes": limits.max_body_bytes,
        "max_inflight": limits.max_inflight,
    }
    fsutil.write_json_atomic(store.home / serverfile.SERVER_FILE, info)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    active = app.holder.current.sha256 if app.holder.current else None
    if json_lines:
        sys.stdout.write(json.dumps({"event": "serving", **info, "active": active}) + "\n")
    else:
        sys.stdout.write(f"serving {active or 'no model yet'} on http://{host}:{bound_port}\n")
    sys.stdout.flush()
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        log("stopping")
    finally:
        reloader.stop()
        httpd.server_close()
        with contextlib.suppress(OSError):
            current = fsutil.read_json(store.home / serverfile.SERVER_FILE, default={}) or {}
            if current.get("pid") == os.getpid():
                os.unlink(store.home / serverfile.SERVER_FILE)
